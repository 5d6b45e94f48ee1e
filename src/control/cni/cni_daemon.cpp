// vxrouted's side of the CNI protocol: the plugin's ADD, DEL and CHECK
// requests (over the admin socket) attach, detach and check pods on the
// router, with IPAM and the pods' portMappings. Not in the plugin binary.
// Thread: vxrouted's control thread (the admin socket is polled by the
// control loop).
#include "control/admin/admin.hpp"
#include "control/cni/cni.hpp"
#include "control/cni/cni_json.hpp"
#include "control/node/json_out.hpp"
#include "control/node/netns.hpp"
#include "control/node/router.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_ethdev.h>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vxr::control::cni {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

namespace {

std::string reply_fail(int code, const std::string& msg) {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    w.Key("ok");
    w.Bool(false);
    kv(w, "error", msg);
    w.Key("cni_code");
    w.Int(code);
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

constexpr size_t k_max_socket_path = sizeof(sockaddr_un{}.sun_path) - 1;

std::string dir_of(const std::string& path) { return path.substr(0, path.rfind('/')); }

std::string config_path_for(const std::string& sock) {
    const std::string ext = ".sock";
    if (sock.size() > ext.size() && sock.compare(sock.size() - ext.size(), ext.size(), ext) == 0)
        return sock.substr(0, sock.size() - ext.size()) + ".json";
    return sock + ".json";
}

pod_result result_of(const router& r, const router::pod_view& v) {
    pod_result out;
    out.name = v.cfg.name;
    out.ip = v.cfg.ip;
    out.prefix_len = r.cfg().pod_cidr.len;
    out.gateway = r.cfg().gateway_ip();
    out.mac = v.mac.str();
    out.mtu = r.cfg().effective_pod_mtu();
    out.kind = v.cfg.netns.empty() ? "vhost" : "kernel";
    if (!v.vhost_path.empty()) {
        out.socket_path = v.vhost_path;
        out.config_path = config_path_for(v.vhost_path);
    }
    return out;
}

std::string reply_result(const pod_result& p) {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    kv(w, "name", p.name);
    kv(w, "ip", p.ip.str());
    w.Key("prefix_len");
    w.Uint(p.prefix_len);
    kv(w, "gateway", p.gateway.str());
    kv(w, "mac", p.mac);
    w.Key("mtu");
    w.Uint(p.mtu);
    kv(w, "kind", p.kind);
    if (!p.socket_path.empty()) {
        kv(w, "socket_path", p.socket_path);
        kv(w, "config_path", p.config_path);
    }
    w.EndObject();
    return reply_ok(std::string(sb.GetString(), sb.GetSize()));
}

// The pod's virtio-user server creates its socket in the directory, as
// whatever user the pod runs as: the directory must be writable for it.
result<void> make_shared_dir(const std::string& dir) {
    if (auto r = run_command({"mkdir", "-p", dir}); !r) return r;
    if (::chmod(dir.c_str(), 0777) != 0) return make_error("chmod " + dir + ": " + std::strerror(errno));
    return {};
}

result<void> write_pod_file(const std::string& path, const router& r, const pod_result& p, const std::string& cid,
                            const std::string& ifname) {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    kv(w, "container_id", cid);
    kv(w, "ifname", ifname);
    kv(w, "ip", p.ip.str());
    w.Key("prefix_len");
    w.Uint(p.prefix_len);
    kv(w, "gateway", p.gateway.str());
    kv(w, "gateway_mac", r.cfg().vtep_mac.str());
    kv(w, "mac", p.mac);
    w.Key("mtu");
    w.Uint(p.mtu);
    kv(w, "socket_path", p.socket_path);
    kv(w, "vhost_mode", "server");  // the pod's side: virtio-user server=1
    w.EndObject();
    const std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) return make_error("cannot write " + tmp + ": " + std::strerror(errno));
    std::fprintf(f, "%s\n", sb.GetString());
    const bool ok = std::fflush(f) == 0 && fchmod(fileno(f), 0644) == 0;
    std::fclose(f);
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string e = std::strerror(errno);
        std::remove(tmp.c_str());
        return make_error("cannot write " + path + ": " + e);
    }
    return {};
}

void remove_vhost_files(const std::string& sock) {
    ::unlink(sock.c_str());
    ::unlink(config_path_for(sock).c_str());
    ::rmdir(dir_of(sock).c_str());  // only if empty: other interfaces of the pod may live there
}

