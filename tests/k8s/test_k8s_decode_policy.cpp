// Recorded NetworkPolicy objects (a `kubectl get networkpolicies -o json`
// List) -> network_policy, every field and the API's defaults; and what the
// API server would reject, for every decoder, with the object and field
// named in the message.
#include <gtest/gtest.h>

#include "decode_helpers.hpp"

using namespace decode_test;

TEST(DecodeNetworkPolicy, SeedPaymentIsolation) {
    auto p = policy("payment-isolation");
    EXPECT_EQ(p.meta.key(), "shop/payment-isolation");
    EXPECT_EQ(p.meta.uid, "11111111-2222-4333-8444-555555555501");
    EXPECT_EQ(p.meta.resource_version, "190001");
    EXPECT_EQ(p.pod_selector.match_labels, labels({{"app", "payment-service"}}));
    EXPECT_TRUE(p.pod_selector.match_expressions.empty());
    EXPECT_EQ(p.policy_types, (std::vector<k8s::policy_type>{k8s::policy_type::ingress, k8s::policy_type::egress}));
    ASSERT_EQ(p.ingress.size(), 1u);
    ASSERT_EQ(p.ingress[0].peers.size(), 1u);
    const auto& from = p.ingress[0].peers[0];
    ASSERT_TRUE(from.pod_selector);
    EXPECT_EQ(from.pod_selector->match_labels, labels({{"app", "order-service"}}));
    EXPECT_FALSE(from.namespace_selector);  // the policy's own namespace
    EXPECT_FALSE(from.ip_block);
    ASSERT_EQ(p.ingress[0].ports.size(), 1u);
    EXPECT_EQ(p.ingress[0].ports[0].protocol, k8s::l4_protocol::tcp);
    EXPECT_EQ(p.ingress[0].ports[0].port, num(8080));
    EXPECT_FALSE(p.ingress[0].ports[0].end_port);
    ASSERT_EQ(p.egress.size(), 1u);
    ASSERT_EQ(p.egress[0].peers.size(), 1u);
    EXPECT_EQ(p.egress[0].peers[0].pod_selector->match_labels, labels({{"app", "db-service"}}));
    ASSERT_EQ(p.egress[0].ports.size(), 1u);
    EXPECT_EQ(p.egress[0].ports[0].port, num(5432));
    EXPECT_TRUE(p.applies_to(k8s::policy_type::ingress));
    EXPECT_TRUE(p.applies_to(k8s::policy_type::egress));
}

TEST(DecodeNetworkPolicy, MatchExpressionsInBothSelectors) {
    auto p = policy("backend-from-labelled-callers");
    EXPECT_EQ(p.pod_selector.match_labels, labels({{"app.kubernetes.io/part-of", "shop"}}));
    ASSERT_EQ(p.pod_selector.match_expressions.size(), 2u);
    EXPECT_EQ(p.pod_selector.match_expressions[0].key, "tier");
    EXPECT_EQ(p.pod_selector.match_expressions[0].op, k8s::selector_op::in);
    EXPECT_EQ(p.pod_selector.match_expressions[0].values, (std::vector<std::string>{"backend", "cache"}));
    EXPECT_EQ(p.pod_selector.match_expressions[1].key, "canary");
    EXPECT_EQ(p.pod_selector.match_expressions[1].op, k8s::selector_op::does_not_exist);
    EXPECT_TRUE(p.pod_selector.match_expressions[1].values.empty());
    ASSERT_EQ(p.ingress.size(), 1u);
    EXPECT_TRUE(p.ingress[0].ports.empty());  // every port
    ASSERT_EQ(p.ingress[0].peers.size(), 1u);
    const auto& peer = p.ingress[0].peers[0];
    ASSERT_TRUE(peer.namespace_selector && peer.pod_selector);
    ASSERT_EQ(peer.namespace_selector->match_expressions.size(), 1u);
    EXPECT_EQ(peer.namespace_selector->match_expressions[0].op, k8s::selector_op::not_in);
    EXPECT_EQ(peer.namespace_selector->match_expressions[0].values, (std::vector<std::string>{"sandbox", "qa"}));
    ASSERT_EQ(peer.pod_selector->match_expressions.size(), 1u);
    EXPECT_EQ(peer.pod_selector->match_expressions[0].key, "role");
    EXPECT_EQ(peer.pod_selector->match_expressions[0].op, k8s::selector_op::exists);
    EXPECT_TRUE(p.egress.empty());
    EXPECT_FALSE(p.applies_to(k8s::policy_type::egress));
}

