// Thread: the plugin's main thread (pure parts) or vxrouted's control
// (main) lcore (handle()).
#include "control/admin/admin.hpp"
#include "control/cni/cni.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef VXR_CNI_PLUGIN_ONLY
#include <rte_ethdev.h>
#endif

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#ifndef VXR_CNI_PLUGIN_ONLY
#include "control/node/netns.hpp"
#include "control/node/router.hpp"

extern char** environ;
#endif

namespace vxr::control::cni {

namespace {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(writer& w, const std::string& s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }
void kv(writer& w, const char* k, const std::string& v) {
    w.Key(k);
    put(w, v);
}

std::optional<failure> fail(int code, std::string msg, std::string details = {}) {
    return failure{code, std::move(msg), std::move(details)};
}

uint64_t fnv1a(const std::string& s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

// Both identify the pod; the separator keeps ("ab","c") apart from ("a","bc").
uint64_t pod_hash(const std::string& container_id, const std::string& ifname) {
    return fnv1a(container_id + '\0' + ifname);
}

std::string str_member(const rapidjson::Value& d, const char* key) {
    if (!d.IsObject()) return {};
    auto it = d.FindMember(key);
    return it != d.MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string();
}

}  // namespace

const std::vector<std::string>& supported_versions() {
    static const std::vector<std::string> v{"0.3.0", "0.3.1", "0.4.0", "1.0.0"};
    return v;
}

bool supported_version(const std::string& v) {
    const auto& all = supported_versions();
    return std::find(all.begin(), all.end(), v) != all.end();
}

bool valid_container_id(const std::string& id) {
    // SPEC.md: alphanumeric first, then alphanumerics, '_', '.', '-'.
    if (id.empty() || id.size() > 1024 || !std::isalnum(static_cast<unsigned char>(id[0]))) return false;
    return std::all_of(id.begin(), id.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '_' || c == '.' || c == '-';
    });
}

bool valid_ifname(const std::string& n) {
    if (n.empty() || n.size() > 15 || n == "." || n == "..") return false;
    return std::all_of(n.begin(), n.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f && c != '/' && c != ':'; });
}

std::string pod_name(const std::string& container_id, const std::string& ifname) {
    auto clean = [](const std::string& s, size_t max) {
        std::string out;
        for (unsigned char c : s.substr(0, max))
            out += (std::isalnum(c) || c == '.' || c == '_' || c == '-') ? static_cast<char>(c) : '_';
        return out;
    };
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(pod_hash(container_id, ifname)));
    // 4 + 16 + 1 + 15 + 1 + 12 = 49 <= 63
    return "cni-" + clean(container_id, 16) + "-" + clean(ifname, 15) + "-" + std::string(hex, 12);
}

mac_addr pod_mac(const std::string& container_id, const std::string& ifname) {
    const uint64_t h = pod_hash(container_id, ifname) * 0x9e3779b97f4a7c15ull;  // spread the bits
    mac_addr m;
    for (int i = 0; i < 6; ++i) m.bytes[i] = static_cast<uint8_t>(h >> (56 - 8 * i));
    m.bytes[0] = static_cast<uint8_t>((m.bytes[0] & 0xfc) | 0x02);  // locally administered, unicast
    return m;
}

std::string socket_base(const std::string& container_id, const std::string& ifname) {
    return container_id.substr(0, 12) + "-" + ifname;
}

std::optional<ipv4_addr> allocate_ip(ipv4_prefix cidr, const std::vector<ipv4_addr>& used) {
    if (cidr.len > 30) return std::nullopt;
    const uint32_t net = cidr.addr.value & cidr.mask();
    const uint32_t bcast = net | ~cidr.mask();
    std::vector<uint32_t> taken;
    for (auto a : used)
        if (cidr.contains(a)) taken.push_back(a.value);
    std::sort(taken.begin(), taken.end());
    for (uint32_t a = net + 2; a < bcast; ++a)  // net + 1 is the gateway
        if (!std::binary_search(taken.begin(), taken.end(), a)) return ipv4_addr{a};
    return std::nullopt;
}

