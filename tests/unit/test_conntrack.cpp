// The connection-tracking table: both directions of a flow find one entry
// with the reverse translation, the TCP/UDP state machine and its timeouts,
// the incremental sweep and slot reuse after RCU quiescence, a full table,
// end_backend, and two workers racing on the same flows while a third thread
// expires them.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <rte_hash.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "eal_env.hpp"
#include "fastpath/conntrack.hpp"

static auto* const g_eal = vxr::test::eal_env::install();

namespace vxr::fastpath {
namespace {

constexpr uint8_t k_syn = RTE_TCP_SYN_FLAG, k_ack = RTE_TCP_ACK_FLAG, k_fin = RTE_TCP_FIN_FLAG,
                  k_rst = RTE_TCP_RST_FLAG;
constexpr uint64_t k_hz = 1000;  // tsc ticks per second in these tests: time is ours to set

uint32_t ip4(const char* s) {
    in_addr a{};
    inet_pton(AF_INET, s, &a);
    return a.s_addr;
}

// Client i -> VIP 10.96.0.10:80 DNAT'd to backend 10.244.1.(backend):8080.
ct_init flow(uint32_t i, uint8_t proto = IPPROTO_UDP, uint32_t backend = 1, uint8_t flags = 0, uint64_t now = 0) {
    const uint32_t client = htonl(0x0a000000u + i);  // 10.0.x.y
    const uint16_t cport = htons(static_cast<uint16_t>(1024 + i % 60000));
    ct_init in;
    in.orig = ct_key_v4(client, ip4("10.96.0.10"), cport, htons(80), proto);
    in.reply = ct_key_v4(htonl(0x0af40100u + backend), client, htons(8080), cport, proto);
    in.backend_id = backend;
    in.frontend_id = 7;
    in.tcp_flags = flags;
    in.now_tsc = now;
    in.bytes = 60;
    return in;
}

class conntrack_test : public testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(vxr::test::eal_env::ready());
        const size_t sz = rte_rcu_qsbr_get_memsize(k_threads);
        qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("ut_ct_qsbr", sz, RTE_CACHE_LINE_SIZE));
        ASSERT_NE(qsbr_, nullptr);
        ASSERT_EQ(rte_rcu_qsbr_init(qsbr_, k_threads), 0);
    }
    void TearDown() override {
        ct_.reset();
        rte_free(qsbr_);
    }
    conntrack& make(uint32_t max, ct_timeouts t = {}) {
        ct_params p;
        p.max_entries = max;
        p.timeouts = t;
        p.qsbr = qsbr_;
        p.tsc_hz = k_hz;
        auto r = conntrack::create(p);
        EXPECT_TRUE(r) << r.err();
        ct_ = std::move(*r);
        return *ct_;
    }
    // One key, through the burst path.
    ct_entry* find(const ct_key& k, ct_dir* d = nullptr) {
        const ct_key* keys[1] = {&k};
        ct_entry* e[1] = {nullptr};
        ct_dir dir[1] = {ct_orig};
        if (ct_->lookup_bulk(keys, 1, e, dir) == 0) return nullptr;
        if (d != nullptr) *d = dir[0];
        return e[0];
    }
    // Sweeps every slot once (several calls of `budget`).
    uint32_t sweep(uint64_t now, uint32_t budget = 64) {
        uint32_t n = 0;
        for (uint32_t done = 0; done < ct_->capacity(); done += budget) n += ct_->expire_some(now, budget);
        return n;
    }

    static constexpr uint32_t k_threads = 8;
    rte_rcu_qsbr* qsbr_ = nullptr;
    std::unique_ptr<conntrack> ct_;
};

