#include "control/ops/commands.hpp"

#include <rte_telemetry.h>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "control/admin/admin.hpp"
#include "control/cni/cni.hpp"
#include "control/node/k8s_bridge.hpp"
#include "control/node/stats.hpp"
#include "control/services/service_proxy.hpp"

namespace vxr::control {

namespace {
std::string member_json(const rapidjson::Value& v) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    v.Accept(w);
    return sb.GetString();
}

std::string str_member(const rapidjson::Document& d, const char* key) {
    auto it = d.FindMember(key);
    return it != d.MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string();
}

// The watch cache's views. "pods" stays the router's attached pods; the cached
// Pod objects of the whole cluster are "cluster-pods".
bool is_cache_view(const std::string& what) {
    for (const char* v : {"services", "endpoints", "endpointslices", "cluster-pods", "namespaces", "policies",
                          "networkpolicies"})
        if (what == v) return true;
    return false;
}

const fastpath::dataplane* g_telemetry_dp = nullptr;

counter_sums telemetry_sums() {
    counter_sums t;
    for (unsigned w = 0; w < g_telemetry_dp->workers(); ++w) t.add(g_telemetry_dp->counters(w));
    return t;
}

int tel_counters(const char*, const char*, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    const counter_sums t = telemetry_sums();
    rte_tel_data_add_dict_u64(d, "rx_packets", t.rx_packets);
    rte_tel_data_add_dict_u64(d, "tx_packets", t.tx_packets);
    rte_tel_data_add_dict_u64(d, "encapsulated", t.encapsulated);
    rte_tel_data_add_dict_u64(d, "decapsulated", t.decapsulated);
    rte_tel_data_add_dict_u64(d, "busy_cycles", t.busy_cycles);
    rte_tel_data_add_dict_u64(d, "total_cycles", t.total_cycles);
    rte_tel_data_add_dict_u64(d, "workers", g_telemetry_dp->workers());
    return 0;
}

int tel_drops(const char*, const char*, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    const counter_sums t = telemetry_sums();
    for (size_t i = 0; i < fastpath::k_drop_reasons; ++i)
        rte_tel_data_add_dict_u64(d, std::string(fastpath::k_drop_names[i]).c_str(), t.drops[i]);
    return 0;
}
}  // namespace

std::unique_ptr<cni::port_mapping_table> make_port_mapping_table(const config& cfg, services::service_proxy* svc) {
    cni::port_mapping_table::apply_fn apply;
    if (svc)
        apply = [svc](const std::string& pod, const cni::port_mapping_table::entry& e) {
            svc->compiler().upsert_cni_pod(pod, e.label, ip_addr::from(e.ip), e.mappings);
            svc->mark_changed();
        };
    return std::make_unique<cni::port_mapping_table>(cni::port_mapping_table::file_for(cfg), std::move(apply));
}

std::string handle_command(router& r, const k8s_bridge* k8s, const services::service_proxy* svc,
                           cni::port_mapping_table* maps, const std::string& request_json) {
    rapidjson::Document d;
    d.Parse(request_json.c_str());
    const std::string cmd = str_member(d, "cmd");
    const char* const k_services_off = "Services are off (\"services\": {\"enabled\": true} in the config)";
    if (cmd == "show") {
        const std::string what = str_member(d, "what");
        if (what == "frontends") return svc ? reply_ok(svc->show_services()) : reply_error(k_services_off);
        if (what == "conntrack")
            return svc ? reply_ok(svc->show_conntrack(str_member(d, "filter"))) : reply_error(k_services_off);
        if (what == "config") return reply_ok(to_json(r.cfg()));
        if (what == "k8s") return reply_ok(k8s ? k8s->show() : std::string(R"({"enabled":false})"));
        if (is_cache_view(what)) {
            if (!k8s) return reply_error("cannot show " + what + ": no \"kubernetes\" section in the config");
            auto out = k8s->show_cache(what);
            return out ? reply_ok(*out) : reply_error(out.err());
        }
        std::string out = r.show(what);
        if (out.empty())
            return reply_error("unknown view \"" + what +
                               "\" (ports, routes, peers, neighbors, pods, counters, config, k8s, frontends, conntrack, "
                               "services, endpoints, cluster-pods, namespaces, policies)");
        return reply_ok(out);
    }
    auto done = [](const result<void>& res) { return res ? reply_ok("{}") : reply_error(res.err()); };
    if (cmd == "pod-add" || cmd == "peer-add") {
        const char* key = cmd == "pod-add" ? "pod" : "peer";
        auto it = d.FindMember(key);
        if (it == d.MemberEnd() || !it->value.IsObject())
            return reply_error(std::string("\"") + key + "\" must be an object");
        if (cmd == "pod-add") {
            auto p = parse_pod(member_json(it->value));
            return p ? done(r.add_pod(*p, true)) : reply_error(p.err());
        }
        auto p = parse_peer(member_json(it->value));
        return p ? done(r.add_peer(*p)) : reply_error(p.err());
    }
    if (cmd == "service-lookup") {
        if (!svc) return reply_error(k_services_off);
        auto port = [&](const char* key) {
            auto it = d.FindMember(key);
            return it != d.MemberEnd() && it->value.IsUint() && it->value.GetUint() <= 65535
                       ? static_cast<int>(it->value.GetUint())
                       : -1;
        };
        const int dport = port("port"), sport = port("src_port");
        if (dport < 0 || sport < 0) return reply_error("service lookup: ports must be 0..65535");
        auto out = svc->lookup(str_member(d, "proto"), str_member(d, "ip"), static_cast<uint16_t>(dport),
                               str_member(d, "src_ip"), static_cast<uint16_t>(sport));
        return out ? reply_ok(*out) : reply_error(out.err());
    }
    if (cmd == "pod-del") {
        // A CNI pod's mappings go with it: its IP may be handed out again.
        const std::string name = str_member(d, "name");
        auto res = r.remove_pod(name);
        if (res && maps) maps->remove(name);
        return done(res);
    }
    if (cmd == "cni-add" || cmd == "cni-del" || cmd == "cni-check") return cni::handle(r, maps, request_json);
    if (cmd == "peer-del") {
        auto ip = ipv4_addr::parse(str_member(d, "node_ip"));
        if (!ip) return reply_error("node_ip: not an IPv4 address");
        return done(r.remove_peer(*ip));
    }
    return reply_error("unknown command \"" + cmd + "\"");
}

void register_telemetry(const fastpath::dataplane& dp) {
    g_telemetry_dp = &dp;
    rte_telemetry_register_cmd("/vxroute/counters", tel_counters, "vxroute worker counters, summed. No parameters");
    rte_telemetry_register_cmd("/vxroute/drops", tel_drops, "vxroute drops by reason, summed. No parameters");
}

}  // namespace vxr::control