std::optional<failure> parse_env(const std::function<const char*(const char*)>& getenv, env& out) {
    auto get = [&](const char* k) {
        const char* v = getenv(k);
        return v ? std::string(v) : std::string();
    };
    out.command = get("CNI_COMMAND");
    if (out.command.empty()) return fail(k_err_invalid_env, "CNI_COMMAND is not set");
    if (out.command == "VERSION") return std::nullopt;
    if (out.command != "ADD" && out.command != "DEL" && out.command != "CHECK")
        return fail(k_err_invalid_env, "unsupported CNI_COMMAND \"" + out.command + "\" (ADD, DEL, CHECK, VERSION)");
    out.container_id = get("CNI_CONTAINERID");
    out.netns = get("CNI_NETNS");
    out.ifname = get("CNI_IFNAME");
    out.path = get("CNI_PATH");
    if (out.container_id.empty()) return fail(k_err_invalid_env, "CNI_CONTAINERID is not set");
    if (!valid_container_id(out.container_id))
        return fail(k_err_invalid_env, "CNI_CONTAINERID is not a valid container ID",
                    "must start with a letter or digit, then letters, digits, '_', '.', '-': \"" + out.container_id + "\"");
    if (out.ifname.empty()) return fail(k_err_invalid_env, "CNI_IFNAME is not set");
    if (!valid_ifname(out.ifname))
        return fail(k_err_invalid_env, "CNI_IFNAME is not a valid interface name: \"" + out.ifname + "\"");
    if (out.netns.empty() && out.command != "DEL") return fail(k_err_invalid_env, "CNI_NETNS is not set");
    if (!out.netns.empty() && out.netns[0] != '/')
        return fail(k_err_invalid_env, "CNI_NETNS must be an absolute path: \"" + out.netns + "\"");
    if (out.path.empty()) return fail(k_err_invalid_env, "CNI_PATH is not set");
    const std::string args = get("CNI_ARGS");
    size_t pos = 0;
    while (pos <= args.size()) {
        size_t end = args.find(';', pos);
        if (end == std::string::npos) end = args.size();
        const std::string item = args.substr(pos, end - pos);
        if (!item.empty()) {
            const size_t eq = item.find('=');
            if (eq == std::string::npos || eq == 0)
                return fail(k_err_invalid_env, "CNI_ARGS: expected KEY=VALUE pairs separated by ';', got \"" + item + "\"");
            out.args[item.substr(0, eq)] = item.substr(eq + 1);
        }
        pos = end + 1;
    }
    return std::nullopt;
}

std::optional<failure> parse_net_conf(const std::string& text, net_conf& out) {
    rapidjson::Document d;
    d.Parse(text.c_str(), text.size());
    if (d.HasParseError()) return fail(k_err_decode, "network configuration on stdin is not valid JSON");
    if (!d.IsObject()) return fail(k_err_decode, "network configuration on stdin is not a JSON object");
    auto it = d.FindMember("cniVersion");
    if (it == d.MemberEnd() || !it->value.IsString())
        return fail(k_err_invalid_config, "network configuration: \"cniVersion\" (string) is required");
    out.cni_version = it->value.GetString();
    if (!supported_version(out.cni_version))
        return fail(k_err_incompatible_version, "incompatible CNI version \"" + out.cni_version + "\"",
                    "vxroute-cni supports 0.3.0, 0.3.1, 0.4.0, 1.0.0");
    out.name = str_member(d, "name");
    if (out.name.empty()) return fail(k_err_invalid_config, "network configuration: \"name\" (string) is required");
    if (str_member(d, "type") != "vxroute-cni")
        return fail(k_err_invalid_config, "network configuration: \"type\" must be \"vxroute-cni\"");
    auto opt_string = [&](const char* key, std::string& dst) -> std::optional<failure> {
        auto m = d.FindMember(key);
        if (m == d.MemberEnd()) return std::nullopt;
        if (!m->value.IsString() || m->value.GetStringLength() == 0)
            return fail(k_err_invalid_config, std::string("network configuration: \"") + key + "\" must be a non-empty string");
        dst = m->value.GetString();
        return std::nullopt;
    };
    if (auto f = opt_string("socket", out.socket)) return f;
    if (auto f = opt_string("kind", out.kind)) return f;
    if (auto f = opt_string("sharedDir", out.shared_dir)) return f;
    if (out.socket[0] != '/') return fail(k_err_invalid_config, "network configuration: \"socket\" must be an absolute path");
    if (out.kind != "kernel" && out.kind != "vhost")
        return fail(k_err_invalid_config, "network configuration: \"kind\" must be \"kernel\" or \"vhost\", got \"" + out.kind + "\"");
    if (out.shared_dir[0] != '/')
        return fail(k_err_invalid_config, "network configuration: \"sharedDir\" must be an absolute path");
    if (auto m = d.FindMember("timeoutMs"); m != d.MemberEnd()) {
        if (!m->value.IsInt() || m->value.GetInt() <= 0)
            return fail(k_err_invalid_config, "network configuration: \"timeoutMs\" must be a positive integer");
        out.timeout_ms = m->value.GetInt();
    }
    if (auto rc = d.FindMember("runtimeConfig"); rc != d.MemberEnd()) {
        if (!rc->value.IsObject())
            return fail(k_err_invalid_config, "network configuration: \"runtimeConfig\" must be an object");
        if (auto pm = rc->value.FindMember("portMappings"); pm != rc->value.MemberEnd())
            if (auto f = parse_port_mappings(pm->value, "network configuration: runtimeConfig.portMappings",
                                             out.port_mappings))
                return f;
    }
    if (auto m = d.FindMember("prevResult"); m != d.MemberEnd() && m->value.IsObject()) {
        auto ips = m->value.FindMember("ips");
        if (ips != m->value.MemberEnd() && ips->value.IsArray())
            for (const auto& ip : ips->value.GetArray()) {
                auto p = ipv4_prefix::parse(str_member(ip, "address"), true);
                if (p) {
                    out.prev_ip = p->addr;
                    break;
                }
            }
    }
    return std::nullopt;
}

