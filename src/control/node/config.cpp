// Config parsing: JSON text -> struct config. Every error carries the field
// path ("pods[1].ip") so that a single line tells the operator what to fix;
// parsing stops at the first error because later ones are mostly echoes.
#include "control/node/config.hpp"
#include "control/node/listen_address.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string_view>

namespace vxr::control {
namespace {

using json = rapidjson::Value;

#define VXR_TRY(expr)                                                         \
    do {                                                                      \
        if (auto vxr_try_r_ = (expr); !vxr_try_r_.ok())                       \
            return ::vxr::make_error(vxr_try_r_.err());                       \
    } while (0)

struct range {
    uint64_t lo;
    uint64_t hi;
};
constexpr range k_vni_range{1, vni::k_max};
constexpr range k_udp_port_range{1, 65535};
constexpr range k_mtu_range{576, 9000};  // 576: the IPv4 minimum every host must accept
constexpr range k_workers_range{0, 64};  // 0 = auto (lcores.hpp)
constexpr range k_idle_backoff_range{0, 100000};  // beyond 100 ms a backoff is an outage
constexpr range k_max_routes_range{1024, 16777216};
constexpr range k_mbufs_range{1024, 1048576};
constexpr uint64_t k_min_pod_mtu = 68;       // RFC 791 minimum
constexpr uint64_t k_vxlan_overhead = 50;    // outer Ethernet payload: IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
constexpr size_t k_max_pod_name = 63;        // fits a DNS label and a Kubernetes pod name segment
constexpr size_t k_max_ifname = 15;          // IFNAMSIZ - 1
constexpr uint8_t k_max_pod_cidr_len = 30;   // network, gateway and broadcast take three addresses
constexpr size_t k_max_config_bytes = 16u << 20;

// Quotes user input in messages the way JSON would, so that whitespace and
// control characters in a bad value are visible.
std::string quote(std::string_view s) {
    std::string out = "\"";
    for (unsigned char ch : s) {
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += static_cast<char>(ch);
        } else if (ch < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", ch);
            out += buf;
        } else {
            out += static_cast<char>(ch);
        }
    }
    return out + "\"";
}

// A bad value as shown in a message; long ones are cut so the line stays readable.
std::string compact(const json& v) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    v.Accept(w);
    std::string s(sb.GetString(), sb.GetSize());
    return s.size() > 64 ? s.substr(0, 60) + "..." : s;
}

error fail(const std::string& path, const std::string& reason) {
    return make_error(path.empty() ? reason : path + ": " + reason);
}

std::string range_text(range r) { return std::to_string(r.lo) + ".." + std::to_string(r.hi); }

// Small edit distance, for "did you mean" on misspelt keys.
size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1] ? 1 : 0)});
            diag = up;
        }
    }
    return row[b.size()];
}

result<void> check_object(const json& v, const std::string& path,
                          std::initializer_list<std::string_view> known) {
    if (!v.IsObject()) return fail(path, "must be an object, got " + compact(v));
    std::vector<std::string_view> seen;
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
        std::string_view name(m->name.GetString(), m->name.GetStringLength());
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            std::string msg = "unknown key " + quote(name);
            for (auto k : known) {
                if (edit_distance(name, k) <= 2) {
                    msg += " (did you mean " + quote(k) + "?)";
                    break;
                }
            }
            return fail(path, msg);
        }
        if (std::find(seen.begin(), seen.end(), name) != seen.end())
            return fail(path, "duplicate key " + quote(name));
        seen.push_back(name);
    }
    return {};
}

// One member of an object: its value (nullptr when absent) and its path.
struct field {
    const json* v;
    std::string path;
};

field get(const json& obj, const std::string& path, const char* key) {
    auto it = obj.FindMember(key);
    return {it == obj.MemberEnd() ? nullptr : &it->value, path.empty() ? key : path + "." + key};
}

result<void> require(const field& f) {
    if (!f.v) return fail(f.path, "required");
    return {};
}

result<void> read(const field& f, std::string& out) {
    if (!f.v) return {};
    if (!f.v->IsString()) return fail(f.path, "must be a string, got " + compact(*f.v));
    std::string s(f.v->GetString(), f.v->GetStringLength());
    // These strings reach C APIs (devargs, ifnames, paths) that stop at NUL.
    if (s.find('\0') != std::string::npos) return fail(f.path, "must not contain NUL characters");
    out = std::move(s);
    return {};
}

