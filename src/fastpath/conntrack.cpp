// Thread: see conntrack.hpp. create() and the destructor run on the control
// thread; insert() on workers; expire_some() on either; no allocation, lock
// of ours, syscall or log outside create().
#include "fastpath/conntrack.hpp"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_pause.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <new>
#include <string>
#include <utility>

namespace vxr::fastpath {

namespace {

constexpr uint8_t k_fin_orig = 1u << 4;
constexpr uint8_t k_fin_reply = 1u << 5;
constexpr uint8_t k_fin_both = k_fin_orig | k_fin_reply;

// An insert waits at most this many pauses for a stripe: the holder runs a
// few hash operations (well under a microsecond); beyond that it was
// preempted and the packet is better dropped than the worker stalled.
constexpr int k_claim_spins = 256;
// Hash keys the defer queue reclaims per delete: keeps the queue short
// without making one delete pay for a whole grace period's worth.
constexpr uint32_t k_reclaim_max = 64;
// Sentinel deletes per expire_some call: up to 512 keys reclaimed per call
// beyond those the sweep's own deletes reclaim.
constexpr int k_flush_rounds = 8;

inline void* encode(uint32_t slot, ct_dir d) {
    return reinterpret_cast<void*>((static_cast<uintptr_t>(slot) + 1) << 1 | d);
}
inline uint32_t slot_of_data(void* data) { return static_cast<uint32_t>((reinterpret_cast<uintptr_t>(data) >> 1) - 1); }
inline ct_dir dir_of_data(void* data) { return static_cast<ct_dir>(reinterpret_cast<uintptr_t>(data) & 1); }

uint8_t pack(ct_state s, uint8_t fins) { return static_cast<uint8_t>(static_cast<uint8_t>(s) | fins); }

std::string rte_err() { return rte_strerror(rte_errno); }

// Like nf_conntrack with tcp_loose=1 (the default): a flow first seen
// mid-stream (after a restart) is picked up as established.
uint8_t initial_state(const ct_init& in) {
    if (in.orig.proto != 6 /* IPPROTO_TCP */) return pack(ct_state::udp_unreplied, 0);
    const uint8_t f = in.tcp_flags;
    if (f & RTE_TCP_RST_FLAG) return pack(ct_state::tcp_closed, 0);
    if ((f & RTE_TCP_SYN_FLAG) && !(f & RTE_TCP_ACK_FLAG)) return pack(ct_state::tcp_syn_sent, 0);
    if (f & RTE_TCP_FIN_FLAG) return pack(ct_state::tcp_fin_wait, k_fin_orig);
    return pack(ct_state::tcp_established, 0);
}

}  // namespace

const char* ct_state_name(ct_state s) {
    switch (s) {
        case ct_state::none: return "none";
        case ct_state::tcp_syn_sent: return "syn_sent";
        case ct_state::tcp_syn_recv: return "syn_recv";
        case ct_state::tcp_established: return "established";
        case ct_state::tcp_fin_wait: return "fin_wait";
        case ct_state::tcp_time_wait: return "time_wait";
        case ct_state::tcp_closed: return "closed";
        case ct_state::udp_unreplied: return "unreplied";
        case ct_state::udp_assured: return "assured";
        case ct_state::count_: break;
    }
    return "?";
}

// A simplification of nf_conntrack's TCP table: no window tracking, and the
// three closing states (FIN_WAIT, CLOSE_WAIT, LAST_ACK) are one, left for
// TIME_WAIT once both sides have sent FIN.
uint8_t ct_next_state(uint8_t packed, ct_dir d, uint8_t flags) {
    const ct_state s = ct_state_of(packed);
    uint8_t fins = packed & k_fin_both;
    if (s == ct_state::udp_unreplied) return d == ct_reply ? pack(ct_state::udp_assured, 0) : packed;
    if (!ct_is_tcp(s)) return packed;
    const bool syn = flags & RTE_TCP_SYN_FLAG, ack = flags & RTE_TCP_ACK_FLAG;
    const bool fin = flags & RTE_TCP_FIN_FLAG, rst = flags & RTE_TCP_RST_FLAG;
    if (rst) return pack(ct_state::tcp_closed, fins);
    // A new SYN on a finished tuple reopens it (same backend: the flow keeps it).
    if ((s == ct_state::tcp_time_wait || s == ct_state::tcp_closed) && d == ct_orig && syn && !ack)
        return pack(ct_state::tcp_syn_sent, 0);
    if (fin && s != ct_state::tcp_closed) {
        fins |= d == ct_orig ? k_fin_orig : k_fin_reply;
        return pack(fins == k_fin_both ? ct_state::tcp_time_wait : ct_state::tcp_fin_wait, fins);
    }
    switch (s) {
        case ct_state::tcp_syn_sent:
            if (d == ct_reply && syn && ack) return pack(ct_state::tcp_syn_recv, fins);
            break;
        case ct_state::tcp_syn_recv:
            if (d == ct_orig && ack && !syn) return pack(ct_state::tcp_established, fins);
            break;
        default: break;
    }
    return packed;
}

result<std::unique_ptr<conntrack>> conntrack::create(const ct_params& p) {
    if (p.max_entries == 0 || p.max_entries > (1u << 28))
        return make_error("conntrack: max_entries must be in 1..268435456, got " + std::to_string(p.max_entries));
    if (p.qsbr == nullptr) return make_error("conntrack: needs the workers' RCU QSBR variable");
    static std::atomic<unsigned> instances{0};  // DPDK object names are process-wide
    const std::string name = "vxr_ct" + std::to_string(instances.fetch_add(1));
    std::unique_ptr<conntrack> ct(new conntrack());
    ct->max_ = p.max_entries;

    const std::string what = " for " + std::to_string(p.max_entries) + " flows: ";
    ct->entries_ = static_cast<ct_entry*>(
        rte_zmalloc_socket((name + "_e").c_str(), sizeof(ct_entry) * p.max_entries, RTE_CACHE_LINE_SIZE, p.socket));
    if (ct->entries_ == nullptr) return make_error("conntrack: cannot allocate entries" + what + rte_err());
    for (uint32_t i = 0; i < p.max_entries; ++i) new (&ct->entries_[i]) ct_entry();

    ct->counters_ = static_cast<lcore_counters*>(rte_zmalloc_socket(
        (name + "_c").c_str(), sizeof(lcore_counters) * (RTE_MAX_LCORE + 1), RTE_CACHE_LINE_SIZE, p.socket));
    if (ct->counters_ == nullptr) return make_error("conntrack: cannot allocate counters: " + rte_err());
    for (unsigned i = 0; i <= RTE_MAX_LCORE; ++i) new (&ct->counters_[i]) lcore_counters();

    // One stripe per 16 flows, at most 64K: two inserts collide on a stripe
    // about as often as they would on a hash bucket of that size.
    const uint32_t stripes = std::min(1u << 16, std::max(1024u, rte_align32pow2(p.max_entries / 16)));
    ct->gate_mask_ = stripes - 1;
    ct->gates_ = static_cast<std::atomic<uint32_t>*>(
        rte_zmalloc_socket((name + "_g").c_str(), sizeof(std::atomic<uint32_t>) * stripes, RTE_CACHE_LINE_SIZE, p.socket));
    if (ct->gates_ == nullptr) return make_error("conntrack: cannot allocate stripes: " + rte_err());
    for (uint32_t i = 0; i < stripes; ++i) new (&ct->gates_[i]) std::atomic<uint32_t>(0);

    ct->free_ = rte_ring_create_elem((name + "_f").c_str(), sizeof(uint32_t), p.max_entries, p.socket, RING_F_EXACT_SZ);
    if (ct->free_ == nullptr) return make_error("conntrack: cannot create the free-slot ring" + what + rte_err());
    for (uint32_t i = 0; i < p.max_entries; ++i) rte_ring_sp_enqueue_elem(ct->free_, &i, sizeof(uint32_t));

    // Two keys per flow. The extendable buckets keep an insert from failing
    // on a crowded cuckoo path before the slot ring runs out.
    rte_hash_parameters hp{};
    hp.name = name.c_str();
    hp.entries = std::max(64u, 2 * p.max_entries);
    hp.key_len = sizeof(ct_key);
    hp.hash_func = rte_hash_crc;
    hp.hash_func_init_val = 0;
    hp.socket_id = p.socket;
    hp.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD |
                    RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
    ct->hash_ = rte_hash_create(&hp);
    if (ct->hash_ == nullptr) return make_error("conntrack: cannot create the hash" + what + rte_err());
    rte_hash_rcu_config rc{};
    rc.v = p.qsbr;
    rc.mode = RTE_HASH_QSBR_MODE_DQ;  // workers delete too: they cannot block on a grace period
    rc.dq_size = 0;                   // the hash's size: every deleted key fits
    rc.trigger_reclaim_limit = 0;     // reclaim on every delete
    rc.max_reclaim_size = k_reclaim_max;
    rc.key_data_ptr = ct.get();
    rc.free_key_data_func = &conntrack::on_key_reclaimed;
    if (rte_hash_rcu_qsbr_add(ct->hash_, &rc) != 0)
        return make_error("conntrack: cannot attach RCU to the hash: " + rte_err());

    ct->sentinel_.family = 0xff;  // no real flow has this family
    ct->sentinel_.proto = 0xff;

    const uint64_t hz = p.tsc_hz != 0 ? p.tsc_hz : rte_get_tsc_hz();
    const ct_timeouts& t = p.timeouts;
    auto set = [&](ct_state s, uint32_t sec) { ct->timeout_tsc_[static_cast<unsigned>(s)] = hz * sec; };
    set(ct_state::none, 0);
    set(ct_state::tcp_syn_sent, t.tcp_syn_sent);
    set(ct_state::tcp_syn_recv, t.tcp_syn_recv);
    set(ct_state::tcp_established, t.tcp_established);
    set(ct_state::tcp_fin_wait, t.tcp_fin_wait);
    set(ct_state::tcp_time_wait, t.tcp_time_wait);
    set(ct_state::tcp_closed, t.tcp_close);
    set(ct_state::udp_unreplied, t.udp_unreplied);
    set(ct_state::udp_assured, t.udp_assured);
    return ct;
}

conntrack::~conntrack() {
    // The hash first: freeing it drains its defer queue into our callback,
    // which touches the ring and the entries.
    rte_hash_free(hash_);
    rte_ring_free(free_);
    rte_free(gates_);
    rte_free(counters_);
    rte_free(entries_);
}

void conntrack::on_key_reclaimed(void* self, void* data) {
    auto* ct = static_cast<conntrack*>(self);
    if (data == nullptr) return;  // the sentinel
    ct->keys_waiting_.fetch_sub(1, std::memory_order_relaxed);
    uint32_t slot = slot_of_data(data);
    ct_entry& e = ct->entries_[slot];
    if (e.refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;  // the other key is still out
    rte_ring_mp_enqueue_elem(ct->free_, &slot, sizeof(uint32_t));     // cannot fail: room for every slot
}

bool conntrack::claim(uint32_t stripe, bool wait) {
    for (int i = 0;; ++i) {
        uint32_t expected = 0;
        if (gates_[stripe].compare_exchange_weak(expected, 1, std::memory_order_acquire, std::memory_order_relaxed))
            return true;
        if (!wait || i == k_claim_spins) return false;
        rte_pause();
    }
}

// Two stripes, smaller first; try-only beyond the spin, so two threads
// holding one each cannot wait on each other for ever.
bool conntrack::claim_pair(uint32_t a, uint32_t b, bool wait) {
    if (a == b) return claim(a, wait);
    if (a > b) std::swap(a, b);
    if (!claim(a, wait)) return false;
    if (claim(b, wait)) return true;
    unclaim(a);
    return false;
}

void conntrack::unclaim_pair(uint32_t a, uint32_t b) {
    unclaim(a);
    if (b != a) unclaim(b);
}

ct_insert_result conntrack::insert(const ct_init& in) {
    lcore_counters& c = mine();
    const hash_sig_t so = rte_hash_hash(hash_, &in.orig);
    const hash_sig_t sr = rte_hash_hash(hash_, &in.reply);
    const uint32_t go = so & gate_mask_, gr = sr & gate_mask_;
    if (!claim_pair(go, gr, true)) {
        c.busy.fetch_add(1, std::memory_order_relaxed);
        return {nullptr, ct_orig, ct_insert_status::busy};
    }
    void* data = nullptr;
    if (rte_hash_lookup_with_hash_data(hash_, &in.orig, so, &data) >= 0) {
        unclaim_pair(go, gr);
        c.races_lost.fetch_add(1, std::memory_order_relaxed);
        return {&entries_[slot_of_data(data)], dir_of_data(data), ct_insert_status::existed};
    }
    if (rte_hash_lookup_with_hash_data(hash_, &in.reply, sr, &data) >= 0) {
        unclaim_pair(go, gr);
        c.clashes.fetch_add(1, std::memory_order_relaxed);
        return {nullptr, ct_orig, ct_insert_status::clash};
    }
    uint32_t slot = 0;
    if (rte_ring_mc_dequeue_elem(free_, &slot, sizeof(uint32_t)) != 0) {
        unclaim_pair(go, gr);
        c.full.fetch_add(1, std::memory_order_relaxed);
        return {nullptr, ct_orig, ct_insert_status::full};
    }
    ct_entry& e = entries_[slot];
    e.key_[ct_orig] = in.orig;
    e.key_[ct_reply] = in.reply;
    e.last_seen_.store(in.now_tsc, std::memory_order_relaxed);
    e.pkts_[ct_orig].store(1, std::memory_order_relaxed);
    e.pkts_[ct_reply].store(0, std::memory_order_relaxed);
    e.bytes_[ct_orig].store(in.bytes, std::memory_order_relaxed);
    e.bytes_[ct_reply].store(0, std::memory_order_relaxed);
    e.frontend_id_ = static_cast<uint16_t>(in.frontend_id);
    e.backend_id_ = in.backend_id;
    if (in.uplink_mac != nullptr) e.uplink_mac_ = *in.uplink_mac;
    e.state_.store(initial_state(in), std::memory_order_relaxed);
    e.verdict_.store(0, std::memory_order_relaxed);
    e.refs_.store(2, std::memory_order_relaxed);
    e.flags_.store(static_cast<uint8_t>(ct_entry::k_live | (in.uplink_mac != nullptr ? ct_entry::k_by_uplink : 0)),
                   std::memory_order_release);  // the sweep may look from here
    // rte_hash's LF add publishes the key (and the entry written above) with
    // a release store.
    if (rte_hash_add_key_with_hash_data(hash_, &in.orig, so, encode(slot, ct_orig)) != 0) {
        e.flags_.store(0, std::memory_order_relaxed);
        rte_ring_mp_enqueue_elem(free_, &slot, sizeof(uint32_t));
        unclaim_pair(go, gr);
        c.full.fetch_add(1, std::memory_order_relaxed);
        return {nullptr, ct_orig, ct_insert_status::full};
    }
    if (rte_hash_add_key_with_hash_data(hash_, &in.reply, sr, encode(slot, ct_reply)) != 0) {
        // The orig key was visible: it goes the RCU way, alone.
        e.flags_.store(0, std::memory_order_relaxed);
        e.refs_.store(1, std::memory_order_relaxed);
        keys_waiting_.fetch_add(1, std::memory_order_relaxed);
        rte_hash_del_key_with_hash(hash_, &in.orig, so);
        unclaim_pair(go, gr);
        c.full.fetch_add(1, std::memory_order_relaxed);
        return {nullptr, ct_orig, ct_insert_status::full};
    }
    unclaim_pair(go, gr);
    c.inserts.fetch_add(1, std::memory_order_relaxed);
    return {&e, ct_orig, ct_insert_status::inserted};
}

bool conntrack::remove(ct_entry& e, uint64_t idle_at, ct_action act) {
    // The keys are read outside the claim: if the slot was reused meanwhile,
    // the re-check below under the claim sees other keys' stripes or state.
    const ct_key ko = e.key_[ct_orig], kr = e.key_[ct_reply];
    const hash_sig_t so = rte_hash_hash(hash_, &ko), sr = rte_hash_hash(hash_, &kr);
    const uint32_t go = so & gate_mask_, gr = sr & gate_mask_;
    // The sweep does not wait (its next pass retries); end_backend does.
    if (!claim_pair(go, gr, act != ct_action::expire)) return false;
    bool done = false;
    void* data = nullptr;
    // Under the claims no one adds or deletes these keys; the entry is the
    // one they point to only if it still holds them.
    if ((e.flags_.load(std::memory_order_acquire) & ct_entry::k_live) &&
        rte_hash_lookup_with_hash_data(hash_, &ko, so, &data) >= 0 && &entries_[slot_of_data(data)] == &e &&
        dir_of_data(data) == ct_orig) {
        const uint64_t last = e.last_seen_.load(std::memory_order_relaxed);
        lcore_counters& c = mine();
        if (act == ct_action::end_tcp) {
            if (!e.ended()) {
                // Closed, so it expires after the close timeout; ended, so
                // the worker answers its packets with a RST (or drops them).
                e.flags_.fetch_or(ct_entry::k_ended, std::memory_order_relaxed);
                uint8_t st = e.state_.load(std::memory_order_relaxed);
                while (!e.state_.compare_exchange_weak(st, pack(ct_state::tcp_closed, st & k_fin_both),
                                                       std::memory_order_relaxed)) {
                }
                c.ended.fetch_add(1, std::memory_order_relaxed);
                done = true;
            }
        } else if (idle_at == 0 ||
                   static_cast<int64_t>(idle_at - last) >= static_cast<int64_t>(timeout_tsc(e.state()))) {
            e.flags_.store(0, std::memory_order_relaxed);
            keys_waiting_.fetch_add(2, std::memory_order_relaxed);
            rte_hash_del_key_with_hash(hash_, &ko, so);
            rte_hash_del_key_with_hash(hash_, &kr, sr);
            (act == ct_action::expire ? c.expiries : c.removed).fetch_add(1, std::memory_order_relaxed);
            done = true;
        }
    }
    unclaim_pair(go, gr);
    return done;
}

// The hash reclaims its defer queue only from inside a delete (DPDK 22.11
// exports no reclaim call), so keys deleted by the last sweep would wait for
// the next deletion. Deleting a sentinel key is that deletion.
void conntrack::flush_reclaim() {
    if (keys_waiting_.load(std::memory_order_relaxed) <= 0) return;
    const hash_sig_t s = rte_hash_hash(hash_, &sentinel_);
    const uint32_t g = s & gate_mask_;
    if (!claim(g, false)) return;
    // Its own reclaim (data nullptr) is not counted: the last sentinel
    // waits in the queue harmlessly. Each delete reclaims at most
    // k_reclaim_max queue entries, earlier sentinels among them: a few
    // rounds drain a backlog left by a mass expiry, and a round that
    // reclaimed no flow's key means the head is not quiescent yet.
    for (int round = 0; round < k_flush_rounds; ++round) {
        const int64_t before = keys_waiting_.load(std::memory_order_relaxed);
        if (before <= 0 || rte_hash_add_key_with_hash_data(hash_, &sentinel_, s, nullptr) != 0) break;
        rte_hash_del_key_with_hash(hash_, &sentinel_, s);
        if (keys_waiting_.load(std::memory_order_relaxed) >= before) break;
    }
    unclaim(g);
}

uint32_t conntrack::expire_some(uint64_t now_tsc, uint32_t budget) {
    flush_reclaim();
    if (budget > max_) budget = max_;
    // Concurrent sweepers take disjoint ranges.
    const uint64_t start = cursor_.fetch_add(budget, std::memory_order_relaxed);
    uint32_t expired = 0;
    for (uint32_t i = 0; i < budget; ++i) {
        ct_entry& e = entries_[(start + i) % max_];
        if (!(e.flags_.load(std::memory_order_acquire) & ct_entry::k_live)) continue;
        const uint64_t last = e.last_seen_.load(std::memory_order_relaxed);
        if (static_cast<int64_t>(now_tsc - last) < static_cast<int64_t>(timeout_tsc(e.state()))) continue;
        expired += remove(e, now_tsc, ct_action::expire) ? 1 : 0;
    }
    return expired;
}

uint32_t conntrack::end_backend(uint32_t backend_id) {
    uint32_t n = 0;
    for (uint32_t s = 0; s < max_; ++s) {
        ct_entry& e = entries_[s];
        if (!(e.flags_.load(std::memory_order_acquire) & ct_entry::k_live) || e.backend_id_ != backend_id) continue;
        n += remove(e, 0, ct_is_tcp(e.state()) ? ct_action::end_tcp : ct_action::remove) ? 1 : 0;
    }
    return n;
}

uint32_t conntrack::free_slots() const { return rte_ring_count(free_); }

ct_counters conntrack::counters() const {
    ct_counters t;
    for (unsigned i = 0; i <= RTE_MAX_LCORE; ++i) {
        const lcore_counters& c = counters_[i];
        t.inserts += c.inserts.load(std::memory_order_relaxed);
        t.expiries += c.expiries.load(std::memory_order_relaxed);
        t.removed += c.removed.load(std::memory_order_relaxed);
        t.ended += c.ended.load(std::memory_order_relaxed);
        t.full += c.full.load(std::memory_order_relaxed);
        t.races_lost += c.races_lost.load(std::memory_order_relaxed);
        t.busy += c.busy.load(std::memory_order_relaxed);
        t.clashes += c.clashes.load(std::memory_order_relaxed);
    }
    t.entries = t.inserts - t.expiries - t.removed;
    return t;
}

}  // namespace vxr::fastpath
