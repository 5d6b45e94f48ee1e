// The decoded objects as `vxroutectl show ... --json` prints them: one flat
// object per item, metadata first, every field present (so scripts need
// not guess a default), addresses as text.
#include "control/k8s/objects.hpp"

namespace vxr::control::k8s {

namespace {

void str(json_writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

void kv(json_writer& w, const char* key, std::string_view value) {
    w.Key(key);
    str(w, value);
}

void kv_uint(json_writer& w, const char* key, uint64_t value) {
    w.Key(key);
    w.Uint64(value);
}

void kv_bool(json_writer& w, const char* key, bool value) {
    w.Key(key);
    w.Bool(value);
}

template <typename T, typename F>
void list(json_writer& w, const char* key, const std::vector<T>& items, F&& one) {
    w.Key(key);
    w.StartArray();
    for (const auto& i : items) one(i);
    w.EndArray();
}

void addrs(json_writer& w, const char* key, const std::vector<ip_addr>& v) {
    list(w, key, v, [&](const ip_addr& a) { str(w, a.str()); });
}

void prefixes(json_writer& w, const char* key, const std::vector<ip_prefix>& v) {
    list(w, key, v, [&](const ip_prefix& p) { str(w, p.str()); });
}

void labels(json_writer& w, const char* key, const label_map& m) {
    w.Key(key);
    w.StartObject();
    for (const auto& [k, v] : m) kv(w, k.c_str(), v);
    w.EndObject();
}

void meta(json_writer& w, const object_meta& m) {
    kv(w, "namespace", m.ns);
    kv(w, "name", m.name);
    kv(w, "uid", m.uid);
    kv(w, "resource_version", m.resource_version);
    labels(w, "labels", m.labels);
}

// A port reference stays a number or a name, as in the API.
void port_value(json_writer& w, const port_ref& p) {
    if (p.named())
        str(w, p.name);
    else
        w.Uint(p.number);
}

void optional_bool(json_writer& w, const char* key, const std::optional<bool>& b) {
    w.Key(key);
    if (b)
        w.Bool(*b);
    else
        w.Null();
}

void selector(json_writer& w, const label_selector& s) {
    w.StartObject();
    labels(w, "match_labels", s.match_labels);
    list(w, "match_expressions", s.match_expressions, [&](const selector_requirement& r) {
        w.StartObject();
        kv(w, "key", r.key);
        kv(w, "operator", api_name(r.op));
        list(w, "values", r.values, [&](const std::string& v) { str(w, v); });
        w.EndObject();
    });
    w.EndObject();
}

void optional_selector(json_writer& w, const char* key, const std::optional<label_selector>& s) {
    w.Key(key);
    if (s)
        selector(w, *s);
    else
        w.Null();
}

void rules(json_writer& w, const char* key, const char* peers_key, const std::vector<policy_rule>& v) {
    list(w, key, v, [&](const policy_rule& r) {
        w.StartObject();
        list(w, peers_key, r.peers, [&](const policy_peer& p) {
            w.StartObject();
            optional_selector(w, "pod_selector", p.pod_selector);
            optional_selector(w, "namespace_selector", p.namespace_selector);
            w.Key("ip_block");
            if (p.ip_block) {
                w.StartObject();
                kv(w, "cidr", p.ip_block->cidr.str());
                prefixes(w, "except", p.ip_block->except);
                w.EndObject();
            } else {
                w.Null();
            }
            w.EndObject();
        });
        list(w, "ports", r.ports, [&](const policy_port& p) {
            w.StartObject();
            kv(w, "protocol", api_name(p.protocol));
            w.Key("port");
            if (p.port)
                port_value(w, *p.port);
            else
                w.Null();
            w.Key("end_port");
            if (p.end_port)
                w.Uint(*p.end_port);
            else
                w.Null();
            w.EndObject();
        });
        w.EndObject();
    });
}

}  // namespace

void write_json(json_writer& w, const service& s) {
    w.StartObject();
    meta(w, s.meta);
    kv(w, "type", api_name(s.type));
    kv_bool(w, "headless", s.headless);
    addrs(w, "cluster_ips", s.cluster_ips);
    list(w, "ip_families", s.ip_families, [&](ip_family f) { str(w, api_name(f)); });
    kv(w, "ip_family_policy", s.ip_family_policy ? api_name(*s.ip_family_policy) : "");
    list(w, "ports", s.ports, [&](const service_port& p) {
        w.StartObject();
        kv(w, "name", p.name);
        kv(w, "protocol", api_name(p.protocol));
        kv_uint(w, "port", p.port);
        w.Key("target_port");
        port_value(w, p.target_port);
        kv_uint(w, "node_port", p.node_port);
        w.EndObject();
    });
    addrs(w, "external_ips", s.external_ips);
    list(w, "load_balancer_ingress", s.load_balancer_ingress, [&](const lb_ingress& i) {
        w.StartObject();
        kv(w, "ip", i.ip ? i.ip->str() : "");
        kv(w, "hostname", i.hostname);
        kv(w, "ip_mode", api_name(i.ip_mode));
        w.EndObject();
    });
    prefixes(w, "load_balancer_source_ranges", s.load_balancer_source_ranges);
    kv(w, "session_affinity", api_name(s.session_affinity));
    kv_uint(w, "session_affinity_timeout_s", s.session_affinity_timeout_s);
    kv(w, "external_traffic_policy", api_name(s.external_traffic_policy));
    kv(w, "internal_traffic_policy", api_name(s.internal_traffic_policy));
    kv_uint(w, "health_check_node_port", s.health_check_node_port);
    kv(w, "external_name", s.external_name);
    kv(w, "proxy_name", s.proxy_name);
    kv_bool(w, "ours", s.ours());
    w.EndObject();
}

void write_json(json_writer& w, const endpoint_slice& s) {
    w.StartObject();
    meta(w, s.meta);
    kv(w, "service_name", s.service_name);
    kv(w, "address_type", api_name(s.address_type));
    list(w, "ports", s.ports, [&](const endpoint_port& p) {
        w.StartObject();
        kv(w, "name", p.name);
        kv(w, "protocol", api_name(p.protocol));
        w.Key("port");
        if (p.port)
            w.Uint(*p.port);
        else
            w.Null();
        w.EndObject();
    });
    list(w, "endpoints", s.endpoints, [&](const endpoint& e) {
        w.StartObject();
        addrs(w, "addresses", e.addresses);
        // Raw tri-state next to the meaning the helpers give it.
        optional_bool(w, "ready", e.conditions.ready);
        optional_bool(w, "serving", e.conditions.serving);
        optional_bool(w, "terminating", e.conditions.terminating);
        kv_bool(w, "is_ready", e.conditions.is_ready());
        kv_bool(w, "is_serving", e.conditions.is_serving());
        kv_bool(w, "is_terminating", e.conditions.is_terminating());
        kv(w, "node_name", e.node_name);
        kv(w, "zone", e.zone);
        list(w, "zone_hints", e.zone_hints, [&](const std::string& z) { str(w, z); });
        kv(w, "pod", e.pod_name.empty() ? std::string() : e.pod_ns + "/" + e.pod_name);
        w.EndObject();
    });
    w.EndObject();
}

void write_json(json_writer& w, const pod& p) {
    w.StartObject();
    meta(w, p.meta);
    kv(w, "node_name", p.node_name);
    kv_bool(w, "host_network", p.host_network);
    addrs(w, "pod_ips", p.pod_ips);
    list(w, "ports", p.ports, [&](const pod_port& pp) {
        w.StartObject();
        kv(w, "container", pp.container);
        kv(w, "name", pp.name);
        kv(w, "protocol", api_name(pp.protocol));
        kv_uint(w, "container_port", pp.container_port);
        kv_uint(w, "host_port", pp.host_port);
        kv(w, "host_ip", pp.host_ip ? pp.host_ip->str() : "");
        w.EndObject();
    });
    kv(w, "phase", api_name(p.phase));
    kv(w, "ingress_bandwidth", p.ingress_bandwidth);
    kv(w, "egress_bandwidth", p.egress_bandwidth);
    kv_bool(w, "deleting", p.deleting);
    w.EndObject();
}

void write_json(json_writer& w, const namespace_info& n) {
    w.StartObject();
    meta(w, n.meta);
    w.EndObject();
}

void write_json(json_writer& w, const network_policy& p) {
    w.StartObject();
    meta(w, p.meta);
    w.Key("pod_selector");
    selector(w, p.pod_selector);
    list(w, "policy_types", p.policy_types, [&](policy_type t) { str(w, api_name(t)); });
    // What the policy isolates once the API's default for an omitted
    // policyTypes is applied.
    w.Key("effective_policy_types");
    w.StartArray();
    for (auto t : {policy_type::ingress, policy_type::egress})
        if (p.applies_to(t)) str(w, api_name(t));
    w.EndArray();
    rules(w, "ingress", "from", p.ingress);
    rules(w, "egress", "to", p.egress);
    w.EndObject();
}

}  // namespace vxr::control::k8s
