// Service NAT rewrites (src/encap/nat.hpp) against full recomputation.
//
// Packets are built here field by field; their checksums come from DPDK's
// full-sum helpers (rte_ipv4_cksum, rte_ipv4_udptcp_cksum, rte_raw_cksum,
// rte_ipv4_phdr_cksum) and, for SCTP, from a bitwise CRC32c written here
// from RFC 9260 appendix A and checked against the RFC 3720 B.4 vector.
// After every incremental rewrite each checksum is recomputed in full and
// must equal the stored one exactly (both sides produce the canonical
// one's-complement form), and translated packets are compared byte for byte
// with the packet built directly with the translated fields.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <rte_ip.h>
#include <rte_mbuf.h>

#include "encap/icmp.hpp"
#include "encap/nat.hpp"

namespace vxr::encap {
namespace {

using bytes = std::vector<uint8_t>;

// ---- an independent packet builder ------------------------------------------

struct spec {
    uint8_t proto = IPPROTO_TCP;
    uint32_t src = 0, dst = 0;      // host order
    uint16_t sport = 0, dport = 0;  // host order; ICMP echo: sport is the id
    uint8_t opt_words = 0;          // IPv4 options (NOPs), 4-byte words
    uint16_t ip_id = 0;
    uint8_t ttl = 64;
    uint32_t seq = 0, ack = 0;
    uint16_t win = 0;
    uint16_t echo_seq = 0;
    uint8_t icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
    bool udp_no_csum = false;
    bytes payload;
};

void put16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8), p[1] = uint8_t(v); }
void put32(uint8_t* p, uint32_t v) { put16(p, uint16_t(v >> 16)), put16(p + 2, uint16_t(v)); }

uint32_t crc32c_ref(const uint8_t* p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; ++i) {
        c ^= p[i];
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return ~c;
}
// SCTP stores the CRC least significant byte first (what Linux and every
// capture carry).
uint32_t sctp_stored_crc(const uint8_t* l4) { return l4[8] | l4[9] << 8 | l4[10] << 16 | uint32_t(l4[11]) << 24; }

size_t l4_hdr_len(uint8_t proto) {
    switch (proto) {
        case IPPROTO_TCP: return 20;
        case IPPROTO_SCTP: return 12;
        default: return 8;  // UDP, ICMP
    }
}

bytes build(const spec& s) {
    const size_t hlen = 20 + 4u * s.opt_words;
    const size_t l4len = l4_hdr_len(s.proto) + s.payload.size();
    bytes b(hlen + l4len, 0);
    uint8_t* ip = b.data();
    ip[0] = uint8_t(0x40 | (hlen / 4));
    put16(ip + 2, uint16_t(b.size()));
    put16(ip + 4, s.ip_id);
    put16(ip + 6, 0x4000);  // DF
    ip[8] = s.ttl;
    ip[9] = s.proto;
    put32(ip + 12, s.src);
    put32(ip + 16, s.dst);
    std::memset(ip + 20, 1, hlen - 20);  // NOP options
    uint8_t* l4 = ip + hlen;
    if (!s.payload.empty()) std::memcpy(l4 + l4_hdr_len(s.proto), s.payload.data(), s.payload.size());
    auto* iph = reinterpret_cast<rte_ipv4_hdr*>(ip);
    switch (s.proto) {
        case IPPROTO_TCP:
            put16(l4, s.sport), put16(l4 + 2, s.dport), put32(l4 + 4, s.seq), put32(l4 + 8, s.ack);
            l4[12] = 0x50, l4[13] = 0x18, put16(l4 + 14, s.win);
            reinterpret_cast<rte_tcp_hdr*>(l4)->cksum = rte_ipv4_udptcp_cksum(iph, l4);
            break;
        case IPPROTO_UDP:
            put16(l4, s.sport), put16(l4 + 2, s.dport), put16(l4 + 4, uint16_t(l4len));
            if (!s.udp_no_csum) reinterpret_cast<rte_udp_hdr*>(l4)->dgram_cksum = rte_ipv4_udptcp_cksum(iph, l4);
            break;
        case IPPROTO_SCTP: {
            put16(l4, s.sport), put16(l4 + 2, s.dport), put32(l4 + 4, s.seq);
            const uint32_t crc = crc32c_ref(l4, l4len);
            l4[8] = uint8_t(crc), l4[9] = uint8_t(crc >> 8), l4[10] = uint8_t(crc >> 16), l4[11] = uint8_t(crc >> 24);
            break;
        }
        case IPPROTO_ICMP:
            l4[0] = s.icmp_type, put16(l4 + 4, s.sport), put16(l4 + 6, s.echo_seq);
            reinterpret_cast<rte_icmp_hdr*>(l4)->icmp_cksum = uint16_t(~rte_raw_cksum(l4, l4len));
            break;
    }
    iph->hdr_checksum = rte_ipv4_cksum(iph);
    return b;
}

