#include "control/k8s/node_parse.hpp"

#include <ctime>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace vxr::control::k8s {

namespace {

using rapidjson::Value;

const Value* member(const Value& v, const char* name) {
    if (!v.IsObject()) return nullptr;
    auto it = v.FindMember(name);
    return it == v.MemberEnd() ? nullptr : &it->value;
}

std::optional<std::string_view> str_member(const Value& v, const char* name) {
    const Value* m = member(v, name);
    if (!m || !m->IsString()) return std::nullopt;
    return std::string_view(m->GetString(), m->GetStringLength());
}

std::optional<std::string_view> annotation(const Value* annotations, std::string_view prefix,
                                           std::string_view key) {
    if (!annotations || !annotations->IsObject()) return std::nullopt;
    std::string full;
    full.reserve(prefix.size() + 1 + key.size());
    full.append(prefix).append("/").append(key);
    auto it = annotations->FindMember(rapidjson::StringRef(full.data(), full.size()));
    if (it == annotations->MemberEnd() || !it->value.IsString()) return std::nullopt;
    return std::string_view(it->value.GetString(), it->value.GetStringLength());
}

struct backend_data {
    uint32_t vni = 0;
    mac_addr mac;
};

result<backend_data> parse_backend_data(std::string_view text) {
    rapidjson::Document d;
    d.Parse(text.data(), text.size());
    if (d.HasParseError() || !d.IsObject()) return make_error("backend-data is not a JSON object");
    const Value* vni = member(d, "VNI");
    if (!vni || !vni->IsUint() || vni->GetUint() > vni::k_max)
        return make_error("backend-data has no valid VNI");
    auto mac_text = str_member(d, "VtepMAC");
    if (!mac_text) return make_error("backend-data has no VtepMAC");
    auto mac = mac_addr::parse(*mac_text);
    if (!mac || mac->is_zero()) return make_error("backend-data VtepMAC \"" + std::string(*mac_text) + "\" is not a MAC");
    return backend_data{vni->GetUint(), *mac};
}

std::optional<ipv4_prefix> first_ipv4_cidr(const Value& spec) {
    // spec.podCIDRs (dual-stack) lists both families in any order; flannel's
    // IPv4 overlay wants the first IPv4 one. spec.podCIDR is podCIDRs[0].
    if (const Value* list = member(spec, "podCIDRs"); list && list->IsArray()) {
        for (const auto& c : list->GetArray()) {
            if (!c.IsString()) continue;
            if (auto p = ipv4_prefix::parse(std::string_view(c.GetString(), c.GetStringLength()))) return p;
        }
    }
    if (auto single = str_member(spec, "podCIDR")) return ipv4_prefix::parse(*single);
    return std::nullopt;
}

const Value* annotations_of(const Value& node) {
    const Value* meta = member(node, "metadata");
    return meta ? member(*meta, "annotations") : nullptr;
}

}  // namespace

bool same_peer(const peer_config& a, const peer_config& b) {
    return a.node_ip == b.node_ip && a.vtep_mac == b.vtep_mac && a.pod_cidr == b.pod_cidr && a.name == b.name;
}

