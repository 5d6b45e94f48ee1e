// The Services compiler (control/services/service_compiler.hpp) on
// hand-built objects: one test per kube-proxy rule, incremental
// recompilation, and that every node builds the same Maglev table.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "control/services/frontends.hpp"
#include "control/services/service_compiler.hpp"
#include "services_objects.hpp"

namespace vxr::control::services {
namespace {

using namespace vxr::control::k8s;

compiler_config config(const char* node = k_node) {
    compiler_config c;
    c.node_name = node;
    c.node_ips = {ip("192.168.1.10"), ip("fd00:1::10")};
    c.maglev.table_size = 251;  // small: tests build many tables
    return c;
}

struct fixture : ::testing::Test {
    service_compiler sc = std::move(*service_compiler::create(config()));
    void add(service s) { sc.upsert(std::make_shared<const service>(std::move(s))); }
    void add(endpoint_slice s) { sc.upsert(std::make_shared<const endpoint_slice>(std::move(s))); }
    frontend_ptr get(const char* addr, uint16_t port, l4_protocol proto = l4_protocol::tcp) {
        auto it = sc.frontends().find(frontend_key{ip(addr), proto, port});
        return it == sc.frontends().end() ? nullptr : it->second;
    }
    static std::vector<std::string> keys(const std::vector<backend>& b) {
        std::vector<std::string> k;
        for (const auto& x : b) k.push_back(x.key());
        return k;
    }
};

using svc_compiler = fixture;
using strings = std::vector<std::string>;

TEST_F(svc_compiler, cluster_ip_frontend_with_ready_backends) {
    add(make_service("web"));
    add(make_slice("web-1", "web", {ep("10.244.1.6"), ep("10.244.1.5", k_node)}));
    auto d = sc.commit();
    ASSERT_EQ(d.added.size(), 1u);
    auto f = get("10.96.0.10", 80);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->kind, frontend_kind::cluster_ip);
    EXPECT_EQ(f->service, "default/web");
    EXPECT_EQ(f->port_name, "http");
    EXPECT_FALSE(f->reject);
    EXPECT_EQ(keys(f->backends), (strings{"10.244.1.5:8080", "10.244.1.6:8080"}));
    EXPECT_TRUE(f->backends[0].local);
    EXPECT_EQ(f->backends[0].node_name, k_node);
    EXPECT_FALSE(f->backends[1].local);
    ASSERT_TRUE(f->maglev);
    EXPECT_EQ(f->maglev->keys(), keys(f->backends));
}

// More backends than the workers' 16-bit slots index: the sorted set is cut
// the same on every node, and that is said and counted (here with a cap of 3).
TEST(svc_compiler_cap, a_backend_set_beyond_the_cap_is_cut_and_counted) {
    compiler_config c = config();
    c.max_backends = 3;
    service_compiler sc = std::move(*service_compiler::create(c));
    sc.upsert(std::make_shared<const service>(make_service("big")));
    sc.upsert(std::make_shared<const endpoint_slice>(make_slice(
        "big-1", "big", {ep("10.244.2.9"), ep("10.244.2.5"), ep("10.244.1.7", k_node), ep("10.244.2.6"), ep("10.244.1.8", k_node)})));
    sc.commit();
    auto it = sc.frontends().find(frontend_key{ip("10.96.0.10"), l4_protocol::tcp, 80});
    ASSERT_NE(it, sc.frontends().end());
    const frontend& f = *it->second;
    EXPECT_EQ(f.backends.size(), 3u);
    EXPECT_TRUE(std::is_sorted(f.backends.begin(), f.backends.end(),
                               [](const backend& a, const backend& b) { return a.key() < b.key(); }));
    EXPECT_EQ(f.backends[0].key(), "10.244.1.7:8080") << "the first three in key order";
    EXPECT_EQ(f.local_backends.size(), 2u) << "under the cap: untouched";
    ASSERT_TRUE(f.maglev);
    EXPECT_EQ(f.maglev->keys().size(), 3u);
    EXPECT_EQ(sc.stats().invalid_fields, 1u);
    EXPECT_EQ(compiler_config{}.max_backends, fastpath::k_max_pool_backends);
}

TEST_F(svc_compiler, not_ours_headless_and_external_name_have_no_frontends) {
    auto other = make_service("other");
    other.proxy_name = "someone-else";
    add(other);
    auto headless = make_service("headless", {});
    headless.headless = true;
    add(headless);
    auto ext = make_service("ext", {});
    ext.type = service_type::external_name;
    ext.external_name = "example.com";
    add(ext);
    for (const char* n : {"other", "headless", "ext"}) add(make_slice(std::string(n) + "-1", n, {ep("10.244.1.5")}));
    EXPECT_TRUE(sc.commit().empty());
    EXPECT_TRUE(sc.frontends().empty());
}

TEST_F(svc_compiler, no_endpoints_is_reject_not_dropped) {
    add(make_service("web"));
    sc.commit();
    auto f = get("10.96.0.10", 80);
    ASSERT_TRUE(f);
    EXPECT_TRUE(f->reject);
    EXPECT_FALSE(f->maglev);
}

TEST_F(svc_compiler, terminating_fallback_only_when_none_ready) {
    add(make_service("web"));
    // Not ready, serving, terminating: a draining pod.
    add(make_slice("web-1", "web", {ep("10.244.1.5", "node-b", false, true, true),
                                    ep("10.244.1.6", "node-b", false, false, true),   // not serving
                                    ep("10.244.1.7", "node-b", false, true, false)}));  // not terminating
    sc.commit();
    EXPECT_EQ(keys(get("10.96.0.10", 80)->backends), (strings{"10.244.1.5:8080"}));
    add(make_slice("web-2", "web", {ep("10.244.2.9")}));
    sc.commit();
    auto f = get("10.96.0.10", 80);
    EXPECT_EQ(keys(f->backends), (strings{"10.244.2.9:8080"}));
    EXPECT_FALSE(f->reject);
    // Only unready, not serving-and-terminating: reject.
    sc.remove_endpoint_slice("default/web-2");
    add(make_slice("web-1", "web", {ep("10.244.1.6", "node-b", false, false, true)}));
    sc.commit();
    EXPECT_TRUE(get("10.96.0.10", 80)->reject);
}

TEST_F(svc_compiler, unset_conditions_mean_ready) {
    add(make_service("web"));
    add(make_slice("web-1", "web", {ep("10.244.1.5", "node-b", std::nullopt)}));
    sc.commit();
    EXPECT_EQ(get("10.96.0.10", 80)->backends.size(), 1u);
}

TEST_F(svc_compiler, dual_stack_uses_matching_family_slices) {
    add(make_service("web", {"10.96.0.10", "fd00:96::10"}));
    add(make_slice("web-v4", "web", {ep("10.244.1.5")}));
    add(make_slice("web-v6", "web", {ep("fd00:244::5")}, 8080, "http", endpoint_address_type::ipv6));
    sc.commit();
    EXPECT_EQ(keys(get("10.96.0.10", 80)->backends), (strings{"10.244.1.5:8080"}));
    EXPECT_EQ(keys(get("fd00:96::10", 80)->backends), (strings{"[fd00:244::5]:8080"}));
}

TEST_F(svc_compiler, node_port_on_each_node_ip_of_the_family) {
    auto s = make_service("web");
    s.type = service_type::node_port;
    s.ports[0].node_port = 30080;
    add(s);
    add(make_slice("web-1", "web", {ep("10.244.1.5")}));
    sc.commit();
    auto f = get("192.168.1.10", 30080);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->kind, frontend_kind::node_port);
    EXPECT_EQ(keys(f->backends), (strings{"10.244.1.5:8080"}));
    EXPECT_FALSE(get("fd00:1::10", 30080));  // single-stack v4 Service
    EXPECT_EQ(sc.frontends().size(), 2u);
}