TEST_F(conntrack_test, both_directions_find_one_entry_with_the_reverse_translation) {
    conntrack& ct = make(1024);
    const ct_init in = flow(5, IPPROTO_TCP, 3, k_syn, 100);
    const ct_insert_result r = ct.insert(in);
    ASSERT_EQ(r.status, ct_insert_status::inserted);
    ASSERT_NE(r.entry, nullptr);

    const ct_key other = flow(6).orig;
    const ct_key* keys[3] = {&in.orig, &in.reply, &other};
    ct_entry* e[3] = {};
    ct_dir d[3] = {};
    EXPECT_EQ(ct.lookup_bulk(keys, 3, e, d), 0b011u);
    EXPECT_EQ(e[0], r.entry);
    EXPECT_EQ(e[1], r.entry);
    EXPECT_EQ(d[0], ct_orig);
    EXPECT_EQ(d[1], ct_reply);

    // Orig packets go to the backend; replies come back from the VIP.
    const ct_key to_backend = r.entry->translated(ct_orig);
    EXPECT_EQ(to_backend.dst[3], 3);  // 10.244.1.3
    EXPECT_EQ(to_backend.dport, htons(8080));
    EXPECT_EQ(std::memcmp(to_backend.src, in.orig.src, 16), 0);
    const ct_key from_vip = r.entry->translated(ct_reply);
    EXPECT_TRUE(from_vip == ct_reversed(in.orig));
    EXPECT_EQ(r.entry->backend_id(), 3u);
    EXPECT_EQ(r.entry->frontend_id(), 7u);
    EXPECT_EQ(r.entry->state(), ct_state::tcp_syn_sent);

    // A second worker with the same first packet gets the same entry.
    const ct_insert_result again = ct.insert(in);
    EXPECT_EQ(again.status, ct_insert_status::existed);
    EXPECT_EQ(again.entry, r.entry);
    EXPECT_EQ(again.dir, ct_orig);
    // Its reply tuple as a "new flow" (a reply racing its lookup) finds it too.
    ct_init rev = in;
    rev.orig = in.reply;
    rev.reply = ct_reversed(in.reply);
    const ct_insert_result back = ct.insert(rev);
    EXPECT_EQ(back.status, ct_insert_status::existed);
    EXPECT_EQ(back.entry, r.entry);
    EXPECT_EQ(back.dir, ct_reply);

    const ct_counters c = ct.counters();
    EXPECT_EQ(c.entries, 1u);
    EXPECT_EQ(c.inserts, 1u);
    EXPECT_EQ(c.races_lost, 2u);
}

TEST_F(conntrack_test, a_reply_tuple_taken_by_another_flow_is_a_clash) {
    conntrack& ct = make(64);
    const ct_init a = flow(1);
    ASSERT_EQ(ct.insert(a).status, ct_insert_status::inserted);
    ct_init b = flow(2);
    b.reply = a.reply;
    EXPECT_EQ(ct.insert(b).status, ct_insert_status::clash);
    EXPECT_EQ(find(b.orig), nullptr);
    EXPECT_EQ(ct.counters().clashes, 1u);
}