std::optional<failure> pod_kind(const env& e, const net_conf& c, std::string& kind) {
    kind = c.kind;
    if (auto it = e.args.find("VXROUTE_KIND"); it != e.args.end()) {
        if (it->second != "kernel" && it->second != "vhost")
            return fail(k_err_invalid_env, "CNI_ARGS: VXROUTE_KIND must be kernel or vhost, got \"" + it->second + "\"");
        kind = it->second;
    }
    return std::nullopt;
}

std::string render_result(const std::string& v, const pod_result& r, const env& e) {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    kv(w, "cniVersion", v);
    w.Key("interfaces");
    w.StartArray();
    w.StartObject();
    kv(w, "name", e.ifname);
    kv(w, "mac", r.mac);
    kv(w, "sandbox", e.netns);
    if (!r.socket_path.empty()) kv(w, "socketPath", r.socket_path);
    w.EndObject();
    w.EndArray();
    w.Key("ips");
    w.StartArray();
    w.StartObject();
    if (v != "1.0.0") kv(w, "version", "4");  // gone in 1.0.0
    kv(w, "address", r.ip.str() + "/" + std::to_string(r.prefix_len));
    kv(w, "gateway", r.gateway.str());
    w.Key("interface");
    w.Int(0);
    w.EndObject();
    w.EndArray();
    w.Key("routes");
    w.StartArray();
    w.StartObject();
    kv(w, "dst", "0.0.0.0/0");
    kv(w, "gw", r.gateway.str());
    w.EndObject();
    w.EndArray();
    w.Key("dns");
    w.StartObject();
    w.EndObject();
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

std::string render_error(const std::string& v, const failure& f) {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    kv(w, "cniVersion", supported_version(v) ? v : "1.0.0");
    w.Key("code");
    w.Int(f.code);
    kv(w, "msg", f.msg);
    if (!f.details.empty()) kv(w, "details", f.details);
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

std::string render_version(const std::string& v) {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    kv(w, "cniVersion", supported_version(v) ? v : "1.0.0");
    w.Key("supportedVersions");
    w.StartArray();
    for (const auto& s : supported_versions()) put(w, s);
    w.EndArray();
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

std::optional<failure> parse_pod_result(const std::string& text, pod_result& out) {
    rapidjson::Document d;
    d.Parse(text.c_str(), text.size());
    if (d.HasParseError() || !d.IsObject()) return fail(k_err_daemon, "vxrouted's result is not a JSON object");
    auto ip = ipv4_addr::parse(str_member(d, "ip"));
    auto gw = ipv4_addr::parse(str_member(d, "gateway"));
    auto pl = d.FindMember("prefix_len");
    auto mtu = d.FindMember("mtu");
    if (!ip || !gw || pl == d.MemberEnd() || !pl->value.IsUint() || pl->value.GetUint() > 32)
        return fail(k_err_daemon, "vxrouted's result lacks ip, gateway or prefix_len", text);
    out.name = str_member(d, "name");
    out.ip = *ip;
    out.gateway = *gw;
    out.prefix_len = static_cast<uint8_t>(pl->value.GetUint());
    out.mac = str_member(d, "mac");
    out.mtu = mtu != d.MemberEnd() && mtu->value.IsUint() ? static_cast<uint16_t>(mtu->value.GetUint()) : 0;
    out.kind = str_member(d, "kind");
    out.socket_path = str_member(d, "socket_path");
    out.config_path = str_member(d, "config_path");
    return std::nullopt;
}

// ---------------------------------------------------------------------------
// Daemon side. Left out of the plugin binary (VXR_CNI_PLUGIN_ONLY, see
// src/app/meson.build): it runs on the host from /opt/cni/bin, where DPDK's
// shared libraries are not installed.
#ifndef VXR_CNI_PLUGIN_ONLY

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

// Runs argv, returns its stdout (stderr dropped).
result<std::string> capture(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return make_error(std::string("pipe: ") + std::strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
        close(out[0]);
        return make_error("cannot run " + argv[0] + ": " + std::strerror(rc));
    }
    std::string text;
    char buf[1024];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) text.append(buf, static_cast<size_t>(n));
    close(out[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return make_error(argv[0] + " failed");
    return text;
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
        auto addr = capture({"nsenter", ns, "--", "ip", "-o", "-4", "addr", "show", "dev", ifname});
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
#endif  // VXR_CNI_PLUGIN_ONLY

}  // namespace vxr::control::cni