// An ICMP error from `src` to `dst` quoting the first `quote` bytes of `offending`.
bytes build_error(uint32_t src, uint32_t dst, uint8_t type, uint8_t code, uint16_t mtu, const bytes& offending,
                  size_t quote) {
    bytes b(20 + 8 + quote, 0);
    uint8_t* ip = b.data();
    ip[0] = 0x45, ip[8] = 64, ip[9] = IPPROTO_ICMP;
    put16(ip + 2, uint16_t(b.size()));
    put32(ip + 12, src), put32(ip + 16, dst);
    uint8_t* icmp = ip + 20;
    icmp[0] = type, icmp[1] = code;
    put16(icmp + 6, mtu);
    std::memcpy(icmp + 8, offending.data(), quote);
    reinterpret_cast<rte_icmp_hdr*>(icmp)->icmp_cksum = uint16_t(~rte_raw_cksum(icmp, 8 + quote));
    reinterpret_cast<rte_ipv4_hdr*>(ip)->hdr_checksum = rte_ipv4_cksum(reinterpret_cast<rte_ipv4_hdr*>(ip));
    return b;
}

rte_ipv4_hdr* ip_of(bytes& b) { return reinterpret_cast<rte_ipv4_hdr*>(b.data()); }

// Every checksum of `b`, recomputed in full, equals the stored one.
void expect_checksums(const bytes& b) {
    bytes c = b;
    auto* ip = ip_of(c);
    const uint16_t ip_stored = ip->hdr_checksum;
    ip->hdr_checksum = 0;
    EXPECT_EQ(rte_ipv4_cksum(ip), ip_stored) << "IPv4 header checksum";
    ip->hdr_checksum = ip_stored;
    uint8_t* l4 = l4_of(ip);
    const size_t l4len = c.size() - rte_ipv4_hdr_len(ip);
    switch (ip->next_proto_id) {
        case IPPROTO_TCP: {
            auto* th = reinterpret_cast<rte_tcp_hdr*>(l4);
            EXPECT_EQ(rte_ipv4_udptcp_cksum_verify(ip, l4), 0);
            const uint16_t stored = th->cksum;
            th->cksum = 0;
            EXPECT_EQ(rte_ipv4_udptcp_cksum(ip, l4), stored) << "TCP checksum";
            break;
        }
        case IPPROTO_UDP: {
            auto* uh = reinterpret_cast<rte_udp_hdr*>(l4);
            if (uh->dgram_cksum == 0) break;
            EXPECT_EQ(rte_ipv4_udptcp_cksum_verify(ip, l4), 0);
            const uint16_t stored = uh->dgram_cksum;
            uh->dgram_cksum = 0;
            EXPECT_EQ(rte_ipv4_udptcp_cksum(ip, l4), stored) << "UDP checksum";
            break;
        }
        case IPPROTO_SCTP: {
            const uint32_t stored = sctp_stored_crc(l4);
            std::memset(l4 + 8, 0, 4);
            EXPECT_EQ(crc32c_ref(l4, l4len), stored) << "SCTP CRC32c";
            break;
        }
        case IPPROTO_ICMP:
            EXPECT_EQ(rte_raw_cksum(l4, l4len), 0xffff) << "ICMP checksum";
            break;
    }
}

struct rng_t {
    std::mt19937 gen;
    explicit rng_t(uint32_t seed) : gen(seed) {}
    uint32_t u32() { return static_cast<uint32_t>(gen()); }
    uint16_t u16() { return static_cast<uint16_t>(gen()); }
    uint32_t below(uint32_t n) { return u32() % n; }
    spec random_spec(uint8_t proto) {
        spec s;
        s.proto = proto;
        s.src = u32(), s.dst = u32(), s.sport = u16(), s.dport = u16();
        s.opt_words = below(4) == 0 ? uint8_t(1 + below(3)) : 0;
        s.ip_id = u16(), s.ttl = uint8_t(1 + below(255));
        s.seq = u32(), s.ack = u32(), s.win = u16(), s.echo_seq = u16();
        s.payload.resize(below(301));  // odd lengths too
        for (auto& x : s.payload) x = static_cast<uint8_t>(gen());
        return s;
    }
};