TEST_F(conntrack_test, tcp_states_follow_the_handshake_and_close) {
    auto st = [](uint8_t s) { return ct_state_of(s); };
    uint8_t s = static_cast<uint8_t>(ct_state::tcp_syn_sent);
    s = ct_next_state(s, ct_orig, k_syn);  // retransmitted SYN
    EXPECT_EQ(st(s), ct_state::tcp_syn_sent);
    s = ct_next_state(s, ct_reply, k_syn | k_ack);
    EXPECT_EQ(st(s), ct_state::tcp_syn_recv);
    s = ct_next_state(s, ct_orig, k_ack);
    EXPECT_EQ(st(s), ct_state::tcp_established);
    s = ct_next_state(s, ct_reply, k_ack);
    EXPECT_EQ(st(s), ct_state::tcp_established);
    s = ct_next_state(s, ct_orig, k_fin | k_ack);
    EXPECT_EQ(st(s), ct_state::tcp_fin_wait);
    s = ct_next_state(s, ct_orig, k_fin | k_ack);  // retransmitted FIN: still one side
    EXPECT_EQ(st(s), ct_state::tcp_fin_wait);
    s = ct_next_state(s, ct_reply, k_fin | k_ack);
    EXPECT_EQ(st(s), ct_state::tcp_time_wait);
    s = ct_next_state(s, ct_orig, k_syn);  // the tuple reused
    EXPECT_EQ(st(s), ct_state::tcp_syn_sent);
    s = ct_next_state(s, ct_reply, k_rst);
    EXPECT_EQ(st(s), ct_state::tcp_closed);

    // Through the table, with the timeout each state chooses.
    ct_timeouts t;
    conntrack& ct = make(64, t);
    EXPECT_EQ(ct.timeout_tsc(ct_state::tcp_syn_sent), 120 * k_hz);
    EXPECT_EQ(ct.timeout_tsc(ct_state::tcp_syn_recv), 60 * k_hz);
    EXPECT_EQ(ct.timeout_tsc(ct_state::tcp_established), 432000 * k_hz);
    EXPECT_EQ(ct.timeout_tsc(ct_state::tcp_fin_wait), 120 * k_hz);
    EXPECT_EQ(ct.timeout_tsc(ct_state::tcp_time_wait), 120 * k_hz);
    EXPECT_EQ(ct.timeout_tsc(ct_state::tcp_closed), 10 * k_hz);
    EXPECT_EQ(ct.timeout_tsc(ct_state::udp_unreplied), 30 * k_hz);
    EXPECT_EQ(ct.timeout_tsc(ct_state::udp_assured), 120 * k_hz);

    const ct_init syn = flow(1, IPPROTO_TCP, 1, k_syn, 0);
    const ct_init est = flow(2, IPPROTO_TCP, 1, k_syn, 0);
    const ct_init mid = flow(3, IPPROTO_TCP, 1, k_ack, 0);  // picked up mid-stream
    ct_entry* a = ct.insert(syn).entry;
    ct_entry* b = ct.insert(est).entry;
    ct_entry* m = ct.insert(mid).entry;
    ASSERT_TRUE(a && b && m);
    EXPECT_EQ(m->state(), ct_state::tcp_established);
    ct.update(*b, ct_reply, k_syn | k_ack, 60, 0);
    ct.update(*b, ct_orig, k_ack, 60, 0);
    EXPECT_EQ(b->state(), ct_state::tcp_established);
    EXPECT_EQ(b->packets(ct_orig), 2u);
    EXPECT_EQ(b->packets(ct_reply), 1u);
    EXPECT_EQ(b->bytes(ct_orig), 120u);
    // syn_sent lives 120 s, established 5 days.
    EXPECT_EQ(sweep(119 * k_hz), 0u);
    EXPECT_EQ(sweep(121 * k_hz), 1u);
    EXPECT_EQ(find(syn.orig), nullptr);
    EXPECT_EQ(find(est.reply), b);
    ct.update(*b, ct_orig, k_rst, 40, 200 * k_hz);
    EXPECT_EQ(b->state(), ct_state::tcp_closed);
    EXPECT_EQ(sweep(205 * k_hz), 0u);
    EXPECT_EQ(sweep(211 * k_hz), 1u);  // closed: 10 s
    EXPECT_EQ(find(est.orig), nullptr);
    EXPECT_EQ(find(mid.orig), m);
}

TEST_F(conntrack_test, udp_is_assured_by_a_reply) {
    conntrack& ct = make(64);
    const ct_init q = flow(1, IPPROTO_UDP, 1, 0, 0);
    const ct_init r = flow(2, IPPROTO_UDP, 1, 0, 0);
    ct_entry* a = ct.insert(q).entry;
    ct_entry* b = ct.insert(r).entry;
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->state(), ct_state::udp_unreplied);
    ct.update(*a, ct_orig, 0, 100, 10 * k_hz);
    EXPECT_EQ(a->state(), ct_state::udp_unreplied);
    ct_dir d = ct_orig;
    ASSERT_EQ(find(r.reply, &d), b);
    ct.update(*b, d, 0, 100, 10 * k_hz);
    EXPECT_EQ(b->state(), ct_state::udp_assured);
    EXPECT_EQ(sweep(41 * k_hz), 1u);  // unreplied: 30 s after the last packet
    EXPECT_EQ(find(q.orig), nullptr);
    EXPECT_EQ(sweep(129 * k_hz), 0u);  // assured: 120 s
    EXPECT_EQ(sweep(131 * k_hz), 1u);
    EXPECT_EQ(ct.counters().entries, 0u);
}

