// service_proxy: compiled frontends -> the workers' service table, with the
// ids and pools it keeps across commits and the flows it ends, on a real
// dataplane's conntrack (nothing mocked; no worker runs).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <arpa/inet.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "control/cni/cni.hpp"
#include "control/node/config.hpp"
#include "control/ops/commands.hpp"
#include "control/services/service_proxy.hpp"
#include "eal_env.hpp"
#include "fastpath/dataplane.hpp"
#include "services_objects.hpp"

namespace vxr::control::services {
namespace {

[[maybe_unused]] auto* const g_eal = vxr::test::eal_env::install({"-l", "0-1"});

fastpath::svc_key key(const char* addr, uint16_t port, uint8_t proto = 6) {
    in_addr a{};
    inet_pton(AF_INET, addr, &a);
    return fastpath::svc_key_v4(a.s_addr, htons(port), proto);
}

std::string addr_of(const fastpath::svc_backend& b) {
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, b.addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(b.port));
}

struct proxy : ::testing::Test {
    void SetUp() override {
        ASSERT_TRUE(vxr::test::eal_env::ready());
        ASSERT_TRUE(dp.init({1, 1024, 1024, 0}));
        fastpath::ct_params p;
        p.max_entries = 1024;
        ASSERT_TRUE(dp.enable_services(p));
        auto r = service_proxy::create(test_compiler_config(), dp, [this](auto t) {
            published = t;
            ++publications;
        });
        ASSERT_TRUE(r) << r.err();
        sp = std::move(*r);
    }
    void add(service s) { sp->compiler().upsert(std::make_shared<const service>(std::move(s))); }
    void add(endpoint_slice s) { sp->compiler().upsert(std::make_shared<const endpoint_slice>(std::move(s))); }
    // The watch cache's handlers mark the proxy changed; these tests feed
    // the compiler directly and say so themselves.
    void commit() {
        sp->mark_changed();
        sp->poll();
    }

