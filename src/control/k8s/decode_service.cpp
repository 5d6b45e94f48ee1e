// v1 Service -> service: the frontends (cluster, external, load-balancer
// IPs and node ports) and the knobs that change how a backend is picked.
#include "control/k8s/decode_common.hpp"
#include "control/k8s/objects.hpp"

namespace vxr::control::k8s {

using namespace detail;

namespace {

// The largest sessionAffinityConfig.clientIP.timeoutSeconds the API allows
// (one day).
constexpr uint32_t k_max_affinity_timeout_s = 86400;

bool read_ports(decode_ctx& c, const Value& spec, const json_path& sp, std::vector<service_port>& out) {
    return each(c, spec, sp, "ports", [&](const Value& p, const json_path& at) {
        service_port port;
        if (!read_string(c, p, at, "name", port.name) || !read_protocol(c, p, at, port.protocol)) return false;
        if (!find(p, "port")) return c.fail(at / "port", "missing");
        if (!read_port(c, p, at, "port", false, port.port) ||
            !read_port(c, p, at, "nodePort", true, port.node_port))
            return false;
        // Unset only in objects that never went through the API server's
        // defaulting, which fills in the service port.
        port.target_port = port_ref{port.port, {}};
        if (const Value* t = find(p, "targetPort"); t && !read_port_ref(c, *t, at / "targetPort", port.target_port))
            return false;
        out.push_back(std::move(port));
        return true;
    });
}

bool read_cluster_ips(decode_ctx& c, const Value& spec, const json_path& sp, service& s) {
    // clusterIPs (dual stack) holds clusterIP as its first element; read
    // clusterIP alone only from writers that predate it.
    auto add = [&](const Value& v, const json_path& at) {
        if (v.IsString() && sv(v) == "None") {
            s.headless = true;
            return true;
        }
        if (v.IsString() && v.GetStringLength() == 0) return true;  // not allocated yet
        ip_addr a;
        if (!read_ip(c, v, at, a)) return false;
        s.cluster_ips.push_back(a);
        return true;
    };
    if (find(spec, "clusterIPs")) return each(c, spec, sp, "clusterIPs", add);
    if (const Value* one = find(spec, "clusterIP")) return add(*one, sp / "clusterIP");
    return true;
}

bool read_cidrs(decode_ctx& c, const Value& spec, const json_path& sp, const char* name, std::vector<ip_prefix>& out) {
    return each(c, spec, sp, name, [&](const Value& v, const json_path& at) {
        std::optional<ip_prefix> p;
        if (v.IsString()) {
            // The API server trims blanks here and, like Go's ParseCIDR,
            // accepts host bits.
            std::string_view t = sv(v);
            while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
            while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
            p = ip_prefix::parse(t, true);
        }
        if (!p) return c.fail(at, "not a CIDR: " + quote(v));
        out.push_back(p->network());
        return true;
    });
}

bool read_spec(decode_ctx& c, const Value& spec, const json_path& sp, service& s) {
    bool ok = read_enum(c, spec, sp, "type", k_service_type_names, s.type) && read_cluster_ips(c, spec, sp, s) &&
              each(c, spec, sp, "ipFamilies",
                   [&](const Value& v, const json_path& at) {
                       ip_family f = ip_family::v4;
                       if (!read_enum_value(c, v, at, k_ip_family_names, f)) return false;
                       s.ip_families.push_back(f);
                       return true;
                   }) &&
              read_ports(c, spec, sp, s.ports) &&
              each(c, spec, sp, "externalIPs",
                   [&](const Value& v, const json_path& at) {
                       ip_addr a;
                       if (!read_ip(c, v, at, a)) return false;
                       s.external_ips.push_back(a);
                       return true;
                   }) &&
              read_cidrs(c, spec, sp, "loadBalancerSourceRanges", s.load_balancer_source_ranges) &&
              read_enum(c, spec, sp, "sessionAffinity", k_affinity_names, s.session_affinity) &&
              read_enum(c, spec, sp, "externalTrafficPolicy", k_traffic_policy_names, s.external_traffic_policy) &&
              read_enum(c, spec, sp, "internalTrafficPolicy", k_traffic_policy_names, s.internal_traffic_policy) &&
              read_port(c, spec, sp, "healthCheckNodePort", true, s.health_check_node_port) &&
              read_string(c, spec, sp, "externalName", s.external_name);
    if (!ok) return false;
    if (find(spec, "ipFamilyPolicy")) {
        family_policy fp = family_policy::single_stack;
        if (!read_enum(c, spec, sp, "ipFamilyPolicy", k_family_policy_names, fp)) return false;
        s.ip_family_policy = fp;
    }
    if (s.session_affinity == affinity::client_ip) {
        s.session_affinity_timeout_s = k_default_affinity_timeout_s;
        const Value* cfg = nullptr;
        const Value* client = nullptr;
        const json_path cp = sp / "sessionAffinityConfig";
        if (!object_member(c, spec, sp, "sessionAffinityConfig", cfg)) return false;
        if (cfg && !object_member(c, *cfg, cp, "clientIP", client)) return false;
        if (client &&
            !read_uint(c, *client, cp / "clientIP", "timeoutSeconds", 1, k_max_affinity_timeout_s,
                       s.session_affinity_timeout_s))
            return false;
    }
    return true;
}

bool read_status(decode_ctx& c, const Value& status, const json_path& st, service& s) {
    const Value* lb = nullptr;
    if (!object_member(c, status, st, "loadBalancer", lb)) return false;
    if (!lb) return true;
    return each(c, *lb, st / "loadBalancer", "ingress", [&](const Value& e, const json_path& at) {
        lb_ingress in;
        if (!read_string(c, e, at, "hostname", in.hostname) ||
            !read_enum(c, e, at, "ipMode", k_ip_mode_names, in.ip_mode))
            return false;
        if (const Value* ip = find(e, "ip"); ip && !(ip->IsString() && ip->GetStringLength() == 0)) {
            ip_addr a;
            if (!read_ip(c, *ip, at / "ip", a)) return false;
            in.ip = a;
        }
        if (!in.ip && in.hostname.empty()) return c.fail(at, "neither ip nor hostname");
        s.load_balancer_ingress.push_back(std::move(in));
        return true;
    });
}

}  // namespace

result<service> decode_service(const Value& obj) {
    decode_ctx c;
    service s;
    if (!read_meta(c, obj, s.meta)) return c.to_error("service", s.meta);
    if (auto it = s.meta.labels.find(k_service_proxy_name_label); it != s.meta.labels.end()) s.proxy_name = it->second;
    const json_path root;
    const Value* spec = nullptr;
    const Value* status = nullptr;
    if (!object_member(c, obj, root, "spec", spec) || !object_member(c, obj, root, "status", status))
        return c.to_error("service", s.meta);
    if (spec && !read_spec(c, *spec, root / "spec", s)) return c.to_error("service", s.meta);
    if (status && !read_status(c, *status, root / "status", s)) return c.to_error("service", s.meta);
    return s;
}

}  // namespace vxr::control::k8s