TEST_F(conntrack_test, the_sweep_is_bounded_per_call_and_keeps_live_flows) {
    conntrack& ct = make(256);
    for (uint32_t i = 0; i < 200; ++i) ASSERT_EQ(ct.insert(flow(i)).status, ct_insert_status::inserted);
    // Half of them see a packet at 20 s.
    for (uint32_t i = 0; i < 200; i += 2) ct.update(*find(flow(i).orig), ct_orig, 0, 10, 20 * k_hz);
    uint32_t expired = 0, calls = 0;
    while (calls < 1000) {
        const uint32_t n = ct.expire_some(35 * k_hz, 16);
        ASSERT_LE(n, 16u);
        expired += n;
        ++calls;
        if (expired == 100) break;
    }
    EXPECT_EQ(expired, 100u);
    EXPECT_LE(calls, 256u / 16u);  // one pass over the slots
    for (uint32_t i = 0; i < 200; ++i) EXPECT_EQ(find(flow(i).orig) != nullptr, i % 2 == 0) << i;
    EXPECT_EQ(ct.counters().entries, 100u);
    EXPECT_EQ(ct.counters().expiries, 100u);
}

TEST_F(conntrack_test, a_full_table_refuses_and_counts_then_reuses_expired_slots) {
    conntrack& ct = make(8);
    std::set<ct_entry*> first;
    for (uint32_t i = 0; i < 8; ++i) {
        const ct_insert_result r = ct.insert(flow(i));
        ASSERT_EQ(r.status, ct_insert_status::inserted) << i;
        first.insert(r.entry);
    }
    EXPECT_EQ(ct.insert(flow(100)).status, ct_insert_status::full);
    EXPECT_EQ(ct.insert(flow(101)).status, ct_insert_status::full);
    EXPECT_EQ(ct.counters().full, 2u);

    // A reader is online: the deleted entries stay unreused until it reports.
    ASSERT_EQ(rte_rcu_qsbr_thread_register(qsbr_, 0), 0);
    rte_rcu_qsbr_thread_online(qsbr_, 0);
    EXPECT_EQ(sweep(100 * k_hz, 8), 8u);
    EXPECT_EQ(ct.insert(flow(100)).status, ct_insert_status::full);
    EXPECT_EQ(ct.counters().entries, 0u);
    rte_rcu_qsbr_quiescent(qsbr_, 0);
    ct.expire_some(100 * k_hz, 1);  // reclaims what the quiescence released
    for (uint32_t i = 100; i < 108; ++i) {
        const ct_insert_result r = ct.insert(flow(i));
        ASSERT_EQ(r.status, ct_insert_status::inserted) << i;
        EXPECT_EQ(first.count(r.entry), 1u);  // an old slot
    }
    rte_rcu_qsbr_thread_offline(qsbr_, 0);
    rte_rcu_qsbr_thread_unregister(qsbr_, 0);
    EXPECT_EQ(ct.counters().entries, 8u);
}

// A mass expiry while a reader is online leaves its keys in the defer queue;
// once the reader reports, each sweep call drains several batches of them
// (sentinels of earlier attempts among them), not one.
TEST_F(conntrack_test, a_backlog_of_deleted_flows_drains_in_batches_per_sweep_call) {
    conntrack& ct = make(2048);
    for (uint32_t i = 0; i < 1000; ++i) ASSERT_EQ(ct.insert(flow(i)).status, ct_insert_status::inserted);
    ASSERT_EQ(rte_rcu_qsbr_thread_register(qsbr_, 0), 0);
    rte_rcu_qsbr_thread_online(qsbr_, 0);
    // In calls of 16 slots: from the second call on, each call's reclaim
    // attempt leaves a sentinel between the flows' keys in the queue.
    EXPECT_EQ(sweep(100 * k_hz, 16), 1000u);  // 2000 keys wait for the reader
    const uint32_t free_before = ct.free_slots();
    EXPECT_EQ(free_before, 2048u - 1000u);
    rte_rcu_qsbr_quiescent(qsbr_, 0);
    ct.expire_some(100 * k_hz, 1);
    // 8 rounds of 64 queue entries: about 250 flows (two keys each) back in
    // one call; a single batch would be 32.
    EXPECT_GE(ct.free_slots() - free_before, 200u);
    for (int i = 0; i < 16 && ct.free_slots() < 2048u; ++i) ct.expire_some(100 * k_hz, 1);
    EXPECT_EQ(ct.free_slots(), 2048u);
    rte_rcu_qsbr_thread_offline(qsbr_, 0);
    rte_rcu_qsbr_thread_unregister(qsbr_, 0);
}