TEST_F(svc_compiler, node_port_outside_range_is_counted_and_not_opened) {
    auto s = make_service("web");
    s.type = service_type::node_port;
    s.ports[0].node_port = 22;
    add(s);
    sc.commit();
    EXPECT_FALSE(get("192.168.1.10", 22));
    EXPECT_TRUE(get("10.96.0.10", 80));
    EXPECT_EQ(sc.stats().invalid_fields, 1u);
}

TEST_F(svc_compiler, external_and_load_balancer_ips) {
    auto s = make_service("web");
    s.type = service_type::load_balancer;
    s.external_ips = {ip("203.0.113.7"), ip("2001:db8::7")};  // v6 one: no v6 cluster IP
    s.load_balancer_ingress.push_back({ip("198.51.100.1"), "", lb_ip_mode::vip});
    s.load_balancer_ingress.push_back({ip("198.51.100.2"), "", lb_ip_mode::proxy});
    s.load_balancer_ingress.push_back({std::nullopt, "lb.example.com", lb_ip_mode::vip});
    s.load_balancer_source_ranges = {*ip_prefix::parse("192.0.2.0/24")};
    add(s);
    sc.commit();
    auto e = get("203.0.113.7", 80);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind, frontend_kind::external_ip);
    EXPECT_TRUE(e->source_ranges.empty());
    auto lb = get("198.51.100.1", 80);
    ASSERT_TRUE(lb);
    EXPECT_EQ(lb->kind, frontend_kind::load_balancer);
    EXPECT_EQ(lb->source_ranges.size(), 1u);
    EXPECT_FALSE(get("198.51.100.2", 80));  // ipMode Proxy
    EXPECT_FALSE(get("2001:db8::7", 80));
    EXPECT_EQ(sc.frontends().size(), 3u);
}

