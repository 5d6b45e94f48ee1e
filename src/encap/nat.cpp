// Tuple extraction, SCTP CRC and ICMP error translation for Service NAT.
// Runs on worker lcores: no allocation, no logging.
#include "encap/nat.hpp"

#include <algorithm>

#include <rte_hash_crc.h>

#include "encap/icmp.hpp"
#include "encap/ipv4.hpp"

namespace vxr::encap {

namespace {

constexpr uint8_t k_icmp_param_problem = 12;  // RFC 792; not in icmp.hpp

using detail::load16;
using detail::store16;

bool is_echo(uint8_t type) { return type == RTE_IP_ICMP_ECHO_REQUEST || type == RTE_IP_ICMP_ECHO_REPLY; }

// The errors that quote the offending packet and that RFC 5508 4.2 asks a
// NAT to translate; redirect and source quench are not forwarded across it.
bool is_translated_error(uint8_t type) {
    return type == k_icmp_dest_unreach || type == k_icmp_time_exceeded || type == k_icmp_param_problem;
}

// Where the port words lie in an L4 header (ICMP echo: the identifier).
constexpr uint32_t k_port_src = 0, k_port_dst = 2, k_icmp_ident = 4;
constexpr uint32_t k_tcp_cksum = 16, k_udp_cksum = 6, k_icmp_cksum = 2;

}  // namespace

tuple_status extract_ipv4_tuple(const rte_ipv4_hdr* ip, uint32_t avail, ipv4_tuple& out) {
    if (avail < sizeof(rte_ipv4_hdr)) return tuple_status::truncated;
    if ((ip->version_ihl >> 4) != 4) return tuple_status::bad_header;
    const uint32_t hlen = (ip->version_ihl & 0xfu) * 4u;
    if (hlen < sizeof(rte_ipv4_hdr)) return tuple_status::bad_header;
    if (hlen > avail) return tuple_status::truncated;
    const uint32_t tlen = rte_be_to_cpu_16(ip->total_length);
    if (tlen < hlen) return tuple_status::bad_header;
    if (tlen > avail) return tuple_status::truncated;
    if (ipv4_is_fragment(ip)) return tuple_status::fragment;
    const auto* l4 = reinterpret_cast<const uint8_t*>(ip) + hlen;
    const uint32_t l4_len = tlen - hlen;
    out = ipv4_tuple{};
    out.src_addr = ip->src_addr;
    out.dst_addr = ip->dst_addr;
    out.proto = ip->next_proto_id;
    switch (ip->next_proto_id) {
        case IPPROTO_TCP:
        case IPPROTO_UDP:
        case IPPROTO_SCTP: {
            const uint32_t need = ip->next_proto_id == IPPROTO_TCP   ? sizeof(rte_tcp_hdr)
                                  : ip->next_proto_id == IPPROTO_UDP ? sizeof(rte_udp_hdr)
                                                                     : sizeof(rte_sctp_hdr);
            if (l4_len < need) return tuple_status::truncated;
            out.src_port = load16(l4 + k_port_src);
            out.dst_port = load16(l4 + k_port_dst);
            return tuple_status::ok;
        }
        case IPPROTO_ICMP: {
            if (l4_len < sizeof(rte_icmp_hdr)) return tuple_status::truncated;
            if (is_echo(l4[0])) {
                out.src_port = out.dst_port = load16(l4 + k_icmp_ident);
                return tuple_status::ok;
            }
            return is_translated_error(l4[0]) ? tuple_status::icmp_error : tuple_status::unsupported;
        }
        default:
            return tuple_status::unsupported;
    }
}

namespace detail {
namespace {
// rte_hash_crc's loop, with loads that may be unaligned (the SCTP header
// follows a 14-byte Ethernet header): same instructions on x86, no UB.
uint32_t crc32c_unaligned(const uint8_t* p, uint32_t len, uint32_t crc) {
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        std::memcpy(&v, p, 8);
        crc = rte_hash_crc_8byte(v, crc);
    }
    if (len & 4) {
        uint32_t v;
        std::memcpy(&v, p, 4);
        crc = rte_hash_crc_4byte(v, crc);
        p += 4;
    }
    if (len & 2) {
        crc = rte_hash_crc_2byte(load16(p), crc);
        p += 2;
    }
    if (len & 1) crc = rte_hash_crc_1byte(*p, crc);
    return crc;
}
}  // namespace

void sctp_recrc(rte_sctp_hdr* sh, uint32_t len) {
    // RFC 9260 appendix A: CRC32c from all ones, complemented, and stored
    // in the byte order the reflected CRC produces it (little-endian), as
    // Linux's sctp_compute_cksum does.
    sh->cksum = 0;
    sh->cksum = rte_cpu_to_le_32(~crc32c_unaligned(reinterpret_cast<const uint8_t*>(sh), len, 0xffffffffu));
}
}  // namespace detail

