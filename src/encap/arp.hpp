// ARP (RFC 826) for IPv4 over Ethernet: parse, answer in place, build requests.
// Parsing and answering run on worker lcores (no allocation); building a
// request allocates an mbuf and runs on the control thread.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "encap/wire.hpp"

namespace vxr::encap {

// The ARP payload when the frame is a well-formed Ethernet/IPv4 ARP packet,
// else nullptr.
inline rte_arp_hdr* arp_parse(rte_mbuf* m) {
    if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)) return nullptr;
    auto* arp = rte_pktmbuf_mtod_offset(m, rte_arp_hdr*, sizeof(rte_ether_hdr));
    if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
        arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || arp->arp_hlen != RTE_ETHER_ADDR_LEN ||
        arp->arp_plen != 4)
        return nullptr;
    return arp;
}

// Turn a request into the reply from `our_mac` for the requested address.
inline void arp_reply_in_place(rte_mbuf* m, rte_arp_hdr* arp, const rte_ether_addr& our_mac) {
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    eth->dst_addr = arp->arp_data.arp_sha;
    eth->src_addr = our_mac;
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
    const rte_be32_t asked = arp->arp_data.arp_tip;
    arp->arp_data.arp_tha = arp->arp_data.arp_sha;
    arp->arp_data.arp_tip = arp->arp_data.arp_sip;
    arp->arp_data.arp_sha = our_mac;
    arp->arp_data.arp_sip = asked;
    // Keep only Ethernet + ARP; a request may carry padding.
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - sizeof(rte_ether_hdr) - sizeof(rte_arp_hdr)));
}

// Control thread: a broadcast who-has for `target` (or unicast to `dst_mac`
// when refreshing a known neighbour). nullptr when the pool is empty.
rte_mbuf* arp_build_request(rte_mempool* pool, const rte_ether_addr& src_mac, ipv4_addr src_ip,
                            ipv4_addr target, const rte_ether_addr* dst_mac = nullptr);

}  // namespace vxr::encap
