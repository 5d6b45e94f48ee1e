// VXLAN (RFC 7348) the way flannel's kernel backend speaks it: build a peer's
// template once on the control thread, prepend it on a worker with one copy
// and fix lengths, checksum and source port (VPP vxlan/encap.c does the same).
#pragma once

#include <rte_hash_crc.h>
#include <rte_mbuf.h>

#include "encap/ipv4.hpp"
#include "encap/wire.hpp"

namespace vxr::encap {

struct template_params {
    mac_addr outer_src_mac;  // our uplink
    mac_addr outer_dst_mac;  // underlay next hop toward the peer (zero until resolved)
    ipv4_addr src_ip;        // our node IP
    ipv4_addr dst_ip;        // the peer's node IP
    uint16_t udp_port = 8472;
    uint32_t vni = 1;
    mac_addr inner_src_mac;  // our VTEP MAC
    mac_addr inner_dst_mac;  // the peer's VTEP MAC
};

// Control thread. The IPv4 checksum is computed with total_length 0 so the
// worker can add the real length incrementally.
encap_template build_template(const template_params& p);

// RFC 7348 recommends the dynamic/private range for the source port so that
// underlay ECMP and RSS spread flows.
inline constexpr uint16_t k_src_port_base = 49152;
inline constexpr uint16_t k_src_port_mask = 0x3fff;

// Hash of the inner flow: addresses, protocol and, for an unfragmented
// TCP/UDP packet, the ports. Returns the source port in network order.
inline rte_be16_t flow_src_port(const rte_ipv4_hdr* ip) {
    uint64_t key = static_cast<uint64_t>(ip->src_addr) << 32 | ip->dst_addr;
    uint32_t h = rte_hash_crc_8byte(key, ip->next_proto_id);
    if ((ip->next_proto_id == IPPROTO_TCP || ip->next_proto_id == IPPROTO_UDP) && !ipv4_is_fragment(ip)) {
        uint32_t ports;
        std::memcpy(&ports, reinterpret_cast<const uint8_t*>(ip) + (ip->version_ihl & 0xf) * 4, 4);
        h = rte_hash_crc_4byte(ports, h);
    }
    return rte_cpu_to_be_16(static_cast<uint16_t>(k_src_port_base | (h & k_src_port_mask)));
}

// Worker. `m` holds an Ethernet frame carrying IPv4 whose header is complete
// in the first segment; its Ethernet header is replaced by the template's
// inner one. Fails only without 50 bytes of headroom.
inline bool vxlan_encap(rte_mbuf* m, const encap_template& t, rte_be16_t src_port) {
    char* p = rte_pktmbuf_prepend(m, k_encap_overhead);
    if (unlikely(p == nullptr)) return false;
    std::memcpy(p, &t, sizeof t);
    auto* o = reinterpret_cast<vxlan_outer*>(p);
    const uint16_t ip_len = static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - sizeof(rte_ether_hdr));
    o->ip.total_length = rte_cpu_to_be_16(ip_len);
    o->ip.hdr_checksum = csum_adjust(t.outer.ip.hdr_checksum, 0, ip_len);
    o->udp.dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(ip_len - sizeof(rte_ipv4_hdr)));
    o->udp.src_port = src_port;
    return true;
}

enum class vxlan_status : uint8_t {
    ok,
    not_vxlan,        // UDP to another port: not ours to decapsulate
    outer_fragment,   // VXLAN must not arrive fragmented; we do not reassemble
    truncated,
    bad_udp_length,
    bad_udp_checksum,
    bad_flags,        // I flag clear
    wrong_vni,
    wrong_inner_mac,  // a peer with a stale VTEP MAC for us
    inner_not_ipv4,
};

struct vxlan_parse_result {
    vxlan_status status;
    uint16_t outer_len;  // bytes to strip to reach the inner Ethernet header
};

// Worker. The outer Ethernet and IPv4 headers are already validated and the
// IPv4 destination is ours with protocol UDP. `port_be` and `vni_be` are
// pre-converted (vni_be is the VNI shifted into the VXLAN header's layout).
inline vxlan_parse_result vxlan_parse(const rte_mbuf* m, rte_be16_t port_be, rte_be32_t vni_be,
                                      const rte_ether_addr& vtep_mac) {
    const auto* base = rte_pktmbuf_mtod(m, const uint8_t*);
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(base + sizeof(rte_ether_hdr));
    const uint16_t ihl = static_cast<uint16_t>((ip->version_ihl & 0xf) * 4);
    const uint16_t ip_len = rte_be_to_cpu_16(ip->total_length);
    const uint32_t l4_off = sizeof(rte_ether_hdr) + ihl;
    if (ip_len < ihl + sizeof(rte_udp_hdr)) return {vxlan_status::truncated, 0};
    const auto* udp = reinterpret_cast<const rte_udp_hdr*>(base + l4_off);
    if (udp->dst_port != port_be) return {vxlan_status::not_vxlan, 0};
    if (ipv4_is_fragment(ip)) return {vxlan_status::outer_fragment, 0};
    const uint16_t ulen = rte_be_to_cpu_16(udp->dgram_len);
    constexpr uint16_t k_min = sizeof(rte_udp_hdr) + sizeof(rte_vxlan_hdr) + sizeof(rte_ether_hdr);
    if (ulen < k_min || ip_len - ihl < k_min) return {vxlan_status::truncated, 0};
    if (ulen != ip_len - ihl) return {vxlan_status::bad_udp_length, 0};
    // RFC 7348: a zero UDP checksum is accepted; a non-zero one is verified.
    if (udp->dgram_cksum != 0) {
        const uint64_t ck = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
        if (ck == RTE_MBUF_F_RX_L4_CKSUM_BAD ||
            (ck != RTE_MBUF_F_RX_L4_CKSUM_GOOD && rte_ipv4_udptcp_cksum_verify(ip, udp) != 0))
            return {vxlan_status::bad_udp_checksum, 0};
    }
    const auto* vx = reinterpret_cast<const rte_vxlan_hdr*>(udp + 1);
    // Reserved bits are ignored on receipt (RFC 7348 section 5).
    if (!(reinterpret_cast<const uint8_t*>(&vx->vx_flags)[0] & k_vxlan_flag_i))
        return {vxlan_status::bad_flags, 0};
    if ((vx->vx_vni & rte_cpu_to_be_32(0xffffff00)) != vni_be) return {vxlan_status::wrong_vni, 0};
    const auto* inner = reinterpret_cast<const rte_ether_hdr*>(vx + 1);
    if (!rte_is_same_ether_addr(&inner->dst_addr, &vtep_mac)) return {vxlan_status::wrong_inner_mac, 0};
    if (inner->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) return {vxlan_status::inner_not_ipv4, 0};
    return {vxlan_status::ok, static_cast<uint16_t>(l4_off + sizeof(rte_udp_hdr) + sizeof(rte_vxlan_hdr))};
}

inline rte_be32_t vni_to_be(uint32_t vni) { return rte_cpu_to_be_32(vni << 8); }

}  // namespace vxr::encap