    fastpath::dataplane dp;
    std::unique_ptr<service_proxy> sp;
    std::shared_ptr<const fastpath::service_table> published;
    int publications = 0;
};

TEST_F(proxy, publishes_frontends_with_their_backends) {
    add(make_service("web"));
    add(make_slice("web-1", "web", {ep("10.244.1.5", k_node), ep("10.244.2.5")}));
    commit();
    ASSERT_TRUE(published);
    EXPECT_EQ(sp->table(), published.get());
    const fastpath::svc_frontend* f = published->find(key("10.96.0.10", 80));
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(f->all->backends.size(), 2u);
    EXPECT_EQ(addr_of(f->all->backends[0]), "10.244.1.5:8080");
    EXPECT_EQ(addr_of(f->all->backends[1]), "10.244.2.5:8080");
    EXPECT_EQ(f->all->slots.size(), 251u);
    ASSERT_EQ(f->local->backends.size(), 1u) << "the endpoint on this node";
    EXPECT_TRUE(f->local->backends[0].local);
    EXPECT_EQ(f->flags, 0);
    EXPECT_NE(f->all->backends[0].id, 0u);
    EXPECT_NE(f->all->backends[0].id, f->all->backends[1].id);
}

TEST_F(proxy, a_service_without_endpoints_rejects) {
    add(make_service("empty", {"10.96.0.20"}));
    commit();
    const fastpath::svc_frontend* f = published->find(key("10.96.0.20", 80));
    ASSERT_NE(f, nullptr);
    EXPECT_TRUE(f->flags & fastpath::k_svc_reject);
    EXPECT_TRUE(f->all->slots.empty());
}

TEST_F(proxy, unchanged_services_keep_their_pools_and_ids) {
    add(make_service("a", {"10.96.0.1"}));
    add(make_slice("a-1", "a", {ep("10.244.2.1")}));
    add(make_service("b", {"10.96.0.2"}));
    add(make_slice("b-1", "b", {ep("10.244.2.2")}));
    commit();
    const auto* a0 = published->find(key("10.96.0.1", 80));
    const auto* b0 = published->find(key("10.96.0.2", 80));
    ASSERT_TRUE(a0 && b0);
    const fastpath::svc_pool* a_pool = a0->all;
    const uint32_t a_id = a0->id, b_id = b0->id;
    const uint32_t b_backend = b0->all->backends[0].id;
    add(make_slice("b-1", "b", {ep("10.244.2.2"), ep("10.244.2.3")}));
    commit();
    const auto* a1 = published->find(key("10.96.0.1", 80));
    const auto* b1 = published->find(key("10.96.0.2", 80));
    ASSERT_TRUE(a1 && b1);
    EXPECT_EQ(a1->all, a_pool) << "a's slots are shared, not copied";
    EXPECT_EQ(a1->id, a_id);
    EXPECT_EQ(b1->id, b_id);
    ASSERT_EQ(b1->all->backends.size(), 2u);
    EXPECT_EQ(b1->all->backends[0].id, b_backend) << "a backend keeps its id";
    EXPECT_EQ(publications, 2);
}

TEST_F(proxy, a_slice_change_remakes_only_its_services_entries) {
    for (const char* n : {"a", "b", "c"}) {
        const std::string svc_ip = std::string("10.96.0.") + (n[0] == 'a' ? "1" : n[0] == 'b' ? "2" : "3");
        const std::string be_ip = std::string("10.244.2.") + (n[0] == 'a' ? "1" : n[0] == 'b' ? "2" : "3");
        add(make_service(n, {svc_ip.c_str()}));
        add(make_slice(std::string(n) + "-1", n, {ep(be_ip.c_str())}));
    }
    commit();
    EXPECT_EQ(sp->stats().last_frontends_rebuilt, 3u);
    const fastpath::svc_pool* a_pool = published->find(key("10.96.0.1", 80))->all;
    const fastpath::svc_pool* c_pool = published->find(key("10.96.0.3", 80))->all;
    const uint32_t c_backend = c_pool->backends[0].id;

    add(make_slice("b-1", "b", {ep("10.244.2.2"), ep("10.244.2.4")}));
    commit();
    EXPECT_EQ(sp->stats().last_frontends_rebuilt, 1u) << "b's one frontend, not all three";
    ASSERT_EQ(published->size(), 3u);
    EXPECT_EQ(published->find(key("10.96.0.1", 80))->all, a_pool);
    EXPECT_EQ(published->find(key("10.96.0.3", 80))->all, c_pool);
    EXPECT_EQ(published->find(key("10.96.0.2", 80))->all->backends.size(), 2u);

    // b's first backend leaves: only it is ended.
    add(make_slice("b-1", "b", {ep("10.244.2.4")}));
    commit();
    EXPECT_EQ(sp->stats().last_frontends_rebuilt, 1u);
    EXPECT_EQ(sp->stats().backends_ended, 1u);

    // A Service goes: its frontend and backend with it, the others untouched.
    sp->compiler().remove_service("default/a");
    commit();
    EXPECT_EQ(sp->stats().last_frontends_rebuilt, 0u);
    EXPECT_EQ(published->find(key("10.96.0.1", 80)), nullptr);
    EXPECT_EQ(sp->stats().backends_ended, 2u);
    ASSERT_EQ(published->size(), 2u);
    EXPECT_EQ(published->find(key("10.96.0.3", 80))->all, c_pool);
    EXPECT_EQ(published->find(key("10.96.0.3", 80))->all->backends[0].id, c_backend);

    // Nothing changed: the same entries again, no backend ended.
    commit();
    EXPECT_EQ(sp->stats().last_frontends_rebuilt, 0u);
    EXPECT_EQ(sp->stats().backends_ended, 2u);
    EXPECT_EQ(published->size(), 2u);
}

TEST_F(proxy, a_backend_two_frontends_hold_lives_while_one_does) {
    service s = make_service("web", {"10.96.0.10"});
    s.external_ips = {ip("192.0.2.7")};
    add(s);
    add(make_slice("web-1", "web", {ep("10.244.2.5")}));
    commit();
    const auto* cluster = published->find(key("10.96.0.10", 80));
    const auto* external = published->find(key("192.0.2.7", 80));
    ASSERT_TRUE(cluster && external);
    EXPECT_EQ(cluster->all, external->all) << "one pool for the Service port";
    const uint32_t backend = cluster->all->backends[0].id;
    s.external_ips.clear();
    add(s);
    commit();
    EXPECT_EQ(published->find(key("192.0.2.7", 80)), nullptr);
    ASSERT_NE(published->find(key("10.96.0.10", 80)), nullptr);
    EXPECT_EQ(published->find(key("10.96.0.10", 80))->all->backends[0].id, backend);
    EXPECT_EQ(sp->stats().backends_ended, 0u) << "the cluster IP still holds it";
}

TEST_F(proxy, a_removed_backend_ends_its_flows) {
    add(make_service("web"));
    add(make_slice("web-1", "web", {ep("10.244.2.5"), ep("10.244.2.6")}));
    commit();
    const auto* f = published->find(key("10.96.0.10", 80));
    ASSERT_NE(f, nullptr);
    const fastpath::svc_backend gone = f->all->backends[1];
    // A flow to it, as a worker would have inserted it.
    fastpath::ct_init in;
    in.orig = fastpath::ct_key_v4(htonl(0x0af40102), htonl(0x0a60000a), htons(40000), htons(80), IPPROTO_UDP);
    rte_be32_t backend_be;
    std::memcpy(&backend_be, gone.addr, 4);
    in.reply = fastpath::ct_key_v4(backend_be, htonl(0x0af40102), gone.port, htons(40000), IPPROTO_UDP);
    in.frontend_id = f->id;
    in.backend_id = gone.id;
    ASSERT_EQ(dp.ct()->insert(in).status, fastpath::ct_insert_status::inserted);
    add(make_slice("web-1", "web", {ep("10.244.2.5")}));
    commit();
    EXPECT_EQ(sp->stats().backends_ended, 1u);
    EXPECT_EQ(sp->stats().flows_ended, 1u);
    EXPECT_EQ(dp.ct()->counters().entries, 0u) << "a UDP flow is removed, as kube-proxy flushes it";
}

TEST_F(proxy, frontend_ids_are_reused_after_a_service_goes) {
    add(make_service("a", {"10.96.0.1"}));
    commit();
    const uint32_t id = published->find(key("10.96.0.1", 80))->id;
    sp->compiler().remove_service("default/a");
    commit();
    EXPECT_EQ(published->find(key("10.96.0.1", 80)), nullptr);
    add(make_service("c", {"10.96.0.3"}));
    commit();
    EXPECT_EQ(published->find(key("10.96.0.3", 80))->id, id);
}

TEST_F(proxy, views_and_lookup) {
    add(make_service("web"));
    add(make_slice("web-1", "web", {ep("10.244.2.5")}));
    commit();
    rapidjson::Document d;
    d.Parse(sp->show_services().c_str());
    ASSERT_FALSE(d.HasParseError());
    ASSERT_EQ(d["frontends"].Size(), 1u);
    EXPECT_EQ(d["frontends"][0]["maglev_share"][0]["share"].GetDouble(), 1.0);
    auto l = sp->lookup("tcp", "10.96.0.10", 80, "10.244.1.2", 40000);
    ASSERT_TRUE(l) << l.err();
    d.Parse(l->c_str());
    ASSERT_FALSE(d.HasParseError()) << *l;
    EXPECT_STREQ(d["cluster"]["backend"].GetString(), "10.244.2.5:8080");
    auto none = sp->lookup("udp", "10.96.0.10", 80, "10.244.1.2", 40000);
    ASSERT_TRUE(none);
    EXPECT_NE(none->find("no frontend"), std::string::npos);
    EXPECT_FALSE(sp->lookup("icmp", "10.96.0.10", 80, "10.244.1.2", 1));
    EXPECT_FALSE(sp->lookup("tcp", "10.96.0", 80, "10.244.1.2", 1));
    d.Parse(sp->show_conntrack("").c_str());
    ASSERT_FALSE(d.HasParseError());
    EXPECT_EQ(d["entries"].GetUint64(), 0u);
}

// A LoadBalancer Service with status.loadBalancer.ingress: its ranges
// (those of the family) reach the load-balancer frontend of the workers'
// table, and only that one.
service fenced_lb(std::vector<const char*> ranges) {
    service s = make_service("lb");
    s.type = service_type::load_balancer;
    s.ports[0].node_port = 30080;
    s.load_balancer_ingress.push_back({ip("198.51.100.1"), "", lb_ip_mode::vip});
    for (auto* r : ranges) s.load_balancer_source_ranges.push_back(*ip_prefix::parse(r));
    return s;
}

std::vector<std::string> ranges_of(const fastpath::svc_frontend& f) {
    std::vector<std::string> out;
    for (uint32_t i = 0; i < f.n_ranges; ++i) {
        char buf[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, f.ranges[i].net, buf, sizeof buf);
        out.push_back(std::string(buf) + "/" + std::to_string(f.ranges[i].len));
    }
    return out;
}

TEST_F(proxy, load_balancer_source_ranges_reach_the_table) {
    add(fenced_lb({"203.0.113.0/24", "fd00::/64", "198.18.0.0/15"}));
    add(make_slice("lb-1", "lb", {ep("10.244.2.5")}));
    commit();
    const fastpath::svc_frontend* lb = published->find(key("198.51.100.1", 80));
    ASSERT_NE(lb, nullptr);
    EXPECT_TRUE(lb->flags & fastpath::k_svc_source_ranges);
    EXPECT_EQ(ranges_of(*lb), (std::vector<std::string>{"203.0.113.0/24", "198.18.0.0/15"}))
        << "the IPv4 ones, in the compiler's order";
    for (const auto& [addr, port] : {std::pair{"10.96.0.10", 80}, std::pair{"192.168.1.10", 30080}}) {
        const fastpath::svc_frontend* f = published->find(key(addr, static_cast<uint16_t>(port)));
        ASSERT_NE(f, nullptr) << addr;
        EXPECT_FALSE(f->flags & fastpath::k_svc_source_ranges) << addr << ": ClusterIP and NodePort are not fenced";
        EXPECT_EQ(f->n_ranges, 0u);
    }
    EXPECT_TRUE(fastpath::service_table::source_allowed_v4(*lb, inet_addr("203.0.113.77")));
    EXPECT_FALSE(fastpath::service_table::source_allowed_v4(*lb, inet_addr("203.0.114.1")));

    auto denied = sp->lookup("tcp", "198.51.100.1", 80, "10.244.1.2", 40000);
    ASSERT_TRUE(denied) << denied.err();
    EXPECT_NE(denied->find("svc_source_denied"), std::string::npos) << *denied;
    auto allowed = sp->lookup("tcp", "198.51.100.1", 80, "203.0.113.5", 40000);
    ASSERT_TRUE(allowed) << allowed.err();
    EXPECT_NE(allowed->find("10.244.2.5:8080"), std::string::npos) << *allowed;

    // No IPv4 range left: any IPv4 source (kube-proxy filters by family).
    add(fenced_lb({"fd00::/64"}));
    commit();
    lb = published->find(key("198.51.100.1", 80));
    ASSERT_NE(lb, nullptr);
    EXPECT_FALSE(lb->flags & fastpath::k_svc_source_ranges);
}

TEST_F(proxy, a_range_holding_the_node_also_admits_the_address_itself) {
    // kube-proxy's allowFromNode: a VIP the host holds locally answers the
    // host from the VIP itself.
    add(fenced_lb({"192.168.1.0/24"}));
    add(make_slice("lb-1", "lb", {ep("10.244.2.5")}));
    commit();
    const fastpath::svc_frontend* lb = published->find(key("198.51.100.1", 80));
    ASSERT_NE(lb, nullptr);
    EXPECT_EQ(ranges_of(*lb), (std::vector<std::string>{"192.168.1.0/24", "198.51.100.1/32"}));
    add(fenced_lb({"192.168.2.0/24"}));
    commit();
    EXPECT_EQ(ranges_of(*published->find(key("198.51.100.1", 80))), std::vector<std::string>{"192.168.2.0/24"});
}

}  // namespace
}  // namespace vxr::control::services

