// Recorded Service, EndpointSlice, Pod and Namespace objects (tests/k8s/data,
// as `kubectl get -o json` prints them) -> decoded structs, every field, and
// the API's defaults; the `show --json` shape; the ip_addr / ip_prefix types
// under them. NetworkPolicy and the validation failures are in
// test_k8s_decode_policy.cpp.
#include <gtest/gtest.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "decode_helpers.hpp"

using namespace decode_test;


TEST(IpAddr, ParsesBothFamiliesAndPrintsCanonicalText) {
    auto v4 = ip_addr::parse("10.244.1.12");
    ASSERT_TRUE(v4);
    EXPECT_TRUE(v4->is_v4());
    EXPECT_EQ(v4->str(), "10.244.1.12");
    EXPECT_EQ(v4->as_v4()->value, 0x0af4010cu);
    EXPECT_EQ(ip_addr::from(vxr::ipv4_addr{0x0af4010cu}), *v4);
    auto v6 = ip_addr::parse("FD00:0010:0244:0001:0000:0000:0000:000C");
    ASSERT_TRUE(v6);
    EXPECT_TRUE(v6->is_v6());
    EXPECT_EQ(v6->str(), "fd00:10:244:1::c");
    EXPECT_FALSE(v6->as_v4());
    // IPv4-mapped stays IPv6: it is a different address on the wire.
    auto mapped = ip_addr::parse("::ffff:10.0.0.1");
    ASSERT_TRUE(mapped);
    EXPECT_TRUE(mapped->is_v6());
    EXPECT_EQ(mapped->str(), "::ffff:10.0.0.1");
    EXPECT_NE(*mapped, ip("10.0.0.1"));
    for (auto bad : {"", "10.0.0", "10.0.0.256", "10.0.0.1 ", "fe80::1%eth0", "fd00::g", "1:2:3:4:5:6:7:8:9",
                     "10.0.0.1/32", "0xa.0.0.1"})
        EXPECT_FALSE(ip_addr::parse(bad)) << bad;
    EXPECT_LT(ip("255.255.255.255"), ip("::"));
    EXPECT_LT(ip("10.0.0.1"), ip("10.0.0.2"));
    EXPECT_LT(ip("fd00::1"), ip("fd00::1:0"));
}

TEST(IpPrefix, ParsesContainsAndRejectsHostBits) {
    auto p = ip_prefix::parse("10.96.0.0/12");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->str(), "10.96.0.0/12");
    EXPECT_TRUE(p->contains(ip("10.111.255.255")));
    EXPECT_FALSE(p->contains(ip("10.112.0.0")));
    EXPECT_FALSE(p->contains(ip("::a60:1")));  // other family
    EXPECT_FALSE(ip_prefix::parse("10.96.0.1/12"));
    auto sloppy = ip_prefix::parse("10.96.0.1/12", true);
    ASSERT_TRUE(sloppy);
    EXPECT_EQ(sloppy->str(), "10.96.0.1/12");
    EXPECT_EQ(sloppy->network(), *p);
    auto v6 = ip_prefix::parse("fd00:10:244::/56");
    ASSERT_TRUE(v6);
    EXPECT_TRUE(v6->contains(ip("fd00:10:244:ff::1")));
    EXPECT_FALSE(v6->contains(ip("fd00:10:244:100::1")));
    EXPECT_TRUE(v6->contains(pfx("fd00:10:244:1::/64")));
    EXPECT_FALSE(v6->contains(pfx("fd00:10::/32")));
    EXPECT_TRUE(pfx("0.0.0.0/0").contains(ip("203.0.113.9")));
    EXPECT_FALSE(pfx("0.0.0.0/0").contains(ip("::1")));
    EXPECT_TRUE(pfx("::/0").contains(ip("2001:db8::1")));
    EXPECT_EQ(pfx("fd00::1/128").len, 128);
    for (auto bad : {"10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "fd00::/129", "10.0.0/8", "10.0.0.0/8/8", "x/8",
                     "10.0.0.0/-1", "10.0.0.0/ 8"})
        EXPECT_FALSE(ip_prefix::parse(bad, true)) << bad;
    EXPECT_EQ(ip_prefix::from(vxr::ipv4_prefix::parse("10.244.0.0/16").value()), pfx("10.244.0.0/16"));
}