TEST(DecodeNetworkPolicy, IpBlocksWithExceptInBothFamilies) {
    auto p = policy("egress-private-ranges");
    ASSERT_EQ(p.egress.size(), 1u);
    const auto& to = p.egress[0].peers;
    ASSERT_EQ(to.size(), 2u);
    ASSERT_TRUE(to[0].ip_block);
    EXPECT_FALSE(to[0].pod_selector || to[0].namespace_selector);
    EXPECT_EQ(to[0].ip_block->cidr, pfx("10.0.0.0/8"));
    EXPECT_EQ(to[0].ip_block->except, (std::vector<ip_prefix>{pfx("10.96.0.0/12"), pfx("10.244.0.0/16")}));
    EXPECT_EQ(to[1].ip_block->cidr, pfx("2001:db8::/32"));
    EXPECT_EQ(to[1].ip_block->except, std::vector<ip_prefix>{pfx("2001:db8:dead::/48")});
    EXPECT_EQ(p.egress[0].ports.at(0).port, num(443));
    ASSERT_EQ(p.ingress.size(), 1u);
    EXPECT_EQ(p.ingress[0].peers.at(0).ip_block->cidr, pfx("192.168.56.0/24"));
    EXPECT_TRUE(p.ingress[0].peers.at(0).ip_block->except.empty());

    // The API server accepts host bits in a CIDR; the rule means the network.
    auto d = load_item("networkpolicies.json", "egress-private-ranges");
    set(d, "/spec/ingress/0/from/0/ipBlock/cidr", R"("192.168.56.77/24")");
    EXPECT_EQ(must(k8s::decode_network_policy(d)).ingress[0].peers[0].ip_block->cidr, pfx("192.168.56.0/24"));
}

TEST(DecodeNetworkPolicy, NamedPortsRangesAndProtocolOnlyPorts) {
    auto p = policy("metrics-and-port-ranges");
    EXPECT_TRUE(p.pod_selector.selects_all());
    ASSERT_EQ(p.ingress.size(), 1u);
    const auto& peer = p.ingress[0].peers.at(0);
    EXPECT_EQ(peer.namespace_selector->match_labels, labels({{"kubernetes.io/metadata.name", "monitoring"}}));
    EXPECT_EQ(peer.pod_selector->match_labels, labels({{"app.kubernetes.io/name", "prometheus"}}));
    const auto& ports = p.ingress[0].ports;
    ASSERT_EQ(ports.size(), 4u);
    EXPECT_EQ(ports[0].port, named("metrics"));
    EXPECT_EQ(ports[0].protocol, k8s::l4_protocol::tcp);
    EXPECT_EQ(ports[1].port, num(32000));
    EXPECT_EQ(ports[1].end_port, 32768);
    EXPECT_EQ(ports[2].protocol, k8s::l4_protocol::udp);
    EXPECT_FALSE(ports[2].port);  // every UDP port
    EXPECT_EQ(ports[3].protocol, k8s::l4_protocol::sctp);
    EXPECT_EQ(ports[3].port, num(9999));
}

TEST(DecodeNetworkPolicy, EmptyFromEmptySelectorsDenyAllAndAllowAll) {
    auto any = policy("web-from-anywhere");
    ASSERT_EQ(any.ingress.size(), 2u);
    EXPECT_TRUE(any.ingress[0].peers.empty());  // `from: []` as applied: every source
    EXPECT_EQ(any.ingress[0].ports.at(0).port, num(8080));
    ASSERT_EQ(any.ingress[1].peers.size(), 1u);
    ASSERT_TRUE(any.ingress[1].peers[0].namespace_selector);  // {}: every namespace
    EXPECT_TRUE(any.ingress[1].peers[0].namespace_selector->selects_all());
    EXPECT_FALSE(any.ingress[1].peers[0].pod_selector);

    auto deny = policy("default-deny-all");
    EXPECT_TRUE(deny.pod_selector.selects_all());
    EXPECT_TRUE(deny.ingress.empty());
    EXPECT_TRUE(deny.egress.empty());
    EXPECT_TRUE(deny.applies_to(k8s::policy_type::ingress));
    EXPECT_TRUE(deny.applies_to(k8s::policy_type::egress));

    auto all = policy("allow-all-ingress");
    ASSERT_EQ(all.ingress.size(), 1u);  // one rule matching everything, unlike no rule
    EXPECT_TRUE(all.ingress[0].peers.empty());
    EXPECT_TRUE(all.ingress[0].ports.empty());
}

