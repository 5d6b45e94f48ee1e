// CNI port mappings: runtimeConfig.portMappings parsed and checked (the
// plugin and vxrouted), their JSON, and vxrouted's table of them by pod.
// Thread: the plugin's main thread, or vxrouted's control (main) lcore.
#include "control/cni/cni.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <tuple>

#ifndef VXR_CNI_PLUGIN_ONLY
#include <unistd.h>

#include "common/log.hpp"
#include "control/node/netns.hpp"
#include "control/node/router.hpp"
#endif

namespace vxr::control::cni {

namespace {

constexpr const char* k_protocols[] = {"tcp", "udp", "sctp"};  // k8s::l4_protocol's order

const char* protocol_name(k8s::l4_protocol p) { return k_protocols[static_cast<size_t>(p)]; }

std::optional<failure> bad(const std::string& field, const std::string& what) {
    return failure{k_err_invalid_config, field + ": " + what, {}};
}

std::optional<failure> read_port(const rapidjson::Value& obj, const char* key, const std::string& at, uint16_t& out) {
    const std::string field = at + "." + key;
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd()) return bad(field, "is required");
    if (!it->value.IsInt64()) return bad(field, "must be an integer port number (1-65535)");
    const int64_t v = it->value.GetInt64();
    if (v < 1 || v > 65535) return bad(field, std::to_string(v) + " is not a port number (1-65535)");
    out = static_cast<uint16_t>(v);
    return std::nullopt;
}

// What a mapping claims on the node: the same twice is one claim.
auto claim_of(const k8s::pod_port& p) { return std::tie(p.host_ip, p.protocol, p.host_port); }
auto order_of(const k8s::pod_port& p) { return std::tie(p.host_ip, p.protocol, p.host_port, p.container_port); }

}  // namespace

std::optional<failure> parse_port_mappings(const rapidjson::Value& v, const std::string& field,
                                           std::vector<k8s::pod_port>& out) {
    out.clear();
    if (!v.IsArray()) return bad(field, "must be an array of {hostPort, containerPort, protocol, hostIP}");
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
        const std::string at = field + "[" + std::to_string(i) + "]";
        const rapidjson::Value& m = v[i];
        if (!m.IsObject()) return bad(at, "must be an object {hostPort, containerPort, protocol, hostIP}");
        k8s::pod_port p;
        if (auto f = read_port(m, "hostPort", at, p.host_port)) return f;
        if (auto f = read_port(m, "containerPort", at, p.container_port)) return f;
        if (auto it = m.FindMember("protocol"); it != m.MemberEnd()) {
            if (!it->value.IsString()) return bad(at + ".protocol", "must be a string (tcp, udp or sctp)");
            std::string proto = it->value.GetString();
            std::transform(proto.begin(), proto.end(), proto.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            if (!proto.empty()) {
                auto known = std::find_if(std::begin(k_protocols), std::end(k_protocols),
                                          [&](const char* n) { return proto == n; });
                if (known == std::end(k_protocols))
                    return bad(at + ".protocol", "\"" + std::string(it->value.GetString()) +
                                                     "\" is not tcp, udp or sctp");
                p.protocol = static_cast<k8s::l4_protocol>(known - std::begin(k_protocols));
            }
        }
        if (auto it = m.FindMember("hostIP"); it != m.MemberEnd()) {
            if (!it->value.IsString()) return bad(at + ".hostIP", "must be a string (an IP address, or empty)");
            const std::string text = it->value.GetString();
            if (!text.empty()) {
                auto a = ip_addr::parse(text);
                if (!a) return bad(at + ".hostIP", "\"" + text + "\" is not an IPv4 or IPv6 address");
                if (!a->is_unspecified()) p.host_ip = *a;
            }
        }
        auto same_claim = std::find_if(out.begin(), out.end(),
                                       [&](const k8s::pod_port& o) { return claim_of(o) == claim_of(p); });
        if (same_claim == out.end()) {
            out.push_back(std::move(p));
        } else if (same_claim->container_port != p.container_port) {
            return bad(at, "hostPort " + describe_port_mappings({p}) + " is also mapped to containerPort " +
                               std::to_string(same_claim->container_port));
        }
    }
    return std::nullopt;
}