TEST_F(conntrack_test, end_backend_ends_exactly_that_backends_flows) {
    conntrack& ct = make(128);
    std::vector<ct_init> flows;
    for (uint32_t i = 0; i < 40; ++i) {
        flows.push_back(flow(i, i % 2 ? IPPROTO_TCP : IPPROTO_UDP, 1 + i % 4, k_syn, 0));
        ct_entry* e = ct.insert(flows.back()).entry;
        ASSERT_NE(e, nullptr);
        if (i % 2) {
            ct.update(*e, ct_reply, k_syn | k_ack, 60, 0);
            ct.update(*e, ct_orig, k_ack, 60, 0);
        }
    }
    EXPECT_EQ(ct.end_backend(2), 10u);  // i % 4 == 1: all TCP
    EXPECT_EQ(ct.end_backend(3), 10u);  // i % 4 == 2: all UDP
    EXPECT_EQ(ct.end_backend(3), 0u);
    for (uint32_t i = 0; i < 40; ++i) {
        ct_entry* e = find(flows[i].reply);
        const uint32_t b = 1 + i % 4;
        if (b == 3) {
            EXPECT_EQ(e, nullptr) << i;
            continue;
        }
        ASSERT_NE(e, nullptr) << i;
        EXPECT_EQ(e->ended(), b == 2) << i;
        if (b == 2) {
            EXPECT_EQ(e->state(), ct_state::tcp_closed) << i;
        } else if (i % 2) {
            EXPECT_EQ(e->state(), ct_state::tcp_established) << i;
        }
    }
    // The ended TCP flows go after the close timeout; UDP ones live 30 s.
    EXPECT_EQ(sweep(11 * k_hz), 10u);
    uint32_t live = 0;
    ct.for_each([&](const ct_entry& e) {
        EXPECT_NE(e.backend_id(), 2u);
        EXPECT_NE(e.backend_id(), 3u);
        ++live;
    });
    EXPECT_EQ(live, 20u);
    const ct_counters c = ct.counters();
    EXPECT_EQ(c.ended, 10u);
    EXPECT_EQ(c.removed, 10u);
    EXPECT_EQ(c.expiries, 10u);
    EXPECT_EQ(c.entries, 20u);
}

TEST_F(conntrack_test, create_reports_bad_parameters) {
    ct_params p;
    p.max_entries = 0;
    p.qsbr = qsbr_;
    auto r = conntrack::create(p);
    ASSERT_FALSE(r);
    EXPECT_NE(r.err().find("max_entries"), std::string::npos) << r.err();
    p.max_entries = 16;
    p.qsbr = nullptr;
    auto q = conntrack::create(p);
    ASSERT_FALSE(q);
    EXPECT_NE(q.err().find("QSBR"), std::string::npos) << q.err();
}