TEST_F(svc_compiler, named_target_port_resolved_by_each_slice) {
    auto s = make_service("web");
    s.ports[0].target_port = port_ref{0, "web"};
    add(s);
    // Two pod templates resolving "web" to different numbers.
    add(make_slice("web-1", "web", {ep("10.244.1.5")}, 8080));
    add(make_slice("web-2", "web", {ep("10.244.1.6")}, 9090));
    sc.commit();
    EXPECT_EQ(keys(get("10.96.0.10", 80)->backends), (strings{"10.244.1.5:8080", "10.244.1.6:9090"}));
}

TEST_F(svc_compiler, ports_matched_by_name_and_protocol) {
    auto s = make_service("dns");
    s.ports.clear();
    s.ports.push_back({"dns", l4_protocol::udp, 53, port_ref{5353, {}}, 0});
    s.ports.push_back({"dns-tcp", l4_protocol::tcp, 53, port_ref{5353, {}}, 0});
    add(s);
    auto sl = make_slice("dns-1", "dns", {ep("10.244.1.5")});
    sl.ports.clear();
    sl.ports.push_back({"dns", l4_protocol::udp, 5353});
    sl.ports.push_back({"dns-tcp", l4_protocol::tcp, 5354});
    add(sl);
    sc.commit();
    EXPECT_EQ(keys(get("10.96.0.10", 53, l4_protocol::udp)->backends), (strings{"10.244.1.5:5353"}));
    EXPECT_EQ(keys(get("10.96.0.10", 53, l4_protocol::tcp)->backends), (strings{"10.244.1.5:5354"}));
}

TEST_F(svc_compiler, unnamed_single_port) {
    auto s = make_service("web");
    s.ports[0].name.clear();
    add(s);
    add(make_slice("web-1", "web", {ep("10.244.1.5")}, 8080, ""));
    sc.commit();
    EXPECT_EQ(get("10.96.0.10", 80)->backends.size(), 1u);
}

TEST_F(svc_compiler, same_address_in_two_slices_counted_once) {
    add(make_service("web"));
    add(make_slice("web-1", "web", {ep("10.244.1.5"), ep("10.244.1.6")}));
    add(make_slice("web-2", "web", {ep("10.244.1.5")}));
    sc.commit();
    EXPECT_EQ(keys(get("10.96.0.10", 80)->backends), (strings{"10.244.1.5:8080", "10.244.1.6:8080"}));
}

TEST_F(svc_compiler, invalid_port_is_counted_and_the_rest_compiles) {
    auto s = make_service("web");
    s.ports.push_back({"zero", l4_protocol::tcp, 0, port_ref{0, {}}, 0});
    s.ports.push_back({"missing", l4_protocol::tcp, 81, port_ref{81, {}}, 0});
    add(s);
    add(make_slice("web-1", "web", {ep("10.244.1.5")}));
    sc.commit();
    EXPECT_EQ(sc.stats().invalid_fields, 2u);
    EXPECT_EQ(get("10.96.0.10", 80)->backends.size(), 1u);
    ASSERT_TRUE(get("10.96.0.10", 81));
    EXPECT_TRUE(get("10.96.0.10", 81)->reject);  // kept, answered with a reject
    EXPECT_FALSE(get("10.96.0.10", 0));
}