result<void> read(const field& f, ipv4_addr& out) {
    std::string s;
    VXR_TRY(read(f, s));
    if (!f.v) return {};
    auto a = ipv4_addr::parse(s);
    if (!a) return fail(f.path, "not an IPv4 address: " + quote(s));
    out = *a;
    return {};
}

result<void> read(const field& f, mac_addr& out) {
    std::string s;
    VXR_TRY(read(f, s));
    if (!f.v) return {};
    auto m = mac_addr::parse(s);
    if (!m) return fail(f.path, "not a MAC address (xx:xx:xx:xx:xx:xx): " + quote(s));
    out = *m;
    return {};
}

result<void> read(const field& f, bool& out) {
    if (!f.v) return {};
    if (!f.v->IsBool()) return fail(f.path, "must be true or false, got " + compact(*f.v));
    out = f.v->GetBool();
    return {};
}

template <typename T>
result<void> read(const field& f, std::optional<T>& out) {
    if (!f.v) return {};
    T value;
    VXR_TRY(read(f, value));
    out = value;
    return {};
}

result<void> read_prefix(const field& f, ipv4_prefix& out, bool allow_host_bits) {
    std::string s;
    VXR_TRY(read(f, s));
    if (!f.v) return {};
    auto p = ipv4_prefix::parse(s, true);
    if (!p) return fail(f.path, "not an IPv4 prefix (a.b.c.d/len): " + quote(s));
    if (!allow_host_bits && p->network() != *p)
        return fail(f.path, "host bits set in " + quote(s) + " (did you mean " + p->network().str() + "?)");
    out = *p;
    return {};
}

template <typename T>
result<void> read_uint(const field& f, T& out, range r) {
    if (!f.v) return {};
    const json& v = *f.v;
    if (!v.IsUint64()) {
        if (v.IsInt64()) return fail(f.path, "must be " + range_text(r) + ", got " + compact(v));
        return fail(f.path, "must be an integer " + range_text(r) + ", got " + compact(v));
    }
    uint64_t u = v.GetUint64();
    if (u < r.lo || u > r.hi) return fail(f.path, "must be " + range_text(r) + ", got " + std::to_string(u));
    out = static_cast<T>(u);
    return {};
}

template <typename F>
result<void> read_array(const field& f, F each) {
    if (!f.v) return {};
    if (!f.v->IsArray()) return fail(f.path, "must be an array, got " + compact(*f.v));
    for (rapidjson::SizeType i = 0; i < f.v->Size(); ++i)
        VXR_TRY(each((*f.v)[i], f.path + "[" + std::to_string(i) + "]"));
    return {};
}

result<void> check_range(const std::string& path, uint64_t value, range r) {
    if (value < r.lo || value > r.hi)
        return fail(path, "must be " + range_text(r) + ", got " + std::to_string(value));
    return {};
}

std::string pod_mtu_rule(uint64_t mtu) {
    return "must be 0 or " + std::to_string(k_min_pod_mtu) + ".." + std::to_string(mtu - k_vxlan_overhead) +
           " (mtu - " + std::to_string(k_vxlan_overhead) + ")";
}

result<void> check_pod_mtu(uint64_t pod_mtu, uint64_t mtu) {
    if (pod_mtu != 0 && (pod_mtu < k_min_pod_mtu || pod_mtu > mtu - k_vxlan_overhead))
        return fail("pod_mtu", pod_mtu_rule(mtu) + ", got " + std::to_string(pod_mtu));
    return {};
}

// Frames are sent to these MACs or from them; a group or empty MAC there is
// always a typo, never a deliberate choice.
result<void> check_unicast(const std::string& path, const mac_addr& m) {
    if (m.is_zero()) return fail(path, "must not be all-zero");
    if (m.bytes[0] & 1) return fail(path, "must be a unicast MAC (low bit of the first byte clear), got " + m.str());
    return {};
}

