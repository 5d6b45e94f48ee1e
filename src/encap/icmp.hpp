// ICMP a router originates (RFC 792, RFC 1812 4.3): errors built in place over
// the offending packet, and echo replies for the pod gateway address.
// Runs on worker lcores: no allocation.
#pragma once

#include <rte_mbuf.h>

#include "encap/ipv4.hpp"
#include "encap/wire.hpp"

namespace vxr::encap {

// RFC 792 types and codes that DPDK 22.11's rte_icmp.h does not name.
inline constexpr uint8_t k_icmp_dest_unreach = 3;
inline constexpr uint8_t k_icmp_code_frag_needed = 4;
inline constexpr uint8_t k_icmp_code_port_unreach = 3;
inline constexpr uint8_t k_icmp_time_exceeded = 11;

// RFC 1812 4.3.2.7: never an error about an ICMP error, a non-initial
// fragment, or a packet whose source is not a unique host.
bool icmp_error_allowed(const rte_ipv4_hdr* ip);

// Rewrite `m` (Ethernet + the offending IPv4 packet) into an ICMP error from
// `src_ip` back to the packet's source, quoting its IP header and first 8
// data bytes. The Ethernet header's addresses are swapped; the caller routes
// the result. `mtu` fills the next-hop MTU of fragmentation-needed.
// Fails (returns false) on a segmented or headroom-less mbuf.
bool icmp_error_in_place(rte_mbuf* m, uint8_t type, uint8_t code, uint16_t mtu, rte_be32_t src_ip);

// Echo request -> echo reply, addresses and MACs swapped. False if `m` is
// not a complete echo request.
bool icmp_echo_reply_in_place(rte_mbuf* m);

}  // namespace vxr::encap
