#include "encap/icmp.hpp"

#include <algorithm>

namespace vxr::encap {

namespace {
bool is_icmp_error_type(uint8_t type) {
    switch (type) {
        case RTE_IP_ICMP_ECHO_REPLY:
        case RTE_IP_ICMP_ECHO_REQUEST:
        case 13: case 14:  // timestamp
        case 17: case 18:  // address mask
            return false;
        default:
            return true;
    }
}
}  // namespace

bool icmp_error_allowed(const rte_ipv4_hdr* ip) {
    if (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_OFFSET_MASK)) return false;
    const uint32_t src = rte_be_to_cpu_32(ip->src_addr);
    const uint8_t first = static_cast<uint8_t>(src >> 24);
    if (src == 0 || src == 0xffffffff || first == 127 || first >= 224) return false;
    const uint32_t dst = rte_be_to_cpu_32(ip->dst_addr);
    if (dst == 0xffffffff || static_cast<uint8_t>(dst >> 24) >= 224) return false;
    if (ip->next_proto_id == IPPROTO_ICMP) {
        // Without its type byte we cannot tell an error from a query: stay
        // silent, as Linux's icmp_send() does.
        if (rte_be_to_cpu_16(ip->total_length) < (ip->version_ihl & 0xf) * 4 + 1) return false;
        const auto* icmp = reinterpret_cast<const rte_icmp_hdr*>(reinterpret_cast<const uint8_t*>(ip) +
                                                                 (ip->version_ihl & 0xf) * 4);
        if (is_icmp_error_type(icmp->icmp_type)) return false;
    }
    return true;
}

bool icmp_error_in_place(rte_mbuf* m, uint8_t type, uint8_t code, uint16_t mtu, rte_be32_t src_ip) {
    if (!rte_pktmbuf_is_contiguous(m)) return false;
    constexpr uint16_t k_added = sizeof(rte_ipv4_hdr) + sizeof(rte_icmp_hdr);
    auto* old_eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    auto* old_ip = reinterpret_cast<rte_ipv4_hdr*>(old_eth + 1);
    const uint16_t hlen = static_cast<uint16_t>((old_ip->version_ihl & 0xf) * 4);
    const uint16_t quote = std::min<uint16_t>(rte_be_to_cpu_16(old_ip->total_length), hlen + 8);
    const rte_ether_addr eth_dst = old_eth->src_addr;
    const rte_ether_addr eth_src = old_eth->dst_addr;
    const rte_be32_t dst_ip = old_ip->src_addr;
    if (rte_pktmbuf_headroom(m) < k_added) return false;
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - sizeof(rte_ether_hdr) - quote));
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_prepend(m, k_added));
    eth->dst_addr = eth_dst;
    eth->src_addr = eth_src;
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->type_of_service = 0;
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(k_added + quote));
    ip->packet_id = 0;
    ip->fragment_offset = 0;
    ip->time_to_live = k_default_ttl;
    ip->next_proto_id = IPPROTO_ICMP;
    ip->src_addr = src_ip;
    ip->dst_addr = dst_ip;
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    auto* icmp = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
    icmp->icmp_type = type;
    icmp->icmp_code = code;
    icmp->icmp_cksum = 0;
    icmp->icmp_ident = 0;  // "unused" for time exceeded; zero + next-hop MTU for frag-needed
    icmp->icmp_seq_nb = rte_cpu_to_be_16(mtu);
    icmp->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(icmp, sizeof(rte_icmp_hdr) + quote));
    return true;
}

bool icmp_echo_reply_in_place(rte_mbuf* m) {
    if (!rte_pktmbuf_is_contiguous(m)) return false;
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    const uint16_t hlen = static_cast<uint16_t>((ip->version_ihl & 0xf) * 4);
    const uint16_t tlen = rte_be_to_cpu_16(ip->total_length);
    if (ip->next_proto_id != IPPROTO_ICMP || tlen < hlen + sizeof(rte_icmp_hdr) || ipv4_is_fragment(ip))
        return false;
    auto* icmp = reinterpret_cast<rte_icmp_hdr*>(reinterpret_cast<uint8_t*>(ip) + hlen);
    if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0) return false;
    const rte_ether_addr mac = eth->dst_addr;
    eth->dst_addr = eth->src_addr;
    eth->src_addr = mac;
    const rte_be32_t addr = ip->src_addr;
    ip->src_addr = ip->dst_addr;
    ip->dst_addr = addr;
    ip->time_to_live = k_default_ttl;
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
    icmp->icmp_cksum = csum_adjust(icmp->icmp_cksum, RTE_IP_ICMP_ECHO_REQUEST << 8, RTE_IP_ICMP_ECHO_REPLY << 8);
    return true;
}

}  // namespace vxr::encap