result<void> check_pod(const pod_config& p, const std::string& path) {
    if (p.name.empty()) return fail(path + ".name", "must not be empty");
    if (p.name.size() > k_max_pod_name)
        return fail(path + ".name", "must be at most " + std::to_string(k_max_pod_name) + " characters, got " +
                                        std::to_string(p.name.size()));
    for (unsigned char ch : p.name) {
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return fail(path + ".name", "may contain only letters, digits, '.', '_' and '-': " + quote(p.name));
    }
    if (int(!p.netns.empty()) + int(!p.devargs.empty()) + int(!p.vhost_socket.empty()) != 1)
        return fail(path, "exactly one of netns (kernel pod), vhost_socket (DPDK pod over vhost-user) or devargs "
                          "(any DPDK device) must be set");
    if (!p.vhost_socket.empty() && !p.mac) return fail(path + ".mac", "required for a vhost-user pod");
    if (!p.vhost_socket.empty() && p.vhost_socket != "auto" && p.vhost_socket[0] != '/')
        return fail(path + ".vhost_socket", "must be \"auto\" or an absolute path: " + quote(p.vhost_socket));
    if (!p.netns.empty() || !p.vhost_socket.empty()) {
        if (p.mac && !p.netns.empty())
            return fail(path + ".mac", "only allowed with devargs or vhost_socket (a kernel pod's MAC comes from its interface)");
        if (p.ifname.empty()) return fail(path + ".ifname", "must not be empty");
        if (p.ifname.size() > k_max_ifname)
            return fail(path + ".ifname", "must be at most " + std::to_string(k_max_ifname) + " characters: " +
                                              quote(p.ifname));
        if (p.ifname == "." || p.ifname == ".." ||
            p.ifname.find_first_of("/: \t\n") != std::string::npos)
            return fail(path + ".ifname", "not a valid interface name: " + quote(p.ifname));
    }
    if (p.mac) VXR_TRY(check_unicast(path + ".mac", *p.mac));
    return {};
}

result<void> check_peer(const peer_config& p, const std::string& path) {
    VXR_TRY(check_unicast(path + ".vtep_mac", p.vtep_mac));
    if (p.pod_cidr.network() != p.pod_cidr)
        return fail(path + ".pod_cidr", "host bits set in " + quote(p.pod_cidr.str()));
    return {};
}

result<void> parse_pod_object(const json& v, const std::string& path, pod_config& p) {
    VXR_TRY(check_object(v, path, {"name", "ip", "netns", "ifname", "devargs", "vhost_socket", "mac"}));
    auto name = get(v, path, "name");
    auto ip = get(v, path, "ip");
    auto ifname = get(v, path, "ifname");
    VXR_TRY(require(name));
    VXR_TRY(read(name, p.name));
    VXR_TRY(require(ip));
    VXR_TRY(read(ip, p.ip));
    VXR_TRY(read(get(v, path, "netns"), p.netns));
    VXR_TRY(read(ifname, p.ifname));
    VXR_TRY(read(get(v, path, "devargs"), p.devargs));
    VXR_TRY(read(get(v, path, "vhost_socket"), p.vhost_socket));
    VXR_TRY(read(get(v, path, "mac"), p.mac));
    if (ifname.v && !p.devargs.empty() && p.netns.empty())
        return fail(ifname.path, "only allowed with netns or vhost_socket (a devargs pod port has no interface name)");
    return check_pod(p, path);
}

result<void> parse_peer_object(const json& v, const std::string& path, peer_config& p) {
    VXR_TRY(check_object(v, path, {"node_ip", "vtep_mac", "pod_cidr", "name"}));
    for (const char* key : {"node_ip", "vtep_mac", "pod_cidr"}) VXR_TRY(require(get(v, path, key)));
    VXR_TRY(read(get(v, path, "node_ip"), p.node_ip));
    VXR_TRY(read(get(v, path, "vtep_mac"), p.vtep_mac));
    VXR_TRY(read_prefix(get(v, path, "pod_cidr"), p.pod_cidr, false));
    VXR_TRY(read(get(v, path, "name"), p.name));
    return check_peer(p, path);
}

result<void> parse_neighbor_object(const json& v, const std::string& path, neighbor_config& n) {
    VXR_TRY(check_object(v, path, {"ip", "mac"}));
    VXR_TRY(require(get(v, path, "ip")));
    VXR_TRY(require(get(v, path, "mac")));
    VXR_TRY(read(get(v, path, "ip"), n.ip));
    VXR_TRY(read(get(v, path, "mac"), n.mac));
    return check_unicast(path + ".mac", n.mac);
}