// CNI portMappings: vxrouted's table hands them to the proxy's compiler
// (make_port_mapping_table, as vxrouted wires it) and saves them.
namespace vxr::control::services {
namespace {

struct cni_ports : proxy {
    void SetUp() override {
        proxy::SetUp();
        char tmpl[] = "/tmp/vxr-portmap-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        cfg.state_dir = tmpl;
        cfg.node_name = "node-a";
    }
    void TearDown() override { std::filesystem::remove_all(cfg.state_dir); }
    static std::vector<k8s::pod_port> mappings(const char* json) {
        rapidjson::Document d;
        d.Parse(json);
        std::vector<k8s::pod_port> out;
        auto f = cni::parse_port_mappings(d, "port_mappings", out);
        EXPECT_FALSE(f) << f->msg;
        return out;
    }
    std::string saved() const {
        std::ifstream in(cni::port_mapping_table::file_for(cfg));
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    control::config cfg;
};

TEST_F(cni_ports, add_and_del_map_and_unmap_the_host_port) {
    auto maps = make_port_mapping_table(cfg, sp.get());
    ASSERT_TRUE(maps->enabled());
    const auto m = mappings(R"([{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""}])");
    EXPECT_FALSE(cni::refuse_unmapped(maps.get(), m));
    maps->set("cni-0123-eth0-1", {*ipv4_addr::parse("10.244.1.9"), "default/web", m});
    sp->poll();  // the table marked the proxy changed
    ASSERT_TRUE(published);
    const fastpath::svc_frontend* f = published->find(key("192.168.1.10", 8080));
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(f->all->backends.size(), 1u);
    EXPECT_EQ(addr_of(f->all->backends[0]), "10.244.1.9:80");
    EXPECT_EQ(sp->compiler().frontends().begin()->second->kind, frontend_kind::host_port);
    EXPECT_FALSE(cni::check_port_mappings(maps.get(), "cni-0123-eth0-1", m));
    auto bad = cni::check_port_mappings(maps.get(), "cni-0123-eth0-1", {});
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->code, cni::k_err_check_failed);
    EXPECT_EQ(bad->msg, "pod cni-0123-eth0-1 has port mappings 8080/tcp -> 80, the runtime asks for none");
    EXPECT_NE(saved().find(R"({"pod":"cni-0123-eth0-1","ip":"10.244.1.9","label":"default/web","port_mappings":[)"),
              std::string::npos)
        << saved();

