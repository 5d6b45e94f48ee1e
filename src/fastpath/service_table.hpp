// The Services the workers translate: frontends by (address, protocol, port),
// each with its backends and its Maglev slots. Built on the control thread
// from the compiled frontends (control/services), immutable once published in
// a snapshot; a new table shares the backend pools of unchanged frontends
// with the old one, so an EndpointSlice change copies one Service's slots,
// not every Service's.
//
// Thread: build() and the inspection calls on the control thread; lookups
// on workers (read-only: no locks, no allocation).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <rte_byteorder.h>

#include "common/result.hpp"

struct rte_hash;

namespace vxr::fastpath {

// What a packet's destination is matched against: address in network order
// in the first 4 (IPv4) or 16 (IPv6) bytes, the rest zero.
struct svc_key {
    uint8_t addr[16];
    rte_be16_t port;  // network order
    uint8_t proto;    // IPPROTO_TCP / IPPROTO_UDP / IPPROTO_SCTP
    uint8_t family;   // AF_INET (2) / AF_INET6 (10)
};
static_assert(sizeof(svc_key) == 20, "svc_key is the rte_hash key: no implicit padding");

inline svc_key svc_key_v4(rte_be32_t addr_be, rte_be16_t port_be, uint8_t proto) {
    svc_key k{};
    std::memcpy(k.addr, &addr_be, 4);
    k.port = port_be;
    k.proto = proto;
    k.family = 2;
    return k;
}

struct svc_backend {
    uint8_t addr[16];  // as svc_key::addr
    rte_be16_t port;   // the resolved target port, network order
    uint8_t family;
    uint8_t local;     // on this node
    // Stable while this address:port is a backend of any frontend: what
    // conntrack entries carry, so that removing the backend ends its flows
    // (conntrack::end_backend).
    uint32_t id;
};

// One backend set and its Maglev table: slots[hash % slots.size()] indexes
// backends. Shared (shared_ptr on the control side) by every table that
// holds a frontend with this set. At most k_max_pool_backends backends:
// a slot is 16 bits (the compiler caps the sets).
inline constexpr uint32_t k_max_pool_backends = 1u << 16;
struct svc_pool {
    std::vector<svc_backend> backends;  // in the Maglev keys' order
    std::vector<uint16_t> slots;        // empty: no backend
};

enum svc_flag : uint8_t {
    k_svc_reject = 1,      // no usable backend anywhere: ICMP port unreachable
    k_svc_local_only = 2,  // internalTrafficPolicy Local: this node's pods use `local` only
    k_svc_affinity = 4,    // sessionAffinity ClientIP
    // externalTrafficPolicy Local (node port, external IP, load balancer):
    // traffic from outside uses `local` only and keeps its source address;
    // this node's own pods still use `all` (kube-proxy's short-circuit).
    k_svc_external_local = 8,
    // loadBalancerSourceRanges (load-balancer frontends only): a new flow
    // whose source is in none of the frontend's source_ranges is dropped.
    // Set by build() from the spec's ranges, never by the caller.
    k_svc_source_ranges = 16,
};

// One loadBalancerSourceRanges prefix as a worker tests it: (src & mask) ==
// net, byte-wise, over the family's 4 (IPv4) or 16 (IPv6) bytes; the rest zero.
//
// A frontend's ranges are a short array scanned linearly, not an rte_lpm:
// the scan runs only for the first packet of a flow to a frontend that has
// ranges (a Service lists a handful of CIDRs), one rte_lpm costs its 64 MiB
// tbl24 per table whatever it holds (so not one per frontend), and a shared
// one cannot be keyed by frontend. Should Services with hundreds of ranges
// show up, rte_acl (frontend id exact, source prefix) is DPDK's tool for it.
struct svc_source_range {
    uint8_t net[16];   // network order, host bits zero
    uint8_t mask[16];
    uint8_t family;    // AF_INET (2) / AF_INET6 (10)
    uint8_t len;       // the prefix length, for views
};

// Fails on a length past the family's bits or a family other than 2 or 10;
// host bits of `addr` are cleared.
result<svc_source_range> make_svc_source_range(const uint8_t* addr, uint8_t family, uint8_t len);

// A frontend as the workers read it.
struct svc_frontend {
    uint32_t id = 0;  // stable per frontend key: per-frontend counters, conntrack entries
    uint8_t flags = 0;
    uint8_t kind = 0;  // control::services::frontend_kind, for views only
    uint32_t affinity_timeout_s = 0;
    const svc_pool* all = nullptr;    // never null once built
    const svc_pool* local = nullptr;  // this node's backends only; never null once built
    // With k_svc_source_ranges: the frontend's loadBalancerSourceRanges.
    const svc_source_range* ranges = nullptr;
    uint32_t n_ranges = 0;
};

// What build() takes per frontend.
struct svc_frontend_spec {
    svc_key key{};
    uint32_t id = 0;  // < k_max_frontends
    uint8_t flags = 0;
    uint8_t kind = 0;
    uint32_t affinity_timeout_s = 0;
    std::shared_ptr<const svc_pool> all;
    std::shared_ptr<const svc_pool> local;
    // Non-empty: only sources inside one of them may start a flow (all of
    // the key's family). Empty: any source.
    std::vector<svc_source_range> source_ranges;
    std::string name;  // "ns/name:port", for views
};

// A table holds its specs shared and immutable: the next table keeps those
// of unchanged frontends by reference instead of copying 10,000 of them.
using svc_spec_ref = std::shared_ptr<const svc_frontend_spec>;

// Per-frontend counters are indexed by id; ids above are refused by build().
inline constexpr uint32_t k_max_frontends = 1u << 16;

class service_table {
public:
    // Fails (naming the frontend) on a duplicate key, an id >= k_max_frontends,
    // a missing pool, a pool whose slots index past its backends, or a source
    // range of another family than the key's. A frontend whose pools are
    // those its namesake had in `prev` had them checked when prev was
    // built: their slots are not read again (a pool is immutable once
    // shared), so that a table sharing 10,000 frontends' pools with its
    // predecessor does not walk their 16381 slots each.
    // Specs sorted by name already are not sorted again.
    static result<std::unique_ptr<service_table>> build(std::vector<svc_spec_ref> specs, int socket,
                                                        const service_table* prev = nullptr);
    // The same from specs by value (each is moved into a shared one).
    static result<std::unique_ptr<service_table>> build(std::vector<svc_frontend_spec> specs, int socket,
                                                        const service_table* prev = nullptr);
    ~service_table();
    service_table(const service_table&) = delete;
    service_table& operator=(const service_table&) = delete;