result<void> parse_kubernetes_object(const json& v, const std::string& path, kubernetes_config& k) {
    VXR_TRY(check_object(v, path, {"kubeconfig", "in_cluster", "annotation_prefix", "publish", "watch"}));
    auto kubeconfig = get(v, path, "kubeconfig");
    VXR_TRY(read(kubeconfig, k.kubeconfig));
    if (kubeconfig.v && k.kubeconfig.empty()) return fail(kubeconfig.path, "must not be empty");
    VXR_TRY(read(get(v, path, "in_cluster"), k.in_cluster));
    VXR_TRY(read(get(v, path, "annotation_prefix"), k.annotation_prefix));
    VXR_TRY(read(get(v, path, "publish"), k.publish));
    VXR_TRY(read_array(get(v, path, "watch"), [&](const json& e, const std::string& p) -> result<void> {
        std::string s;
        VXR_TRY(read(field{&e, p}, s));
        k.watch.push_back(std::move(s));
        return {};
    }));
    return validate_kubernetes(k);
}

result<void> parse_services_object(const json& v, const std::string& path, services_config& s) {
    VXR_TRY(check_object(v, path, {"enabled", "maglev", "conntrack", "node_port_range", "node_port_addresses",
                                   "cluster_ip_ranges"}));
    VXR_TRY(read(get(v, path, "enabled"), s.enabled));
    if (auto m = get(v, path, "maglev"); m.v) {
        VXR_TRY(check_object(*m.v, m.path, {"table_size", "seed"}));
        VXR_TRY(read_uint(get(*m.v, m.path, "table_size"), s.maglev_table_size, range{2, 1u << 24}));
        VXR_TRY(read_uint(get(*m.v, m.path, "seed"), s.maglev_seed, range{0, UINT32_MAX}));
    }
    if (auto ct = get(v, path, "conntrack"); ct.v) {
        VXR_TRY(check_object(*ct.v, ct.path, {"max_entries", "timeouts"}));
        VXR_TRY(read_uint(get(*ct.v, ct.path, "max_entries"), s.conntrack_max, range{1024, 1u << 28}));
        if (auto t = get(*ct.v, ct.path, "timeouts"); t.v) {
            auto& o = s.timeouts;
            const std::pair<const char*, uint32_t*> fields[] = {
                {"tcp_syn_sent", &o.tcp_syn_sent}, {"tcp_syn_recv", &o.tcp_syn_recv},
                {"tcp_established", &o.tcp_established}, {"tcp_fin_wait", &o.tcp_fin_wait},
                {"tcp_time_wait", &o.tcp_time_wait}, {"tcp_close", &o.tcp_close},
                {"udp_unreplied", &o.udp_unreplied}, {"udp_assured", &o.udp_assured}};
            VXR_TRY(check_object(*t.v, t.path, {"tcp_syn_sent", "tcp_syn_recv", "tcp_established", "tcp_fin_wait",
                                                "tcp_time_wait", "tcp_close", "udp_unreplied", "udp_assured"}));
            for (const auto& [key, out] : fields) VXR_TRY(read_uint(get(*t.v, t.path, key), *out, range{1, 1u << 30}));
        }
    }
    VXR_TRY(read(get(v, path, "node_port_range"), s.node_port_range));
    VXR_TRY(read_array(get(v, path, "node_port_addresses"), [&](const json& e, const std::string& p) -> result<void> {
        ipv4_addr a;
        VXR_TRY(read(field{&e, p}, a));
        s.node_port_addresses.push_back(a);
        return {};
    }));
    if (auto r = get(v, path, "cluster_ip_ranges"); r.v) {
        s.cluster_ip_ranges.clear();
        VXR_TRY(read_array(r, [&](const json& e, const std::string& p) -> result<void> {
            ipv4_prefix pr;
            VXR_TRY(read_prefix(field{&e, p}, pr, false));
            s.cluster_ip_ranges.push_back(pr);
            return {};
        }));
    }
    return {};
}

