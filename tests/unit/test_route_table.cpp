// The workers' route table: longest-prefix match, batches, a million routes,
// and lookups on a worker lcore that never see a wrong next hop while the
// control thread changes routes next to theirs.
#include <gtest/gtest.h>

#include <rte_fib.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <atomic>
#include <chrono>

#include "eal_env.hpp"
#include "fastpath/route_table.hpp"

// Two lcores (a reader on the second); memory for two 1M-route copies.
static auto* const g_eal = vxr::test::eal_env::install({"-l", "0-1", "-m", "1536"});

namespace vxr::fastpath {
namespace {

ipv4_prefix pfx(const char* text) { return *ipv4_prefix::parse(text); }
ipv4_addr ip(const char* text) { return *ipv4_addr::parse(text); }

TEST(route_table, longest_prefix_wins_and_deletes_fall_back) {
    route_table rt;
    ASSERT_TRUE(rt.init(1024, SOCKET_ID_ANY, nullptr));
    EXPECT_EQ(rt.lookup(ip("10.1.2.3")), std::nullopt);
    ASSERT_TRUE(rt.add(pfx("0.0.0.0/0"), 1));
    ASSERT_TRUE(rt.add(pfx("10.0.0.0/8"), 2));
    ASSERT_TRUE(rt.add(pfx("10.1.2.0/24"), 3));
    ASSERT_TRUE(rt.add(pfx("10.1.2.3/32"), 4));
    EXPECT_EQ(rt.lookup(ip("10.1.2.3")), 4u);
    EXPECT_EQ(rt.lookup(ip("10.1.2.4")), 3u);
    EXPECT_EQ(rt.lookup(ip("10.9.9.9")), 2u);
    EXPECT_EQ(rt.lookup(ip("192.0.2.1")), 1u);
    // Each change swaps the copies: these also check the replayed one.
    ASSERT_TRUE(rt.del(pfx("10.1.2.3/32")));
    EXPECT_EQ(rt.lookup(ip("10.1.2.3")), 3u);
    ASSERT_TRUE(rt.del(pfx("10.1.2.0/24")));
    EXPECT_EQ(rt.lookup(ip("10.1.2.3")), 2u);
    ASSERT_TRUE(rt.add(pfx("10.0.0.0/8"), 5));  // replaces the next hop
    EXPECT_EQ(rt.lookup(ip("10.1.2.3")), 5u);
    ASSERT_TRUE(rt.del(pfx("0.0.0.0/0")));
    EXPECT_EQ(rt.lookup(ip("192.0.2.1")), std::nullopt);
}

TEST(route_table, a_batch_is_invisible_until_commit) {
    route_table rt;
    ASSERT_TRUE(rt.init(1024, SOCKET_ID_ANY, nullptr));
    ASSERT_TRUE(rt.add(pfx("10.0.1.0/24"), 1));
    rt.begin();
    ASSERT_TRUE(rt.add(pfx("10.0.2.0/24"), 2));
    ASSERT_TRUE(rt.del(pfx("10.0.1.0/24")));
    EXPECT_EQ(rt.lookup(ip("10.0.1.1")), 1u);
    EXPECT_EQ(rt.lookup(ip("10.0.2.1")), std::nullopt);
    rt.commit();
    EXPECT_EQ(rt.lookup(ip("10.0.1.1")), std::nullopt);
    EXPECT_EQ(rt.lookup(ip("10.0.2.1")), 2u);
    ASSERT_TRUE(rt.add(pfx("10.0.3.0/24"), 3));  // the other copy got the batch too
    EXPECT_EQ(rt.lookup(ip("10.0.1.1")), std::nullopt);
    EXPECT_EQ(rt.lookup(ip("10.0.2.1")), 2u);
}

TEST(route_table, errors_name_the_route_and_leave_the_table_unchanged) {
    route_table rt;
    ASSERT_TRUE(rt.init(1024, SOCKET_ID_ANY, nullptr));
    auto r = rt.add(pfx("10.0.0.0/24"), static_cast<uint32_t>(k_no_route));
    ASSERT_FALSE(r);
    EXPECT_NE(r.err().find("10.0.0.0/24"), std::string::npos) << r.err();
    auto d = rt.del(pfx("10.0.9.0/24"));
    ASSERT_FALSE(d);
    EXPECT_NE(d.err().find("10.0.9.0/24"), std::string::npos) << d.err();
    // Full: 1024 routes fit (the RIB counts each prefix once), the next fails.
    for (uint32_t i = 0; i < 1024; ++i) ASSERT_TRUE(rt.add({ipv4_addr{0x0b000000u + (i << 8)}, 24}, i)) << i;
    ASSERT_FALSE(rt.add(pfx("12.0.0.0/24"), 7));
    EXPECT_EQ(rt.lookup(ip("12.0.0.1")), std::nullopt);
    EXPECT_EQ(rt.lookup(ip("11.0.3.1")), 3u);
}

// The floor: a million routes, loaded in one batch (both copies) in
// seconds, every one of them found.
TEST(route_table, holds_a_million_routes) {
    constexpr uint32_t k_routes = 1'000'000;
    auto heap_used = [] {
        rte_malloc_socket_stats st{};
        rte_malloc_get_socket_stats(static_cast<int>(rte_socket_id()), &st);
        return st.heap_allocsz_bytes;
    };
    const size_t before = heap_used();
    route_table rt;
    ASSERT_TRUE(rt.init(k_routes, SOCKET_ID_ANY, nullptr));
    std::printf("# both copies for %u routes take %zu MiB\n", k_routes, (heap_used() - before) >> 20);
    {
        route_table small;
        const size_t b = heap_used();
        ASSERT_TRUE(small.init(65536, SOCKET_ID_ANY, nullptr));
        std::printf("# both copies for 65536 routes take %zu MiB\n", (heap_used() - b) >> 20);
    }
    auto route = [](uint32_t i) { return ipv4_prefix{ipv4_addr{0x0a000000u + (i << 8)}, 24}; };
    const auto t0 = std::chrono::steady_clock::now();
    rt.begin();
    for (uint32_t i = 0; i < k_routes; ++i) ASSERT_TRUE(rt.add(route(i), i)) << route(i).str();
    rt.commit();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    RecordProperty("fill_1m_ms", static_cast<int>(ms.count()));
    std::printf("# 1,000,000 routes loaded into both copies in %lld ms\n", static_cast<long long>(ms.count()));
    for (uint32_t i = 0; i < k_routes; ++i)
        ASSERT_EQ(rt.lookup(ipv4_addr{route(i).addr.value + (i & 0xff)}), i) << route(i).str();
    rt.begin();
    for (uint32_t i = 0; i < k_routes; i += 2) ASSERT_TRUE(rt.del(route(i)));
    rt.commit();
    for (uint32_t i = 0; i < k_routes; i += 1001) {
        const auto nh = rt.lookup(ipv4_addr{route(i).addr.value + 1});
        if (i % 2 == 0)
            EXPECT_EQ(nh, std::nullopt) << route(i).str();
        else
            EXPECT_EQ(nh, i) << route(i).str();
    }
}

// A reader on the worker lcore looks up addresses whose routes never change
// while the control thread adds and deletes /32s inside the same /24 (which
// allocates and recycles that /24's tbl8 group every round). DIR24_8 zeroes a
// recycled group in place; with one copy a reader could see that. It must
// never see anything but the right next hop.
struct reader_state {
    const route_table* rt;
    rte_rcu_qsbr* qsbr;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> lookups{0}, wrong{0};
};

int reader_main(void* arg) {
    auto& st = *static_cast<reader_state*>(arg);
    rte_rcu_qsbr_thread_register(st.qsbr, 0);
    rte_rcu_qsbr_thread_online(st.qsbr, 0);
    uint32_t ips[4] = {0x0a010205u, 0x0a0102f0u, 0x0a020001u, 0x0a0102ffu};  // 10.1.2.5 .240 .255, 10.2.0.1
    const uint64_t want[4] = {7, 7, 9, 7};
    uint64_t hops[4];
    while (!st.stop.load(std::memory_order_relaxed)) {
        rte_fib_lookup_bulk(st.rt->active(), ips, hops, 4);
        for (int i = 0; i < 4; ++i)
            if (hops[i] != want[i]) st.wrong.fetch_add(1, std::memory_order_relaxed);
        st.lookups.fetch_add(1, std::memory_order_relaxed);
        rte_rcu_qsbr_quiescent(st.qsbr, 0);
    }
    rte_rcu_qsbr_thread_offline(st.qsbr, 0);
    rte_rcu_qsbr_thread_unregister(st.qsbr, 0);
    return 0;
}

TEST(route_table, readers_never_see_a_wrong_next_hop_while_neighbours_change) {
    const unsigned worker = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
    ASSERT_LT(worker, RTE_MAX_LCORE) << "needs a worker lcore (-l 0-1)";
    const size_t sz = rte_rcu_qsbr_get_memsize(1);
    auto* qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("ut_rt_qsbr", sz, RTE_CACHE_LINE_SIZE));
    ASSERT_NE(qsbr, nullptr);
    ASSERT_EQ(rte_rcu_qsbr_init(qsbr, 1), 0);
    {
        route_table rt;
        ASSERT_TRUE(rt.init(4096, SOCKET_ID_ANY, qsbr));
        ASSERT_TRUE(rt.add(pfx("10.1.0.0/16"), 7));
        ASSERT_TRUE(rt.add(pfx("10.2.0.0/24"), 9));
        reader_state st{&rt, qsbr};
        ASSERT_EQ(rte_eal_remote_launch(reader_main, &st, worker), 0);
        while (st.lookups.load() == 0) rte_pause();
        for (uint32_t round = 0; round < 2000; ++round) {
            const uint32_t host = 0x0a010200u | (1 + round % 4);  // 10.1.2.1-4: never looked up
            ASSERT_TRUE(rt.add({ipv4_addr{host}, 32}, 100 + round));
            ASSERT_TRUE(rt.add({ipv4_addr{0x0a020080u}, 25}, 200 + round));  // half of 10.2.0.0/24
            ASSERT_TRUE(rt.del({ipv4_addr{host}, 32}));
            ASSERT_TRUE(rt.del({ipv4_addr{0x0a020080u}, 25}));
        }
        st.stop.store(true);
        rte_eal_wait_lcore(worker);
        EXPECT_GT(st.lookups.load(), 1000u);
        EXPECT_EQ(st.wrong.load(), 0u) << "a reader saw a wrong next hop in " << st.lookups.load() << " bursts";
    }
    rte_free(qsbr);
}

}  // namespace
}  // namespace vxr::fastpath