// The request's port mappings (none when absent).
std::optional<failure> request_mappings(const rapidjson::Document& d, std::vector<k8s::pod_port>& out) {
    out.clear();
    auto it = d.FindMember("port_mappings");
    return it == d.MemberEnd() ? std::nullopt : parse_port_mappings(it->value, "port_mappings", out);
}

std::string cni_add(router& r, port_mapping_table* maps, const rapidjson::Document& d) {
    const std::string cid = str_member(d, "container_id"), netns = str_member(d, "netns"),
                      ifname = str_member(d, "ifname"), kind = str_member(d, "kind"),
                      shared_dir = str_member(d, "shared_dir");
    std::vector<k8s::pod_port> mappings;
    if (auto f = request_mappings(d, mappings)) return reply_fail(f->code, f->msg);
    if (auto f = refuse_unmapped(maps, mappings)) return reply_fail(f->code, f->msg);
    // Registered on the pod's IP once it has one (and again on a repeated ADD).
    auto map_ports = [&](const std::string& pod, ipv4_addr ip) {
        if (maps) maps->set(pod, {ip, str_member(d, "k8s_pod"), mappings});
    };
    if (!valid_container_id(cid)) return reply_fail(k_err_invalid_env, "container_id: not a valid container ID");
    if (!valid_ifname(ifname)) return reply_fail(k_err_invalid_env, "ifname: not a valid interface name");
    if (kind != "kernel" && kind != "vhost") return reply_fail(k_err_invalid_config, "kind must be kernel or vhost");
    if (kind == "kernel" && netns.empty()) return reply_fail(k_err_invalid_env, "netns is required for a kernel pod");
    if (kind == "vhost" && (shared_dir.empty() || shared_dir[0] != '/'))
        return reply_fail(k_err_invalid_config, "shared_dir must be an absolute path for a vhost pod");
    const std::string name = pod_name(cid, ifname);
    if (auto v = r.find_pod(name)) {
        // A runtime retrying an ADD it did not see finish: same pod, same answer.
        const bool same = kind == "kernel" ? v->cfg.netns == netns : !v->vhost_path.empty();
        if (!same) return reply_fail(k_err_daemon, "pod " + name + " exists with another kind or netns; DEL it first");
        map_ports(name, v->cfg.ip);
        return reply_result(result_of(r, *v));
    }
    auto ip = allocate_ip(r.cfg().pod_cidr, r.pod_ips());
    if (!ip)
        return reply_fail(k_err_exhausted, "no free address in pod CIDR " + r.cfg().pod_cidr.str() + ": " +
                                               std::to_string(r.pod_count()) + " pods use all host addresses");
    pod_config p;
    p.name = name;
    p.ip = *ip;
    p.ifname = ifname;
    std::string sock;
    if (kind == "kernel") {
        p.netns = netns;
    } else {
        sock = shared_dir + "/" + socket_base(cid, ifname) + ".sock";
        if (sock.size() > k_max_socket_path)
            return reply_fail(k_err_invalid_config, "vhost-user socket path " + sock + " is " + std::to_string(sock.size()) +
                                                        " bytes, more than a Unix socket allows (" +
                                                        std::to_string(k_max_socket_path) + "): shorten sharedDir");
        struct stat st{};
        if (::stat(config_path_for(sock).c_str(), &st) == 0)  // two container IDs with the same 12-character prefix
            return reply_fail(k_err_daemon, sock + " belongs to another pod (" + config_path_for(sock) + " exists)");
        if (auto m = make_shared_dir(shared_dir); !m) return reply_fail(k_err_io, "shared_dir: " + m.err());
        p.vhost_socket = sock;
        p.mac = pod_mac(cid, ifname);
    }
    if (auto a = r.add_pod(p, true); !a) {
        if (!sock.empty()) remove_vhost_files(sock);
        return reply_fail(k_err_daemon, a.err());
    }
    auto v = r.find_pod(name);
    const pod_result res = result_of(r, *v);
    if (!sock.empty()) {
        if (auto w = write_pod_file(res.config_path, r, res, cid, ifname); !w) {
            (void)r.remove_pod(name);
            remove_vhost_files(sock);
            return reply_fail(k_err_io, w.err());
        }
    }
    map_ports(name, res.ip);
    return reply_result(res);
}