TEST_F(svc_compiler, internal_traffic_policy_local) {
    auto s = make_service("web");
    s.internal_traffic_policy = traffic_policy::local;
    add(s);
    add(make_slice("web-1", "web", {ep("10.244.1.5", k_node), ep("10.244.1.6")}));
    sc.commit();
    auto f = get("10.96.0.10", 80);
    EXPECT_TRUE(f->internal_local);
    EXPECT_EQ(keys(f->local_backends), (strings{"10.244.1.5:8080"}));
    EXPECT_FALSE(f->drops_when_local_only());
    // No local backend while remote ones exist: drop, neither reject nor the others.
    add(make_slice("web-1", "web", {ep("10.244.1.6")}));
    sc.commit();
    f = get("10.96.0.10", 80);
    EXPECT_TRUE(f->local_backends.empty());
    EXPECT_FALSE(f->reject);
    EXPECT_TRUE(f->drops_when_local_only());
}

TEST_F(svc_compiler, external_traffic_policy_local_and_health_check) {
    auto s = make_service("web");
    s.type = service_type::load_balancer;
    s.external_traffic_policy = traffic_policy::local;
    s.health_check_node_port = 31000;
    s.ports[0].node_port = 30080;
    s.load_balancer_ingress.push_back({ip("198.51.100.1"), "", lb_ip_mode::vip});
    add(s);
    add(make_slice("web-1", "web",
                   {ep("10.244.1.5", k_node), ep("10.244.1.6", k_node, false, true, true), ep("10.244.2.5")}));
    sc.commit();
    auto np = get("192.168.1.10", 30080);
    auto lb = get("198.51.100.1", 80);
    auto cip = get("10.96.0.10", 80);
    for (const auto& f : {np, lb}) {
        ASSERT_TRUE(f);
        EXPECT_TRUE(f->external_local);
        EXPECT_EQ(keys(f->local_backends), (strings{"10.244.1.5:8080"}));
        EXPECT_EQ(f->health_check_node_port, 31000);
        EXPECT_EQ(f->health_check_local_ready, 1u);
    }
    EXPECT_FALSE(cip->external_local);  // cluster IP traffic is not external
    EXPECT_EQ(cip->backends.size(), 2u);
    // Only a terminating local endpoint: it still serves, but the health
    // check says 0 so that the load balancer drains the node.
    add(make_slice("web-1", "web", {ep("10.244.1.6", k_node, false, true, true), ep("10.244.2.5")}));
    sc.commit();
    lb = get("198.51.100.1", 80);
    EXPECT_EQ(keys(lb->local_backends), (strings{"10.244.1.6:8080"}));
    EXPECT_EQ(lb->health_check_local_ready, 0u);
}

TEST_F(svc_compiler, session_affinity) {
    auto s = make_service("web");
    s.session_affinity = affinity::client_ip;
    s.session_affinity_timeout_s = 600;
    add(s);
    sc.commit();
    EXPECT_EQ(get("10.96.0.10", 80)->session_affinity, affinity::client_ip);
    EXPECT_EQ(get("10.96.0.10", 80)->affinity_timeout_s, 600u);
}

TEST_F(svc_compiler, changing_one_slice_reports_only_that_service) {
    for (const char* n : {"a", "b"}) {
        auto s = make_service(n, {n[0] == 'a' ? "10.96.0.1" : "10.96.0.2"});
        s.ports.push_back({"https", l4_protocol::tcp, 443, port_ref{8443, {}}, 0});
        add(s);
        add(make_slice(std::string(n) + "-1", n, {ep("10.244.1.5")}));
    }
    EXPECT_EQ(sc.commit().added.size(), 4u);
    add(make_slice("a-1", "a", {ep("10.244.1.5"), ep("10.244.1.9")}));
    auto d = sc.commit();
    ASSERT_EQ(d.changed.size(), 1u);  // a's https port is in no slice: unchanged
    EXPECT_EQ(d.changed[0]->service, "default/a");
    EXPECT_TRUE(d.added.empty());
    EXPECT_TRUE(d.removed.empty());
    EXPECT_EQ(sc.stats().services_compiled, 3u);  // 2, then a alone
    // A slice of no Service, one of a Service that does not exist, and a
    // re-upsert of the same content: nothing to report.
    add(make_slice("stray", "", {ep("10.244.3.3")}));
    add(make_slice("ghost-1", "ghost", {ep("10.244.3.4")}));
    add(make_slice("a-1", "a", {ep("10.244.1.5"), ep("10.244.1.9")}));
    EXPECT_TRUE(sc.commit().empty());
    // Removing the Service removes its frontends only.
    sc.remove_service("default/b");
    d = sc.commit();
    EXPECT_EQ(d.removed.size(), 2u);
    EXPECT_EQ(sc.frontends().size(), 2u);
}

