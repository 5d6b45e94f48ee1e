// What the stages of the worker pipeline share (DESIGN.md 1): the burst that
// passes from one stage to the next, and the worker's own ends of the
// pipeline (drop, TX buffering, punt) that every stage may use.
// Thread: worker lcores only. Must not: lock, allocate from the heap, make
// syscalls, log, or throw.
#pragma once

#include <cstdint>

#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "fastpath/counters.hpp"
#include "fastpath/snapshot.hpp"

namespace vxr::fastpath {

inline constexpr uint16_t k_burst = 32;

// What a punted packet is waiting for (stored in mbuf->hash.usr with the
// index in the low 24 bits; mbuf->port holds the ingress port).
enum class punt_kind : uint8_t { arp = 1, neighbor_wait = 2, stale_mac = 3 };
inline uint32_t punt_tag(punt_kind k, uint32_t idx) { return static_cast<uint32_t>(k) << 24 | (idx & 0xffffff); }
inline punt_kind punt_tag_kind(uint32_t tag) { return static_cast<punt_kind>(tag >> 24); }
inline uint32_t punt_tag_index(uint32_t tag) { return tag & 0xffffff; }

// Per-packet facts one stage hands to the next.
enum pkt_flag : uint8_t {
    k_pkt_direct = 1,  // uplink: unencapsulated from an on-link peer; only local pods may take it
    k_pkt_local = 2,   // uplink: to the node's own address, maybe a node port; the host's unless translated
    k_pkt_tunnel = 4,  // uplink: decapsulated; never encapsulated again (split horizon)
};

// The IPv4 packets of one RX burst still in flight, in arrival order.
// Classify fills it; each later stage compacts it in place to what it passes on.
struct burst {
    uint16_t n = 0;
    uint16_t in_port = 0;
    rte_mbuf* pkts[k_burst];
    uint32_t dst[k_burst];    // the route key: the IPv4 destination, host order
    uint8_t flags[k_burst];   // pkt_flag bits; only the stages of a role that sets them read them

    // Stages count in a local and store n once: a member written per packet
    // may alias the packet stores and stay in memory.
    void set(uint16_t i, rte_mbuf* m, uint32_t dst_host) {
        pkts[i] = m;
        dst[i] = dst_host;
    }
    void set(uint16_t i, rte_mbuf* m, uint32_t dst_host, uint8_t f) {
        set(i, m, dst_host);
        flags[i] = f;
    }
};

// A TX buffer for one (port, worker); TX failures are freed and counted in
// `dropped`. Control thread, when a port is added (transmit.cpp).
rte_eth_dev_tx_buffer* make_tx_buffer(int socket, counter* dropped);

inline rte_ipv4_hdr* ip_of(rte_mbuf* m) { return rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr)); }

// The worker's identity and its ends of the pipeline, which every stage uses.
class stage_ctx {
public:
    stage_ctx(unsigned id, worker_counters& c, rte_ring* punt) : id_(id), c_(c), punt_(punt) {}

    worker_counters& counters() { return c_; }

    // The cold ends, out of line (transmit.cpp) so that the per-packet
    // loops stay small: drop and count, to the host, to the control thread.
    void drop(rte_mbuf* m, drop_reason r);
    void tx_host(const snapshot& s, rte_mbuf* m);
    // False when the punt ring is full (the caller decides how that is counted).
    bool try_punt(rte_mbuf* m, punt_kind k, uint32_t idx, uint16_t in_port);
    void punt(rte_mbuf* m, punt_kind k, uint32_t idx, uint16_t in_port);

    void tx(const snapshot& s, uint16_t port, rte_mbuf* m) {
        rte_eth_dev_tx_buffer* b = port < RTE_MAX_ETHPORTS ? s.ports[port].txb[id_] : nullptr;
        if (unlikely(b == nullptr)) return drop(m, drop_reason::stale_port);
        auto& pc = c_.ports[port];
        pc.tx_packets.add();
        pc.tx_bytes.add(rte_pktmbuf_pkt_len(m));
        rte_eth_tx_buffer(port, static_cast<uint16_t>(id_), b, m);
    }

    // Sends what the TX buffers hold for the ports of `s` (transmit.cpp).
    void flush_all(const snapshot& s);
    // Sends what the control thread queued for this worker (transmit.cpp).
    void drain_inject(const snapshot& s, rte_ring* inject);

private:
    unsigned id_;
    worker_counters& c_;
    rte_ring* punt_;
};

}  // namespace vxr::fastpath