TEST(DecodeNetworkPolicy, EgressOnlyAndDefaultedPolicyTypes) {
    auto dns = policy("allow-dns-egress");
    EXPECT_FALSE(dns.applies_to(k8s::policy_type::ingress));  // explicit [Egress]
    EXPECT_TRUE(dns.applies_to(k8s::policy_type::egress));
    ASSERT_EQ(dns.egress.size(), 2u);
    ASSERT_EQ(dns.egress[0].ports.size(), 2u);
    EXPECT_EQ(dns.egress[0].ports[0].protocol, k8s::l4_protocol::udp);
    EXPECT_EQ(dns.egress[0].ports[1].protocol, k8s::l4_protocol::tcp);
    EXPECT_EQ(dns.egress[0].peers.at(0).pod_selector->match_labels, labels({{"k8s-app", "kube-dns"}}));
    EXPECT_EQ(dns.egress[1].peers.at(0).ip_block->cidr, pfx("0.0.0.0/0"));
    EXPECT_EQ(dns.egress[1].peers.at(0).ip_block->except, std::vector<ip_prefix>{pfx("169.254.169.254/32")});

    // policyTypes omitted: Ingress always, Egress only with egress rules.
    auto d = load_item("networkpolicies.json", "allow-dns-egress");
    erase(d, "/spec/policyTypes");
    auto p = must(k8s::decode_network_policy(d));
    EXPECT_TRUE(p.policy_types.empty());
    EXPECT_TRUE(p.applies_to(k8s::policy_type::ingress));
    EXPECT_TRUE(p.applies_to(k8s::policy_type::egress));
    d = load_item("networkpolicies.json", "metrics-and-port-ranges");
    erase(d, "/spec/policyTypes");
    p = must(k8s::decode_network_policy(d));
    EXPECT_TRUE(p.applies_to(k8s::policy_type::ingress));
    EXPECT_FALSE(p.applies_to(k8s::policy_type::egress));
}

TEST(Decode, SkipsManagedFieldsAndUnknownFields) {
    // managedFields is never looked at: even a shape no server sends passes.
    auto d = load("service_clusterip.json");
    set(d, "/metadata/managedFields", "42");
    set(d, "/spec/someFutureField", R"({"x":[1,2,3]})");
    set(d, "/metadata/creationTimestamp", "null");
    EXPECT_EQ(must(k8s::decode_service(d)).cluster_ips, ips({"10.96.41.17"}));
}

namespace {

struct bad_case {
    const char* file;
    const char* item;  // for the List file
    const char* pointer;
    const char* json;  // nullptr: erase
    const char* message;
};

std::string decode_error(const bad_case& b) {
    auto d = b.item ? load_item(b.file, b.item) : load(b.file);
    if (b.json)
        set(d, b.pointer, b.json);
    else
        erase(d, b.pointer);
    std::string f = b.file;
    auto err = [](auto r) { return r.ok() ? std::string("(decoded)") : r.err(); };
    if (f.starts_with("service")) return err(k8s::decode_service(d));
    if (f.starts_with("endpointslice")) return err(k8s::decode_endpoint_slice(d));
    if (f.starts_with("pod")) return err(k8s::decode_pod(d));
    if (f.starts_with("namespace")) return err(k8s::decode_namespace(d));
    return err(k8s::decode_network_policy(d));
}

}  // namespace