TEST_F(svc_compiler, slice_moving_to_another_service) {
    add(make_service("a", {"10.96.0.1"}));
    add(make_service("b", {"10.96.0.2"}));
    add(make_slice("s-1", "a", {ep("10.244.1.5")}));
    sc.commit();
    add(make_slice("s-1", "b", {ep("10.244.1.5")}));
    auto d = sc.commit();
    EXPECT_EQ(d.changed.size(), 2u);
    EXPECT_TRUE(get("10.96.0.1", 80)->reject);
    EXPECT_FALSE(get("10.96.0.2", 80)->reject);
}

TEST_F(svc_compiler, watch_cache_changes_and_conflicts) {
    auto a = std::make_shared<const service>([] {
        auto s = make_service("a", {"10.96.0.1"});
        s.external_ips = {ip("203.0.113.7")};
        return s;
    }());
    auto b = std::make_shared<const service>([] {
        auto s = make_service("b", {"10.96.0.2"});
        s.external_ips = {ip("203.0.113.7")};
        return s;
    }());
    using change = object_store<service>::change;
    sc.apply(std::vector<change>{{"default/b", nullptr, b}});
    sc.commit();
    EXPECT_EQ(get("203.0.113.7", 80)->service, "default/b");
    sc.apply(std::vector<change>{{"default/a", nullptr, a}});
    auto d = sc.commit();
    EXPECT_EQ(get("203.0.113.7", 80)->service, "default/a");  // lowest key wins
    EXPECT_EQ(d.changed.size(), 1u);
    EXPECT_GE(sc.stats().conflicts, 1u);
    sc.apply(std::vector<change>{{"default/a", a, nullptr}});
    sc.commit();
    EXPECT_EQ(get("203.0.113.7", 80)->service, "default/b");  // takes over
}

TEST_F(svc_compiler, set_node_recomputes_locality) {
    add(make_service("web"));
    add(make_slice("web-1", "web", {ep("10.244.1.5", "node-b")}));
    sc.commit();
    EXPECT_TRUE(get("10.96.0.10", 80)->local_backends.empty());
    sc.set_node("node-b", {ip("192.168.1.11")});
    auto d = sc.commit();
    EXPECT_EQ(d.changed.size(), 1u);
    EXPECT_EQ(get("10.96.0.10", 80)->local_backends.size(), 1u);
}

// Pods with hostPorts, as the Pod spec has them (portmap's mapping).
pod host_port_pod(const char* name, const char* node, std::vector<pod_port> ports,
                  std::vector<const char*> ips = {"10.244.1.7"}) {
    pod p;
    p.meta.ns = "default";
    p.meta.name = name;
    p.node_name = node;
    p.phase = pod_phase::running;
    for (const char* a : ips) p.pod_ips.push_back(ip(a));
    p.ports = std::move(ports);
    return p;
}
pod_port hp(uint16_t host, uint16_t container, l4_protocol proto = l4_protocol::tcp, const char* host_ip = nullptr) {
    pod_port p;
    p.name = "web";
    p.protocol = proto;
    p.container_port = container;
    p.host_port = host;
    if (host_ip) p.host_ip = ip(host_ip);
    return p;
}

TEST_F(svc_compiler, host_ports_of_this_nodes_pods) {
    sc.upsert(std::make_shared<const pod>(host_port_pod("dns", k_node, {hp(53, 5353, l4_protocol::udp), hp(8053, 8053)},
                                                        {"10.244.1.7", "fd00:244:1::7"})));
    sc.upsert(std::make_shared<const pod>(host_port_pod("elsewhere", "node-b", {hp(9000, 80)})));
    pod plain = host_port_pod("plain", k_node, {hp(0, 80)});
    sc.upsert(std::make_shared<const pod>(plain));
    const auto d = sc.commit();
    EXPECT_EQ(d.added.size(), 4u) << "two ports, each on the node address of both families";
    auto f = get("192.168.1.10", 53, l4_protocol::udp);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->kind, frontend_kind::host_port);
    EXPECT_EQ(f->service, "default/dns");
    EXPECT_EQ(keys(f->backends), strings{"10.244.1.7:5353"});
    EXPECT_EQ(keys(f->local_backends), strings{"10.244.1.7:5353"});
    EXPECT_TRUE(f->external_local) << "the client's address is kept, as portmap does";
    EXPECT_TRUE(f->maglev && !f->maglev->empty());
    auto f6 = get("fd00:1::10", 8053);
    ASSERT_TRUE(f6);
    EXPECT_EQ(keys(f6->backends), strings{"[fd00:244:1::7]:8053"});
    EXPECT_FALSE(get("192.168.1.10", 9000)) << "another node's pod";
    EXPECT_FALSE(get("192.168.1.10", 80)) << "a container port without hostPort";
    EXPECT_EQ(sc.stats().frontends, 4u);
}