icmp_error_status icmp_error_inner(rte_ipv4_hdr* outer, uint32_t avail, icmp_error_ref& out) {
    if (avail < sizeof(rte_ipv4_hdr)) return icmp_error_status::truncated;
    if (outer->next_proto_id != IPPROTO_ICMP) return icmp_error_status::not_error;
    const uint32_t hlen = (outer->version_ihl & 0xfu) * 4u;
    const uint32_t tlen = rte_be_to_cpu_16(outer->total_length);
    if (hlen < sizeof(rte_ipv4_hdr) || tlen < hlen) return icmp_error_status::truncated;
    // A fragmented error would need every fragment's outer header rewritten.
    if (ipv4_is_fragment(outer)) return icmp_error_status::not_error;
    const uint32_t end = std::min(avail, tlen);
    if (end < hlen + sizeof(rte_icmp_hdr)) return icmp_error_status::truncated;
    auto* icmp = reinterpret_cast<rte_icmp_hdr*>(reinterpret_cast<uint8_t*>(outer) + hlen);
    if (!is_translated_error(icmp->icmp_type)) return icmp_error_status::not_error;

    const uint32_t quoted = end - hlen - static_cast<uint32_t>(sizeof(rte_icmp_hdr));
    if (quoted < sizeof(rte_ipv4_hdr)) return icmp_error_status::truncated;
    auto* in = reinterpret_cast<rte_ipv4_hdr*>(icmp + 1);
    if ((in->version_ihl >> 4) != 4) return icmp_error_status::bad_inner;
    const uint32_t in_hlen = (in->version_ihl & 0xfu) * 4u;
    if (in_hlen < sizeof(rte_ipv4_hdr)) return icmp_error_status::bad_inner;
    if (quoted < in_hlen + 8) return icmp_error_status::truncated;
    if (in->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_OFFSET_MASK)) return icmp_error_status::bad_inner;
    uint8_t* l4 = reinterpret_cast<uint8_t*>(in) + in_hlen;

    ipv4_tuple t{};
    t.src_addr = in->src_addr;
    t.dst_addr = in->dst_addr;
    t.proto = in->next_proto_id;
    switch (in->next_proto_id) {
        case IPPROTO_TCP:
        case IPPROTO_UDP:
        case IPPROTO_SCTP:
            t.src_port = load16(l4 + k_port_src);
            t.dst_port = load16(l4 + k_port_dst);
            break;
        case IPPROTO_ICMP:
            if (!is_echo(l4[0])) return icmp_error_status::unsupported;
            t.src_port = t.dst_port = load16(l4 + k_icmp_ident);
            break;
        default:
            return icmp_error_status::unsupported;
    }
    out.icmp = icmp;
    out.inner_ip = in;
    out.inner_l4 = l4;
    out.inner_l4_len = static_cast<uint16_t>(quoted - in_hlen);
    out.inner = t;
    return icmp_error_status::ok;
}

