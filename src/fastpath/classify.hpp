// The first stage: what each port role's frames are, and which of them go on
// through the pipeline as IPv4 packets to route (DESIGN.md 1). Everything
// else is answered (ARP), passed to the host, punted or dropped here.
// Thread: worker lcores only. Must not: lock, allocate, make syscalls, log, or throw.
#pragma once

#include <rte_prefetch.h>

#include "encap/ipv4.hpp"
#include "fastpath/stage.hpp"

namespace vxr::fastpath {

// The uplink: VXLAN to our VTEP decapsulated, unencapsulated pod traffic from
// an on-link peer (flagged k_pkt_direct), ARP punted, the rest the node's.
void classify_uplink(stage_ctx& ctx, const snapshot& s, rte_mbuf** pkts, uint16_t n, burst& out);

// Pod and host ports: ARP answered by the gateway, IPv4 validated, pods held
// to their own source address. Instantiated for port_role::pod and ::host.
template <port_role R>
void classify_local(stage_ctx& ctx, const snapshot& s, rte_mbuf** pkts, uint16_t n, burst& out);

inline drop_reason ipv4_drop(encap::ipv4_check c) {
    switch (c) {
        case encap::ipv4_check::truncated: return drop_reason::ipv4_truncated;
        case encap::ipv4_check::bad_version: return drop_reason::ipv4_bad_version;
        case encap::ipv4_check::bad_ihl: return drop_reason::ipv4_bad_ihl;
        case encap::ipv4_check::bad_length: return drop_reason::ipv4_bad_length;
        default: return drop_reason::ipv4_bad_checksum;
    }
}

// Ethernet padding and anything past the IPv4 packet is not ours to forward.
inline void trim_to_ip(rte_mbuf* m, const rte_ipv4_hdr* ip) {
    const uint32_t want = sizeof(rte_ether_hdr) + rte_be_to_cpu_16(ip->total_length);
    if (rte_pktmbuf_pkt_len(m) > want) rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - want));
}

// Prefetch distance for the classify loops: far enough to hide a miss to
// the frame, near enough that the lines are still in L1.
inline constexpr int k_prefetch_ahead = 4;

// The classify loops' walk over a burst: frames prefetched a fixed distance
// ahead, those too short for an Ethernet header dropped, the rest handed to
// `f(m, eth, data_len)` (inlined: no call per packet).
template <typename F>
inline void for_each_frame(stage_ctx& ctx, rte_mbuf** pkts, uint16_t n, F&& f) {
    for (int i = 0; i < k_prefetch_ahead && i < n; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
    for (uint16_t i = 0; i < n; ++i) {
        if (i + k_prefetch_ahead < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + k_prefetch_ahead], void*));
        rte_mbuf* m = pkts[i];
        const uint32_t len = rte_pktmbuf_data_len(m);
        if (unlikely(len < sizeof(rte_ether_hdr))) {
            ctx.drop(m, drop_reason::ipv4_truncated);
            continue;
        }
        f(m, rte_pktmbuf_mtod(m, rte_ether_hdr*), len);
    }
}

}  // namespace vxr::fastpath
