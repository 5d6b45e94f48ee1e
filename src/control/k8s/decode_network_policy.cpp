// networking.k8s.io/v1 NetworkPolicy -> network_policy, the whole spec,
// checked as the API server's validation checks it: a policy we decoded
// differently from the API server would allow or drop the wrong traffic.
#include "control/k8s/decode_common.hpp"
#include "control/k8s/objects.hpp"

namespace vxr::control::k8s {

using namespace detail;

bool network_policy::applies_to(policy_type t) const {
    if (policy_types.empty()) return t == policy_type::ingress || !egress.empty();
    for (auto p : policy_types)
        if (p == t) return true;
    return false;
}

namespace {

bool read_selector(decode_ctx& c, const Value& sel, const json_path& at, label_selector& out) {
    if (!sel.IsObject()) return c.fail(at, "not an object");
    if (!read_labels(c, sel, at, "matchLabels", out.match_labels)) return false;
    return each(c, sel, at, "matchExpressions", [&](const Value& e, const json_path& ep) {
        selector_requirement r;
        if (!read_string(c, e, ep, "key", r.key)) return false;
        if (r.key.empty()) return c.fail(ep / "key", "missing");
        if (!find(e, "operator")) return c.fail(ep / "operator", "missing");
        if (!read_enum(c, e, ep, "operator", k_selector_op_names, r.op)) return false;
        bool ok = each(c, e, ep, "values", [&](const Value& v, const json_path& vp) {
            if (!v.IsString()) return c.fail(vp, "not a string: " + quote(v));
            r.values.emplace_back(sv(v));
            return true;
        });
        if (!ok) return false;
        bool wants_values = r.op == selector_op::in || r.op == selector_op::not_in;
        if (wants_values && r.values.empty())
            return c.fail(ep / "values", "must be non-empty for operator " + std::string(api_name(r.op)));
        if (!wants_values && !r.values.empty())
            return c.fail(ep / "values", "must be empty for operator " + std::string(api_name(r.op)));
        out.match_expressions.push_back(std::move(r));
        return true;
    });
}

// Go's ParseCIDR accepts host bits and so does the API server; the policy
// means the network either way.
bool read_cidr(decode_ctx& c, const Value& v, const json_path& at, ip_prefix& out) {
    std::optional<ip_prefix> p;
    if (v.IsString()) p = ip_prefix::parse(sv(v), true);
    if (!p) return c.fail(at, "not a CIDR: " + quote(v));
    out = p->network();
    return true;
}

bool read_ip_block(decode_ctx& c, const Value& b, const json_path& at, cidr_block& out) {
    if (!b.IsObject()) return c.fail(at, "not an object");
    const Value* cidr = find(b, "cidr");
    if (!cidr) return c.fail(at / "cidr", "missing");
    if (!read_cidr(c, *cidr, at / "cidr", out.cidr)) return false;
    return each(c, b, at, "except", [&](const Value& v, const json_path& ep) {
        ip_prefix p;
        if (!read_cidr(c, v, ep, p)) return false;
        if (!out.cidr.contains(p) || p.len == out.cidr.len)
            return c.fail(ep, p.str() + " is not a strict subset of cidr " + out.cidr.str());
        out.except.push_back(p);
        return true;
    });
}

bool read_peer(decode_ctx& c, const Value& v, const json_path& at, policy_peer& out) {
    if (!v.IsObject()) return c.fail(at, "not an object");
    if (const Value* s = find(v, "podSelector")) {
        if (!read_selector(c, *s, at / "podSelector", out.pod_selector.emplace())) return false;
    }
    if (const Value* s = find(v, "namespaceSelector")) {
        if (!read_selector(c, *s, at / "namespaceSelector", out.namespace_selector.emplace())) return false;
    }
    if (const Value* b = find(v, "ipBlock")) {
        if (out.pod_selector || out.namespace_selector)
            return c.fail(at, "may not specify both ipBlock and another peer");
        if (!read_ip_block(c, *b, at / "ipBlock", out.ip_block.emplace())) return false;
    }
    if (!out.pod_selector && !out.namespace_selector && !out.ip_block) return c.fail(at, "must specify a peer");
    return true;
}

bool read_policy_port(decode_ctx& c, const Value& v, const json_path& at, policy_port& out) {
    if (!v.IsObject()) return c.fail(at, "not an object");
    if (!read_protocol(c, v, at, out.protocol)) return false;
    if (const Value* p = find(v, "port")) {
        if (!read_port_ref(c, *p, at / "port", out.port.emplace())) return false;
    }
    if (find(v, "endPort")) {
        uint16_t end = 0;
        if (!read_port(c, v, at, "endPort", false, end)) return false;
        if (!out.port || out.port->named())
            return c.fail(at / "endPort", "may not be specified without a numeric port");
        if (end < out.port->number)
            return c.fail(at / "endPort", "must be greater than or equal to port " + std::to_string(out.port->number));
        out.end_port = end;
    }
    return true;
}

bool read_rules(decode_ctx& c, const Value& spec, const json_path& sp, const char* list, const char* peers,
                std::vector<policy_rule>& out) {
    return each(c, spec, sp, list, [&](const Value& r, const json_path& rp) {
        if (!r.IsObject()) return c.fail(rp, "not an object");
        policy_rule rule;
        bool ok = each(c, r, rp, peers,
                       [&](const Value& v, const json_path& at) {
                           return read_peer(c, v, at, rule.peers.emplace_back());
                       }) &&
                  each(c, r, rp, "ports", [&](const Value& v, const json_path& at) {
                      return read_policy_port(c, v, at, rule.ports.emplace_back());
                  });
        if (!ok) return false;
        out.push_back(std::move(rule));
        return true;
    });
}

}  // namespace

result<network_policy> decode_network_policy(const Value& obj) {
    decode_ctx c;
    network_policy np;
    if (!read_meta(c, obj, np.meta)) return c.to_error("networkpolicy", np.meta);
    const json_path root;
    const Value* spec = nullptr;
    if (!object_member(c, obj, root, "spec", spec)) return c.to_error("networkpolicy", np.meta);
    if (!spec) return np;  // the empty spec: every pod, Ingress, no rules
    const json_path sp = root / "spec";
    bool ok = true;
    // An absent podSelector is the empty selector: every pod in the namespace.
    if (const Value* sel = find(*spec, "podSelector")) ok = read_selector(c, *sel, sp / "podSelector", np.pod_selector);
    ok = ok &&
         each(c, *spec, sp, "policyTypes",
              [&](const Value& v, const json_path& at) {
                  policy_type t = policy_type::ingress;
                  if (!read_enum_value(c, v, at, k_policy_type_names, t)) return false;
                  // Duplicates pass the API server's validation; only a
                  // third entry does not.
                  if (np.policy_types.size() == 2) return c.fail(at, "may not specify more than two policyTypes");
                  np.policy_types.push_back(t);
                  return true;
              }) &&
         read_rules(c, *spec, sp, "ingress", "from", np.ingress) && read_rules(c, *spec, sp, "egress", "to", np.egress);
    if (!ok) return c.to_error("networkpolicy", np.meta);
    return np;
}

}  // namespace vxr::control::k8s