std::string cni_del(router& r, port_mapping_table* maps, const rapidjson::Document& d) {
    const std::string cid = str_member(d, "container_id"), ifname = str_member(d, "ifname"),
                      kind = str_member(d, "kind"), shared_dir = str_member(d, "shared_dir");
    if (!valid_container_id(cid)) return reply_fail(k_err_invalid_env, "container_id: not a valid container ID");
    if (!valid_ifname(ifname)) return reply_fail(k_err_invalid_env, "ifname: not a valid interface name");
    const std::string name = pod_name(cid, ifname);
    if (maps) maps->remove(name);
    std::string sock;
    bool removed = false;
    if (auto v = r.find_pod(name)) {
        if (auto rm = r.remove_pod(name); !rm) return reply_fail(k_err_daemon, rm.err());
        removed = true;
        sock = v->vhost_path;
    } else if (kind == "vhost" && !shared_dir.empty() && shared_dir[0] == '/') {
        sock = shared_dir + "/" + socket_base(cid, ifname) + ".sock";  // what a failed ADD may have left
    }
    if (!sock.empty()) remove_vhost_files(sock);
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    w.Key("removed");
    w.Bool(removed);
    w.EndObject();
    return reply_ok(std::string(sb.GetString(), sb.GetSize()));
}

std::string cni_check(router& r, const port_mapping_table* maps, const rapidjson::Document& d) {
    const std::string cid = str_member(d, "container_id"), netns = str_member(d, "netns"),
                      ifname = str_member(d, "ifname");
    if (!valid_container_id(cid)) return reply_fail(k_err_invalid_env, "container_id: not a valid container ID");
    if (!valid_ifname(ifname)) return reply_fail(k_err_invalid_env, "ifname: not a valid interface name");
    const std::string name = pod_name(cid, ifname);
    auto v = r.find_pod(name);
    if (!v) return reply_fail(k_err_unknown_container, "no pod " + name + " for container " + cid + " " + ifname);
    const pod_result res = result_of(r, *v);
    if (auto want = ipv4_addr::parse(str_member(d, "ip")); want && *want != v->cfg.ip)
        return reply_fail(k_err_check_failed, "pod " + name + " has IP " + v->cfg.ip.str() + ", prevResult says " +
                                                  want->str());
    std::vector<k8s::pod_port> mappings;
    if (auto f = request_mappings(d, mappings)) return reply_fail(f->code, f->msg);
    if (auto f = check_port_mappings(maps, name, mappings)) return reply_fail(f->code, f->msg);
    if (!v->cfg.netns.empty()) {
        if (!netns.empty() && netns_path(netns) != netns_path(v->cfg.netns))
            return reply_fail(k_err_check_failed, "pod " + name + " is in netns " + v->cfg.netns + ", not " + netns);
        const auto ns = "--net=" + netns_path(v->cfg.netns);
        auto flags = link_flags_in(v->cfg.netns, ifname);
        if (!flags) return reply_fail(k_err_check_failed, "pod " + name + ": " + flags.err());
        if (!(*flags & IFF_UP)) return reply_fail(k_err_check_failed, "pod " + name + ": interface " + ifname + " is down");
        if (!(*flags & IFF_RUNNING))
            return reply_fail(k_err_check_failed, "pod " + name + ": interface " + ifname + " has no carrier");
        auto addr = command_output({"nsenter", ns, "--", "ip", "-o", "-4", "addr", "show", "dev", ifname});
        const std::string want = "inet " + res.ip.str() + "/" + std::to_string(res.prefix_len) + " ";
        if (!addr || addr->find(want) == std::string::npos)
            return reply_fail(k_err_check_failed, "pod " + name + ": interface " + ifname + " lacks " + want);
    } else if (!v->vhost_path.empty()) {
        rte_eth_link link{};
        if (rte_eth_link_get_nowait(v->port, &link) != 0 || !link.link_status)
            return reply_fail(k_err_check_failed, "pod " + name + ": vhost-user port is down (is the pod's virtio-user "
                                                      "server on " + v->vhost_path + " running?)");
        struct stat st{};
        if (::stat(res.config_path.c_str(), &st) != 0)
            return reply_fail(k_err_check_failed, "pod " + name + ": " + res.config_path + " is missing");
    }
    return reply_result(res);
}

}  // namespace

std::string handle(router& r, port_mapping_table* maps, const std::string& request_json) {
    rapidjson::Document d;
    d.Parse(request_json.c_str(), request_json.size());
    if (d.HasParseError() || !d.IsObject()) return reply_fail(k_err_decode, "request is not a JSON object");
    const std::string cmd = str_member(d, "cmd");
    if (cmd == "cni-add") return cni_add(r, maps, d);
    if (cmd == "cni-del") return cni_del(r, maps, d);
    if (cmd == "cni-check") return cni_check(r, maps, d);
    return reply_fail(k_err_daemon, "unknown CNI command \"" + cmd + "\"");
}

}  // namespace vxr::control::cni
