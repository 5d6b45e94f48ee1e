// The packet rewrites of Service translation (DNAT/SNAT), in place on an
// IPv4 packet, and the translation of ICMP errors about a translated flow.
// Runs on worker lcores: no allocation, no logging, no exceptions.
//
// Checksums are updated incrementally (RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'))
// on 16-bit words exactly as they lie in memory: one's-complement sums do not
// depend on byte order (RFC 1071 2.B), so no word is byte-swapped. DPDK 22.11
// has no incremental-update helper (rte_cksum.h arrived later), hence ours.
//
// L4 checksum and NIC offload. With no TX offload flag on the mbuf the L4
// checksum field holds the finished checksum and every changed word of the
// pseudo-header (addresses) or of the L4 header (ports) adjusts it. When the
// mbuf asks the NIC to finish it (RTE_MBUF_F_TX_TCP_CKSUM / _UDP_CKSUM, or
// TCP/UDP segmentation) the field instead holds the non-complemented
// pseudo-header sum rte_ipv4_phdr_cksum() produced (length 0 under TSO):
// an address change adds ~m + m' to it without the complements, and a port
// change leaves it alone (ports are not in the pseudo-header). With
// RTE_MBUF_F_TX_IP_CKSUM the NIC fills the IPv4 checksum and it is not touched.
//
// SCTP: its CRC32c (RFC 9260 6.8) covers the SCTP packet only, no
// pseudo-header, so an address change leaves it valid; a port change
// recomputes it over the whole SCTP packet with rte_hash_crc (O(length),
// not incremental), unless the mbuf asks for RTE_MBUF_F_TX_SCTP_CKSUM.
// Inside an ICMP error the CRC is never quoted in the first 8 bytes and is
// left as it is.
#pragma once

#include <cstddef>
#include <cstring>

#include <rte_mbuf.h>
#include <rte_sctp.h>
#include <rte_tcp.h>

#include "encap/wire.hpp"