TEST(DecodeService, ClusterIpWithSeveralPortsAndNamedTargetPorts) {
    auto s = must(k8s::decode_service(load("service_clusterip.json")));
    EXPECT_EQ(s.meta.ns, "shop");
    EXPECT_EQ(s.meta.name, "web");
    EXPECT_EQ(s.meta.key(), "shop/web");
    EXPECT_EQ(s.meta.uid, "3b0f6f4e-8f0c-4d9e-a1a7-5c2f9d1e7a10");
    EXPECT_EQ(s.meta.resource_version, "184467");
    EXPECT_EQ(s.meta.labels, (k8s::label_map{{"app", "web"}, {"app.kubernetes.io/part-of", "shop"}}));
    EXPECT_EQ(s.type, k8s::service_type::cluster_ip);
    EXPECT_FALSE(s.headless);
    EXPECT_EQ(s.cluster_ips, ips({"10.96.41.17"}));
    EXPECT_EQ(s.ip_families, std::vector<vxr::ip_family>{vxr::ip_family::v4});
    EXPECT_EQ(s.ip_family_policy, k8s::family_policy::single_stack);
    ASSERT_EQ(s.ports.size(), 4u);
    const std::tuple<const char*, k8s::l4_protocol, uint16_t, k8s::port_ref> want[] = {
        {"http", k8s::l4_protocol::tcp, 80, named("http")},
        {"https", k8s::l4_protocol::tcp, 443, num(8443)},
        {"metrics", k8s::l4_protocol::tcp, 9102, named("metrics")},
        {"syslog", k8s::l4_protocol::udp, 514, num(5514)}};
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(s.ports[i].name, std::get<0>(want[i]));
        EXPECT_EQ(s.ports[i].protocol, std::get<1>(want[i]));
        EXPECT_EQ(s.ports[i].port, std::get<2>(want[i]));
        EXPECT_EQ(s.ports[i].target_port, std::get<3>(want[i])) << i;
        EXPECT_EQ(s.ports[i].node_port, 0);
    }
    EXPECT_TRUE(s.external_ips.empty());
    EXPECT_TRUE(s.load_balancer_ingress.empty());
    EXPECT_TRUE(s.load_balancer_source_ranges.empty());
    EXPECT_EQ(s.session_affinity, k8s::affinity::none);
    EXPECT_EQ(s.session_affinity_timeout_s, 0u);
    EXPECT_EQ(s.external_traffic_policy, k8s::traffic_policy::cluster);
    EXPECT_EQ(s.internal_traffic_policy, k8s::traffic_policy::cluster);
    EXPECT_EQ(s.health_check_node_port, 0);
    EXPECT_EQ(s.external_name, "");
    EXPECT_TRUE(s.ours());
}

TEST(DecodeService, NodePortLocalWithClientIpAffinity) {
    auto s = must(k8s::decode_service(load("service_nodeport_local.json")));
    EXPECT_EQ(s.meta.key(), "shop/checkout");
    EXPECT_EQ(s.type, k8s::service_type::node_port);
    EXPECT_EQ(s.cluster_ips, ips({"10.96.133.201"}));
    ASSERT_EQ(s.ports.size(), 2u);
    EXPECT_EQ(s.ports[0].port, 8080);
    EXPECT_EQ(s.ports[0].target_port, named("http"));
    EXPECT_EQ(s.ports[0].node_port, 30080);
    EXPECT_EQ(s.ports[1].port, 9090);
    EXPECT_EQ(s.ports[1].target_port, num(9090));
    EXPECT_EQ(s.ports[1].node_port, 30090);
    EXPECT_EQ(s.external_ips, ips({"192.0.2.50"}));
    EXPECT_EQ(s.external_traffic_policy, k8s::traffic_policy::local);
    // healthCheckNodePort exists only for LoadBalancer + Local.
    EXPECT_EQ(s.health_check_node_port, 0);
    EXPECT_EQ(s.session_affinity, k8s::affinity::client_ip);
    EXPECT_EQ(s.session_affinity_timeout_s, 1800u);
}