    // Workers. Cheap pre-checks, one bit each (a 1 Mi-bit filter per side,
    // no false negatives): may the packet's destination be a frontend, and
    // may its source be a backend (then it may be a reply of a translated
    // flow)? Only packets passing one of them pay a hash lookup.
    bool may_be_frontend(rte_be32_t dst_be) const { return test(frontend_bits_, dst_be); }
    bool may_be_backend(rte_be32_t src_be) const { return test(backend_bits_, src_be); }

    // n <= 64 keys; returns the hit mask, out[i] set for hits.
    uint64_t lookup_bulk(const svc_key* const* keys, unsigned n, const svc_frontend** out) const;
    const svc_frontend* find(const svc_key& k) const;

    // The backend a flow hash picks, or null when the pool is empty.
    static const svc_backend* pick(const svc_pool& p, uint32_t hash) {
        if (p.slots.empty()) return nullptr;
        return &p.backends[p.slots[hash % p.slots.size()]];
    }

    // May this IPv4 source start a flow to `f`? Callers test
    // k_svc_source_ranges first, so frontends without ranges pay one flag test.
    static bool source_allowed_v4(const svc_frontend& f, rte_be32_t src_be) {
        for (uint32_t i = 0; i < f.n_ranges; ++i) {
            rte_be32_t net, mask;
            std::memcpy(&net, f.ranges[i].net, 4);
            std::memcpy(&mask, f.ranges[i].mask, 4);
            if ((src_be & mask) == net) return true;
        }
        return false;
    }

    // Control thread: the frontends as built, in key order of the specs.
    const std::vector<svc_spec_ref>& specs() const { return specs_; }
    size_t size() const { return specs_.size(); }

private:
    service_table() = default;
    // 2^20 bits (128 KiB a side): with 10,000 frontends 1 % of other
    // destinations pass the pre-check for nothing; 2^16 let 14 % through
    // (bench_fastpath's bm_pipeline_encap_services_on measures it).
    static constexpr uint32_t k_filter_shift = 20;
    static constexpr uint32_t k_filter_bits = 1u << k_filter_shift;
    static uint32_t filter_bit(rte_be32_t a) {
        // Fibonacci hashing: the low bytes, where addresses differ, reach the top bits.
        const uint32_t h = rte_be_to_cpu_32(a) * 0x9e3779b1u;
        return h >> (32 - k_filter_shift);
    }
    static bool test(const std::vector<uint64_t>& bits, rte_be32_t a) {
        const uint32_t b = filter_bit(a);
        return (bits[b >> 6] >> (b & 63)) & 1;
    }
    static void set(std::vector<uint64_t>& bits, rte_be32_t a) {
        const uint32_t b = filter_bit(a);
        bits[b >> 6] |= uint64_t{1} << (b & 63);
    }

    rte_hash* hash_ = nullptr;
    std::vector<svc_frontend> frontends_;  // hash data: index into this
    std::vector<svc_spec_ref> specs_;  // own the pools
    std::vector<uint64_t> frontend_bits_ = std::vector<uint64_t>(k_filter_bits / 64);
    std::vector<uint64_t> backend_bits_ = std::vector<uint64_t>(k_filter_bits / 64);
};

// The Maglev flow hash of a 5-tuple (addresses and ports in network order):
// the same on every node, so that every node picks the same backend.
uint32_t svc_flow_hash(rte_be32_t src, rte_be32_t dst, rte_be16_t sport, rte_be16_t dport, uint8_t proto);

}  // namespace vxr::fastpath