result<node_info> classify_node(const Value& node, const node_options& opt) {
    const Value* meta = member(node, "metadata");
    if (!meta) return make_error("Node has no metadata");
    auto name = str_member(*meta, "name");
    if (!name || name->empty()) return make_error("Node has no metadata.name");
    node_info info;
    info.name = std::string(*name);
    if (auto rv = str_member(*meta, "resourceVersion")) info.resource_version = std::string(*rv);
    if (info.name == opt.self_name) {
        info.kind = node_kind::self;
        return info;
    }
    auto skip = [&](std::string why) {
        info.kind = node_kind::skipped;
        info.reason = std::move(why);
        return info;
    };
    const Value* ann = member(*meta, "annotations");
    const std::string& pfx = opt.prefix;
    auto ksm = annotation(ann, pfx, "kube-subnet-manager");
    if (!ksm || *ksm != "true") return skip("no " + pfx + "/kube-subnet-manager=\"true\" annotation (not set up yet?)");
    auto type = annotation(ann, pfx, "backend-type");
    if (!type) return skip("no " + pfx + "/backend-type annotation");
    if (*type != "vxlan") return skip("backend-type is \"" + std::string(*type) + "\", not vxlan");
    auto data_text = annotation(ann, pfx, "backend-data");
    if (!data_text) return skip("no " + pfx + "/backend-data annotation");
    auto data = parse_backend_data(*data_text);
    if (!data) return skip(data.err());
    if (data->vni != opt.vni)
        return skip("VNI " + std::to_string(data->vni) + " differs from ours (" + std::to_string(opt.vni) + ")");
    // public-ip-overwrite is the operator's override and wins over what the
    // node detected, exactly as in flannel.
    auto ip_text = annotation(ann, pfx, "public-ip-overwrite");
    if (!ip_text || ip_text->empty()) ip_text = annotation(ann, pfx, "public-ip");
    if (!ip_text) return skip("no " + pfx + "/public-ip annotation");
    auto ip = ipv4_addr::parse(*ip_text);
    if (!ip) return skip("public IP \"" + std::string(*ip_text) + "\" is not an IPv4 address");
    const Value* spec = member(node, "spec");
    auto cidr = spec ? first_ipv4_cidr(*spec) : std::nullopt;
    if (!cidr) return skip("no IPv4 pod CIDR in spec.podCIDR(s)");
    info.kind = node_kind::peer;
    info.peer.name = info.name;
    info.peer.node_ip = *ip;
    info.peer.vtep_mac = data->mac;
    info.peer.pod_cidr = *cidr;
    return info;
}

std::optional<mac_addr> published_vtep_mac(const Value& node, std::string_view prefix) {
    auto text = annotation(annotations_of(node), prefix, "backend-data");
    if (!text) return std::nullopt;
    auto data = parse_backend_data(*text);
    if (!data) return std::nullopt;
    return data->mac;
}

result<std::optional<mac_addr>> published_vtep_mac(std::string_view node_json, std::string_view prefix) {
    rapidjson::Document d;
    d.Parse(node_json.data(), node_json.size());
    if (d.HasParseError() || !d.IsObject()) return make_error("node JSON does not parse");
    return published_vtep_mac(d, prefix);
}

std::string backend_data_json(uint32_t vni, const mac_addr& mac) {
    return "{\"VNI\":" + std::to_string(vni) + ",\"VtepMAC\":\"" + mac.str() + "\"}";
}

bool self_annotations_match(const Value& node, const self_publication& self, std::string_view prefix) {
    const Value* ann = annotations_of(node);
    auto ksm = annotation(ann, prefix, "kube-subnet-manager");
    auto type = annotation(ann, prefix, "backend-type");
    auto ip = annotation(ann, prefix, "public-ip");
    auto data_text = annotation(ann, prefix, "backend-data");
    if (!ksm || *ksm != "true" || !type || *type != "vxlan" || !ip || *ip != self.public_ip.str() || !data_text)
        return false;
    auto data = parse_backend_data(*data_text);
    return data && data->vni == self.vni && data->mac == self.vtep_mac;
}

std::string build_status_patch(const self_publication& self, std::string_view prefix,
                               std::chrono::system_clock::time_point now) {
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[32];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::string p(prefix);
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    auto kv = [&](const std::string& k, const std::string& v) {
        w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
        w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
    };
    w.StartObject();
    w.Key("metadata");
    w.StartObject();
    w.Key("annotations");
    w.StartObject();
    kv(p + "/backend-data", backend_data_json(self.vni, self.vtep_mac));
    kv(p + "/backend-type", "vxlan");
    kv(p + "/kube-subnet-manager", "true");
    kv(p + "/public-ip", self.public_ip.str());
    w.EndObject();
    w.EndObject();
    w.Key("status");
    w.StartObject();
    w.Key("conditions");
    w.StartArray();
    w.StartObject();
    kv("type", "NetworkUnavailable");
    kv("status", "False");
    kv("reason", "VxrouteIsUp");
    kv("message", "vxroute is running on this node");
    kv("lastTransitionTime", ts);
    kv("lastHeartbeatTime", ts);
    w.EndObject();
    w.EndArray();
    w.EndObject();
    w.EndObject();
    return sb.GetString();
}

}  // namespace vxr::control::k8s