// Two workers see the first packet of the same flows (the orig tuple) and
// their replies, while a third thread sweeps on a clock that runs fast
// enough to expire flows under their feet (and, with two threads on a
// shared core, long grace periods keep the table full part of the time:
// inserts then report full, which is counted, not an error). No lookup may return an entry
// that does not hold the key; at the end each flow is there once or not at
// all, from both directions, and the counters add up.
TEST_F(conntrack_test, two_workers_and_a_sweeper_keep_flows_whole) {
    ct_timeouts t;
    t.udp_unreplied = 3;  // s: 30 sweeper calls of the clock below
    t.udp_assured = 5;
    conntrack& ct = make(1u << 14, t);
    constexpr uint32_t k_flows = 12000;
    std::vector<ct_init> flows;
    for (uint32_t i = 0; i < k_flows; ++i) flows.push_back(flow(i));
    std::atomic<uint64_t> clock{0};
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> wrong{0}, bad_status{0}, rounds{0}, fulls{0};

    auto worker = [&](unsigned id, bool replies) {
        ASSERT_EQ(rte_thread_register(), 0);
        rte_rcu_qsbr_thread_register(qsbr_, id);
        rte_rcu_qsbr_thread_online(qsbr_, id);
        while (!stop.load(std::memory_order_relaxed)) {
            for (uint32_t base = 0; base < k_flows; base += 32) {
                const uint64_t now = clock.load(std::memory_order_relaxed);
                const ct_key* keys[32];
                ct_entry* e[32];
                ct_dir d[32];
                const uint32_t n = std::min(32u, k_flows - base);
                for (uint32_t i = 0; i < n; ++i)
                    keys[i] = replies && (i % 2) ? &flows[base + i].reply : &flows[base + i].orig;
                const uint64_t hits = ct.lookup_bulk(keys, n, e, d);
                for (uint32_t i = 0; i < n; ++i) {
                    if (hits & (1ull << i)) {
                        if (!(e[i]->key(d[i]) == *keys[i])) wrong.fetch_add(1);
                        ct.update(*e[i], d[i], 0, 64, now);
                    } else if (keys[i] == &flows[base + i].orig) {
                        ct_init in = flows[base + i];
                        in.now_tsc = now;
                        const ct_insert_result r = ct.insert(in);
                        if (r.status == ct_insert_status::inserted || r.status == ct_insert_status::existed) {
                            if (!(r.entry->key(r.dir) == in.orig)) wrong.fetch_add(1);
                        } else if (r.status == ct_insert_status::full) {
                            fulls.fetch_add(1);
                        } else if (r.status != ct_insert_status::busy) {
                            bad_status.fetch_add(1);
                        }
                    }
                }
                rte_rcu_qsbr_quiescent(qsbr_, id);  // once per "loop": a burst
            }
            rounds.fetch_add(1);
        }
        rte_rcu_qsbr_thread_offline(qsbr_, id);
        rte_rcu_qsbr_thread_unregister(qsbr_, id);
        rte_thread_unregister();
    };
    auto sweeper = [&] {
        ASSERT_EQ(rte_thread_register(), 0);
        uint32_t expired = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            const uint64_t now = clock.fetch_add(k_hz / 10) + k_hz / 10;  // 100 ms of flow time per call
            expired += ct.expire_some(now, 512);
        }
        (void)expired;
        rte_thread_unregister();
    };
    // The clock runs 100 ms per sweep call: a flow not touched for 30 calls
    // expires, which happens between two passes of the workers over it.
    std::thread a(worker, 0, false), b(worker, 1, true), s(sweeper);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    stop = true;
    a.join();
    b.join();
    s.join();
    EXPECT_EQ(wrong.load(), 0u);
    EXPECT_EQ(bad_status.load(), 0u);
    EXPECT_GT(rounds.load(), 2u);

    // Whole flows only: both keys or neither, one entry each.
    uint32_t present = 0;
    for (const ct_init& f : flows) {
        ct_entry* o = find(f.orig);
        ct_entry* r = find(f.reply);
        EXPECT_EQ(o, r);
        present += o != nullptr;
    }
    std::set<uint32_t> slots;
    uint32_t live = 0;
    ct.for_each([&](const ct_entry& e) {
        ++live;
        slots.insert(ct.slot_of(e));
    });
    const ct_counters c = ct.counters();
    EXPECT_EQ(live, present);
    EXPECT_EQ(c.entries, present);
    EXPECT_EQ(c.inserts, c.entries + c.expiries);
    EXPECT_GT(c.races_lost + c.inserts, static_cast<uint64_t>(k_flows));
    EXPECT_GT(c.expiries, 0u) << "the sweeper never expired anything: the race was not exercised";
    const uint32_t waiting = ct.capacity() - static_cast<uint32_t>(c.entries) - ct.free_slots();
    // Everything deleted comes back once no one is online. Up to two keys
    // per slot wait in the defer queue (a slow run, under ASan, leaves most
    // of the table there); one call reclaims k_flush_rounds * 64 of them.
    for (uint32_t i = 0; i < ct.capacity() && ct.free_slots() + c.entries < ct.capacity(); ++i)
        ct.expire_some(0, 1);
    EXPECT_EQ(ct.free_slots() + c.entries, ct.capacity());
    std::printf("conntrack race: %lu rounds, %lu inserts, %lu full, %lu races lost, %lu expiries, %lu busy, %u present, "
                "%u slots waiting for RCU at the stop\n",
                static_cast<unsigned long>(rounds.load()), static_cast<unsigned long>(c.inserts),
                static_cast<unsigned long>(fulls.load()),
                static_cast<unsigned long>(c.races_lost), static_cast<unsigned long>(c.expiries),
                static_cast<unsigned long>(c.busy), present, waiting);
}

}  // namespace
}  // namespace vxr::fastpath