TEST(DecodeService, LoadBalancerWithStatusAndSourceRanges) {
    auto d = load("service_loadbalancer.json");
    auto s = must(k8s::decode_service(d));
    EXPECT_EQ(s.meta.key(), "ingress-nginx/ingress-nginx-controller");
    EXPECT_EQ(s.meta.labels.at("app.kubernetes.io/managed-by"), "Helm");
    EXPECT_EQ(s.type, k8s::service_type::load_balancer);
    EXPECT_EQ(s.cluster_ips, ips({"10.96.77.5"}));
    ASSERT_EQ(s.ports.size(), 2u);
    EXPECT_EQ(s.ports[0].target_port, named("http"));
    EXPECT_EQ(s.ports[0].node_port, 31080);
    EXPECT_EQ(s.ports[1].port, 443);
    EXPECT_EQ(s.ports[1].target_port, named("https"));
    EXPECT_EQ(s.ports[1].node_port, 31443);
    EXPECT_EQ(s.external_traffic_policy, k8s::traffic_policy::local);
    EXPECT_EQ(s.health_check_node_port, 32001);
    EXPECT_EQ(s.load_balancer_source_ranges, (std::vector<ip_prefix>{pfx("203.0.113.0/24"), pfx("198.51.100.7/32")}));
    ASSERT_EQ(s.load_balancer_ingress.size(), 1u);
    EXPECT_EQ(s.load_balancer_ingress[0].ip, ip("192.0.2.240"));
    EXPECT_EQ(s.load_balancer_ingress[0].hostname, "");
    EXPECT_EQ(s.load_balancer_ingress[0].ip_mode, k8s::lb_ip_mode::vip);

    // A cloud load balancer that reports only a DNS name is kept as one,
    // and Proxy mode comes through.
    set(d, "/status/loadBalancer/ingress",
        R"([{"hostname":"a1b2c3-123.eu-west-1.elb.amazonaws.com"},{"ip":"192.0.2.241","ipMode":"Proxy"}])");
    set(d, "/spec/loadBalancerSourceRanges", R"([" 203.0.113.9/24 "])");
    s = must(k8s::decode_service(d));
    ASSERT_EQ(s.load_balancer_ingress.size(), 2u);
    EXPECT_FALSE(s.load_balancer_ingress[0].ip);
    EXPECT_EQ(s.load_balancer_ingress[0].hostname, "a1b2c3-123.eu-west-1.elb.amazonaws.com");
    EXPECT_EQ(s.load_balancer_ingress[1].ip, ip("192.0.2.241"));
    EXPECT_EQ(s.load_balancer_ingress[1].ip_mode, k8s::lb_ip_mode::proxy);
    EXPECT_EQ(s.load_balancer_source_ranges, std::vector<ip_prefix>{pfx("203.0.113.0/24")});
}

TEST(DecodeService, HeadlessExternalNameDualStackAndForeignProxy) {
    auto h = must(k8s::decode_service(load("service_headless.json")));
    EXPECT_EQ(h.meta.key(), "data/postgres-headless");
    EXPECT_TRUE(h.headless);
    EXPECT_TRUE(h.cluster_ips.empty());
    ASSERT_EQ(h.ports.size(), 1u);
    EXPECT_EQ(h.ports[0].target_port, num(5432));

    auto e = must(k8s::decode_service(load("service_externalname.json")));
    EXPECT_EQ(e.type, k8s::service_type::external_name);
    EXPECT_EQ(e.external_name, "api.payments.example.com");
    EXPECT_FALSE(e.headless);
    EXPECT_TRUE(e.cluster_ips.empty());
    EXPECT_TRUE(e.ip_families.empty());
    EXPECT_FALSE(e.ip_family_policy);

    auto ds = must(k8s::decode_service(load("service_dualstack.json")));
    EXPECT_EQ(ds.cluster_ips, ips({"fd00:10:96::3f2a", "10.96.200.12"}));
    EXPECT_EQ(ds.ip_families, (std::vector<vxr::ip_family>{vxr::ip_family::v6, vxr::ip_family::v4}));
    EXPECT_EQ(ds.ip_family_policy, k8s::family_policy::require_dual_stack);
    EXPECT_EQ(ds.internal_traffic_policy, k8s::traffic_policy::local);
    ASSERT_EQ(ds.ports.size(), 1u);
    EXPECT_EQ(ds.ports[0].target_port, num(8080));

    auto other = must(k8s::decode_service(load("service_proxy_name.json")));
    EXPECT_EQ(other.proxy_name, "multus-proxy");
    EXPECT_FALSE(other.ours());
    EXPECT_EQ(other.ports.at(0).protocol, k8s::l4_protocol::udp);
}