TEST(Decode, RejectsWhatTheApiServerRejectsNamingObjectAndField) {
    const char* np = "networkpolicies.json";
    const bad_case cases[] = {
        {np, "egress-private-ranges", "/spec/ingress/0/from/1", R"({"ipBlock":{"cidr":"10.0.0/8"}})",
         R"(networkpolicy shop/egress-private-ranges: spec.ingress[0].from[1].ipBlock.cidr: not a CIDR: "10.0.0/8")"},
        {np, "egress-private-ranges", "/spec/egress/0/to/0/ipBlock/except/1", R"("11.0.0.0/16")",
         "networkpolicy shop/egress-private-ranges: spec.egress[0].to[0].ipBlock.except[1]: "
         "11.0.0.0/16 is not a strict subset of cidr 10.0.0.0/8"},
        {np, "egress-private-ranges", "/spec/egress/0/to/1/ipBlock/except/0", R"("2001:db8::/32")",
         "networkpolicy shop/egress-private-ranges: spec.egress[0].to[1].ipBlock.except[0]: "
         "2001:db8::/32 is not a strict subset of cidr 2001:db8::/32"},
        {np, "egress-private-ranges", "/spec/egress/0/to/1/ipBlock/except/0", R"("10.0.0.0/16")",
         "networkpolicy shop/egress-private-ranges: spec.egress[0].to[1].ipBlock.except[0]: "
         "10.0.0.0/16 is not a strict subset of cidr 2001:db8::/32"},
        {np, "egress-private-ranges", "/spec/egress/0/to/1/podSelector", "{}",
         "networkpolicy shop/egress-private-ranges: spec.egress[0].to[1]: may not specify both ipBlock and another peer"},
        {np, "egress-private-ranges", "/spec/ingress/0/from/0/ipBlock", nullptr,
         "networkpolicy shop/egress-private-ranges: spec.ingress[0].from[0]: must specify a peer"},
        {np, "backend-from-labelled-callers", "/spec/podSelector/matchExpressions/1/operator", R"("Missing")",
         "networkpolicy shop/backend-from-labelled-callers: spec.podSelector.matchExpressions[1].operator: "
         R"(unsupported value "Missing" (want In, NotIn, Exists, DoesNotExist))"},
        {np, "backend-from-labelled-callers", "/spec/podSelector/matchExpressions/0/values", "[]",
         "networkpolicy shop/backend-from-labelled-callers: spec.podSelector.matchExpressions[0].values: "
         "must be non-empty for operator In"},
        {np, "backend-from-labelled-callers", "/spec/ingress/0/from/0/podSelector/matchExpressions/0/values", R"(["x"])",
         "networkpolicy shop/backend-from-labelled-callers: "
         "spec.ingress[0].from[0].podSelector.matchExpressions[0].values: must be empty for operator Exists"},
        {np, "payment-isolation", "/spec/ingress/0/ports/0/port", "70000",
         "networkpolicy shop/payment-isolation: spec.ingress[0].ports[0].port: out of range: 70000 (want 1-65535)"},
        {np, "payment-isolation", "/spec/egress/0/ports/0/protocol", R"("ICMP")",
         R"(networkpolicy shop/payment-isolation: spec.egress[0].ports[0].protocol: unsupported value "ICMP" (want TCP, UDP, SCTP))"},
        {np, "payment-isolation", "/spec/policyTypes/1", R"("Both")",
         R"(networkpolicy shop/payment-isolation: spec.policyTypes[1]: unsupported value "Both" (want Ingress, Egress))"},
        {np, "metrics-and-port-ranges", "/spec/ingress/0/ports/1/endPort", "31000",
         "networkpolicy shop/metrics-and-port-ranges: spec.ingress[0].ports[1].endPort: "
         "must be greater than or equal to port 32000"},
        {np, "metrics-and-port-ranges", "/spec/ingress/0/ports/0/endPort", "9200",
         "networkpolicy shop/metrics-and-port-ranges: spec.ingress[0].ports[0].endPort: "
         "may not be specified without a numeric port"},
        {np, "metrics-and-port-ranges", "/spec/ingress/0/ports/0/port", R"("Metrics_Port")",
         R"(networkpolicy shop/metrics-and-port-ranges: spec.ingress[0].ports[0].port: not a port number or name: "Metrics_Port")"},
        {"service_clusterip.json", nullptr, "/spec/ports/2/port", "0",
         "service shop/web: spec.ports[2].port: out of range: 0 (want 1-65535)"},
        {"service_clusterip.json", nullptr, "/spec/ports/0/targetPort", R"("8080")",
         R"(service shop/web: spec.ports[0].targetPort: not a port number or name: "8080")"},
        {"service_clusterip.json", nullptr, "/spec/type", R"("Internal")",
         R"(service shop/web: spec.type: unsupported value "Internal" (want ClusterIP, NodePort, LoadBalancer, ExternalName))"},
        {"service_clusterip.json", nullptr, "/spec/clusterIPs/0", R"("10.96.41")",
         R"(service shop/web: spec.clusterIPs[0]: not an IP address: "10.96.41")"},
        {"service_nodeport_local.json", nullptr, "/spec/externalTrafficPolicy", R"("Global")",
         R"(service shop/checkout: spec.externalTrafficPolicy: unsupported value "Global" (want Cluster, Local))"},
        {"service_nodeport_local.json", nullptr, "/spec/sessionAffinityConfig/clientIP/timeoutSeconds", "86401",
         "service shop/checkout: spec.sessionAffinityConfig.clientIP.timeoutSeconds: out of range: 86401 (want 1-86400)"},
        {"service_nodeport_local.json", nullptr, "/spec/ports/0/nodePort", R"("30080")",
         R"(service shop/checkout: spec.ports[0].nodePort: not an integer: "30080")"},
        {"service_loadbalancer.json", nullptr, "/status/loadBalancer/ingress/0/ip", R"("192.0.2.x")",
         R"(service ingress-nginx/ingress-nginx-controller: status.loadBalancer.ingress[0].ip: not an IP address: "192.0.2.x")"},
        {"service_loadbalancer.json", nullptr, "/metadata/name", nullptr,
         "service ingress-nginx/(unnamed): metadata.name: missing"},
        {"endpointslice_web.json", nullptr, "/endpoints/2/addresses/0", R"("fd00::1")",
         "endpointslice shop/web-7xk2p: endpoints[2].addresses[0]: address fd00::1 does not match addressType IPv4"},
        {"endpointslice_web.json", nullptr, "/endpoints/1/conditions/ready", R"("true")",
         R"(endpointslice shop/web-7xk2p: endpoints[1].conditions.ready: not a boolean: "true")"},
        {"endpointslice_web.json", nullptr, "/addressType", nullptr,
         "endpointslice shop/web-7xk2p: addressType: missing"},
        {"endpointslice_ipv6.json", nullptr, "/ports/0/port", "65536",
         "endpointslice default/api-dual-v6q9c: ports[0].port: out of range: 65536 (want 1-65535)"},
        {"pod_web.json", nullptr, "/spec/containers/2/ports/0/protocol", R"("udp")",
         R"(pod shop/web-6f9c7d8b5d-q4xzt: spec.containers[2].ports[0].protocol: unsupported value "udp" (want TCP, UDP, SCTP))"},
        {"pod_web.json", nullptr, "/spec/containers/0/ports/1/hostPort", "-1",
         "pod shop/web-6f9c7d8b5d-q4xzt: spec.containers[0].ports[1].hostPort: out of range: -1 (want 0-65535)"},
        {"pod_web.json", nullptr, "/status/podIPs/1/ip", R"("fd00:10:244:1::c:")",
         R"(pod shop/web-6f9c7d8b5d-q4xzt: status.podIPs[1].ip: not an IP address: "fd00:10:244:1::c:")"},
        {"pod_web.json", nullptr, "/status/phase", R"("Evicted")",
         "pod shop/web-6f9c7d8b5d-q4xzt: status.phase: "
         R"(unsupported value "Evicted" (want Pending, Running, Succeeded, Failed, Unknown))"},
        {"namespace_shop.json", nullptr, "/metadata/labels/team", "7",
         "namespace shop: metadata.labels.team: not a string: 7"},
        {"namespace_shop.json", nullptr, "/metadata", nullptr, "namespace (unnamed): metadata: missing"},
    };
    for (const auto& b : cases) EXPECT_EQ(decode_error(b), b.message) << b.pointer;
}