TEST_F(svc_compiler, host_port_host_ip_network_and_lifecycle) {
    sc.upsert(std::make_shared<const pod>(host_port_pod("one", k_node, {hp(8080, 80, l4_protocol::tcp, "192.168.1.10"),
                                                                         hp(8081, 81, l4_protocol::tcp, "0.0.0.0")})));
    pod hn = host_port_pod("hostnet", k_node, {hp(9090, 9090)});
    hn.host_network = true;
    sc.upsert(std::make_shared<const pod>(hn));
    sc.commit();
    EXPECT_TRUE(get("192.168.1.10", 8080));
    EXPECT_FALSE(get("fd00:1::10", 8080)) << "hostIP of one family";
    EXPECT_TRUE(get("192.168.1.10", 8081)) << "0.0.0.0: every node address of the family";
    EXPECT_FALSE(get("192.168.1.10", 9090)) << "hostNetwork: the port is the host's own";

    pod done = host_port_pod("one", k_node, {hp(8080, 80, l4_protocol::tcp, "192.168.1.10")});
    done.phase = pod_phase::succeeded;
    sc.upsert(std::make_shared<const pod>(done));
    auto d = sc.commit();
    EXPECT_EQ(d.removed.size(), 2u) << "an ended pod maps nothing";
    sc.upsert(std::make_shared<const pod>(host_port_pod("one", k_node, {hp(8080, 80)})));
    sc.commit();
    ASSERT_TRUE(get("192.168.1.10", 8080));
    sc.remove_pod("default/one");
    d = sc.commit();
    EXPECT_FALSE(get("192.168.1.10", 8080));
    EXPECT_EQ(sc.stats().frontends, 0u);
}

// A pod that moves here (or a node renamed) recompiles.
TEST_F(svc_compiler, host_ports_follow_the_node_name) {
    sc.upsert(std::make_shared<const pod>(host_port_pod("p", "node-b", {hp(7000, 70)})));
    sc.commit();
    EXPECT_FALSE(get("192.168.1.10", 7000));
    sc.set_node("node-b", {ip("192.168.1.10")});
    sc.commit();
    EXPECT_TRUE(get("192.168.1.10", 7000));
}

// CNI portMappings (no port names): registered by vxrouted's pod name.
pod_port pm(uint16_t host, uint16_t container, l4_protocol proto = l4_protocol::tcp, const char* host_ip = nullptr) {
    pod_port p = hp(host, container, proto, host_ip);
    p.name.clear();
    return p;
}