namespace vxr::encap {

static_assert(sizeof(rte_tcp_hdr) == 20);
static_assert(sizeof(rte_sctp_hdr) == 12);

// A flow's 5-tuple in packet byte order (compared and hashed, never printed
// on a worker). For ICMP echo the identifier is both ports, so that the
// reply's tuple is the request's with the sides swapped.
struct ipv4_tuple {
    rte_be32_t src_addr = 0;
    rte_be32_t dst_addr = 0;
    rte_be16_t src_port = 0;
    rte_be16_t dst_port = 0;
    uint8_t proto = 0;
    uint8_t pad_[3] = {};  // zero, so the struct hashes as 16 bytes
    bool operator==(const ipv4_tuple&) const = default;
};
static_assert(sizeof(ipv4_tuple) == 16);

// Where a translated side of a flow goes: address and port, packet order.
struct l4_endpoint {
    rte_be32_t addr = 0;
    rte_be16_t port = 0;
};

enum class tuple_status : uint8_t {
    ok,
    truncated,    // header, options, total length or L4 header beyond `avail`
    bad_header,   // not IPv4, IHL < 5, total length < IHL
    fragment,     // any fragment: the later ones carry no ports
    icmp_error,   // an ICMP error: see icmp_error_inner
    unsupported,  // other protocol or ICMP message
};

// Parse the 5-tuple of the IPv4 packet at `ip`, of which `avail` bytes are
// contiguous in memory. TCP, UDP, SCTP, ICMP echo request/reply (identifier
// as port). Reads nothing beyond min(avail, total length). On ok the L4
// header starts at l4_of(ip) and the rewrites below may be used.
tuple_status extract_ipv4_tuple(const rte_ipv4_hdr* ip, uint32_t avail, ipv4_tuple& out);

inline uint8_t* l4_of(rte_ipv4_hdr* ip) {
    return reinterpret_cast<uint8_t*>(ip) + rte_ipv4_hdr_len(ip);
}

namespace detail {

// Accumulated change of some 16-bit words: sum of (~m + m').
struct csum_delta {
    uint32_t sum = 0;
    void word(uint16_t old_w, uint16_t new_w) { sum += static_cast<uint16_t>(~old_w) + uint32_t{new_w}; }
    void addr(uint32_t old_a, uint32_t new_a) {
        word(static_cast<uint16_t>(old_a), static_cast<uint16_t>(new_a));
        word(static_cast<uint16_t>(old_a >> 16), static_cast<uint16_t>(new_a >> 16));
    }
};

inline uint16_t fold(uint32_t s) {
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return static_cast<uint16_t>(s);
}
// A finished checksum: HC' = ~(~HC + delta).
inline uint16_t csum_apply(uint16_t hc, const csum_delta& d) {
    return static_cast<uint16_t>(~fold(static_cast<uint16_t>(~hc) + d.sum));
}
// A pseudo-header sum left for the NIC: P' = P + delta.
inline uint16_t psum_apply(uint16_t p, const csum_delta& d) { return fold(p + d.sum); }
// UDP: 0 means "no checksum" (RFC 768), a computed 0 goes out as 0xffff.
inline uint16_t udp_nonzero(uint16_t c) { return c == 0 ? 0xffff : c; }

inline bool l4_csum_offloaded(uint64_t ol_flags) {
    return (ol_flags & (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)) != 0;
}

// Recompute the CRC32c of the SCTP packet of `len` bytes at `sh`.
void sctp_recrc(rte_sctp_hdr* sh, uint32_t len);

// Packed DPDK fields cannot bind references: pick them by offset instead.
inline uint16_t load16(const void* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
inline void store16(void* p, uint16_t v) { std::memcpy(p, &v, 2); }

template <bool Dst>
inline void rewrite(rte_ipv4_hdr* ip, uint8_t* l4, rte_be32_t addr, rte_be16_t port, uint64_t ol_flags) {
    rte_be32_t old_addr;
    auto* af = reinterpret_cast<uint8_t*>(ip) + (Dst ? offsetof(rte_ipv4_hdr, dst_addr) : offsetof(rte_ipv4_hdr, src_addr));
    std::memcpy(&old_addr, af, 4);
    csum_delta d_addr;
    d_addr.addr(old_addr, addr);
    if (!(ol_flags & RTE_MBUF_F_TX_IP_CKSUM)) ip->hdr_checksum = csum_apply(ip->hdr_checksum, d_addr);
    std::memcpy(af, &addr, 4);
    // TCP, UDP and SCTP all open with source port, destination port.
    uint8_t* pf = l4 + (Dst ? 2 : 0);
    switch (ip->next_proto_id) {
        case IPPROTO_TCP: {
            auto* th = reinterpret_cast<rte_tcp_hdr*>(l4);
            if (l4_csum_offloaded(ol_flags)) {
                th->cksum = psum_apply(th->cksum, d_addr);
            } else {
                csum_delta d = d_addr;
                d.word(load16(pf), port);
                th->cksum = csum_apply(th->cksum, d);
            }
            store16(pf, port);
            break;
        }
        case IPPROTO_UDP: {
            auto* uh = reinterpret_cast<rte_udp_hdr*>(l4);
            if (l4_csum_offloaded(ol_flags)) {
                uh->dgram_cksum = psum_apply(uh->dgram_cksum, d_addr);
            } else if (uh->dgram_cksum != 0) {
                csum_delta d = d_addr;
                d.word(load16(pf), port);
                uh->dgram_cksum = udp_nonzero(csum_apply(uh->dgram_cksum, d));
            }
            store16(pf, port);
            break;
        }
        case IPPROTO_SCTP: {
            if (load16(pf) == port) break;
            store16(pf, port);
            if ((ol_flags & RTE_MBUF_F_TX_L4_MASK) != RTE_MBUF_F_TX_SCTP_CKSUM)
                sctp_recrc(reinterpret_cast<rte_sctp_hdr*>(l4),
                           static_cast<uint32_t>(rte_be_to_cpu_16(ip->total_length) - rte_ipv4_hdr_len(ip)));
            break;
        }
        case IPPROTO_ICMP: {
            // No pseudo-header: only the identifier's change counts.
            auto* ih = reinterpret_cast<rte_icmp_hdr*>(l4);
            if (ih->icmp_type != RTE_IP_ICMP_ECHO_REQUEST && ih->icmp_type != RTE_IP_ICMP_ECHO_REPLY) break;
            csum_delta d;
            d.word(ih->icmp_ident, port);
            ih->icmp_cksum = csum_apply(ih->icmp_cksum, d);
            ih->icmp_ident = port;
            break;
        }
        default:
            break;  // addresses only
    }
}

}  // namespace detail

// DNAT: the destination becomes `addr`:`port` (packet byte order); `l4` is
// l4_of(ip) after extract_ipv4_tuple returned ok on these bytes. For ICMP
// echo `port` is the new identifier. `ol_flags`: the mbuf's, see the top.
inline void rewrite_dst(rte_ipv4_hdr* ip, uint8_t* l4, rte_be32_t addr, rte_be16_t port, uint64_t ol_flags = 0) {
    detail::rewrite<true>(ip, l4, addr, port, ol_flags);
}
// SNAT: the source becomes `addr`:`port`; as rewrite_dst otherwise.
inline void rewrite_src(rte_ipv4_hdr* ip, uint8_t* l4, rte_be32_t addr, rte_be16_t port, uint64_t ol_flags = 0) {
    detail::rewrite<false>(ip, l4, addr, port, ol_flags);
}

// ---- ICMP errors about a translated flow (RFC 5508 4.2, RFC 1812 4.3.2.3) --

enum class icmp_error_status : uint8_t {
    ok,
    not_error,    // not ICMP, or an ICMP message other than the errors below
    truncated,    // outer header, ICMP header, quoted header or 8 bytes missing
    bad_inner,    // quoted header not IPv4, IHL < 5, or a non-initial fragment
    unsupported,  // quoted protocol without ports we translate
};

// The quoted packet of an ICMP error, located by icmp_error_inner.
struct icmp_error_ref {
    rte_icmp_hdr* icmp = nullptr;
    rte_ipv4_hdr* inner_ip = nullptr;
    uint8_t* inner_l4 = nullptr;
    uint16_t inner_l4_len = 0;  // quoted L4 bytes present, >= 8
    ipv4_tuple inner;           // as the offending packet carried it
};

// For an ICMP destination unreachable (incl. fragmentation needed), time
// exceeded or parameter problem at `outer` (`avail` contiguous bytes; the
// outer header already passed check_ipv4): find the quoted packet and its
// tuple, which is a tuple of the flow in the direction it was sent: look up
// conntrack with it. Reads nothing beyond min(avail, outer total length).
icmp_error_status icmp_error_inner(rte_ipv4_hdr* outer, uint32_t avail, icmp_error_ref& out);

// Rewrite the quoted packet's source to `*new_src` and/or its destination to
// `*new_dst` (null: that side unchanged), i.e. undo the flow's translation,
// updating the quoted IPv4 checksum, the quoted L4 checksum where quoted
// (UDP always; TCP if its checksum is in the quote; ICMP echo), the ICMP
// checksum for every changed word, and the outer header: its destination
// follows the quoted source, its source follows the quoted destination only
// when the error came from that host itself (a router on the path keeps its
// own address, so traceroute still shows it). Outer checksums in software.
void translate_icmp_error(rte_ipv4_hdr* outer, const icmp_error_ref& ref, const l4_endpoint* new_src,
                          const l4_endpoint* new_dst);

}  // namespace vxr::encap