    maps->remove("cni-0123-eth0-1");
    sp->poll();
    EXPECT_EQ(published->find(key("192.168.1.10", 8080)), nullptr);
    EXPECT_TRUE(sp->compiler().frontends().empty());
    EXPECT_EQ(saved(), "");
    EXPECT_TRUE(cni::check_port_mappings(maps.get(), "cni-0123-eth0-1", m)) << "gone";
    EXPECT_FALSE(cni::check_port_mappings(maps.get(), "cni-0123-eth0-1", {}));
}

// A restart: the saved mappings of the pods the router restored come back.
TEST_F(cni_ports, saved_mappings_come_back_for_restored_pods) {
    const auto m = mappings(R"([{"hostPort":8080,"containerPort":80},{"hostPort":53,"containerPort":53,"protocol":"udp"}])");
    {
        auto maps = make_port_mapping_table(cfg, sp.get());
        maps->set("cni-kept", {*ipv4_addr::parse("10.244.1.9"), "", m});
        maps->set("cni-gone", {*ipv4_addr::parse("10.244.1.10"), "", mappings(R"([{"hostPort":9090,"containerPort":90}])")});
        maps->set("cni-moved", {*ipv4_addr::parse("10.244.1.11"), "", mappings(R"([{"hostPort":7070,"containerPort":70}])")});
    }
    {
        std::ofstream out(cni::port_mapping_table::file_for(cfg), std::ios::app);
        out << "{not json\n";
    }
    auto r = service_proxy::create(test_compiler_config(), dp, [this](auto t) { published = t; });
    ASSERT_TRUE(r) << r.err();
    sp = std::move(*r);
    auto maps = make_port_mapping_table(cfg, sp.get());
    maps->restore([](const std::string& pod, ipv4_addr ip) {
        return (pod == "cni-kept" && ip == *ipv4_addr::parse("10.244.1.9")) ||
               (pod == "cni-moved" && ip == *ipv4_addr::parse("10.244.1.99"));
    });
    sp->poll();
    EXPECT_EQ(maps->size(), 1u);
    ASSERT_TRUE(maps->find("cni-kept"));
    EXPECT_TRUE(cni::same_port_mappings(maps->find("cni-kept")->mappings, m));
    EXPECT_NE(published->find(key("192.168.1.10", 8080)), nullptr);
    EXPECT_NE(published->find(key("192.168.1.10", 53, 17)), nullptr);
    EXPECT_EQ(published->find(key("192.168.1.10", 9090)), nullptr) << "its pod is gone";
    EXPECT_EQ(published->find(key("192.168.1.10", 7070)), nullptr) << "its pod came back with another IP";
    EXPECT_EQ(saved().find("cni-gone"), std::string::npos) << "the dropped ones are not saved again";
}

// Services off: an ADD with portMappings is refused (the runtime would
// believe the hostPort works); without mappings nothing changes.
TEST_F(cni_ports, services_off_refuses_port_mappings) {
    auto maps = make_port_mapping_table(cfg, nullptr);
    EXPECT_FALSE(maps->enabled());
    const auto m = mappings(R"([{"hostPort":8080,"containerPort":80}])");
    auto f = cni::refuse_unmapped(maps.get(), m);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->code, cni::k_err_daemon);
    EXPECT_EQ(f->msg, "portMappings (8080/tcp -> 80) cannot be mapped: Services are off in vxrouted's config "
                      "(\"services\": {\"enabled\": true} maps hostPorts)");
    EXPECT_TRUE(cni::refuse_unmapped(nullptr, m));
    EXPECT_FALSE(cni::refuse_unmapped(maps.get(), {}));
    EXPECT_FALSE(cni::check_port_mappings(maps.get(), "cni-x", {}));
    // Saved while Services were on, restored with them off: kept, unmapped,
    // and CHECK says so.
    make_port_mapping_table(cfg, sp.get())->set("cni-x", {*ipv4_addr::parse("10.244.1.9"), "", m});
    auto off = make_port_mapping_table(cfg, nullptr);
    off->restore([](const std::string&, ipv4_addr) { return true; });
    auto c = cni::check_port_mappings(off.get(), "cni-x", m);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->code, cni::k_err_check_failed);
    EXPECT_NE(c->msg.find("are not mapped: Services are off"), std::string::npos) << c->msg;
}

}  // namespace
}  // namespace vxr::control::services