rte_be32_t be32(uint32_t v) { return rte_cpu_to_be_32(v); }
rte_be16_t be16(uint16_t v) { return rte_cpu_to_be_16(v); }

// ---- rewrite_dst / rewrite_src ----------------------------------------------

TEST(nat_rewrite, random_tcp_udp_match_a_fresh_build) {
    rng_t r(0x6e617431);
    for (int i = 0; i < 4000; ++i) {
        const uint8_t proto = i % 2 ? IPPROTO_UDP : IPPROTO_TCP;
        spec s = r.random_spec(proto);
        bytes b = build(s);
        SCOPED_TRACE(testing::Message() << "iteration " << i << " proto " << int(proto));
        ipv4_tuple t;
        ASSERT_EQ(extract_ipv4_tuple(ip_of(b), uint32_t(b.size()), t), tuple_status::ok);
        EXPECT_EQ(t.src_addr, be32(s.src));
        EXPECT_EQ(t.dst_port, be16(s.dport));
        EXPECT_EQ(t.proto, proto);

        // DNAT, then SNAT of the same packet (NodePort to a remote backend).
        s.dst = r.u32(), s.dport = r.u16();
        rewrite_dst(ip_of(b), l4_of(ip_of(b)), be32(s.dst), be16(s.dport));
        expect_checksums(b);
        ASSERT_EQ(b, build(s));
        s.src = r.u32(), s.sport = r.u16();
        rewrite_src(ip_of(b), l4_of(ip_of(b)), be32(s.src), be16(s.sport));
        expect_checksums(b);
        ASSERT_EQ(b, build(s));
        // Address only, port only.
        s.dst = r.u32();
        rewrite_dst(ip_of(b), l4_of(ip_of(b)), be32(s.dst), be16(s.dport));
        ASSERT_EQ(b, build(s));
        s.sport = r.u16();
        rewrite_src(ip_of(b), l4_of(ip_of(b)), be32(s.src), be16(s.sport));
        ASSERT_EQ(b, build(s));
    }
}

TEST(nat_rewrite, dnat_then_reverse_restores_the_original_bytes) {
    rng_t r(0x6e617432);
    for (int i = 0; i < 2000; ++i) {
        const uint8_t proto = i % 2 ? IPPROTO_UDP : IPPROTO_TCP;
        const spec request = r.random_spec(proto);  // client -> VIP
        const bytes original = build(request);
        bytes b = original;
        const uint32_t backend = r.u32();
        const uint16_t backend_port = r.u16();
        rewrite_dst(ip_of(b), l4_of(ip_of(b)), be32(backend), be16(backend_port));
        ASSERT_NE(b, original);
        rewrite_dst(ip_of(b), l4_of(ip_of(b)), be32(request.dst), be16(request.dport));
        ASSERT_EQ(b, original) << "iteration " << i;

        // The backend's reply, SNATed back to the VIP, is the reply the VIP
        // would have sent.
        spec reply = r.random_spec(proto);
        reply.src = backend, reply.sport = backend_port, reply.dst = request.src, reply.dport = request.sport;
        bytes rb = build(reply);
        rewrite_src(ip_of(rb), l4_of(ip_of(rb)), be32(request.dst), be16(request.dport));
        reply.src = request.dst, reply.sport = request.dport;
        ASSERT_EQ(rb, build(reply)) << "iteration " << i;
    }
}

TEST(nat_rewrite, udp_without_checksum_stays_without) {
    rng_t r(0x6e617433);
    for (int i = 0; i < 1000; ++i) {
        spec s = r.random_spec(IPPROTO_UDP);
        s.udp_no_csum = true;
        bytes b = build(s);
        s.dst = r.u32(), s.dport = r.u16(), s.src = r.u32(), s.sport = r.u16();
        rewrite_dst(ip_of(b), l4_of(ip_of(b)), be32(s.dst), be16(s.dport));
        rewrite_src(ip_of(b), l4_of(ip_of(b)), be32(s.src), be16(s.sport));
        ASSERT_EQ(reinterpret_cast<rte_udp_hdr*>(l4_of(ip_of(b)))->dgram_cksum, 0);
        ASSERT_EQ(b, build(s));
        expect_checksums(b);
    }
}

