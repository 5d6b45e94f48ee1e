// service_proxy: compiled frontends -> the workers' service table, with the
// ids and pools it keeps across commits and the flows it ends, on a real
// dataplane's conntrack (nothing mocked; no worker runs).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <arpa/inet.h>

#include <memory>

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

}  // namespace
}  // namespace vxr::control::services