result<void> parse_root(const json& v, config& c) {
    VXR_TRY(check_object(v, "", {"node_name", "node_ip", "underlay_gateway", "uplink", "vtep_mac", "pod_cidr",
                                 "cluster_cidr", "vni", "udp_port", "mtu", "pod_mtu", "host_iface", "workers", "idle_backoff_us",
                                 "max_routes", "mbufs", "admin_socket", "metrics_listen", "state_dir", "socket_dir", "eal_args", "peers",
                                 "neighbors", "pods", "kubernetes", "services"}));
    for (const char* key : {"node_name", "node_ip", "uplink", "vtep_mac", "pod_cidr"})
        VXR_TRY(require(get(v, "", key)));
    VXR_TRY(read(get(v, "", "node_name"), c.node_name));
    VXR_TRY(read_prefix(get(v, "", "node_ip"), c.node_ip, true));
    VXR_TRY(read(get(v, "", "underlay_gateway"), c.underlay_gateway));
    VXR_TRY(read(get(v, "", "uplink"), c.uplink));
    VXR_TRY(read(get(v, "", "vtep_mac"), c.vtep_mac));
    VXR_TRY(check_unicast("vtep_mac", c.vtep_mac));
    VXR_TRY(read_prefix(get(v, "", "pod_cidr"), c.pod_cidr, false));
    if (auto f = get(v, "", "cluster_cidr"); f.v) {
        ipv4_prefix p;
        VXR_TRY(read_prefix(f, p, false));
        c.cluster_cidr = p;
    }
    VXR_TRY(read_uint(get(v, "", "vni"), c.vni, k_vni_range));
    VXR_TRY(read_uint(get(v, "", "udp_port"), c.udp_port, k_udp_port_range));
    VXR_TRY(read_uint(get(v, "", "mtu"), c.mtu, k_mtu_range));
    if (auto f = get(v, "", "pod_mtu"); f.v) {
        if (!f.v->IsUint64()) return fail(f.path, pod_mtu_rule(c.mtu) + ", got " + compact(*f.v));
        VXR_TRY(check_pod_mtu(f.v->GetUint64(), c.mtu));
        c.pod_mtu = static_cast<uint16_t>(f.v->GetUint64());
    }
    VXR_TRY(read(get(v, "", "host_iface"), c.host_iface));
    VXR_TRY(read_uint(get(v, "", "workers"), c.workers, k_workers_range));
    VXR_TRY(read_uint(get(v, "", "idle_backoff_us"), c.idle_backoff_us, k_idle_backoff_range));
    VXR_TRY(read_uint(get(v, "", "max_routes"), c.max_routes, k_max_routes_range));
    VXR_TRY(read_uint(get(v, "", "mbufs"), c.mbufs, k_mbufs_range));
    VXR_TRY(read(get(v, "", "admin_socket"), c.admin_socket));
    VXR_TRY(read(get(v, "", "metrics_listen"), c.metrics_listen));
    VXR_TRY(read(get(v, "", "state_dir"), c.state_dir));
    VXR_TRY(read(get(v, "", "socket_dir"), c.socket_dir));
    VXR_TRY(read_array(get(v, "", "eal_args"), [&](const json& e, const std::string& path) -> result<void> {
        std::string s;
        VXR_TRY(read(field{&e, path}, s));
        c.eal_args.push_back(std::move(s));
        return {};
    }));
    VXR_TRY(read_array(get(v, "", "peers"), [&](const json& e, const std::string& path) -> result<void> {
        peer_config p;
        VXR_TRY(parse_peer_object(e, path, p));
        c.peers.push_back(std::move(p));
        return {};
    }));
    VXR_TRY(read_array(get(v, "", "neighbors"), [&](const json& e, const std::string& path) -> result<void> {
        neighbor_config n;
        VXR_TRY(parse_neighbor_object(e, path, n));
        c.neighbors.push_back(n);
        return {};
    }));
    VXR_TRY(read_array(get(v, "", "pods"), [&](const json& e, const std::string& path) -> result<void> {
        pod_config p;
        VXR_TRY(parse_pod_object(e, path, p));
        c.pods.push_back(std::move(p));
        return {};
    }));
    if (auto k = get(v, "", "kubernetes"); k.v) VXR_TRY(parse_kubernetes_object(*k.v, k.path, c.kubernetes.emplace()));
    if (auto s = get(v, "", "services"); s.v) VXR_TRY(parse_services_object(*s.v, s.path, c.services));
    // The Services need their objects from the API server: watched, asked or
    // not (Pods for their hostPorts).
    if (c.services.enabled && c.kubernetes)
        for (const char* r : {"services", "endpointslices", "pods"})
            if (std::find(c.kubernetes->watch.begin(), c.kubernetes->watch.end(), r) == c.kubernetes->watch.end())
                c.kubernetes->watch.emplace_back(r);
    return {};
}