TEST(nat_rewrite, udp_computed_zero_is_sent_as_ffff) {
    rng_t r(0x6e617434);
    int found = 0;
    for (int i = 0; i < 20; ++i) {
        spec s = r.random_spec(IPPROTO_UDP);
        bytes b = build(s);
        // Search, by full recomputation only, the destination port whose
        // checksum computes to 0 (DPDK then stores 0xffff).
        spec probe = s;
        probe.dst = r.u32();
        int port = -1;
        for (int p = 0; p < 65536 && port < 0; ++p) {
            probe.dport = uint16_t(p);
            bytes pb = build(probe);
            if (reinterpret_cast<rte_udp_hdr*>(l4_of(ip_of(pb)))->dgram_cksum == 0xffff) port = p;
        }
        if (port < 0) continue;
        ++found;
        rewrite_dst(ip_of(b), l4_of(ip_of(b)), be32(probe.dst), be16(uint16_t(port)));
        EXPECT_EQ(reinterpret_cast<rte_udp_hdr*>(l4_of(ip_of(b)))->dgram_cksum, 0xffff);
        expect_checksums(b);
        // And from a stored 0xffff onwards, the next rewrite is exact again.
        probe.dport = uint16_t(port);
        ASSERT_EQ(b, build(probe));
        s.dst = r.u32(), s.dport = r.u16();
        rewrite_dst(ip_of(b), l4_of(ip_of(b)), be32(s.dst), be16(s.dport));
        ASSERT_EQ(b, build(s));
    }
    EXPECT_GE(found, 15);  // nearly every destination has such a port
}

TEST(nat_rewrite, offload_keeps_the_pseudo_header_sum) {
    rng_t r(0x6e617435);
    const uint64_t tcp_flags[] = {RTE_MBUF_F_TX_TCP_CKSUM, RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM,
                                  RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IP_CKSUM};
    const uint64_t udp_flags[] = {RTE_MBUF_F_TX_UDP_CKSUM, RTE_MBUF_F_TX_UDP_CKSUM | RTE_MBUF_F_TX_IP_CKSUM};
    for (int i = 0; i < 3000; ++i) {
        const bool tcp = i % 2 == 0;
        const uint64_t fl = tcp ? tcp_flags[r.below(3)] : udp_flags[r.below(2)];
        spec s = r.random_spec(tcp ? IPPROTO_TCP : IPPROTO_UDP);
        bytes b = build(s);
        auto* ip = ip_of(b);
        uint8_t* l4 = l4_of(ip);
        auto* ck = reinterpret_cast<rte_be16_t*>(l4 + (tcp ? 16 : 6));
        // What a sender asking for offload leaves in the packet.
        *ck = rte_ipv4_phdr_cksum(ip, fl);
        if (fl & RTE_MBUF_F_TX_IP_CKSUM) ip->hdr_checksum = 0;
        rewrite_dst(ip, l4, be32(r.u32()), be16(r.u16()), fl);
        rewrite_src(ip, l4, be32(r.u32()), be16(r.u16()), fl);
        ASSERT_EQ(*ck, rte_ipv4_phdr_cksum(ip, fl)) << "iteration " << i;
        if (fl & RTE_MBUF_F_TX_IP_CKSUM) {
            ASSERT_EQ(ip->hdr_checksum, 0);
        } else {
            const uint16_t stored = ip->hdr_checksum;
            ip->hdr_checksum = 0;
            ASSERT_EQ(rte_ipv4_cksum(ip), stored);
        }
    }
}

TEST(nat_rewrite, icmp_echo_identifier_is_the_port) {
    rng_t r(0x6e617436);
    for (int i = 0; i < 1000; ++i) {
        spec s = r.random_spec(IPPROTO_ICMP);
        s.icmp_type = i % 2 ? RTE_IP_ICMP_ECHO_REPLY : RTE_IP_ICMP_ECHO_REQUEST;
        bytes b = build(s);
        ipv4_tuple t;
        ASSERT_EQ(extract_ipv4_tuple(ip_of(b), uint32_t(b.size()), t), tuple_status::ok);
        EXPECT_EQ(t.src_port, be16(s.sport));
        EXPECT_EQ(t.dst_port, be16(s.sport));
        s.src = r.u32(), s.sport = r.u16();
        rewrite_src(ip_of(b), l4_of(ip_of(b)), be32(s.src), be16(s.sport));
        ASSERT_EQ(b, build(s));
        s.dst = r.u32();
        rewrite_dst(ip_of(b), l4_of(ip_of(b)), be32(s.dst), be16(s.sport));
        ASSERT_EQ(b, build(s));
        expect_checksums(b);
    }
}