void translate_icmp_error(rte_ipv4_hdr* outer, const icmp_error_ref& ref, const l4_endpoint* new_src,
                          const l4_endpoint* new_dst) {
    rte_ipv4_hdr* in = ref.inner_ip;
    uint8_t* l4 = ref.inner_l4;
    const uint8_t proto = in->next_proto_id;
    const bool has_pseudo = proto == IPPROTO_TCP || proto == IPPROTO_UDP;
    // Every quoted word lies at an even offset from the ICMP header (the
    // quote starts 8 bytes in, IHL counts 4-byte words), so each changed
    // word is also a word of the ICMP checksum.
    detail::csum_delta d_ip, d_l4, d_icmp, d_outer;
    const rte_be32_t old_src = in->src_addr;
    const rte_be32_t old_dst = in->dst_addr;

    auto side = [&](size_t addr_off, uint32_t port_off, const l4_endpoint& to) {
        auto* af = reinterpret_cast<uint8_t*>(in) + addr_off;
        rte_be32_t addr;
        std::memcpy(&addr, af, 4);
        d_ip.addr(addr, to.addr);
        d_icmp.addr(addr, to.addr);
        if (has_pseudo) d_l4.addr(addr, to.addr);
        std::memcpy(af, &to.addr, 4);
        const uint16_t p = load16(l4 + port_off);
        d_l4.word(p, to.port);
        d_icmp.word(p, to.port);
        store16(l4 + port_off, to.port);
    };
    const bool echo = proto == IPPROTO_ICMP;
    if (new_src != nullptr) side(offsetof(rte_ipv4_hdr, src_addr), echo ? k_icmp_ident : k_port_src, *new_src);
    if (new_dst != nullptr) side(offsetof(rte_ipv4_hdr, dst_addr), echo ? k_icmp_ident : k_port_dst, *new_dst);

    const uint16_t ip_old = in->hdr_checksum;
    in->hdr_checksum = detail::csum_apply(ip_old, d_ip);
    d_icmp.word(ip_old, in->hdr_checksum);

    // The quoted L4 checksum, where the quote holds it. It covers the whole
    // original datagram, of which only part is quoted, but its change is
    // the change of the words we rewrote, so the update stays exact.
    uint32_t ck_off = 0;
    bool have_ck = false;
    if (proto == IPPROTO_UDP) {
        ck_off = k_udp_cksum;
        have_ck = load16(l4 + ck_off) != 0;  // 0: the sender sent none
    } else if (proto == IPPROTO_TCP) {
        ck_off = k_tcp_cksum;
        have_ck = ref.inner_l4_len >= k_tcp_cksum + 2;
    } else if (echo) {
        ck_off = k_icmp_cksum;
        have_ck = true;
    }
    if (have_ck) {
        const uint16_t c_old = load16(l4 + ck_off);
        uint16_t c_new = detail::csum_apply(c_old, d_l4);
        if (proto == IPPROTO_UDP) c_new = detail::udp_nonzero(c_new);
        d_icmp.word(c_old, c_new);
        store16(l4 + ck_off, c_new);
    }
    ref.icmp->icmp_cksum = detail::csum_apply(ref.icmp->icmp_cksum, d_icmp);

    // The error goes back to whoever sent the quoted packet; it came from
    // the quoted destination itself only if the addresses say so.
    if (new_src != nullptr && outer->dst_addr == old_src) {
        d_outer.addr(outer->dst_addr, new_src->addr);
        outer->dst_addr = new_src->addr;
    }
    if (new_dst != nullptr && outer->src_addr == old_dst) {
        d_outer.addr(outer->src_addr, new_dst->addr);
        outer->src_addr = new_dst->addr;
    }
    outer->hdr_checksum = detail::csum_apply(outer->hdr_checksum, d_outer);
}

}  // namespace vxr::encap