TEST(DecodeService, ApiDefaultsForFieldsLeftOut) {
    auto d = load("service_nodeport_local.json");
    erase(d, "/spec/sessionAffinityConfig");
    erase(d, "/spec/clusterIPs");
    erase(d, "/spec/externalTrafficPolicy");
    erase(d, "/spec/ports/1/targetPort");
    erase(d, "/spec/ports/1/protocol");
    auto s = must(k8s::decode_service(d));
    EXPECT_EQ(s.session_affinity_timeout_s, k8s::k_default_affinity_timeout_s);
    EXPECT_EQ(s.cluster_ips, ips({"10.96.133.201"}));  // from clusterIP alone
    EXPECT_EQ(s.external_traffic_policy, k8s::traffic_policy::cluster);
    EXPECT_EQ(s.ports[1].target_port, num(9090));
    EXPECT_EQ(s.ports[1].protocol, k8s::l4_protocol::tcp);
}

TEST(DecodeEndpointSlice, ConditionsNodesZonesAndPods) {
    auto s = must(k8s::decode_endpoint_slice(load("endpointslice_web.json")));
    EXPECT_EQ(s.meta.key(), "shop/web-7xk2p");
    EXPECT_EQ(s.meta.uid, "41c2d9e8-6b1a-4f2d-b3e4-7a8b9c0d1e2f");
    EXPECT_EQ(s.meta.resource_version, "188230");
    EXPECT_EQ(s.meta.labels.at("endpointslice.kubernetes.io/managed-by"), "endpointslice-controller.k8s.io");
    EXPECT_EQ(s.service_name, "web");
    EXPECT_EQ(s.address_type, k8s::endpoint_address_type::ipv4);
    ASSERT_EQ(s.ports.size(), 4u);
    EXPECT_EQ(s.ports[0].name, "https");
    EXPECT_EQ(s.ports[0].port, 8443);
    EXPECT_EQ(s.ports[2].name, "syslog");
    EXPECT_EQ(s.ports[2].protocol, k8s::l4_protocol::udp);
    EXPECT_EQ(s.ports[2].port, 5514);
    EXPECT_EQ(s.ports[3].name, "http");
    EXPECT_EQ(s.ports[3].port, 8080);
    ASSERT_EQ(s.endpoints.size(), 4u);
    struct want {
        const char* addr;
        bool ready, serving, terminating;
        const char *node, *zone, *pod;
    };
    const want w[] = {{"10.244.1.12", true, true, false, "worker-1", "zone-a", "web-6f9c7d8b5d-q4xzt"},
                      {"10.244.1.13", false, false, false, "worker-1", "zone-a", "web-6f9c7d8b5d-r8m2n"},
                      {"10.244.2.20", false, true, true, "worker-2", "zone-b", "web-6f9c7d8b5d-h7k9p"},
                      {"10.244.2.21", false, false, true, "worker-2", "zone-b", "web-6f9c7d8b5d-w2x4z"}};
    for (size_t i = 0; i < 4; ++i) {
        const auto& e = s.endpoints[i];
        EXPECT_EQ(e.addresses, ips({w[i].addr})) << i;
        EXPECT_EQ(e.conditions.ready, w[i].ready) << i;
        EXPECT_EQ(e.conditions.serving, w[i].serving) << i;
        EXPECT_EQ(e.conditions.terminating, w[i].terminating) << i;
        EXPECT_EQ(e.conditions.is_serving(), w[i].serving) << i;
        EXPECT_EQ(e.node_name, w[i].node);
        EXPECT_EQ(e.zone, w[i].zone);
        EXPECT_EQ(e.zone_hints, std::vector<std::string>{w[i].zone});
        EXPECT_EQ(e.pod_ns, "shop");
        EXPECT_EQ(e.pod_name, w[i].pod);
    }
}