// kParseDefaultFlags already rejects anything after the root value; passing
// the length makes an embedded NUL an error instead of an early end.
result<void> parse_document(const std::string& text, rapidjson::Document& doc, const std::string& what) {
    doc.Parse<rapidjson::kParseDefaultFlags>(text.data(), text.size());
    if (doc.HasParseError()) {
        size_t off = std::min(doc.GetErrorOffset(), text.size());
        size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + off, '\n'));
        size_t line_start = text.rfind('\n', off == 0 ? 0 : off - 1);
        size_t column = (line_start == std::string::npos || off == 0) ? off + 1 : off - line_start;
        return make_error("invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(column) +
                          ": " + rapidjson::GetParseError_En(doc.GetParseError()));
    }
    if (!doc.IsObject()) return fail(what, "must be a JSON object, got " + compact(doc));
    return {};
}

}  // namespace

result<config> parse_config(const std::string& json_text) {
    rapidjson::Document doc;
    VXR_TRY(parse_document(json_text, doc, "top level"));
    config c;
    VXR_TRY(parse_root(doc, c));
    VXR_TRY(validate(c));
    return c;
}

result<config> load_config(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return make_error("cannot open config " + path + ": " + std::strerror(errno));
    std::string text;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        text.append(buf, n);
        if (text.size() > k_max_config_bytes) {
            std::fclose(f);
            return make_error("cannot read config " + path + ": larger than " +
                              std::to_string(k_max_config_bytes) + " bytes");
        }
    }
    int read_errno = std::ferror(f) ? errno : 0;
    std::fclose(f);
    if (read_errno) return make_error("cannot read config " + path + ": " + std::strerror(read_errno));
    auto c = parse_config(text);
    if (!c) return make_error(path + ": " + c.err());
    return c;
}

result<pod_config> parse_pod(const std::string& json_text) {
    rapidjson::Document doc;
    VXR_TRY(parse_document(json_text, doc, "pod"));
    pod_config p;
    VXR_TRY(parse_pod_object(doc, "pod", p));
    return p;
}

result<peer_config> parse_peer(const std::string& json_text) {
    rapidjson::Document doc;
    VXR_TRY(parse_document(json_text, doc, "peer"));
    peer_config p;
    VXR_TRY(parse_peer_object(doc, "peer", p));
    return p;
}

