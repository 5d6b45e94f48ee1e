// The connection-tracking table: one entry per flow, found from either
// direction with one rte_hash hit, holding the translation the first packet
// chose (a Service's backend keeps its flows when the backend set changes).
//
// Threads: create(), end_backend(), for_each() and counters() run on the
// control thread. lookup_bulk(), insert(), update() run on workers; they never
// allocate, syscall, log or throw, and must run between two rte_rcu_qsbr
// quiescent reports of the thread (workers report once per loop).
// expire_some() runs on the control thread or on a worker once per loop.
//
// Why one shared table and not steering: the reply of a flow arrives on
// whatever queue RSS (or the pod port a worker polls) hands it to, usually
// not the worker that saw the first packet, and after DNAT the reply tuple
// hashes differently from the original one. Steering it back would need a
// software hop between workers (a ring, a second cache miss, reordering) for
// every reply packet, or symmetric RSS, which cannot cover NAT'd tuples nor
// pod ports. So the table is shared: rte_hash with RW_CONCURRENCY_LF (readers
// take no lock) and MULTI_WRITER_ADD (any worker inserts), and both tuples of
// a flow are keys mapping to one entry.
//
// How the pieces stay consistent without a lock of ours on the read path:
// - rte_hash_add_key_data overwrites an existing key's data, so two workers
//   inserting the same flow could both "win". Every add or delete of a key K
//   happens while holding K's stripe in a small array of try-claims (an
//   atomic flag per stripe, taken with one CAS, never waited on for long:
//   an insert that cannot take it within a few hundred pauses returns busy, the
//   sweep skips the entry until its next pass). Readers never touch them.
//   (rte_hash itself serialises its writers with an internal lock when
//   MULTI_WRITER_ADD is set; lookups stay lock-free.)
// - A deleted key's memory, and with it our entry, is reused only after every
//   worker has reported quiescence: the hash's RCU integration
//   (rte_hash_rcu_qsbr_add, defer-queue mode) calls us back per key once
//   that holds; the second callback of an entry returns its slot to the free
//   ring (an MP/MC rte_ring of slot numbers, filled at create()).
// - DPDK 22.11 reclaims the defer queue only inside a later delete, so
//   expire_some() first deletes a sentinel key when freed keys are waiting:
//   that is the reclaim call 22.11 does not export.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>

#include <rte_ether.h>
#include <rte_hash.h>
#include <rte_lcore.h>
#include <rte_prefetch.h>
#include <rte_tcp.h>

#include "common/result.hpp"

struct rte_rcu_qsbr;
struct rte_ring;