TEST(nat_rewrite, sctp_crc32c) {
    const uint8_t vec[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    ASSERT_EQ(crc32c_ref(vec, sizeof vec), 0xe3069283u);  // RFC 3720 B.4 check value
    rng_t r(0x6e617437);
    for (int i = 0; i < 1000; ++i) {
        spec s = r.random_spec(IPPROTO_SCTP);
        bytes b = build(s);
        const uint32_t crc_before = sctp_stored_crc(l4_of(ip_of(b)));
        s.dst = r.u32();  // address only: no pseudo-header, the CRC stays
        rewrite_dst(ip_of(b), l4_of(ip_of(b)), be32(s.dst), be16(s.dport));
        EXPECT_EQ(sctp_stored_crc(l4_of(ip_of(b))), crc_before);
        ASSERT_EQ(b, build(s));
        s.src = r.u32(), s.sport = uint16_t(s.sport + 1 + r.below(65535));
        rewrite_src(ip_of(b), l4_of(ip_of(b)), be32(s.src), be16(s.sport));
        ASSERT_EQ(b, build(s)) << "iteration " << i;
        expect_checksums(b);
        // Offloaded: the port changes, the CRC is the NIC's business.
        const uint32_t crc_now = sctp_stored_crc(l4_of(ip_of(b)));
        rewrite_dst(ip_of(b), l4_of(ip_of(b)), be32(s.dst), be16(uint16_t(s.dport + 1)), RTE_MBUF_F_TX_SCTP_CKSUM);
        EXPECT_EQ(sctp_stored_crc(l4_of(ip_of(b))), crc_now);
    }
}

// ---- extract_ipv4_tuple -----------------------------------------------------

TEST(nat_tuple, every_truncation_is_refused) {
    rng_t r(0x6e617438);
    for (uint8_t proto : {uint8_t(IPPROTO_TCP), uint8_t(IPPROTO_UDP), uint8_t(IPPROTO_SCTP), uint8_t(IPPROTO_ICMP)}) {
        spec s = r.random_spec(proto);
        s.payload.clear();
        s.opt_words = 2;
        const bytes full = build(s);
        ipv4_tuple t;
        for (size_t len = 0; len < full.size(); ++len) {
            // Exactly `len` bytes on the heap: a read past them is an ASan error.
            bytes cut(full.begin(), full.begin() + static_cast<long>(len));
            EXPECT_NE(extract_ipv4_tuple(reinterpret_cast<const rte_ipv4_hdr*>(cut.data()), uint32_t(len), t),
                      tuple_status::ok) << "proto " << int(proto) << " len " << len;
            // Same bytes, total length telling the truth: still too short.
            if (len >= 28) {
                put16(cut.data() + 2, uint16_t(len));
                EXPECT_EQ(extract_ipv4_tuple(reinterpret_cast<const rte_ipv4_hdr*>(cut.data()), uint32_t(len), t),
                          tuple_status::truncated);
            }
        }
        bytes exact = full;
        EXPECT_EQ(extract_ipv4_tuple(ip_of(exact), uint32_t(exact.size()), t), tuple_status::ok);
    }
}

TEST(nat_tuple, headers_fragments_and_protocols) {
    rng_t r(0x6e617439);
    spec s = r.random_spec(IPPROTO_UDP);
    ipv4_tuple t;
    auto status = [&](bytes b) { return extract_ipv4_tuple(ip_of(b), uint32_t(b.size()), t); };
    bytes b = build(s);
    bytes v6 = b;
    v6[0] = 0x65;
    EXPECT_EQ(status(v6), tuple_status::bad_header);
    bytes ihl4 = b;
    ihl4[0] = 0x44;
    EXPECT_EQ(status(ihl4), tuple_status::bad_header);
    bytes short_total = b;
    put16(short_total.data() + 2, 19);
    EXPECT_EQ(status(short_total), tuple_status::bad_header);
    bytes mf = b;
    put16(mf.data() + 6, 0x2000);
    EXPECT_EQ(status(mf), tuple_status::fragment);
    bytes later = b;
    put16(later.data() + 6, 0x0010);
    EXPECT_EQ(status(later), tuple_status::fragment);
    bytes gre = b;
    gre[9] = 47;
    EXPECT_EQ(status(gre), tuple_status::unsupported);
    spec e = r.random_spec(IPPROTO_ICMP);
    e.icmp_type = k_icmp_dest_unreach;
    EXPECT_EQ(status(build(e)), tuple_status::icmp_error);
    e.icmp_type = 13;  // timestamp
    EXPECT_EQ(status(build(e)), tuple_status::unsupported);
    // Ethernet padding after the datagram is not part of it.
    bytes padded = b;
    padded.resize(b.size() + 6, 0);
    EXPECT_EQ(status(padded), tuple_status::ok);
    EXPECT_EQ(t.src_port, be16(s.sport));
    EXPECT_EQ(t.dst_addr, be32(s.dst));
}

// ---- ICMP errors ------------------------------------------------------------

struct error_kind {
    uint8_t type, code;
    uint16_t mtu;
    bool from_destination;  // sent by the quoted destination host itself
};
const error_kind k_errors[] = {
    {k_icmp_dest_unreach, k_icmp_code_frag_needed, 1400, false},  // a router on the path
    {k_icmp_dest_unreach, 3, 0, true},                             // port unreachable, from the backend
    {k_icmp_time_exceeded, 0, 0, false},
};

TEST(nat_icmp_error, translation_restores_the_untranslated_error) {
    rng_t r(0x6e61743a);
    int checked = 0;
    for (int i = 0; i < 3000; ++i) {
        const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP};
        const uint8_t proto = protos[i % 3];
        const error_kind& k = k_errors[(i / 3) % 3];
        const bool snat = (i / 9) % 2;      // NodePort to a remote backend: both sides translated
        const bool full_quote = (i / 18) % 2;
        spec orig = r.random_spec(proto);    // client C -> VIP V (or node N)
        if (proto == IPPROTO_UDP && i % 7 == 0) orig.udp_no_csum = true;
        const bytes original = build(orig);
        const bool echo = proto == IPPROTO_ICMP;
        const uint16_t ident = orig.sport;

        // What the flow's translation made of it.
        bytes translated = original;
        const uint32_t backend = r.u32(), node = r.u32(), router = r.u32();
        const uint16_t backend_port = echo ? ident : r.u16();
        const uint16_t snat_port = r.u16();
        rewrite_dst(ip_of(translated), l4_of(ip_of(translated)), be32(backend), be16(backend_port));
        if (snat) rewrite_src(ip_of(translated), l4_of(ip_of(translated)), be32(node), be16(snat_port));
        const uint32_t sender = snat ? node : orig.src;

        const size_t in_hlen = rte_ipv4_hdr_len(ip_of(translated));
        const size_t quote = full_quote ? translated.size() : in_hlen + 8;
        const uint32_t err_src = k.from_destination ? backend : router;
        bytes err = build_error(err_src, sender, k.type, k.code, k.mtu, translated, quote);

        SCOPED_TRACE(testing::Message() << "iteration " << i << " proto " << int(proto) << " type " << int(k.type)
                                        << " snat " << snat << " full " << full_quote);
        ipv4_tuple t;
        ASSERT_EQ(extract_ipv4_tuple(ip_of(err), uint32_t(err.size()), t), tuple_status::icmp_error);
        icmp_error_ref ref;
        ASSERT_EQ(icmp_error_inner(ip_of(err), uint32_t(err.size()), ref), icmp_error_status::ok);
        ipv4_tuple want;
        ASSERT_EQ(extract_ipv4_tuple(ip_of(translated), uint32_t(translated.size()), want), tuple_status::ok);
        EXPECT_EQ(ref.inner, want);
        EXPECT_EQ(ref.inner_l4_len, quote - in_hlen);

        const l4_endpoint to_client{be32(orig.src), be16(orig.sport)};
        const l4_endpoint to_vip{be32(orig.dst), be16(echo ? ident : orig.dport)};
        translate_icmp_error(ip_of(err), ref, snat ? &to_client : nullptr, &to_vip);

        // The error as it would have been for the untranslated packet.
        const uint32_t want_src = k.from_destination ? orig.dst : router;
        const bytes expected = build_error(want_src, orig.src, k.type, k.code, k.mtu, original, quote);
        ASSERT_EQ(err, expected);
        expect_checksums(err);
        bytes inner(err.begin() + 28, err.end());
        bytes inner_ip = inner;
        ip_of(inner_ip)->hdr_checksum = 0;
        EXPECT_EQ(rte_ipv4_cksum(ip_of(inner_ip)), ip_of(inner)->hdr_checksum);
        if (full_quote) expect_checksums(inner);
        ++checked;
    }
    EXPECT_EQ(checked, 3000);
}