TEST_F(svc_compiler, cni_port_mappings_add_and_remove) {
    sc.upsert_cni_pod("cni-abc-eth0-1", "default/web", ip("10.244.1.9"),
                      {pm(8080, 80), pm(5353, 53, l4_protocol::udp, "192.168.1.10")});
    auto d = sc.commit();
    EXPECT_EQ(d.added.size(), 2u) << "empty hostIP: the node address of the pod IP's family only";
    auto f = get("192.168.1.10", 8080);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->kind, frontend_kind::host_port);
    EXPECT_EQ(f->service, "default/web");
    EXPECT_EQ(keys(f->backends), strings{"10.244.1.9:80"});
    EXPECT_TRUE(f->external_local) << "the client's address is kept";
    EXPECT_TRUE(get("192.168.1.10", 5353, l4_protocol::udp));
    EXPECT_FALSE(get("fd00:1::10", 8080));

    sc.upsert_cni_pod("cni-abc-eth0-1", "default/web", ip("10.244.1.9"), {pm(8080, 8080)});
    d = sc.commit();
    EXPECT_EQ(d.changed.size(), 1u);
    EXPECT_EQ(d.removed.size(), 1u);
    EXPECT_EQ(keys(get("192.168.1.10", 8080)->backends), strings{"10.244.1.9:8080"});

    sc.remove_cni_pod("cni-abc-eth0-1");
    d = sc.commit();
    EXPECT_EQ(d.removed.size(), 1u);
    EXPECT_EQ(sc.stats().frontends, 0u);
    sc.upsert_cni_pod("cni-x-eth0-2", "", ip("10.244.1.3"), {pm(9000, 90)});
    sc.commit();
    ASSERT_TRUE(get("192.168.1.10", 9000));
    EXPECT_EQ(get("192.168.1.10", 9000)->service, "cni-x-eth0-2") << "no Kubernetes name: the pod's own";
    sc.upsert_cni_pod("cni-x-eth0-2", "", ip("10.244.1.3"), {});
    sc.commit();
    EXPECT_FALSE(get("192.168.1.10", 9000)) << "no mappings left: removed";
    EXPECT_EQ(sc.stats().conflicts, 0u);
}

// kubelet gives the Pod spec's hostPorts as portMappings, and the watch
// cache has the same Pod: one frontend, no conflict, whichever comes first.
TEST_F(svc_compiler, cni_and_pod_spec_give_one_mapping) {
    sc.upsert_cni_pod("cni-abc-eth0-1", "default/web", ip("10.244.1.7"), {pm(8080, 80)});
    sc.commit();
    auto first = get("192.168.1.10", 8080);
    ASSERT_TRUE(first);
    sc.upsert(std::make_shared<const pod>(host_port_pod("web", k_node, {hp(8080, 80)})));
    auto d = sc.commit();
    EXPECT_TRUE(d.added.empty() && d.changed.empty() && d.removed.empty())
        << "the Pod's claim repeats the published one";
    EXPECT_EQ(sc.stats().conflicts, 0u);
    EXPECT_EQ(sc.stats().frontends, 1u);
    sc.remove_cni_pod("cni-abc-eth0-1");
    d = sc.commit();
    ASSERT_TRUE(get("192.168.1.10", 8080)) << "the Pod spec's claim holds it on";
    EXPECT_EQ(keys(get("192.168.1.10", 8080)->backends), strings{"10.244.1.7:80"});
    EXPECT_TRUE(d.removed.empty());
    sc.upsert_cni_pod("cni-abc-eth0-1", "default/web", ip("10.244.1.7"), {pm(8080, 80)});
    sc.commit();
    EXPECT_EQ(sc.stats().conflicts, 0u);
}

// Two pods on one hostIP:hostPort/protocol: resolved as for Pods, the lowest
// key wins, the other is counted and takes over when the first goes.
TEST_F(svc_compiler, cni_pods_claiming_one_host_port_conflict) {
    sc.upsert_cni_pod("cni-aaa-eth0-1", "default/a", ip("10.244.1.2"), {pm(8080, 80)});
    sc.upsert_cni_pod("cni-bbb-eth0-1", "default/b", ip("10.244.1.3"), {pm(8080, 80)});
    sc.upsert(std::make_shared<const pod>(host_port_pod("b", k_node, {hp(8080, 80)}, {"10.244.1.3"})));
    sc.commit();
    ASSERT_TRUE(get("192.168.1.10", 8080));
    EXPECT_EQ(keys(get("192.168.1.10", 8080)->backends), strings{"10.244.1.2:80"});
    EXPECT_EQ(sc.stats().conflicts, 1u) << "b's two claims are one mapping, and it lost";
    sc.remove_cni_pod("cni-aaa-eth0-1");
    sc.commit();
    EXPECT_EQ(keys(get("192.168.1.10", 8080)->backends), strings{"10.244.1.3:80"});
    EXPECT_EQ(sc.stats().conflicts, 1u);
    // Different protocol or hostIP: no conflict.
    sc.upsert_cni_pod("cni-ccc-eth0-1", "default/c", ip("10.244.1.4"), {pm(8080, 80, l4_protocol::udp)});
    sc.commit();
    EXPECT_EQ(sc.stats().conflicts, 1u);
}