namespace vxr::fastpath {

// A 5-tuple as the hash key: fixed size, zero padding, addresses in network
// order in the first 4 (IPv4) or 16 (IPv6) bytes.
struct ct_key {
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t sport;  // network order
    uint16_t dport;  // network order
    uint8_t family;  // AF_INET / AF_INET6
    uint8_t proto;   // IPPROTO_TCP / IPPROTO_UDP / ...
    uint8_t pad[2];
};
static_assert(sizeof(ct_key) == 40, "ct_key is the rte_hash key: no implicit padding");

// IPv4 addresses and ports as they sit in the packet (network order).
inline ct_key ct_key_v4(uint32_t src_be, uint32_t dst_be, uint16_t sport_be, uint16_t dport_be, uint8_t proto) {
    ct_key k{};
    std::memcpy(k.src, &src_be, 4);
    std::memcpy(k.dst, &dst_be, 4);
    k.sport = sport_be;
    k.dport = dport_be;
    k.family = 2;  // AF_INET, without dragging <sys/socket.h> into every stage
    k.proto = proto;
    return k;
}

// The same flow seen from the other end.
inline ct_key ct_reversed(const ct_key& k) {
    ct_key r = k;
    std::memcpy(r.src, k.dst, 16);
    std::memcpy(r.dst, k.src, 16);
    r.sport = k.dport;
    r.dport = k.sport;
    return r;
}

inline bool operator==(const ct_key& a, const ct_key& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

enum ct_dir : uint8_t { ct_orig = 0, ct_reply = 1 };

enum class ct_state : uint8_t {
    none = 0,
    tcp_syn_sent,
    tcp_syn_recv,
    tcp_established,
    tcp_fin_wait,   // one side sent FIN (nf_conntrack's FIN_WAIT/CLOSE_WAIT/LAST_ACK)
    tcp_time_wait,  // both sides sent FIN
    tcp_closed,     // RST seen, or the backend was removed
    udp_unreplied,  // also every protocol other than TCP
    udp_assured,
    count_
};
inline constexpr unsigned k_ct_states = static_cast<unsigned>(ct_state::count_);
const char* ct_state_name(ct_state s);

// Seconds. Defaults are Linux nf_conntrack's (net.netfilter.nf_conntrack_*).
struct ct_timeouts {
    uint32_t tcp_syn_sent = 120;
    uint32_t tcp_syn_recv = 60;
    uint32_t tcp_established = 432000;  // 5 days
    uint32_t tcp_fin_wait = 120;
    uint32_t tcp_time_wait = 120;
    uint32_t tcp_close = 10;
    uint32_t udp_unreplied = 30;
    uint32_t udp_assured = 120;  // nf_conntrack_udp_timeout_stream
};

struct ct_params {
    uint32_t max_entries = 1u << 20;  // flows; both of a flow's tuples count once
    ct_timeouts timeouts{};
    int socket = SOCKET_ID_ANY;
    rte_rcu_qsbr* qsbr = nullptr;  // the workers' QSBR variable (required)
    uint64_t tsc_hz = 0;           // 0: rte_get_tsc_hz()
};

// What the first packet of a flow decided.
struct ct_init {
    ct_key orig;   // as the first packet arrived
    ct_key reply;  // what its replies will carry (after NAT: from the backend)
    uint32_t frontend_id = 0;  // < 65536 (service_table's k_max_frontends)
    uint32_t backend_id = 0;
    // Set for a flow from outside the cluster (it came in on the uplink):
    // its replies leave by the uplink to this MAC, the L2 source of the
    // first packet (the client, or the router in front of it), as Cilium's
    // NodePort replies do, not through the node kernel.
    const rte_ether_addr* uplink_mac = nullptr;
    uint8_t tcp_flags = 0;  // of the first packet (TCP)
    uint32_t bytes = 0;     // of the first packet
    uint64_t now_tsc = 0;
};

// TCP/UDP state machine, one packet: `s` packs the state (low nibble) and
// which directions have sent FIN (bits 4 and 5). Pure, for tests and update().
uint8_t ct_next_state(uint8_t s, ct_dir d, uint8_t tcp_flags);
inline ct_state ct_state_of(uint8_t s) { return static_cast<ct_state>(s & 0x0f); }
inline bool ct_is_tcp(ct_state s) { return s >= ct_state::tcp_syn_sent && s <= ct_state::tcp_closed; }

class conntrack;

// 128 bytes, two cache lines, in one preallocated array indexed by slot.
class alignas(64) ct_entry {
public:
    const ct_key& key(ct_dir d) const { return key_[d]; }
    // The tuple a packet of direction d carries once rewritten: the other
    // direction's key reversed. For DNAT the orig direction gets the backend
    // as destination and replies get the frontend back as source; for SNAT
    // likewise with sources. Kept once, as the two keys, so the two cannot
    // disagree.
    ct_key translated(ct_dir d) const { return ct_reversed(key_[d ^ 1]); }
    bool translates(ct_dir d) const { return !(translated(d) == key_[d]); }
    ct_state state() const { return ct_state_of(state_.load(std::memory_order_relaxed)); }
    bool ended() const { return (flags_.load(std::memory_order_relaxed) & k_ended) != 0; }
    uint32_t frontend_id() const { return frontend_id_; }
    // ct_init::uplink_mac was set: replies go out the uplink to uplink_mac().
    bool replies_by_uplink() const { return (flags_.load(std::memory_order_relaxed) & k_by_uplink) != 0; }
    const rte_ether_addr& uplink_mac() const { return uplink_mac_; }
    uint32_t backend_id() const { return backend_id_; }
    uint64_t last_seen() const { return last_seen_.load(std::memory_order_relaxed); }
    uint64_t packets(ct_dir d) const { return pkts_[d].load(std::memory_order_relaxed); }
    uint64_t bytes(ct_dir d) const { return bytes_[d].load(std::memory_order_relaxed); }
    // Reserved for the NetworkPolicy stage (0: not evaluated yet).
    uint8_t verdict() const { return verdict_.load(std::memory_order_relaxed); }
    void set_verdict(uint8_t v) { verdict_.store(v, std::memory_order_relaxed); }

private:
    friend class conntrack;
    static constexpr uint8_t k_live = 1;   // keys present; cleared before they are deleted
    static constexpr uint8_t k_ended = 2;  // backend removed: TCP packets get RST / drop
    static constexpr uint8_t k_by_uplink = 4;  // uplink_mac_ holds the replies' next hop

    ct_key key_[2];
    std::atomic<uint64_t> last_seen_{0};  // TSC; any worker, relaxed
    // Per direction. Plain load+store, not a locked add: one direction of a
    // flow stays on one queue, so two writers of one counter are rare and
    // the loss of an increment then is acceptable for accounting.
    std::atomic<uint64_t> bytes_[2] = {};
    std::atomic<uint32_t> pkts_[2] = {};
    uint32_t backend_id_ = 0;
    uint16_t frontend_id_ = 0;
    rte_ether_addr uplink_mac_{};
    std::atomic<uint8_t> state_{0};  // ct_state | FIN bits, CAS by any worker
    std::atomic<uint8_t> flags_{0};
    std::atomic<uint8_t> verdict_{0};
    std::atomic<uint8_t> refs_{0};  // keys not yet reclaimed by the hash's RCU
};
static_assert(sizeof(ct_entry) == 128, "two cache lines per flow");

enum class ct_insert_status : uint8_t {
    inserted,  // new entry
    existed,   // another worker inserted this flow first: use its entry
    full,      // max_entries reached (counted)
    busy,      // a stripe stayed claimed (counted); treat as a drop
    clash,     // the reply tuple is already another flow's key (counted)
};

struct ct_insert_result {
    ct_entry* entry;  // nullptr unless inserted/existed
    ct_dir dir;       // the direction of ct_init::orig in that entry
    ct_insert_status status;
};

struct ct_counters {
    uint64_t entries = 0;     // live flows
    uint64_t inserts = 0;
    uint64_t expiries = 0;    // removed by the sweep
    uint64_t removed = 0;     // removed by end_backend
    uint64_t ended = 0;       // TCP flows marked by end_backend
    uint64_t full = 0;        // inserts refused: table full
    uint64_t races_lost = 0;  // inserts that found the flow already there
    uint64_t busy = 0;
    uint64_t clashes = 0;
};

class conntrack {
public:
    static result<std::unique_ptr<conntrack>> create(const ct_params& p);
    ~conntrack();
    conntrack(const conntrack&) = delete;
    conntrack& operator=(const conntrack&) = delete;

    static constexpr unsigned k_burst_max = RTE_HASH_LOOKUP_BULK_MAX;

    // n <= k_burst_max keys; returns the hit mask; out/dir are set for hits
    // (entries prefetched).
    uint64_t lookup_bulk(const ct_key* const* keys, unsigned n, ct_entry** out, ct_dir* dir) const {
        void* data[k_burst_max];
        uint64_t hits = 0;
        rte_hash_lookup_bulk_data(hash_, const_cast<const void**>(reinterpret_cast<const void* const*>(keys)), n,
                                  &hits, data);
        for (uint64_t m = hits; m != 0; m &= m - 1) {
            const unsigned i = static_cast<unsigned>(__builtin_ctzll(m));
            const auto v = reinterpret_cast<uintptr_t>(data[i]);
            out[i] = &entries_[(v >> 1) - 1];
            dir[i] = static_cast<ct_dir>(v & 1);
            rte_prefetch0(out[i]);
        }
        return hits;
    }

    ct_insert_result insert(const ct_init& in);

    // One packet of an established lookup: last seen, counters, state.
    void update(ct_entry& e, ct_dir d, uint8_t tcp_flags, uint32_t bytes, uint64_t now_tsc) const {
        e.last_seen_.store(now_tsc, std::memory_order_relaxed);
        e.pkts_[d].store(e.pkts_[d].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        e.bytes_[d].store(e.bytes_[d].load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
        uint8_t s = e.state_.load(std::memory_order_relaxed);
        // The common case, a data segment of an established flow or a UDP
        // packet of an assured one, changes nothing.
        constexpr uint8_t k_ctl = RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG | RTE_TCP_RST_FLAG;
        if ((ct_state_of(s) == ct_state::tcp_established && (tcp_flags & k_ctl) == 0) ||
            ct_state_of(s) == ct_state::udp_assured || e.ended())
            return;
        for (int tries = 0; tries < 4; ++tries) {  // another worker moved it: recompute
            const uint8_t next = ct_next_state(s, d, tcp_flags);
            if (next == s || e.state_.compare_exchange_weak(s, next, std::memory_order_relaxed)) return;
        }
    }

    // Examines up to `budget` slots from where the last call stopped; removes
    // those idle past their state's timeout. Returns how many it removed.
    uint32_t expire_some(uint64_t now_tsc, uint32_t budget);

    // Control thread: UDP (and other) flows of the backend are removed, TCP
    // flows are marked ended (closed, expiring after the close timeout) so
    // their next packet can be answered with a RST. Returns flows affected.
    uint32_t end_backend(uint32_t backend_id);

    // Control thread (vxroutectl show conntrack): live entries, in slot order.
    template <typename F>
    void for_each(F&& f) const {
        for (uint32_t s = 0; s < max_; ++s)
            if (entries_[s].flags_.load(std::memory_order_acquire) & ct_entry::k_live) f(entries_[s]);
    }

    ct_counters counters() const;
    uint32_t capacity() const { return max_; }
    // Slots ready for inserts; capacity - entries - free_slots are deleted
    // flows waiting for RCU quiescence.
    uint32_t free_slots() const;
    uint64_t timeout_tsc(ct_state s) const { return timeout_tsc_[static_cast<unsigned>(s)]; }
    uint32_t slot_of(const ct_entry& e) const { return static_cast<uint32_t>(&e - entries_); }

private:
    struct alignas(64) lcore_counters {
        std::atomic<uint64_t> inserts{0}, expiries{0}, removed{0}, ended{0}, full{0}, races_lost{0}, busy{0},
            clashes{0};
    };
    conntrack() = default;
    lcore_counters& mine() const {
        const unsigned l = rte_lcore_id();
        return counters_[l < RTE_MAX_LCORE ? l : RTE_MAX_LCORE];
    }
    static void on_key_reclaimed(void* self, void* data);
    bool claim(uint32_t stripe, bool wait);
    void unclaim(uint32_t stripe) { gates_[stripe].store(0, std::memory_order_release); }
    bool claim_pair(uint32_t a, uint32_t b, bool wait);
    void unclaim_pair(uint32_t a, uint32_t b);
    enum class ct_action : uint8_t { expire, remove, end_tcp };
    // Under both keys' claims, if `e` still holds its keys: expire (if idle
    // at `idle_at`), remove, or mark ended.
    bool remove(ct_entry& e, uint64_t idle_at, ct_action act);
    void flush_reclaim();

    rte_hash* hash_ = nullptr;
    ct_entry* entries_ = nullptr;
    rte_ring* free_ = nullptr;
    std::atomic<uint32_t>* gates_ = nullptr;
    uint32_t gate_mask_ = 0;
    lcore_counters* counters_ = nullptr;  // RTE_MAX_LCORE + 1 (unregistered threads)
    uint32_t max_ = 0;
    uint64_t timeout_tsc_[k_ct_states] = {};
    std::atomic<uint64_t> cursor_{0};
    std::atomic<int64_t> keys_waiting_{0};  // deleted, callback not yet run
    ct_key sentinel_{};
};

}  // namespace vxr::fastpath
