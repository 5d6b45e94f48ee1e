// The shared readers, metadata, and the small decoders (Namespace, Pod,
// EndpointSlice). Service and NetworkPolicy have files of their own.
#include "control/k8s/objects.hpp"

#include "control/k8s/decode_common.hpp"

namespace vxr::control::k8s {

namespace detail {

std::string json_path::str() const {
    if (!parent) return {};
    std::string s = parent->str();
    if (field) {
        if (!s.empty()) s += '.';
        s += field;
    } else {
        s += '[' + std::to_string(index) + ']';
    }
    return s;
}

bool decode_ctx::fail(const json_path& at, std::string msg) {
    if (msg_.empty()) {
        where_ = at.str();
        msg_ = std::move(msg);
    }
    return false;
}

error decode_ctx::to_error(std::string_view kind, const object_meta& meta) const {
    std::string who = meta.name.empty() ? (meta.ns.empty() ? "(unnamed)" : meta.ns + "/(unnamed)") : meta.key();
    std::string m(kind);
    m.append(" ").append(who).append(": ");
    if (!where_.empty()) m.append(where_).append(": ");
    m.append(msg_);
    return make_error(std::move(m));
}

const Value* find(const Value& obj, const char* name) {
    if (!obj.IsObject()) return nullptr;
    auto it = obj.FindMember(name);
    if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
    return &it->value;
}

std::string quote(const Value& v) {
    constexpr size_t k_max = 64;  // enough to recognise, short enough for a log line
    if (v.IsString()) {
        std::string s(sv(v).substr(0, k_max));
        return "\"" + s + (v.GetStringLength() > k_max ? "...\"" : "\"");
    }
    if (v.IsBool()) return v.GetBool() ? "true" : "false";
    if (v.IsInt64()) return std::to_string(v.GetInt64());
    if (v.IsUint64()) return std::to_string(v.GetUint64());
    if (v.IsNumber()) return std::to_string(v.GetDouble());
    if (v.IsArray()) return "a list";
    if (v.IsObject()) return "an object";
    return "null";
}

bool read_string(decode_ctx& c, const Value& obj, const json_path& at, const char* name, std::string& out) {
    const Value* v = find(obj, name);
    if (!v) return true;
    if (!v->IsString()) return c.fail(at / name, "not a string: " + quote(*v));
    out.assign(v->GetString(), v->GetStringLength());
    return true;
}

bool read_bool(decode_ctx& c, const Value& obj, const json_path& at, const char* name, std::optional<bool>& out) {
    const Value* v = find(obj, name);
    if (!v) return true;
    if (!v->IsBool()) return c.fail(at / name, "not a boolean: " + quote(*v));
    out = v->GetBool();
    return true;
}

bool read_bool(decode_ctx& c, const Value& obj, const json_path& at, const char* name, bool& out) {
    std::optional<bool> b;
    if (!read_bool(c, obj, at, name, b)) return false;
    if (b) out = *b;
    return true;
}

bool read_uint(decode_ctx& c, const Value& obj, const json_path& at, const char* name, uint32_t lo, uint32_t hi,
               uint32_t& out) {
    const Value* v = find(obj, name);
    if (!v) return true;
    if (!v->IsInt64()) return c.fail(at / name, "not an integer: " + quote(*v));
    int64_t n = v->GetInt64();
    if (n < lo || n > hi)
        return c.fail(at / name, "out of range: " + std::to_string(n) + " (want " + std::to_string(lo) + "-" +
                                     std::to_string(hi) + ")");
    out = static_cast<uint32_t>(n);
    return true;
}

bool read_port(decode_ctx& c, const Value& obj, const json_path& at, const char* name, bool allow_zero,
               uint16_t& out) {
    uint32_t n = out;
    if (!read_uint(c, obj, at, name, allow_zero ? 0 : 1, 65535, n)) return false;
    out = static_cast<uint16_t>(n);
    return true;
}

bool read_protocol(decode_ctx& c, const Value& obj, const json_path& at, l4_protocol& out) {
    out = l4_protocol::tcp;
    return read_enum(c, obj, at, "protocol", k_protocol_names, out);
}

bool is_port_name(std::string_view s) {
    if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-') return false;
    bool letter = false;
    for (size_t i = 0; i < s.size(); ++i) {
        char ch = s[i];
        if (ch >= 'a' && ch <= 'z') {
            letter = true;
        } else if (ch == '-') {
            if (s[i - 1] == '-') return false;
        } else if (ch < '0' || ch > '9') {
            return false;
        }
    }
    return letter;
}

bool read_port_ref(decode_ctx& c, const Value& v, const json_path& at, port_ref& out) {
    if (v.IsString()) {
        if (!is_port_name(sv(v))) return c.fail(at, "not a port number or name: " + quote(v));
        out = port_ref{0, std::string(sv(v))};
        return true;
    }
    if (!v.IsInt64()) return c.fail(at, "not a port number or name: " + quote(v));
    int64_t n = v.GetInt64();
    if (n < 1 || n > 65535) return c.fail(at, "out of range: " + std::to_string(n) + " (want 1-65535)");
    out = port_ref{static_cast<uint16_t>(n), {}};
    return true;
}

bool read_ip(decode_ctx& c, const Value& v, const json_path& at, ip_addr& out) {
    std::optional<ip_addr> a;
    if (v.IsString()) a = ip_addr::parse(sv(v));
    if (!a) return c.fail(at, "not an IP address: " + quote(v));
    out = *a;
    return true;
}

bool object_member(decode_ctx& c, const Value& obj, const json_path& at, const char* name, const Value*& out) {
    out = find(obj, name);
    if (out && !out->IsObject()) return c.fail(at / name, "not an object");
    return true;
}

bool read_labels(decode_ctx& c, const Value& obj, const json_path& at, const char* name, label_map& out) {
    const Value* m = nullptr;
    if (!object_member(c, obj, at, name, m)) return false;
    if (!m) return true;
    const json_path here = at / name;
    for (auto it = m->MemberBegin(); it != m->MemberEnd(); ++it) {
        if (!it->value.IsString()) return c.fail(here / it->name.GetString(), "not a string: " + quote(it->value));
        out.emplace(std::string(sv(it->name)), std::string(sv(it->value)));
    }
    return true;
}

bool read_meta(decode_ctx& c, const Value& obj, object_meta& out) {
    const json_path root;
    if (!obj.IsObject()) return c.fail(root, "not a JSON object");
    const Value* meta = nullptr;
    if (!object_member(c, obj, root, "metadata", meta)) return false;
    if (!meta) return c.fail(root / "metadata", "missing");
    const json_path at = root / "metadata";
    // Only the members we keep: managedFields and the annotations can be
    // most of the object and are never walked.
    if (!read_string(c, *meta, at, "namespace", out.ns) || !read_string(c, *meta, at, "name", out.name) ||
        !read_string(c, *meta, at, "uid", out.uid) ||
        !read_string(c, *meta, at, "resourceVersion", out.resource_version))
        return false;
    if (out.name.empty()) return c.fail(at / "name", "missing");
    return read_labels(c, *meta, at, "labels", out.labels);
}

}  // namespace detail

using namespace detail;

std::string_view api_name(l4_protocol v) { return name_of(k_protocol_names, v); }
std::string_view api_name(service_type v) { return name_of(k_service_type_names, v); }
std::string_view api_name(family_policy v) { return name_of(k_family_policy_names, v); }
std::string_view api_name(affinity v) { return name_of(k_affinity_names, v); }
std::string_view api_name(traffic_policy v) { return name_of(k_traffic_policy_names, v); }
std::string_view api_name(lb_ip_mode v) { return name_of(k_ip_mode_names, v); }
std::string_view api_name(ip_family v) { return name_of(k_ip_family_names, v); }
std::string_view api_name(endpoint_address_type v) { return name_of(k_address_type_names, v); }
std::string_view api_name(pod_phase v) { return name_of(k_pod_phase_names, v); }
std::string_view api_name(selector_op v) { return name_of(k_selector_op_names, v); }
std::string_view api_name(policy_type v) { return name_of(k_policy_type_names, v); }

result<namespace_info> decode_namespace(const Value& obj) {
    decode_ctx c;
    namespace_info n;
    if (!read_meta(c, obj, n.meta)) return c.to_error("namespace", n.meta);
    return n;
}

namespace {

bool read_container_ports(decode_ctx& c, const Value& container, const json_path& at, std::vector<pod_port>& out) {
    std::string cname;
    if (!read_string(c, container, at, "name", cname)) return false;
    return each(c, container, at, "ports", [&](const Value& p, const json_path& pp) {
        pod_port port;
        port.container = cname;
        if (!read_string(c, p, pp, "name", port.name) || !read_protocol(c, p, pp, port.protocol) ||
            !read_port(c, p, pp, "hostPort", true, port.host_port))
            return false;
        if (!find(p, "containerPort")) return c.fail(pp / "containerPort", "missing");
        if (!read_port(c, p, pp, "containerPort", false, port.container_port)) return false;
        if (!port.name.empty() && !is_port_name(port.name))
            return c.fail(pp / "name", "not a port name: \"" + port.name + "\"");
        if (const Value* h = find(p, "hostIP"); h && !(h->IsString() && h->GetStringLength() == 0)) {
            ip_addr a;
            if (!read_ip(c, *h, pp / "hostIP", a)) return false;
            port.host_ip = a;
        }
        out.push_back(std::move(port));
        return true;
    });
}

bool read_annotation(decode_ctx& c, const Value* ann, const json_path& at, std::string_view key, std::string& out) {
    if (!ann) return true;
    auto it = ann->FindMember(rapidjson::StringRef(key.data(), key.size()));
    if (it == ann->MemberEnd() || it->value.IsNull()) return true;
    if (!it->value.IsString()) return c.fail(at / std::string(key).c_str(), "not a string: " + quote(it->value));
    out.assign(sv(it->value));
    return true;
}

}  // namespace

result<pod> decode_pod(const Value& obj) {
    decode_ctx c;
    pod p;
    if (!read_meta(c, obj, p.meta)) return c.to_error("pod", p.meta);
    const json_path root;
    const json_path md = root / "metadata";
    const Value& meta = *find(obj, "metadata");
    const Value* ann = nullptr;
    p.deleting = find(meta, "deletionTimestamp") != nullptr;
    if (!object_member(c, meta, md, "annotations", ann) ||
        !read_annotation(c, ann, md / "annotations", k_ingress_bandwidth_annotation, p.ingress_bandwidth) ||
        !read_annotation(c, ann, md / "annotations", k_egress_bandwidth_annotation, p.egress_bandwidth))
        return c.to_error("pod", p.meta);

    const Value* spec = nullptr;
    const Value* status = nullptr;
    const json_path sp = root / "spec";
    const json_path st = root / "status";
    if (!object_member(c, obj, root, "spec", spec) || !object_member(c, obj, root, "status", status))
        return c.to_error("pod", p.meta);
    if (spec) {
        bool ok = read_string(c, *spec, sp, "nodeName", p.node_name) &&
                  read_bool(c, *spec, sp, "hostNetwork", p.host_network) &&
                  each(c, *spec, sp, "containers", [&](const Value& ct, const json_path& at) {
                      return read_container_ports(c, ct, at, p.ports);
                  });
        if (!ok) return c.to_error("pod", p.meta);
    }
    if (status) {
        bool ok = read_enum(c, *status, st, "phase", k_pod_phase_names, p.phase) &&
                  each(c, *status, st, "podIPs", [&](const Value& e, const json_path& at) {
                      const Value* ip = find(e, "ip");
                      if (!ip) return c.fail(at / "ip", "missing");
                      ip_addr a;
                      if (!read_ip(c, *ip, at / "ip", a)) return false;
                      p.pod_ips.push_back(a);
                      return true;
                  });
        if (!ok) return c.to_error("pod", p.meta);
        // podIPs arrived with dual stack (1.16); podIP alone is what older
        // writers and some fakes send, and is always podIPs[0] otherwise.
        if (p.pod_ips.empty()) {
            if (const Value* ip = find(*status, "podIP"); ip && !(ip->IsString() && ip->GetStringLength() == 0)) {
                ip_addr a;
                if (!read_ip(c, *ip, st / "podIP", a)) return c.to_error("pod", p.meta);
                p.pod_ips.push_back(a);
            }
        }
    }
    return p;
}

namespace {

bool read_endpoint(decode_ctx& c, const Value& e, const json_path& at, endpoint_address_type type, endpoint& out) {
    bool ok = each(c, e, at, "addresses", [&](const Value& a, const json_path& ap) {
        // FQDN slices name hosts, which the dataplane cannot forward to.
        if (type == endpoint_address_type::fqdn) return true;
        ip_addr ip;
        if (!read_ip(c, a, ap, ip)) return false;
        if (ip.is_v4() != (type == endpoint_address_type::ipv4))
            return c.fail(ap, "address " + ip.str() + " does not match addressType " + std::string(api_name(type)));
        out.addresses.push_back(ip);
        return true;
    });
    const Value* cond = nullptr;
    const Value* ref = nullptr;
    const Value* hints = nullptr;
    ok = ok && read_string(c, e, at, "nodeName", out.node_name) && read_string(c, e, at, "zone", out.zone) &&
         object_member(c, e, at, "conditions", cond) && object_member(c, e, at, "targetRef", ref) &&
         object_member(c, e, at, "hints", hints);
    if (!ok) return false;
    if (cond) {
        const json_path cp = at / "conditions";
        if (!read_bool(c, *cond, cp, "ready", out.conditions.ready) ||
            !read_bool(c, *cond, cp, "serving", out.conditions.serving) ||
            !read_bool(c, *cond, cp, "terminating", out.conditions.terminating))
            return false;
    }
    if (ref) {
        const json_path rp = at / "targetRef";
        std::string kind;
        if (!read_string(c, *ref, rp, "kind", kind)) return false;
        if (kind == "Pod" && (!read_string(c, *ref, rp, "namespace", out.pod_ns) ||
                              !read_string(c, *ref, rp, "name", out.pod_name)))
            return false;
    }
    if (hints) {
        return each(c, *hints, at / "hints", "forZones", [&](const Value& z, const json_path& zp) {
            std::string name;
            if (!read_string(c, z, zp, "name", name)) return false;
            out.zone_hints.push_back(std::move(name));
            return true;
        });
    }
    return true;
}

}  // namespace

result<endpoint_slice> decode_endpoint_slice(const Value& obj) {
    decode_ctx c;
    endpoint_slice s;
    if (!read_meta(c, obj, s.meta)) return c.to_error("endpointslice", s.meta);
    if (auto it = s.meta.labels.find(k_service_name_label); it != s.meta.labels.end()) s.service_name = it->second;
    const json_path root;
    if (!find(obj, "addressType")) {
        c.fail(root / "addressType", "missing");
        return c.to_error("endpointslice", s.meta);
    }
    bool ok = read_enum(c, obj, root, "addressType", k_address_type_names, s.address_type) &&
              each(c, obj, root, "ports", [&](const Value& p, const json_path& at) {
                  endpoint_port port;
                  uint16_t number = 0;
                  if (!read_string(c, p, at, "name", port.name) || !read_protocol(c, p, at, port.protocol) ||
                      !read_port(c, p, at, "port", false, number))
                      return false;
                  if (find(p, "port")) port.port = number;
                  s.ports.push_back(std::move(port));
                  return true;
              }) &&
              each(c, obj, root, "endpoints", [&](const Value& e, const json_path& at) {
                  endpoint ep;
                  if (!read_endpoint(c, e, at, s.address_type, ep)) return false;
                  s.endpoints.push_back(std::move(ep));
                  return true;
              });
    if (!ok) return c.to_error("endpointslice", s.meta);
    return s;
}

}  // namespace vxr::control::k8s