TEST(nat_icmp_error, truncated_and_malformed_errors_are_refused) {
    rng_t r(0x6e61743b);
    for (uint8_t proto : {uint8_t(IPPROTO_TCP), uint8_t(IPPROTO_UDP), uint8_t(IPPROTO_ICMP)}) {
        spec s = r.random_spec(proto);
        s.opt_words = 1;
        const bytes offending = build(s);
        const size_t need = 20 + 8 + 24 + 8;  // outer, ICMP, quoted header with options, 8 bytes
        const bytes full = build_error(r.u32(), s.src, k_icmp_time_exceeded, 0, 0, offending, 24 + 8);
        ASSERT_EQ(full.size(), need);
        icmp_error_ref ref;
        for (size_t len = 0; len < need; ++len) {
            bytes cut(full.begin(), full.begin() + static_cast<long>(len));  // exactly len bytes (ASan)
            EXPECT_NE(icmp_error_inner(reinterpret_cast<rte_ipv4_hdr*>(cut.data()), uint32_t(len), ref),
                      icmp_error_status::ok) << "len " << len;
            if (len >= 20) {
                // The outer total length agrees with the cut: still refused.
                put16(cut.data() + 2, uint16_t(len));
                EXPECT_EQ(icmp_error_inner(reinterpret_cast<rte_ipv4_hdr*>(cut.data()), uint32_t(len), ref),
                          icmp_error_status::truncated);
            }
            // A total length shorter than the buffer bounds the parse too.
            bytes lying = full;
            put16(lying.data() + 2, uint16_t(len));
            EXPECT_NE(icmp_error_inner(ip_of(lying), uint32_t(lying.size()), ref), icmp_error_status::ok);
        }
        bytes ok = full;
        EXPECT_EQ(icmp_error_inner(ip_of(ok), uint32_t(ok.size()), ref), icmp_error_status::ok);

        bytes v6 = full;
        v6[28] = 0x65;
        EXPECT_EQ(icmp_error_inner(ip_of(v6), uint32_t(v6.size()), ref), icmp_error_status::bad_inner);
        bytes ihl_big = full;
        ihl_big[28] = 0x4f;  // claims 60 bytes of quoted header
        EXPECT_EQ(icmp_error_inner(ip_of(ihl_big), uint32_t(ihl_big.size()), ref), icmp_error_status::truncated);
        bytes later_frag = full;
        put16(later_frag.data() + 28 + 6, 0x0001);
        EXPECT_EQ(icmp_error_inner(ip_of(later_frag), uint32_t(later_frag.size()), ref), icmp_error_status::bad_inner);
        bytes gre = full;
        gre[28 + 9] = 47;
        EXPECT_EQ(icmp_error_inner(ip_of(gre), uint32_t(gre.size()), ref), icmp_error_status::unsupported);
        bytes redirect = full;
        redirect[20] = 5;
        EXPECT_EQ(icmp_error_inner(ip_of(redirect), uint32_t(redirect.size()), ref), icmp_error_status::not_error);
    }
    // Not ICMP at all, and an echo request.
    rng_t r2(1);
    spec u = r2.random_spec(IPPROTO_UDP);
    bytes udp = build(u);
    icmp_error_ref ref;
    EXPECT_EQ(icmp_error_inner(ip_of(udp), uint32_t(udp.size()), ref), icmp_error_status::not_error);
    spec e = r2.random_spec(IPPROTO_ICMP);
    bytes echo = build(e);
    EXPECT_EQ(icmp_error_inner(ip_of(echo), uint32_t(echo.size()), ref), icmp_error_status::not_error);
}

}  // namespace
}  // namespace vxr::encap