void write_port_mappings(rapidjson::Writer<rapidjson::StringBuffer>& w, const std::vector<k8s::pod_port>& m) {
    w.StartArray();
    for (const auto& p : m) {
        w.StartObject();
        w.Key("hostPort");
        w.Uint(p.host_port);
        w.Key("containerPort");
        w.Uint(p.container_port);
        w.Key("protocol");
        w.String(protocol_name(p.protocol));
        const std::string host_ip = p.host_ip ? p.host_ip->str() : std::string();
        w.Key("hostIP");
        w.String(host_ip.c_str(), static_cast<rapidjson::SizeType>(host_ip.size()));
        w.EndObject();
    }
    w.EndArray();
}

bool same_port_mappings(std::vector<k8s::pod_port> a, std::vector<k8s::pod_port> b) {
    auto less = [](const k8s::pod_port& x, const k8s::pod_port& y) { return order_of(x) < order_of(y); };
    std::sort(a.begin(), a.end(), less);
    std::sort(b.begin(), b.end(), less);
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const k8s::pod_port& x, const k8s::pod_port& y) { return order_of(x) == order_of(y); });
}

std::string describe_port_mappings(const std::vector<k8s::pod_port>& m) {
    std::string out;
    for (const auto& p : m) {
        if (!out.empty()) out += ", ";
        if (p.host_ip) out += p.host_ip->is_v6() ? "[" + p.host_ip->str() + "]:" : p.host_ip->str() + ":";
        out += std::to_string(p.host_port) + "/" + protocol_name(p.protocol) + " -> " +
               std::to_string(p.container_port);
    }
    return out.empty() ? "none" : out;
}

std::string k8s_pod_of(const env& e) {
    auto ns = e.args.find("K8S_POD_NAMESPACE"), name = e.args.find("K8S_POD_NAME");
    if (ns == e.args.end() || name == e.args.end() || ns->second.empty() || name->second.empty()) return {};
    return ns->second + "/" + name->second;
}

#ifndef VXR_CNI_PLUGIN_ONLY

std::string port_mapping_table::file_for(const config& cfg) {
    return cfg.state_dir + "/" + cfg.node_name + "-port-mappings.jsonl";
}

const port_mapping_table::entry* port_mapping_table::find(const std::string& pod) const {
    auto it = entries_.find(pod);
    return it == entries_.end() ? nullptr : &it->second;
}

void port_mapping_table::set(const std::string& pod, entry e) {
    auto it = entries_.find(pod);
    if (e.mappings.empty()) {
        if (it == entries_.end()) return;
        entries_.erase(it);
    } else {
        if (it != entries_.end() && it->second == e) return;
        entries_[pod] = e;
    }
    if (apply_) apply_(pod, e);
    save();
}

std::optional<failure> refuse_unmapped(const port_mapping_table* maps, const std::vector<k8s::pod_port>& m) {
    if (m.empty() || (maps && maps->enabled())) return std::nullopt;
    return failure{k_err_daemon,
                   "portMappings (" + describe_port_mappings(m) +
                       ") cannot be mapped: Services are off in vxrouted's config (\"services\": {\"enabled\": "
                       "true} maps hostPorts)",
                   {}};
}

std::optional<failure> check_port_mappings(const port_mapping_table* maps, const std::string& pod,
                                           const std::vector<k8s::pod_port>& want) {
    const auto* e = maps ? maps->find(pod) : nullptr;
    const std::vector<k8s::pod_port> none;
    const auto& has = e ? e->mappings : none;
    if (!same_port_mappings(has, want))
        return failure{k_err_check_failed, "pod " + pod + " has port mappings " + describe_port_mappings(has) +
                                               ", the runtime asks for " + describe_port_mappings(want), {}};
    if (!has.empty() && !maps->enabled())
        return failure{k_err_check_failed, "pod " + pod + ": port mappings " + describe_port_mappings(has) +
                                               " are not mapped: Services are off in vxrouted's config", {}};
    return std::nullopt;
}

