// Frontend keys, the node-port range and the JSON form of a frontend.
// Thread: the control thread.
#include "control/services/frontends.hpp"

#include <charconv>

namespace vxr::control::services {

namespace {

std::string host_port(const ip_addr& a, uint16_t port) {
    // Brackets keep an IPv6 address and its port apart.
    std::string s = a.is_v6() ? "[" + a.str() + "]" : a.str();
    return s + ":" + std::to_string(port);
}

void write_backends(k8s::json_writer& w, const char* name, const std::vector<backend>& list) {
    w.Key(name);
    w.StartArray();
    for (const auto& b : list) w.String(b.key().c_str());
    w.EndArray();
}

}  // namespace

std::string_view kind_name(frontend_kind k) {
    switch (k) {
    case frontend_kind::cluster_ip: return "ClusterIP";
    case frontend_kind::node_port: return "NodePort";
    case frontend_kind::external_ip: return "ExternalIP";
    case frontend_kind::load_balancer: return "LoadBalancer";
    case frontend_kind::host_port: return "HostPort";
    }
    return "?";
}

std::string frontend_key::str() const { return host_port(addr, port) + "/" + std::string(k8s::api_name(protocol)); }

std::string backend::key() const { return host_port(addr, port); }

bool frontend::same_as(const frontend& o) const {
    return key == o.key && kind == o.kind && service == o.service && port_name == o.port_name &&
           backends == o.backends && local_backends == o.local_backends && session_affinity == o.session_affinity &&
           affinity_timeout_s == o.affinity_timeout_s && external_local == o.external_local &&
           internal_local == o.internal_local && health_check_node_port == o.health_check_node_port &&
           health_check_local_ready == o.health_check_local_ready && source_ranges == o.source_ranges &&
           reject == o.reject;
}

bool frontend::ranges_hold_node(const std::vector<ip_addr>& node_ips) const {
    for (const auto& r : source_ranges)
        for (const auto& n : node_ips)
            if (r.contains(n)) return true;
    return false;
}

bool node_port_in_range(const node_port_range& r, uint16_t port) { return port >= r.first && port <= r.last; }

result<node_port_range> make_node_port_range(int64_t first, int64_t last) {
    const std::string text = std::to_string(first) + "-" + std::to_string(last);
    if (first < 1 || last > 65535 || first > 65535 || last < 1)
        return make_error("node port range " + text + " reaches outside 1-65535");
    if (first > last) return make_error("node port range " + text + " is empty (first port above last)");
    return node_port_range{static_cast<uint16_t>(first), static_cast<uint16_t>(last)};
}

result<node_port_range> parse_node_port_range(std::string_view text) {
    auto number = [](std::string_view s, int64_t& out) {
        if (s.empty() || s.size() > 10) return false;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        return ec == std::errc{} && p == s.data() + s.size();
    };
    int64_t first = 0;
    int64_t last = 0;
    const auto dash = text.find('-');
    const bool ok = dash == std::string_view::npos
                        ? number(text, first) && ((last = first), true)
                        : number(text.substr(0, dash), first) && number(text.substr(dash + 1), last);
    if (!ok) return make_error("node port range \"" + std::string(text) + "\" is not FIRST-LAST (e.g. 30000-32767)");
    return make_node_port_range(first, last);
}

void write_json(k8s::json_writer& w, const frontend& f) {
    w.StartObject();
    w.Key("address");
    w.String(f.key.addr.str().c_str());
    w.Key("protocol");
    w.String(k8s::api_name(f.key.protocol).data());
    w.Key("port");
    w.Uint(f.key.port);
    w.Key("kind");
    w.String(kind_name(f.kind).data());
    w.Key("service");
    w.String(f.service.c_str());
    w.Key("port_name");
    w.String(f.port_name.c_str());
    write_backends(w, "backends", f.backends);
    write_backends(w, "local_backends", f.local_backends);
    w.Key("session_affinity");
    w.String(k8s::api_name(f.session_affinity).data());
    w.Key("affinity_timeout_s");
    w.Uint(f.affinity_timeout_s);
    w.Key("external_local");
    w.Bool(f.external_local);
    w.Key("internal_local");
    w.Bool(f.internal_local);
    w.Key("health_check_node_port");
    w.Uint(f.health_check_node_port);
    w.Key("health_check_local_ready");
    w.Uint(f.health_check_local_ready);
    w.Key("source_ranges");
    w.StartArray();
    for (const auto& p : f.source_ranges) w.String(p.str().c_str());
    w.EndArray();
    w.Key("reject");
    w.Bool(f.reject);
    w.EndObject();
}

}  // namespace vxr::control::services
