// The host's own node-port rules (control/services/host_nat.hpp): the plan
// from compiled frontends and the nft text, as golden text; the runner's
// use (replace the table once, skip what is already applied, retry after a
// failure, delete at stop). Applying the text with a real nft is
// tests/services/host_nat_nft.sh (in a network namespace of its own).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "control/services/host_nat.hpp"
#include "control/services/service_compiler.hpp"
#include "services_objects.hpp"

namespace vxr::control::services {
namespace {

using namespace vxr::control::k8s;

const host_nat_params k_params{"vxroute", "vxr-host", *ipv4_addr::parse("10.244.1.0")};

struct host_nat_fixture : ::testing::Test {
    service_compiler sc = std::move(*service_compiler::create(test_compiler_config()));
    void add(service s) { sc.upsert(std::make_shared<const service>(std::move(s))); }
    void add(endpoint_slice s) { sc.upsert(std::make_shared<const endpoint_slice>(std::move(s))); }
    std::string elements() {
        sc.commit();
        return render_host_nat_elements(k_params, plan_host_nat(sc.frontends(), sc.config().node_ips));
    }
    // web: TCP 80 (node port 30080) and UDP 53 (node port 30053), backends on another node.
    void add_web() {
        auto s = make_service("web", {"10.96.0.10"});
        s.type = service_type::node_port;
        s.ports[0].node_port = 30080;
        s.ports.push_back({"dns", l4_protocol::udp, 53, port_ref{5353, {}}, 30053});
        add(s);
        auto sl = make_slice("web-1", "web", {ep("10.244.2.5")});
        sl.ports.push_back({"dns", l4_protocol::udp, 5353});
        add(sl);
    }
};

using host_nat_render = host_nat_fixture;

TEST(host_nat_table, golden) {
    EXPECT_EQ(render_host_nat_table(k_params),
              "add table ip vxroute\n"
              "delete table ip vxroute\n"
              "table ip vxroute {\n"
              "\tmap frontends {\n"
              "\t\ttype ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service\n"
              "\t}\n"
              "\tset addresses {\n"
              "\t\ttype ipv4_addr\n"
              "\t}\n"
              "\tchain output {\n"
              "\t\ttype nat hook output priority -100; policy accept;\n"
              "\t\tfib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @frontends\n"
              "\t}\n"
              "\tchain postrouting {\n"
              "\t\ttype nat hook postrouting priority 100; policy accept;\n"
              "\t\toifname \"vxr-host\" ct status dnat ct original ip daddr @addresses snat ip to 10.244.1.0\n"
              "\t}\n"
              "}\n");
    EXPECT_EQ(render_host_nat_delete(k_params), "delete table ip vxroute\n");
}

TEST_F(host_nat_render, no_services_is_an_empty_map) {
    EXPECT_EQ(elements(),
              "flush map ip vxroute frontends\n"
              "flush set ip vxroute addresses\n");
    // A ClusterIP-only Service has nothing the node could not reach already.
    add(make_service("plain", {"10.96.0.20"}));
    EXPECT_EQ(elements(),
              "flush map ip vxroute frontends\n"
              "flush set ip vxroute addresses\n");
}

TEST_F(host_nat_render, tcp_and_udp_node_ports_go_to_the_cluster_ip) {
    add_web();
    EXPECT_EQ(elements(),
              "flush map ip vxroute frontends\n"
              "flush set ip vxroute addresses\n"
              "add element ip vxroute frontends {\n"
              "\t192.168.1.10 . tcp . 30080 : 10.96.0.10 . 80,\n"
              "\t192.168.1.10 . udp . 30053 : 10.96.0.10 . 53,\n"
              "}\n"
              "add element ip vxroute addresses {\n"
              "\t192.168.1.10,\n"
              "}\n");
}

TEST_F(host_nat_render, external_traffic_policy_local_still_goes_to_every_endpoint) {
    // kube-proxy: the node's own traffic to a Local node port takes the
    // cluster-wide endpoints. The ClusterIP does: no local endpoint here.
    auto s = make_service("loc", {"10.96.0.11"});
    s.type = service_type::node_port;
    s.external_traffic_policy = traffic_policy::local;
    s.ports[0].node_port = 30090;
    add(s);
    add(make_slice("loc-1", "loc", {ep("10.244.2.9", "node-b")}));
    sc.commit();
    auto plan = plan_host_nat(sc.frontends(), sc.config().node_ips);
    ASSERT_EQ(plan.rules.size(), 1u);
    EXPECT_EQ(plan.rules[0].to.str(), "10.96.0.11");
    EXPECT_EQ(plan.rules[0].to_port, 80);
    EXPECT_EQ(render_host_nat_elements(k_params, plan),
              "flush map ip vxroute frontends\n"
              "flush set ip vxroute addresses\n"
              "add element ip vxroute frontends {\n"
              "\t192.168.1.10 . tcp . 30090 : 10.96.0.11 . 80,\n"
              "}\n"
              "add element ip vxroute addresses {\n"
              "\t192.168.1.10,\n"
              "}\n");
}

TEST_F(host_nat_render, host_port_goes_to_the_pod) {
    pod p;
    p.meta.ns = "default";
    p.meta.name = "dns";
    p.node_name = k_node;
    p.phase = pod_phase::running;
    p.pod_ips = {ip("10.244.1.7")};
    pod_port pp;
    pp.name = "dns";
    pp.protocol = l4_protocol::udp;
    pp.container_port = 5353;
    pp.host_port = 53;
    p.ports = {pp};
    sc.upsert(std::make_shared<const pod>(p));
    EXPECT_EQ(elements(),
              "flush map ip vxroute frontends\n"
              "flush set ip vxroute addresses\n"
              "add element ip vxroute frontends {\n"
              "\t192.168.1.10 . udp . 53 : 10.244.1.7 . 5353,\n"
              "}\n"
              "add element ip vxroute addresses {\n"
              "\t192.168.1.10,\n"
              "}\n");
}

TEST(host_nat_node_port_addresses, set_every_listed_address_and_only_those) {
    // services.node_port_addresses set: the compiler's node IPs are those
    // (and not the node IP), as the workers answer node ports on them.
    auto cfg = test_compiler_config();
    cfg.node_ips = {ip("192.168.1.10"), ip("192.168.7.1")};
    auto sc = std::move(*service_compiler::create(cfg));
    auto s = make_service("web", {"10.96.0.10"});
    s.type = service_type::node_port;
    s.ports[0].node_port = 30080;
    sc.upsert(std::make_shared<const service>(s));
    sc.commit();
    EXPECT_EQ(render_host_nat_elements(k_params, plan_host_nat(sc.frontends(), sc.config().node_ips)),
              "flush map ip vxroute frontends\n"
              "flush set ip vxroute addresses\n"
              "add element ip vxroute frontends {\n"
              "\t192.168.1.10 . tcp . 30080 : 10.96.0.10 . 80,\n"
              "\t192.168.7.1 . tcp . 30080 : 10.96.0.10 . 80,\n"
              "}\n"
              "add element ip vxroute addresses {\n"
              "\t192.168.1.10,\n"
              "\t192.168.7.1,\n"
              "}\n");

    // Through the config: node_port_addresses unset is the node IP alone.
    control::config c;
    c.node_ip = *ipv4_prefix::parse("192.168.1.10/24", true);
    c.pod_cidr = *ipv4_prefix::parse("10.244.1.0/24");
    auto unset = compiler_config_from(c);
    ASSERT_TRUE(unset) << unset.err();
    EXPECT_EQ(unset->node_ips, std::vector<ip_addr>{ip("192.168.1.10")});
    c.services.node_port_addresses = {*ipv4_addr::parse("192.168.7.1")};
    auto set = compiler_config_from(c);
    ASSERT_TRUE(set) << set.err();
    EXPECT_EQ(set->node_ips, std::vector<ip_addr>{ip("192.168.7.1")});
}

TEST_F(host_nat_render, external_and_load_balancer_ips_and_source_ranges) {
    auto s = make_service("lb", {"10.96.0.12"});
    s.type = service_type::load_balancer;
    s.external_ips = {ip("203.0.113.7")};
    s.load_balancer_ingress.push_back({ip("198.51.100.1"), "", lb_ip_mode::vip});
    add(s);
    auto fenced = make_service("fenced", {"10.96.0.13"});
    fenced.type = service_type::load_balancer;
    fenced.load_balancer_ingress.push_back({ip("198.51.100.2"), "", lb_ip_mode::vip});
    fenced.load_balancer_source_ranges = {*ip_prefix::parse("192.0.2.0/24")};
    add(fenced);
    auto open_to_node = make_service("node-ok", {"10.96.0.14"});
    open_to_node.type = service_type::load_balancer;
    open_to_node.load_balancer_ingress.push_back({ip("198.51.100.3"), "", lb_ip_mode::vip});
    open_to_node.load_balancer_source_ranges = {*ip_prefix::parse("192.168.1.0/24")};  // holds the node
    add(open_to_node);
    sc.commit();
    auto plan = plan_host_nat(sc.frontends(), sc.config().node_ips);
    EXPECT_EQ(plan.fenced, 1u);
    EXPECT_EQ(plan.without_cluster_ip, 0u);
    EXPECT_EQ(render_host_nat_elements(k_params, plan),
              "flush map ip vxroute frontends\n"
              "flush set ip vxroute addresses\n"
              "add element ip vxroute frontends {\n"
              "\t198.51.100.1 . tcp . 80 : 10.96.0.12 . 80,\n"
              "\t198.51.100.3 . tcp . 80 : 10.96.0.14 . 80,\n"
              "\t203.0.113.7 . tcp . 80 : 10.96.0.12 . 80,\n"
              "}\n"
              "add element ip vxroute addresses {\n"
              "\t198.51.100.1,\n"
              "\t198.51.100.3,\n"
              "\t203.0.113.7,\n"
              "}\n");
}

TEST_F(host_nat_render, runner_replaces_once_skips_repeats_retries_and_deletes) {
    std::vector<std::string> ran;
    bool fail = false;
    host_nat h(k_params, [&](const std::string& in) -> result<void> {
        ran.push_back(in);
        if (fail) return make_error("nft: Operation not permitted");
        return {};
    });
    h.start();
    ASSERT_EQ(ran.size(), 1u);
    EXPECT_EQ(ran[0], render_host_nat_table(k_params));
    EXPECT_TRUE(h.stats().installed);

    add_web();
    sc.commit();
    h.update(sc.frontends(), sc.config().node_ips);
    ASSERT_EQ(ran.size(), 2u);
    EXPECT_EQ(ran[1].rfind("flush map ip vxroute frontends\n", 0), 0u);
    EXPECT_EQ(h.stats().rules, 2u);
    h.update(sc.frontends(), sc.config().node_ips);  // the same rules: nft does not run
    EXPECT_EQ(ran.size(), 2u);

    fail = true;
    add(make_slice("web-2", "web", {ep("10.244.3.5")}));  // backends only: the rules stay the same
    auto s = make_service("web", {"10.96.0.10"});
    s.type = service_type::node_port;
    s.ports[0].node_port = 30081;
    add(s);
    sc.commit();
    h.update(sc.frontends(), sc.config().node_ips);
    EXPECT_EQ(ran.size(), 3u);
    EXPECT_EQ(h.stats().failures, 1u);
    EXPECT_NE(h.stats().last_error.find("Operation not permitted"), std::string::npos);
    EXPECT_EQ(h.stats().rules, 2u);  // what the kernel still has
    h.retry_failed();                // within the back-off: nothing
    EXPECT_EQ(ran.size(), 3u);

    fail = false;
    h.update(sc.frontends(), sc.config().node_ips);  // the next commit tries again
    EXPECT_EQ(ran.size(), 4u);
    EXPECT_EQ(h.stats().rules, 1u);
    EXPECT_TRUE(h.stats().last_error.empty());
    EXPECT_NE(ran[3].find("192.168.1.10 . tcp . 30081 : 10.96.0.10 . 80"), std::string::npos);

    h.stop();
    ASSERT_EQ(ran.size(), 5u);
    EXPECT_EQ(ran[4], "delete table ip vxroute\n");
    EXPECT_FALSE(h.stats().installed);
    h.stop();  // nothing left to delete
    EXPECT_EQ(ran.size(), 5u);
}

TEST(host_nat_start, a_failed_start_is_tried_again_at_the_next_update) {
    int calls = 0;
    host_nat h(k_params, [&](const std::string&) -> result<void> {
        if (++calls == 1) return make_error("nft: no such file or directory");
        return {};
    });
    h.start();
    EXPECT_FALSE(h.stats().installed);
    EXPECT_EQ(h.stats().failures, 1u);
    h.update({}, {});
    EXPECT_TRUE(h.stats().installed);
    EXPECT_EQ(calls, 3);  // the table, then its (empty) elements
}

}  // namespace
}  // namespace vxr::control::services