result<void> validate(const config& c) {
    if (c.node_name.empty()) return fail("node_name", "must not be empty");
    if (c.uplink.empty()) return fail("uplink", "must not be empty");
    VXR_TRY(check_unicast("vtep_mac", c.vtep_mac));
    VXR_TRY(check_range("vni", c.vni, k_vni_range));
    VXR_TRY(check_range("udp_port", c.udp_port, k_udp_port_range));
    VXR_TRY(check_range("mtu", c.mtu, k_mtu_range));
    VXR_TRY(check_pod_mtu(c.pod_mtu, c.mtu));
    VXR_TRY(check_range("workers", c.workers, k_workers_range));
    VXR_TRY(check_range("idle_backoff_us", c.idle_backoff_us, k_idle_backoff_range));
    VXR_TRY(check_range("max_routes", c.max_routes, k_max_routes_range));
    VXR_TRY(check_range("mbufs", c.mbufs, k_mbufs_range));
    if (!c.metrics_listen.empty())
        if (auto a = parse_listen_address(c.metrics_listen); !a) return fail("metrics_listen", a.err());

    const ipv4_prefix node_net = c.node_ip.network();
    if (c.node_ip.len < 31 && (c.node_ip.addr == node_net.addr ||
                               c.node_ip.addr.value == (node_net.addr.value | ~node_net.mask())))
        return fail("node_ip", c.node_ip.addr.str() + " is not a host address of " + node_net.str());
    if (c.cluster_cidr && (c.cluster_cidr->len > c.pod_cidr.len || !c.cluster_cidr->contains(c.pod_cidr.addr)))
        return fail("cluster_cidr", c.cluster_cidr->str() + " does not contain pod_cidr " + c.pod_cidr.str());
    if (c.underlay_gateway) {
        if (!c.node_ip.contains(*c.underlay_gateway))
            return fail("underlay_gateway", c.underlay_gateway->str() + " is outside node_ip's subnet " +
                                                node_net.str());
        if (*c.underlay_gateway == c.node_ip.addr)
            return fail("underlay_gateway", "must not be node_ip itself");
    }

    if (c.pod_cidr.network() != c.pod_cidr) return fail("pod_cidr", "host bits set in " + quote(c.pod_cidr.str()));
    if (c.pod_cidr.len > k_max_pod_cidr_len)
        return fail("pod_cidr", "prefix length must be at most " + std::to_string(k_max_pod_cidr_len) +
                                    " (network, gateway and broadcast take three addresses), got " +
                                    c.pod_cidr.str());
    const ipv4_addr pod_net = c.pod_cidr.addr;
    const ipv4_addr pod_bcast{pod_net.value | ~c.pod_cidr.mask()};
    for (size_t i = 0; i < c.pods.size(); ++i) {
        const pod_config& p = c.pods[i];
        const std::string path = "pods[" + std::to_string(i) + "]";
        VXR_TRY(check_pod(p, path));
        if (!c.pod_cidr.contains(p.ip))
            return fail(path + ".ip", p.ip.str() + " is outside pod_cidr " + c.pod_cidr.str());
        if (p.ip == pod_net) return fail(path + ".ip", p.ip.str() + " is the network address of " + c.pod_cidr.str());
        if (p.ip == c.gateway_ip())
            return fail(path + ".ip", p.ip.str() + " is the gateway address of " + c.pod_cidr.str());
        if (p.ip == pod_bcast)
            return fail(path + ".ip", p.ip.str() + " is the broadcast address of " + c.pod_cidr.str());
        for (size_t j = 0; j < i; ++j) {
            const std::string other = " (also pods[" + std::to_string(j) + "])";
            if (c.pods[j].name == p.name) return fail(path + ".name", "duplicate pod name " + quote(p.name) + other);
            if (c.pods[j].ip == p.ip) return fail(path + ".ip", "duplicate pod IP " + p.ip.str() + other);
        }
    }

    for (size_t i = 0; i < c.peers.size(); ++i) {
        const peer_config& p = c.peers[i];
        const std::string path = "peers[" + std::to_string(i) + "]";
        VXR_TRY(check_peer(p, path));
        if (p.node_ip == c.node_ip.addr) return fail(path + ".node_ip", p.node_ip.str() + " is this node's own node_ip");
        // Off-subnet peers are reached through the gateway; without one they
        // are unreachable and every packet to them would be dropped.
        if (!c.node_ip.contains(p.node_ip) && !c.underlay_gateway)
            return fail(path + ".node_ip", p.node_ip.str() + " is outside node_ip's subnet " + node_net.str() +
                                               " and no underlay_gateway is set");
        if (p.pod_cidr.contains(pod_net) || c.pod_cidr.contains(p.pod_cidr.addr))
            return fail(path + ".pod_cidr", p.pod_cidr.str() + " overlaps this node's pod_cidr " + c.pod_cidr.str());
        for (size_t j = 0; j < i; ++j) {
            const peer_config& q = c.peers[j];
            const std::string other = "peers[" + std::to_string(j) + "]";
            if (q.node_ip == p.node_ip)
                return fail(path + ".node_ip", "duplicate peer node_ip " + p.node_ip.str() + " (also " + other + ")");
            if (q.pod_cidr.contains(p.pod_cidr.addr) || p.pod_cidr.contains(q.pod_cidr.addr))
                return fail(path + ".pod_cidr",
                            p.pod_cidr.str() + " overlaps " + other + ".pod_cidr " + q.pod_cidr.str());
        }
    }

    for (size_t i = 0; i < c.neighbors.size(); ++i) {
        const neighbor_config& n = c.neighbors[i];
        const std::string path = "neighbors[" + std::to_string(i) + "]";
        VXR_TRY(check_unicast(path + ".mac", n.mac));
        for (size_t j = 0; j < i; ++j) {
            if (c.neighbors[j].ip == n.ip)
                return fail(path + ".ip", "duplicate neighbor " + n.ip.str() + " (also neighbors[" +
                                              std::to_string(j) + "])");
        }
    }
    if (c.kubernetes) VXR_TRY(validate_kubernetes(*c.kubernetes));
    return {};
}

#undef VXR_TRY

}  // namespace vxr::control
