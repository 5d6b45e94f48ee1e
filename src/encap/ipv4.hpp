// IPv4 header checks (RFC 1812 5.2.2) and the small in-place edits a router
// makes. Runs on worker lcores: no allocation, no logging.
#pragma once

#include <rte_mbuf.h>

#include "encap/wire.hpp"

namespace vxr::encap {

enum class ipv4_check : uint8_t { ok, truncated, bad_version, bad_ihl, bad_length, bad_checksum };

namespace detail {
// The checksum step of check_ipv4: skipped when the NIC verified the header.
inline ipv4_check verify_ipv4_sum(const rte_ipv4_hdr* ip, uint32_t hlen, uint64_t ol_flags) {
    const uint64_t ck = ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    if (ck == RTE_MBUF_F_RX_IP_CKSUM_GOOD) return ipv4_check::ok;
    if (ck == RTE_MBUF_F_RX_IP_CKSUM_BAD) return ipv4_check::bad_checksum;
    // A correct header sums to 0xffff including its checksum field.
    return rte_raw_cksum(ip, hlen) == 0xffff ? ipv4_check::ok : ipv4_check::bad_checksum;
}
}  // namespace detail

// `avail` is how many bytes of the frame follow the IPv4 header's start.
// `ol_flags` are the NIC's verdict on this header's checksum (0: none).
inline ipv4_check check_ipv4(const rte_ipv4_hdr* ip, uint32_t avail, uint64_t ol_flags) {
    if (avail < sizeof(rte_ipv4_hdr)) return ipv4_check::truncated;
    if (likely(ip->version_ihl == RTE_IPV4_VHL_DEF)) {
        // No options, nearly always: one compare, and a constant length that
        // lets the compiler unroll DPDK's summing loop.
        const uint32_t tlen = rte_be_to_cpu_16(ip->total_length);
        if (tlen < sizeof(rte_ipv4_hdr) || tlen > avail) return ipv4_check::bad_length;
        return detail::verify_ipv4_sum(ip, sizeof(rte_ipv4_hdr), ol_flags);
    }
    if ((ip->version_ihl >> 4) != 4) return ipv4_check::bad_version;
    const uint32_t hlen = (ip->version_ihl & 0xf) * 4u;
    if (hlen < sizeof(rte_ipv4_hdr) || hlen > avail) return ipv4_check::bad_ihl;
    const uint32_t tlen = rte_be_to_cpu_16(ip->total_length);
    if (tlen < hlen || tlen > avail) return ipv4_check::bad_length;
    return detail::verify_ipv4_sum(ip, hlen, ol_flags);
}

inline bool ipv4_is_fragment(const rte_ipv4_hdr* ip) {
    return (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0;
}
inline bool ipv4_df(const rte_ipv4_hdr* ip) {
    return (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG)) != 0;
}

// One's-complement add of a 16-bit host-order delta into a stored checksum
// (RFC 1624, eqn. 3): keeps routing edits O(1) instead of re-summing.
inline uint16_t csum_adjust(uint16_t csum_be, uint16_t old_host, uint16_t new_host) {
    uint32_t sum = static_cast<uint16_t>(~rte_be_to_cpu_16(csum_be)) + static_cast<uint16_t>(~old_host) + new_host;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return rte_cpu_to_be_16(static_cast<uint16_t>(~sum));
}

// TTL is the high byte of the TTL/protocol word.
inline void ipv4_dec_ttl(rte_ipv4_hdr* ip) {
    const uint16_t old_word = static_cast<uint16_t>(ip->time_to_live << 8 | ip->next_proto_id);
    --ip->time_to_live;
    ip->hdr_checksum = csum_adjust(ip->hdr_checksum, old_word, static_cast<uint16_t>(old_word - 0x100));
}

}  // namespace vxr::encap
