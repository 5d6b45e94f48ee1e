// Wire formats. DPDK's header structs are used as they are; what vxroute adds
// is the layout of the per-peer encapsulation template, whose size is part of
// the fast path's contract (one cache line, copied whole).
#pragma once

#include <cstdint>
#include <cstring>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_udp.h>
#include <rte_vxlan.h>

#include "common/types.hpp"

namespace vxr::encap {

static_assert(sizeof(rte_ether_hdr) == 14);
static_assert(sizeof(rte_ipv4_hdr) == 20);
static_assert(sizeof(rte_udp_hdr) == 8);
static_assert(sizeof(rte_vxlan_hdr) == 8);
static_assert(sizeof(rte_arp_hdr) == 28);
static_assert(sizeof(rte_icmp_hdr) == 8);

// Outer Ethernet + IPv4 + UDP + VXLAN (50 bytes) followed by the inner
// Ethernet header (14 bytes) of an IPv4 pod packet: 64 bytes, so that
// encapsulation is one fixed-size copy over the front of the packet.
struct __attribute__((packed, aligned(2))) vxlan_outer {
    rte_ether_hdr eth;
    rte_ipv4_hdr ip;
    rte_udp_hdr udp;
    rte_vxlan_hdr vxlan;
};
static_assert(sizeof(vxlan_outer) == 50);

struct alignas(64) encap_template {
    vxlan_outer outer;
    rte_ether_hdr inner;
};
static_assert(sizeof(encap_template) == 64);
static_assert(offsetof(encap_template, inner) == 50);

inline constexpr uint16_t k_encap_overhead = sizeof(vxlan_outer);
inline constexpr uint8_t k_vxlan_flag_i = 0x08;  // RFC 7348: the VNI is valid
inline constexpr uint8_t k_default_ttl = 64;

inline rte_ether_addr to_rte(const mac_addr& m) {
    rte_ether_addr a;
    std::memcpy(a.addr_bytes, m.bytes.data(), 6);
    return a;
}
inline mac_addr from_rte(const rte_ether_addr& a) {
    mac_addr m;
    std::memcpy(m.bytes.data(), a.addr_bytes, 6);
    return m;
}

}  // namespace vxr::encap
