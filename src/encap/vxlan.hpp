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

// The NIC's checksum verdicts (mbuf ol_flags), sorted by header. A NIC that
// parsed the tunnel (our UDP port registered as VXLAN, a tunnel type in
// packet_type) reports the inner headers in the plain RX_*_CKSUM flags and
// the outer ones in RX_OUTER_*; any other reports the outer headers in the
// plain flags and nothing about the inner ones.
inline bool rx_parsed_tunnel(const rte_mbuf* m) { return (m->packet_type & RTE_PTYPE_TUNNEL_MASK) != 0; }

// The outer IPv4 header's verdict, as RTE_MBUF_F_RX_IP_CKSUM_* (check_ipv4's
// form); RX_OUTER_IP has no "good" flag, so a parsed tunnel gives bad or unknown.
inline uint64_t rx_outer_ip_flags(const rte_mbuf* m) {
    if (!rx_parsed_tunnel(m)) return m->ol_flags;
    return (m->ol_flags & RTE_MBUF_F_RX_OUTER_IP_CKSUM_BAD) ? RTE_MBUF_F_RX_IP_CKSUM_BAD
                                                             : RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN;
}

// The inner IPv4 header's verdict, as RTE_MBUF_F_RX_IP_CKSUM_*.
inline uint64_t rx_inner_ip_flags(const rte_mbuf* m) { return rx_parsed_tunnel(m) ? m->ol_flags : 0; }

// The outer UDP checksum's verdict, as RTE_MBUF_F_RX_L4_CKSUM_*.
inline uint64_t rx_outer_l4_flags(const rte_mbuf* m) {
    if (!rx_parsed_tunnel(m)) return m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    switch (m->ol_flags & RTE_MBUF_F_RX_OUTER_L4_CKSUM_MASK) {
        case RTE_MBUF_F_RX_OUTER_L4_CKSUM_GOOD: return RTE_MBUF_F_RX_L4_CKSUM_GOOD;
        case RTE_MBUF_F_RX_OUTER_L4_CKSUM_BAD: return RTE_MBUF_F_RX_L4_CKSUM_BAD;
        default: return RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN;
    }
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

namespace detail {
// vxlan_parse for an outer IPv4 header of `ihl` bytes; inlined into each
// caller, so that for the usual 20 the header offsets are constants.
__attribute__((always_inline)) inline vxlan_parse_result vxlan_parse_ihl(const rte_mbuf* m, const uint8_t* base,
                                                                         uint16_t ihl, rte_be16_t port_be,
                                                                         rte_be32_t vni_be,
                                                                         const rte_ether_addr& vtep_mac) {
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(base + sizeof(rte_ether_hdr));
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
        const uint64_t ck = rx_outer_l4_flags(m);
        if (ck == RTE_MBUF_F_RX_L4_CKSUM_BAD ||
            (ck != RTE_MBUF_F_RX_L4_CKSUM_GOOD && rte_ipv4_udptcp_cksum_verify(ip, udp) != 0))
            return {vxlan_status::bad_udp_checksum, 0};
    }
    const auto* vx = reinterpret_cast<const rte_vxlan_hdr*>(udp + 1);
    // Reserved bits are ignored on receipt (RFC 7348 section 5), so one
    // masked compare of the 8-byte header checks the I flag and the VNI.
    uint64_t word;
    std::memcpy(&word, vx, sizeof word);
    constexpr uint64_t k_flag_i = k_vxlan_flag_i;  // the first byte, little-endian
    const uint64_t mask = static_cast<uint64_t>(rte_cpu_to_be_32(0xffffff00)) << 32 | k_flag_i;
    if (unlikely((word & mask) != (static_cast<uint64_t>(vni_be) << 32 | k_flag_i)))
        return {(word & k_flag_i) ? vxlan_status::wrong_vni : vxlan_status::bad_flags, 0};
    const auto* inner = reinterpret_cast<const rte_ether_hdr*>(vx + 1);
    if (!rte_is_same_ether_addr(&inner->dst_addr, &vtep_mac)) return {vxlan_status::wrong_inner_mac, 0};
    if (inner->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) return {vxlan_status::inner_not_ipv4, 0};
    return {vxlan_status::ok, static_cast<uint16_t>(l4_off + sizeof(rte_udp_hdr) + sizeof(rte_vxlan_hdr))};
}
}  // namespace detail

// Worker. The outer Ethernet and IPv4 headers are already validated and the
// IPv4 destination is ours with protocol UDP. `port_be` and `vni_be` are
// pre-converted (vni_be is the VNI shifted into the VXLAN header's layout).
inline vxlan_parse_result vxlan_parse(const rte_mbuf* m, rte_be16_t port_be, rte_be32_t vni_be,
                                      const rte_ether_addr& vtep_mac) {
    const auto* base = rte_pktmbuf_mtod(m, const uint8_t*);
    const uint8_t vhl = base[sizeof(rte_ether_hdr)];
    if (likely(vhl == RTE_IPV4_VHL_DEF))
        return detail::vxlan_parse_ihl(m, base, sizeof(rte_ipv4_hdr), port_be, vni_be, vtep_mac);
    return detail::vxlan_parse_ihl(m, base, static_cast<uint16_t>((vhl & 0xf) * 4), port_be, vni_be, vtep_mac);
}

inline rte_be32_t vni_to_be(uint32_t vni) { return rte_cpu_to_be_32(vni << 8); }

}  // namespace vxr::encap
