#include "encap/arp.hpp"

namespace vxr::encap {

rte_mbuf* arp_build_request(rte_mempool* pool, const rte_ether_addr& src_mac, ipv4_addr src_ip,
                            ipv4_addr target, const rte_ether_addr* dst_mac) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) return nullptr;
    auto* eth = reinterpret_cast<rte_ether_hdr*>(
        rte_pktmbuf_append(m, sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)));
    if (dst_mac != nullptr) {
        eth->dst_addr = *dst_mac;
    } else {
        std::memset(&eth->dst_addr, 0xff, sizeof eth->dst_addr);
    }
    eth->src_addr = src_mac;
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
    auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
    arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
    arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    arp->arp_hlen = RTE_ETHER_ADDR_LEN;
    arp->arp_plen = 4;
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
    arp->arp_data.arp_sha = src_mac;
    arp->arp_data.arp_sip = rte_cpu_to_be_32(src_ip.value);
    std::memset(&arp->arp_data.arp_tha, 0, sizeof arp->arp_data.arp_tha);
    arp->arp_data.arp_tip = rte_cpu_to_be_32(target.value);
    return m;
}

}  // namespace vxr::encap