TEST(svc_maglev, every_node_builds_the_same_table) {
    std::vector<std::vector<uint32_t>> tables;
    for (const char* node : {"node-a", "node-b", "node-c"}) {
        auto sc = std::move(*service_compiler::create(config(node)));
        sc.upsert(std::make_shared<const service>(make_service("web")));
        // Slices in a different order and split on each node: the set is what counts.
        std::vector<endpoint> eps = {ep("10.244.1.5", "node-a"), ep("10.244.2.5", "node-b"),
                                     ep("10.244.3.5", "node-c"), ep("10.244.1.6", "node-a")};
        std::rotate(eps.begin(), eps.begin() + static_cast<long>(tables.size()), eps.end());
        sc.upsert(std::make_shared<const endpoint_slice>(make_slice("web-1", "web", {eps[0], eps[1]})));
        sc.upsert(std::make_shared<const endpoint_slice>(make_slice("web-2", "web", {eps[2], eps[3]})));
        sc.commit();
        auto f = sc.frontends().begin()->second;
        ASSERT_TRUE(f->maglev);
        EXPECT_EQ(f->maglev->keys().size(), 4u);
        tables.push_back(f->maglev->slots());
    }
    EXPECT_EQ(tables[0], tables[1]);
    EXPECT_EQ(tables[0], tables[2]);
}

TEST(svc_ports, node_port_range) {
    EXPECT_TRUE(node_port_in_range({}, 30000));
    EXPECT_TRUE(node_port_in_range({}, 32767));
    EXPECT_FALSE(node_port_in_range({}, 32768));
    EXPECT_FALSE(node_port_in_range({}, 29999));
    auto r = parse_node_port_range("30000-32767");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->first, 30000);
    EXPECT_EQ(r->last, 32767);
    auto e = parse_node_port_range("32767-30000");
    ASSERT_FALSE(e);
    EXPECT_NE(e.err().find("empty"), std::string::npos);
    e = make_node_port_range(0, 100);
    ASSERT_FALSE(e);
    EXPECT_NE(e.err().find("1-65535"), std::string::npos);
    EXPECT_FALSE(make_node_port_range(30000, 70000));
    EXPECT_FALSE(parse_node_port_range("abc"));
    EXPECT_TRUE(parse_node_port_range("8080"));
    auto cfg = config();
    cfg.node_ports = {40000, 30000};
    EXPECT_FALSE(service_compiler::create(cfg));
    cfg = config();
    cfg.maglev.table_size = 250;
    EXPECT_FALSE(service_compiler::create(cfg));
}

// The config's services section, as vxrouted checks it before it starts
// (and --check-config with it): errors name the field.
TEST(svc_ports, compiler_settings_from_the_node_config) {
    control::config cfg;
    cfg.node_name = "node-a";
    cfg.node_ip = ipv4_prefix{ipv4_addr{0xc6120001}, 24};  // 198.18.0.1/24
    cfg.services.enabled = true;
    auto cc = compiler_config_from(cfg);
    ASSERT_TRUE(cc) << cc.err();
    EXPECT_EQ(cc->node_name, "node-a");
    EXPECT_EQ(cc->node_ports.first, 30000);
    EXPECT_EQ(cc->node_ports.last, 32767);
    EXPECT_EQ(cc->maglev.table_size, 16381u);
    ASSERT_EQ(cc->node_ips.size(), 1u);  // node_ip when node_port_addresses is empty
    EXPECT_EQ(cc->node_ips[0], ip_addr::from(cfg.node_ip.addr));
    EXPECT_TRUE(service_compiler::create(*cc));

    cfg.services.node_port_addresses = {ipv4_addr{0x0a000001}, ipv4_addr{0x0a000002}};
    cc = compiler_config_from(cfg);
    ASSERT_TRUE(cc);
    EXPECT_EQ(cc->node_ips.size(), 2u);

    cfg.services.node_port_range = "32000-31000";
    cc = compiler_config_from(cfg);
    ASSERT_FALSE(cc);
    EXPECT_EQ(cc.err().rfind("services.node_port_range: ", 0), 0u) << cc.err();

    cfg.services.node_port_range = "30000-32767";
    cfg.services.maglev_table_size = 16384;
    cc = compiler_config_from(cfg);
    ASSERT_FALSE(cc);
    EXPECT_EQ(cc.err().rfind("services.maglev.table_size: ", 0), 0u) << cc.err();
    EXPECT_NE(cc.err().find("16384 is not a prime"), std::string::npos) << cc.err();
}

}  // namespace
}  // namespace vxr::control::services