TEST(DecodeEndpointSlice, Ipv6AndFqdnSlices) {
    auto d = load("endpointslice_ipv6.json");
    auto s = must(k8s::decode_endpoint_slice(d));
    EXPECT_EQ(s.service_name, "api-dual");
    EXPECT_EQ(s.address_type, k8s::endpoint_address_type::ipv6);
    ASSERT_EQ(s.endpoints.size(), 2u);
    EXPECT_EQ(s.endpoints[0].addresses, ips({"fd00:10:244:1::1a"}));
    EXPECT_EQ(s.endpoints[1].addresses, ips({"fd00:10:244:2::2b"}));
    EXPECT_EQ(s.endpoints[1].node_name, "worker-2");
    EXPECT_EQ(s.endpoints[1].pod_ns, "default");
    EXPECT_EQ(s.endpoints[1].pod_name, "api-7d4b9c6f5-9kq4t");
    EXPECT_TRUE(s.endpoints[1].zone_hints.empty());

    set(d, "/addressType", R"("FQDN")");
    set(d, "/endpoints/0/addresses", R"(["db.example.com"])");
    set(d, "/endpoints/1/targetRef", R"({"kind":"Node","name":"worker-2"})");
    s = must(k8s::decode_endpoint_slice(d));
    EXPECT_EQ(s.address_type, k8s::endpoint_address_type::fqdn);
    EXPECT_TRUE(s.endpoints[0].addresses.empty());
    EXPECT_EQ(s.endpoints[1].pod_name, "");  // only Pod targets are kept
}