void port_mapping_table::save() const {
    const std::string dir = file_.substr(0, file_.rfind('/'));
    if (auto r = run_command({"mkdir", "-p", dir}); !r) {
        VXR_LOG_WARN("state_dir: %s; port mappings will not survive a restart", r.err().c_str());
        return;
    }
    const std::string tmp = file_ + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) {
        VXR_LOG_WARN("cannot write %s: %s", tmp.c_str(), std::strerror(errno));
        return;
    }
    for (const auto& [pod, e] : entries_) {
        rapidjson::StringBuffer sb;
        rapidjson::Writer<rapidjson::StringBuffer> w(sb);
        w.StartObject();
        w.Key("pod");
        w.String(pod.c_str(), static_cast<rapidjson::SizeType>(pod.size()));
        w.Key("ip");
        w.String(e.ip.str().c_str());
        w.Key("label");
        w.String(e.label.c_str(), static_cast<rapidjson::SizeType>(e.label.size()));
        w.Key("port_mappings");
        write_port_mappings(w, e.mappings);
        w.EndObject();
        std::fprintf(f, "%s\n", sb.GetString());
    }
    const bool ok = std::fflush(f) == 0 && fsync(fileno(f)) == 0;
    std::fclose(f);
    if (!ok || std::rename(tmp.c_str(), file_.c_str()) != 0)
        VXR_LOG_WARN("cannot save %s: %s", file_.c_str(), std::strerror(errno));
}

void port_mapping_table::restore(const router& r) {
    restore([&r](const std::string& pod, ipv4_addr ip) {
        auto v = r.find_pod(pod);
        return v && v->cfg.ip == ip;
    });
}

void port_mapping_table::restore(const std::function<bool(const std::string& pod, ipv4_addr ip)>& has_pod) {
    std::ifstream in(file_);
    if (!in) return;
    std::string line;
    size_t restored = 0, dropped = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        rapidjson::Document d;
        d.Parse(line.c_str(), line.size());
        std::string pod;
        std::optional<ipv4_addr> ip;
        entry e;
        std::optional<failure> f = failure{k_err_decode, "not a saved pod's port mappings", {}};
        if (!d.HasParseError() && d.IsObject()) {
            auto member = [&](const char* k) {
                auto it = d.FindMember(k);
                return it != d.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString()) : std::string();
            };
            pod = member("pod");
            ip = ipv4_addr::parse(member("ip"));
            e.label = member("label");
            auto pm = d.FindMember("port_mappings");
            if (!pod.empty() && ip && pm != d.MemberEnd()) f = parse_port_mappings(pm->value, "port_mappings", e.mappings);
        }
        if (f) {
            VXR_LOG_WARN("%s: skipping a line: %s", file_.c_str(), f->msg.c_str());
            ++dropped;
            continue;
        }
        if (!has_pod(pod, *ip)) {
            VXR_LOG_WARN("%s: pod %s (%s) is gone: its port mappings %s are dropped", file_.c_str(), pod.c_str(),
                         ip->str().c_str(), describe_port_mappings(e.mappings).c_str());
            ++dropped;
            continue;
        }
        e.ip = *ip;
        if (!apply_)
            VXR_LOG_WARN("pod %s: port mappings %s are not mapped: Services are off (\"services\": {\"enabled\": "
                         "true} in the config); CHECK fails until they are on",
                         pod.c_str(), describe_port_mappings(e.mappings).c_str());
        else apply_(pod, e);
        entries_[pod] = std::move(e);
        ++restored;
    }
    if (restored || dropped)
        VXR_LOG_INFO("restored the port mappings of %zu pods from %s (%zu dropped)", restored, file_.c_str(), dropped);
    save();
}

#endif  // VXR_CNI_PLUGIN_ONLY

}  // namespace vxr::control::cni