TEST(DecodeEndpointSlice, UnsetConditionsAndPortFollowTheApiDoc) {
    auto s = must(k8s::decode_endpoint_slice(parse(R"({
        "apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","addressType":"IPv4",
        "metadata":{"name":"ext-1","namespace":"default","labels":{"kubernetes.io/service-name":"ext"}},
        "ports":[{"name":"","protocol":"TCP"}],
        "endpoints":[{"addresses":["192.0.2.1"]},
                     {"addresses":["192.0.2.2"],"conditions":{"ready":false}},
                     {"addresses":["192.0.2.3"],"conditions":{"serving":true,"terminating":true}}]})")));
    ASSERT_EQ(s.ports.size(), 1u);
    EXPECT_FALSE(s.ports[0].port);  // every port
    ASSERT_EQ(s.endpoints.size(), 3u);
    const auto& c0 = s.endpoints[0].conditions;
    EXPECT_FALSE(c0.ready);
    EXPECT_TRUE(c0.is_ready());
    EXPECT_TRUE(c0.is_serving());
    EXPECT_FALSE(c0.is_terminating());
    const auto& c1 = s.endpoints[1].conditions;
    EXPECT_FALSE(c1.is_ready());
    EXPECT_FALSE(c1.is_serving());  // serving unset defers to ready
    const auto& c2 = s.endpoints[2].conditions;
    EXPECT_TRUE(c2.is_ready());
    EXPECT_TRUE(c2.is_serving());
    EXPECT_TRUE(c2.is_terminating());
}

TEST(DecodePod, ContainersPortsIpsAndBandwidth) {
    auto p = must(k8s::decode_pod(load("pod_web.json")));
    EXPECT_EQ(p.meta.key(), "shop/web-6f9c7d8b5d-q4xzt");
    EXPECT_EQ(p.meta.uid, "8d1e2f3a-4b5c-4d6e-9f70-81a2b3c4d5e6");
    EXPECT_EQ(p.meta.resource_version, "188221");
    EXPECT_EQ(p.meta.labels, (k8s::label_map{{"app", "web"}, {"pod-template-hash", "6f9c7d8b5d"}}));
    EXPECT_EQ(p.node_name, "worker-1");
    EXPECT_FALSE(p.host_network);
    EXPECT_EQ(p.pod_ips, ips({"10.244.1.12", "fd00:10:244:1::c"}));
    EXPECT_EQ(p.phase, k8s::pod_phase::running);
    EXPECT_EQ(p.ingress_bandwidth, "10M");
    EXPECT_EQ(p.egress_bandwidth, "20M");
    EXPECT_FALSE(p.deleting);
    ASSERT_EQ(p.ports.size(), 4u);  // the init container's port is not a serving port
    const auto& http = p.ports[0];
    EXPECT_EQ(http.container, "web");
    EXPECT_EQ(http.name, "http");
    EXPECT_EQ(http.protocol, k8s::l4_protocol::tcp);
    EXPECT_EQ(http.container_port, 8080);
    EXPECT_EQ(http.host_port, 0);
    EXPECT_FALSE(http.host_ip);
    const auto& https = p.ports[1];
    EXPECT_EQ(https.container, "web");
    EXPECT_EQ(https.name, "https");
    EXPECT_EQ(https.container_port, 8443);
    EXPECT_EQ(https.host_port, 8443);
    EXPECT_EQ(https.host_ip, ip("192.168.56.11"));
    EXPECT_EQ(p.ports[2].container, "metrics-exporter");
    EXPECT_EQ(p.ports[2].name, "metrics");
    EXPECT_EQ(p.ports[2].container_port, 9102);
    const auto& syslog = p.ports[3];
    EXPECT_EQ(syslog.container, "log-forwarder");
    EXPECT_EQ(syslog.protocol, k8s::l4_protocol::udp);
    EXPECT_EQ(syslog.container_port, 5514);
    EXPECT_EQ(syslog.host_port, 5514);
    EXPECT_FALSE(syslog.host_ip);
}

TEST(DecodePod, HostNetworkBeingDeletedAndPodIpFallback) {
    auto d = load("pod_host_network.json");
    auto p = must(k8s::decode_pod(d));
    EXPECT_EQ(p.meta.key(), "monitoring/node-exporter-m4tq7");
    EXPECT_TRUE(p.host_network);
    EXPECT_TRUE(p.deleting);
    EXPECT_EQ(p.node_name, "worker-2");
    EXPECT_EQ(p.pod_ips, ips({"192.168.56.12"}));
    ASSERT_EQ(p.ports.size(), 1u);
    EXPECT_EQ(p.ports[0].host_port, 9100);
    EXPECT_EQ(p.ingress_bandwidth, "");

    erase(d, "/status/podIPs");
    set(d, "/status/podIP", R"("192.168.56.99")");
    set(d, "/status/phase", R"("Failed")");
    EXPECT_EQ(must(k8s::decode_pod(d)).pod_ips, ips({"192.168.56.99"}));
    EXPECT_EQ(must(k8s::decode_pod(d)).phase, k8s::pod_phase::failed);
    // Not scheduled yet: no status addresses, no node.
    erase(d, "/status");
    erase(d, "/spec/nodeName");
    p = must(k8s::decode_pod(d));
    EXPECT_TRUE(p.pod_ips.empty());
    EXPECT_EQ(p.node_name, "");
    EXPECT_EQ(p.phase, k8s::pod_phase::pending);
}

TEST(DecodeNamespace, NameAndLabels) {
    auto n = must(k8s::decode_namespace(load("namespace_shop.json")));
    EXPECT_EQ(n.meta.key(), "shop");
    EXPECT_EQ(n.meta.ns, "");
    EXPECT_EQ(n.meta.uid, "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f");
    EXPECT_EQ(n.meta.resource_version, "184102");
    EXPECT_EQ(n.meta.labels, (k8s::label_map{{"kubernetes.io/metadata.name", "shop"},
                                             {"pod-security.kubernetes.io/enforce", "baseline"},
                                             {"team", "payments"}}));
}

namespace {

rapidjson::Document shown(const auto& obj) {
    rapidjson::StringBuffer sb;
    k8s::json_writer w(sb);
    k8s::write_json(w, obj);
    return parse(sb.GetString());
}

}  // namespace

TEST(WriteJson, ShapesForVxroutectlShow) {
    auto s = shown(must(k8s::decode_service(load("service_loadbalancer.json"))));
    EXPECT_STREQ(s["namespace"].GetString(), "ingress-nginx");
    EXPECT_STREQ(s["type"].GetString(), "LoadBalancer");
    EXPECT_STREQ(s["cluster_ips"][0].GetString(), "10.96.77.5");
    EXPECT_STREQ(s["ports"][1]["target_port"].GetString(), "https");
    EXPECT_EQ(s["ports"][1]["node_port"].GetUint(), 31443u);
    EXPECT_STREQ(s["load_balancer_ingress"][0]["ip_mode"].GetString(), "VIP");
    EXPECT_STREQ(s["load_balancer_source_ranges"][1].GetString(), "198.51.100.7/32");
    EXPECT_STREQ(s["external_traffic_policy"].GetString(), "Local");
    EXPECT_EQ(s["health_check_node_port"].GetUint(), 32001u);
    EXPECT_TRUE(s["ours"].GetBool());
    auto ds = shown(must(k8s::decode_service(load("service_dualstack.json"))));
    EXPECT_STREQ(ds["cluster_ips"][0].GetString(), "fd00:10:96::3f2a");
    EXPECT_STREQ(ds["ip_families"][0].GetString(), "IPv6");
    EXPECT_EQ(ds["ports"][0]["target_port"].GetUint(), 8080u);

    auto e = shown(must(k8s::decode_endpoint_slice(load("endpointslice_web.json"))));
    EXPECT_STREQ(e["address_type"].GetString(), "IPv4");
    EXPECT_STREQ(e["ports"][2]["protocol"].GetString(), "UDP");
    EXPECT_STREQ(e["endpoints"][2]["addresses"][0].GetString(), "10.244.2.20");
    EXPECT_TRUE(e["endpoints"][2]["serving"].GetBool());
    EXPECT_TRUE(e["endpoints"][2]["terminating"].GetBool());
    EXPECT_STREQ(e["endpoints"][2]["pod"].GetString(), "shop/web-6f9c7d8b5d-h7k9p");

    auto p = shown(must(k8s::decode_pod(load("pod_web.json"))));
    EXPECT_STREQ(p["pod_ips"][1].GetString(), "fd00:10:244:1::c");
    EXPECT_STREQ(p["ports"][1]["host_ip"].GetString(), "192.168.56.11");
    EXPECT_STREQ(p["phase"].GetString(), "Running");
    EXPECT_STREQ(p["ingress_bandwidth"].GetString(), "10M");

    auto n = shown(must(k8s::decode_namespace(load("namespace_shop.json"))));
    EXPECT_STREQ(n["labels"]["team"].GetString(), "payments");

    auto np = shown(policy("metrics-and-port-ranges"));
    EXPECT_STREQ(np["effective_policy_types"][0].GetString(), "Ingress");
    EXPECT_EQ(np["effective_policy_types"].Size(), 1u);
    const auto& ports = np["ingress"][0]["ports"];
    EXPECT_STREQ(ports[0]["port"].GetString(), "metrics");
    EXPECT_EQ(ports[1]["end_port"].GetUint(), 32768u);
    EXPECT_TRUE(ports[2]["port"].IsNull());
    EXPECT_TRUE(np["ingress"][0]["from"][0]["ip_block"].IsNull());
    auto eg = shown(policy("backend-from-labelled-callers"));
    EXPECT_STREQ(eg["pod_selector"]["match_expressions"][1]["operator"].GetString(), "DoesNotExist");
}

namespace {

// The fixture's generated objects (fixture/objects.py), one per line.
std::vector<rapidjson::Document> fixture_samples() {
    std::string script = VXR_K8S_FIXTURE;
    script = script.substr(0, script.rfind('/') + 1) + "objects.py";
    std::string cmd = std::string(VXR_PYTHON) + " " + script;
    std::vector<rapidjson::Document> out;
    FILE* f = popen(cmd.c_str(), "r");
    if (!f) return out;
    std::string line;
    for (int ch; (ch = std::fgetc(f)) != EOF;) {
        if (ch != '\n') {
            line += static_cast<char>(ch);
            continue;
        }
        out.push_back(parse(line));
        line.clear();
    }
    EXPECT_EQ(pclose(f), 0) << cmd;
    return out;
}

}  // namespace

TEST(DecodeFixture, GeneratedObjectsDecode) {
    auto objs = fixture_samples();
    ASSERT_EQ(objs.size(), 13u);
    std::vector<k8s::service> svcs;
    std::vector<k8s::endpoint_slice> slices;
    std::vector<k8s::pod> pods;
    std::vector<k8s::network_policy> pols;
    for (const auto& o : objs) {
        std::string kind = o["kind"].GetString();
        if (kind == "Service") svcs.push_back(must(k8s::decode_service(o)));
        if (kind == "EndpointSlice") slices.push_back(must(k8s::decode_endpoint_slice(o)));
        if (kind == "Pod") pods.push_back(must(k8s::decode_pod(o)));
        if (kind == "Namespace") {
            EXPECT_EQ(must(k8s::decode_namespace(o)).meta.labels.at("team"), "team-9");
        }
        if (kind == "NetworkPolicy") pols.push_back(must(k8s::decode_network_policy(o)));
    }
    ASSERT_EQ(svcs.size(), 6u);
    EXPECT_EQ(svcs[0].cluster_ips, ips({"10.96.0.17"}));
    EXPECT_EQ(svcs[0].ports.at(0).target_port, named("http"));
    EXPECT_EQ(svcs[1].session_affinity_timeout_s, 10800u);
    EXPECT_EQ(svcs[1].ports.at(1).node_port, 30009);
    EXPECT_EQ(svcs[2].health_check_node_port, 32003);
    EXPECT_EQ(svcs[2].load_balancer_ingress.at(0).ip, ip("192.0.2.4"));
    EXPECT_EQ(svcs[3].cluster_ips, ips({"fd00:10:96::14", "10.96.0.20"}));
    EXPECT_TRUE(svcs[4].headless);
    EXPECT_EQ(svcs[5].external_name, "gw.example.com");
    ASSERT_EQ(slices.size(), 2u);
    ASSERT_EQ(slices[0].endpoints.size(), 6u);
    EXPECT_EQ(slices[0].endpoints[0].addresses, ips({"10.128.0.100"}));
    EXPECT_EQ(slices[0].endpoints[1].node_name, "worker-2");
    EXPECT_FALSE(slices[0].endpoints[3].conditions.is_serving());  // starting
    EXPECT_TRUE(slices[0].endpoints[4].conditions.is_serving());   // terminating, still serving
    EXPECT_TRUE(slices[0].endpoints[4].conditions.is_terminating());
    EXPECT_EQ(slices[1].endpoints[1].addresses, ips({"fd00:10:244::191"}));
    ASSERT_EQ(pods.size(), 2u);
    EXPECT_EQ(pods[0].pod_ips, ips({"10.64.0.9"}));
    EXPECT_EQ(pods[0].ingress_bandwidth, "10M");
    EXPECT_EQ(pods[0].ports.at(1).name, "metrics");
    EXPECT_TRUE(pods[1].host_network);
    EXPECT_TRUE(pods[1].deleting);
    EXPECT_EQ(pods[1].ports.at(0).host_port, 8080);
    ASSERT_EQ(pols.size(), 2u);
    EXPECT_EQ(pols[0].ingress.at(0).peers.at(0).pod_selector->match_labels.at("app"), "client-10");
    EXPECT_TRUE(pols[0].applies_to(k8s::policy_type::egress));
    EXPECT_TRUE(pols[1].pod_selector.selects_all());
    EXPECT_TRUE(pols[1].ingress.empty());
}
