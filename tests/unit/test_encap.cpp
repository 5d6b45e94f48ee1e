// Header build/parse of src/encap against golden bytes (DESIGN.md 6.1).
//
// The golden arrays below were derived independently of the code under test:
// a few lines of Python (struct.pack plus a textbook RFC 1071 checksum) wrote
// each header field by field from the RFCs (791, 768, 7348, 826, 792); they
// were pasted here, not produced by calling vxroute. Frames for the parser
// tests are crafted byte by byte by `frame` below, with its own checksum.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <vector>

#include <rte_ip.h>
#include <rte_mbuf.h>

#include "encap/arp.hpp"
#include "encap/icmp.hpp"
#include "encap/ipv4.hpp"
#include "encap/vxlan.hpp"
#include "encap/wire.hpp"
#include "eal_env.hpp"

namespace vxr::encap {
namespace {

[[maybe_unused]] auto* const g_eal = test::eal_env::install();

using bytes = std::vector<uint8_t>;

// ---- golden frames (see the header comment) --------------------------------
// MACs: 02:..:01 our uplink, 02:..:02 underlay next hop, 0e:..:01 our VTEP
// (and pod gateway), 0e:..:02 the peer's VTEP, 02:00:00:00:0a:02 a pod.
// IPs: 198.18.0.1 us, 198.18.0.2 the peer; pods 10.244.1.0/24 (gateway .1)
// here and 10.244.2.0/24 there.
const uint8_t k_template[64] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
    0xae, 0xc5, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0x00, 0x00,
    0x21, 0x18, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0e, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x08, 0x00,
};

const uint8_t k_inner_icmp[58] = {
    0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x02,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x01,
    0x10, 0xb1, 0x0a, 0xf4, 0x01, 0x02, 0x0a, 0xf4, 0x02, 0x03, 0x08, 0x00,
    0xbf, 0x7c, 0x00, 0x42, 0x00, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
    0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
};

const uint8_t k_encap_icmp[108] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x5e, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
    0xae, 0x67, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0x00, 0x00,
    0x21, 0x18, 0x00, 0x4a, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0e, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00,
    0x3f, 0x01, 0x10, 0xb1, 0x0a, 0xf4, 0x01, 0x02, 0x0a, 0xf4, 0x02, 0x03,
    0x08, 0x00, 0xbf, 0x7c, 0x00, 0x42, 0x00, 0x01, 0x00, 0x01, 0x02, 0x03,
    0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
};

const uint8_t k_inner_udp[54] = {
    0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x02,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x28, 0x01, 0x02, 0x00, 0x00, 0x3f, 0x11,
    0x61, 0xd7, 0x0a, 0xf4, 0x01, 0x02, 0x0a, 0xf4, 0x02, 0x03, 0x9c, 0x40,
    0x00, 0x35, 0x00, 0x14, 0xb8, 0x74, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20,
    0x77, 0x6f, 0x72, 0x6c, 0x64, 0x21,
};

const uint8_t k_encap_udp[104] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x5a, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
    0xae, 0x6b, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0x00, 0x00,
    0x21, 0x18, 0x00, 0x46, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0e, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x28, 0x01, 0x02, 0x00, 0x00,
    0x3f, 0x11, 0x61, 0xd7, 0x0a, 0xf4, 0x01, 0x02, 0x0a, 0xf4, 0x02, 0x03,
    0x9c, 0x40, 0x00, 0x35, 0x00, 0x14, 0xb8, 0x74, 0x68, 0x65, 0x6c, 0x6c,
    0x6f, 0x20, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x21,
};

const uint8_t k_ttl1_udp[54] = {
    0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x02,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x28, 0x01, 0x02, 0x00, 0x00, 0x01, 0x11,
    0x9f, 0xd7, 0x0a, 0xf4, 0x01, 0x02, 0x0a, 0xf4, 0x02, 0x03, 0x9c, 0x40,
    0x00, 0x35, 0x00, 0x14, 0xb8, 0x74, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20,
    0x77, 0x6f, 0x72, 0x6c, 0x64, 0x21,
};

const uint8_t k_time_exceeded[70] = {
    0x02, 0x00, 0x00, 0x00, 0x0a, 0x02, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, 0x00, 0x40, 0x01,
    0x62, 0xdb, 0x0a, 0xf4, 0x01, 0x01, 0x0a, 0xf4, 0x01, 0x02, 0x0b, 0x00,
    0xa0, 0x01, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x28, 0x01, 0x02,
    0x00, 0x00, 0x01, 0x11, 0x9f, 0xd7, 0x0a, 0xf4, 0x01, 0x02, 0x0a, 0xf4,
    0x02, 0x03, 0x9c, 0x40, 0x00, 0x35, 0x00, 0x14, 0xb8, 0x74,
};

const uint8_t k_frag_needed[70] = {
    0x02, 0x00, 0x00, 0x00, 0x0a, 0x02, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, 0x00, 0x40, 0x01,
    0x62, 0xdb, 0x0a, 0xf4, 0x01, 0x01, 0x0a, 0xf4, 0x01, 0x02, 0x03, 0x04,
    0x32, 0x36, 0x00, 0x00, 0x05, 0xaa, 0x45, 0x00, 0x05, 0xc6, 0x02, 0x03,
    0x40, 0x00, 0x40, 0x11, 0x1a, 0x38, 0x0a, 0xf4, 0x01, 0x02, 0x0a, 0xf4,
    0x02, 0x03, 0x9c, 0x41, 0x23, 0x28, 0x05, 0xb2, 0x00, 0x00,
};

const uint8_t k_big_head[42] = {
    0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x02,
    0x08, 0x00, 0x45, 0x00, 0x05, 0xc6, 0x02, 0x03, 0x40, 0x00, 0x40, 0x11,
    0x1a, 0x38, 0x0a, 0xf4, 0x01, 0x02, 0x0a, 0xf4, 0x02, 0x03, 0x9c, 0x41,
    0x23, 0x28, 0x05, 0xb2, 0x00, 0x00,
};

const uint8_t k_echo_request[50] = {
    0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x02,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x24, 0x43, 0x21, 0x40, 0x00, 0x3f, 0x01,
    0xe0, 0xcd, 0x0a, 0xf4, 0x01, 0x02, 0x0a, 0xf4, 0x01, 0x01, 0x08, 0x00,
    0x3a, 0x0f, 0x00, 0x42, 0x00, 0x07, 0x70, 0x69, 0x6e, 0x67, 0x70, 0x6f,
    0x6e, 0x67,
};

const uint8_t k_echo_reply[50] = {
    0x02, 0x00, 0x00, 0x00, 0x0a, 0x02, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x24, 0x43, 0x21, 0x40, 0x00, 0x40, 0x01,
    0xdf, 0xcd, 0x0a, 0xf4, 0x01, 0x01, 0x0a, 0xf4, 0x01, 0x02, 0x00, 0x00,
    0x42, 0x0f, 0x00, 0x42, 0x00, 0x07, 0x70, 0x69, 0x6e, 0x67, 0x70, 0x6f,
    0x6e, 0x67,
};

const uint8_t k_arp_request_padded[60] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x02,
    0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00,
    0x00, 0x00, 0x0a, 0x02, 0x0a, 0xf4, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x0a, 0xf4, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

const uint8_t k_arp_reply[42] = {
    0x02, 0x00, 0x00, 0x00, 0x0a, 0x02, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x0e, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x0a, 0xf4, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00,
    0x0a, 0x02, 0x0a, 0xf4, 0x01, 0x02,
};

const uint8_t k_arp_who_has_bcast[42] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00,
    0x00, 0x00, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xc6, 0x12, 0x00, 0x02,
};

const uint8_t k_arp_who_has_ucast[42] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00,
    0x00, 0x00, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xc6, 0x12, 0x00, 0x02,
};


// ---- helpers independent of the code under test ----------------------------

uint16_t ref_sum(const uint8_t* p, size_t n, uint32_t s = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) s += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) s += static_cast<uint32_t>(p[n - 1] << 8);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<uint16_t>(s);
}
uint16_t ref_csum(const uint8_t* p, size_t n) { return static_cast<uint16_t>(~ref_sum(p, n)); }
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void put16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8); p[1] = static_cast<uint8_t>(v); }
void put32(uint8_t* p, uint32_t v) { put16(p, static_cast<uint16_t>(v >> 16)); put16(p + 2, static_cast<uint16_t>(v)); }

mac_addr mac(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, uint8_t f) { return mac_addr{{a, b, c, d, e, f}}; }
constexpr uint32_t ip4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return a << 24 | b << 16 | c << 8 | d; }

const mac_addr k_uplink = mac(2, 0, 0, 0, 0, 1);
const mac_addr k_nexthop = mac(2, 0, 0, 0, 0, 2);
const mac_addr k_vtep = mac(0xe, 0, 0, 0, 0, 1);
const mac_addr k_peer_vtep = mac(0xe, 0, 0, 0, 0, 2);
const mac_addr k_pod = mac(2, 0, 0, 0, 0xa, 2);

template_params golden_params() {
    template_params p;
    p.outer_src_mac = k_uplink;
    p.outer_dst_mac = k_nexthop;
    p.src_ip = ipv4_addr{ip4(198, 18, 0, 1)};
    p.dst_ip = ipv4_addr{ip4(198, 18, 0, 2)};
    p.udp_port = 8472;
    p.vni = 1;
    p.inner_src_mac = k_vtep;
    p.inner_dst_mac = k_peer_vtep;
    return p;
}

class mbuf_test : public testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(test::eal_env::ready()) << "EAL did not start; see the environment's failure";
        pool_ = test::eal_env::pool();
        baseline_ = rte_mempool_in_use_count(pool_);
    }
    void TearDown() override {
        for (rte_mbuf* m : owned_) rte_pktmbuf_free(m);
        owned_.clear();
        EXPECT_EQ(rte_mempool_in_use_count(pool_), baseline_) << "mbuf leak";
    }
    // An mbuf holding `b`, freed at the end of the test.
    rte_mbuf* make(const uint8_t* b, size_t n, uint16_t headroom = RTE_PKTMBUF_HEADROOM) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool_);
        EXPECT_NE(m, nullptr);
        if (m == nullptr) return nullptr;
        owned_.push_back(m);
        m->data_off = headroom;
        char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(n));
        EXPECT_NE(p, nullptr);
        if (p != nullptr) std::memcpy(p, b, n);
        return m;
    }
    rte_mbuf* make(const bytes& b, uint16_t headroom = RTE_PKTMBUF_HEADROOM) { return make(b.data(), b.size(), headroom); }
    template <size_t N>
    rte_mbuf* make(const uint8_t (&b)[N]) { return make(b, N); }
    template <size_t N>
    rte_mbuf* make_with_headroom(const uint8_t (&b)[N], uint16_t headroom) { return make(b, N, headroom); }
    static bytes contents(const rte_mbuf* m) {
        bytes out(rte_pktmbuf_pkt_len(m));
        const void* p = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(out.size()), out.data());
        if (p != out.data()) std::memcpy(out.data(), p, out.size());
        return out;
    }

    rte_mempool* pool_ = nullptr;
    unsigned baseline_ = 0;
    std::vector<rte_mbuf*> owned_;
};

::testing::AssertionResult same_bytes(const bytes& got, const uint8_t* want, size_t n, size_t skip_from = 0,
                                      size_t skip_len = 0) {
    if (got.size() != n) return testing::AssertionFailure() << "length " << got.size() << ", want " << n;
    for (size_t i = 0; i < n; ++i) {
        if (i >= skip_from && i < skip_from + skip_len) continue;
        if (got[i] != want[i])
            return testing::AssertionFailure() << "byte " << i << " is 0x" << std::hex << int(got[i]) << ", want 0x"
                                               << int(want[i]);
    }
    return testing::AssertionSuccess();
}
template <size_t N>
::testing::AssertionResult same_bytes(const bytes& got, const uint8_t (&want)[N], size_t skip_from = 0,
                                      size_t skip_len = 0) {
    return same_bytes(got, want, N, skip_from, skip_len);
}

// ---- build_template -------------------------------------------------------------

TEST(build_template, golden_64_bytes) {
    const encap_template t = build_template(golden_params());
    bytes got(sizeof t);
    std::memcpy(got.data(), &t, sizeof t);
    EXPECT_TRUE(same_bytes(got, k_template));
}

TEST(build_template, other_vni_and_port) {
    template_params p = golden_params();
    p.vni = 0xabcdef;
    p.udp_port = 4789;
    const encap_template t = build_template(p);
    const auto* b = reinterpret_cast<const uint8_t*>(&t);
    EXPECT_EQ(get16(b + 36), 4789);
    const uint8_t vx[8] = {0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0};
    EXPECT_EQ(std::memcmp(b + 42, vx, 8), 0);
    EXPECT_EQ(vni_to_be(0xabcdef), htonl(0xabcdef00));
}

// ---- vxlan_encap ----------------------------------------------------------------

class encap : public mbuf_test {
protected:
    void check(const uint8_t* inner, size_t inner_n, const uint8_t* want, size_t want_n) {
        const encap_template t = build_template(golden_params());
        rte_mbuf* m = make(inner, inner_n);
        ASSERT_NE(m, nullptr);
        const auto* inner_ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, 14);
        const rte_be16_t sport = flow_src_port(inner_ip);
        ASSERT_TRUE(vxlan_encap(m, t, sport));
        const bytes got = contents(m);
        // Everything but the UDP source port (bytes 34-35) is golden.
        EXPECT_TRUE(same_bytes(got, want, want_n, 34, 2));
        EXPECT_EQ(rte_pktmbuf_pkt_len(m), want_n);
        EXPECT_EQ(rte_pktmbuf_data_len(m), want_n);
        const uint16_t port = get16(got.data() + 34);
        EXPECT_EQ(htons(port), sport);
        EXPECT_GE(port, 49152);
        // The incremental checksum equals one computed from scratch.
        rte_ipv4_hdr h;
        std::memcpy(&h, got.data() + 14, sizeof h);
        const uint16_t stored = h.hdr_checksum;
        h.hdr_checksum = 0;
        EXPECT_EQ(stored, rte_ipv4_cksum(&h));
        EXPECT_EQ(ref_csum(got.data() + 14, 20), 0) << "outer IPv4 header does not verify";
        EXPECT_EQ(get16(got.data() + 16), want_n - 14);  // IP total length
        EXPECT_EQ(get16(got.data() + 38), want_n - 34);  // UDP length
    }
};

TEST_F(encap, icmp_golden) { check(k_inner_icmp, sizeof k_inner_icmp, k_encap_icmp, sizeof k_encap_icmp); }
TEST_F(encap, udp_golden) { check(k_inner_udp, sizeof k_inner_udp, k_encap_udp, sizeof k_encap_udp); }

TEST_F(encap, large_inner_checksum_matches_recompute) {
    // 1450-byte inner packet: the length add must carry correctly.
    bytes f(k_inner_udp, k_inner_udp + sizeof k_inner_udp);
    f.resize(14 + 1450, 0x5a);
    put16(&f[16], 1450);
    put16(&f[24], 0);
    put16(&f[24], ref_csum(&f[14], 20));
    const encap_template t = build_template(golden_params());
    rte_mbuf* m = make(f);
    ASSERT_TRUE(vxlan_encap(m, t, flow_src_port(rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14))));
    const bytes got = contents(m);
    ASSERT_EQ(got.size(), 50 + f.size());
    EXPECT_EQ(get16(&got[16]), 1450 + 50);
    EXPECT_EQ(ref_csum(&got[14], 20), 0);
}

TEST_F(encap, fails_without_headroom) {
    const encap_template t = build_template(golden_params());
    rte_mbuf* m = make_with_headroom(k_inner_icmp, k_encap_overhead - 1);
    ASSERT_EQ(rte_pktmbuf_headroom(m), k_encap_overhead - 1);
    EXPECT_FALSE(vxlan_encap(m, t, htons(50000)));
    EXPECT_TRUE(same_bytes(contents(m), k_inner_icmp)) << "a failed encap must leave the packet alone";
    rte_mbuf* ok = make_with_headroom(k_inner_icmp, k_encap_overhead);
    EXPECT_TRUE(vxlan_encap(ok, t, htons(50000)));
}

// ---- flow_src_port --------------------------------------------------------------

bytes flow_hdr(uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint16_t frag = 0,
               uint8_t ihl = 5) {
    bytes b(ihl * 4 + 8, 0);
    b[0] = static_cast<uint8_t>(0x40 | ihl);
    put16(&b[2], static_cast<uint16_t>(b.size()));
    put16(&b[6], frag);
    b[8] = 64;
    b[9] = proto;
    put32(&b[12], src);
    put32(&b[16], dst);
    put16(&b[ihl * 4], sport);
    put16(&b[ihl * 4 + 2], dport);
    return b;
}
uint16_t port_of(const bytes& b) { return ntohs(flow_src_port(reinterpret_cast<const rte_ipv4_hdr*>(b.data()))); }

TEST(flow_src_port, same_flow_same_port_in_range) {
    const uint32_t a = ip4(10, 244, 1, 2), z = ip4(10, 244, 2, 3);
    const uint16_t p = port_of(flow_hdr(IPPROTO_TCP, a, z, 40000, 80));
    EXPECT_EQ(p, port_of(flow_hdr(IPPROTO_TCP, a, z, 40000, 80)));
    EXPECT_GE(p, 49152);
    // Another TTL or ID does not change the flow.
    bytes b = flow_hdr(IPPROTO_TCP, a, z, 40000, 80);
    b[8] = 3;
    b[4] = 0x77;
    EXPECT_EQ(p, port_of(b));
}

TEST(flow_src_port, spreads_l4_ports) {
    const uint32_t a = ip4(10, 244, 1, 2), z = ip4(10, 244, 2, 3);
    std::mt19937 rng(7);
    for (uint8_t proto : {uint8_t{IPPROTO_TCP}, uint8_t{IPPROTO_UDP}}) {
        std::set<uint16_t> seq, rnd;
        for (uint16_t i = 0; i < 1000; ++i) {
            const uint16_t p = port_of(flow_hdr(proto, a, z, static_cast<uint16_t>(32768 + i), 443));
            EXPECT_GE(p, 49152);
            seq.insert(p);
            rnd.insert(port_of(flow_hdr(proto, a, z, static_cast<uint16_t>(rng()), static_cast<uint16_t>(rng()))));
        }
        EXPECT_GE(seq.size(), 900u) << "proto " << int(proto);
        EXPECT_GE(rnd.size(), 900u) << "proto " << int(proto);
    }
    // Addresses alone (ICMP) spread too.
    std::set<uint16_t> hosts;
    for (uint32_t i = 0; i < 1000; ++i) hosts.insert(port_of(flow_hdr(IPPROTO_ICMP, a, ip4(10, 244, 0, 0) + i, 0, 0)));
    EXPECT_GE(hosts.size(), 900u);
}

TEST(flow_src_port, fragments_ignore_ports) {
    const uint32_t a = ip4(10, 244, 1, 2), z = ip4(10, 244, 2, 3);
    // First fragment (MF) and a later one (offset) of the same datagram map
    // to one port whatever their "port" bytes hold.
    const uint16_t first = port_of(flow_hdr(IPPROTO_UDP, a, z, 1111, 2222, 0x2000));
    EXPECT_EQ(first, port_of(flow_hdr(IPPROTO_UDP, a, z, 3333, 4444, 0x2000)));
    EXPECT_EQ(first, port_of(flow_hdr(IPPROTO_UDP, a, z, 5555, 6666, 0x00b9)));
    EXPECT_EQ(first, port_of(flow_hdr(IPPROTO_UDP, a, z, 7777, 8888, 0x20b9)));
    // DF is not fragmentation: ports count.
    EXPECT_NE(port_of(flow_hdr(IPPROTO_UDP, a, z, 1111, 2222, 0x4000)),
              port_of(flow_hdr(IPPROTO_UDP, a, z, 1112, 2222, 0x4000)));
}

TEST(flow_src_port, ports_read_after_ip_options) {
    const uint32_t a = ip4(10, 244, 1, 2), z = ip4(10, 244, 2, 3);
    // The options bytes are zero in both; only the ports after them differ.
    EXPECT_NE(port_of(flow_hdr(IPPROTO_TCP, a, z, 1000, 80, 0, 6)), port_of(flow_hdr(IPPROTO_TCP, a, z, 1001, 80, 0, 6)));
}

// ---- vxlan_parse ----------------------------------------------------------------

// A VXLAN frame as it reaches the parser, built field by field.
struct frame {
    uint8_t ihl = 5;
    uint16_t frag = 0x4000;
    uint16_t dport = 8472;
    int udp_len_delta = 0;
    bool udp_csum = false;      // compute a correct checksum
    uint16_t udp_csum_xor = 0;  // then corrupt it
    uint8_t vx_flags = 0x08;
    uint8_t vx_reserved = 0;    // written into every reserved byte of the VXLAN header
    uint32_t vni = 1;
    mac_addr inner_dst = k_vtep;
    uint16_t inner_type = 0x0800;
    size_t payload = 28;        // inner IPv4 bytes (an ICMP echo)
    int ip_len_delta = 0;

    bytes build() const {
        const size_t hl = ihl * 4u;
        bytes b(14 + hl + 8 + 8 + 14 + payload, 0);
        std::memcpy(&b[0], k_uplink.bytes.data(), 6);
        std::memcpy(&b[6], k_nexthop.bytes.data(), 6);
        put16(&b[12], 0x0800);
        uint8_t* ip = &b[14];
        ip[0] = static_cast<uint8_t>(0x40 | ihl);
        put16(ip + 2, static_cast<uint16_t>(hl + 8 + 8 + 14 + payload + ip_len_delta));
        put16(ip + 6, frag);
        ip[8] = 64;
        ip[9] = 17;
        put32(ip + 12, ip4(198, 18, 0, 2));
        put32(ip + 16, ip4(198, 18, 0, 1));
        for (size_t i = 20; i < hl; ++i) ip[i] = 1;  // NOP options
        uint8_t* udp = ip + hl;
        put16(udp, 51234);
        put16(udp + 2, dport);
        put16(udp + 4, static_cast<uint16_t>(8 + 8 + 14 + payload + udp_len_delta));
        uint8_t* vx = udp + 8;
        vx[0] = vx_flags;
        vx[1] = vx[2] = vx[3] = vx[7] = vx_reserved;
        vx[4] = static_cast<uint8_t>(vni >> 16);
        vx[5] = static_cast<uint8_t>(vni >> 8);
        vx[6] = static_cast<uint8_t>(vni);
        uint8_t* in = vx + 8;
        std::memcpy(in, inner_dst.bytes.data(), 6);
        std::memcpy(in + 6, k_peer_vtep.bytes.data(), 6);
        put16(in + 12, inner_type);
        if (payload >= 20) {
            uint8_t* iip = in + 14;
            iip[0] = 0x45;
            put16(iip + 2, static_cast<uint16_t>(payload));
            iip[8] = 63;
            iip[9] = 1;
            put32(iip + 12, ip4(10, 244, 2, 3));
            put32(iip + 16, ip4(10, 244, 1, 2));
            put16(iip + 10, ref_csum(iip, 20));
            for (size_t i = 20; i < payload; ++i) iip[i] = static_cast<uint8_t>(i);
        }
        put16(ip + 10, ref_csum(ip, hl));
        if (udp_csum) {
            const uint16_t ulen = get16(udp + 4);
            uint8_t ph[12];
            std::memcpy(ph, ip + 12, 8);
            ph[8] = 0;
            ph[9] = 17;
            put16(ph + 10, ulen);
            uint16_t c = static_cast<uint16_t>(~ref_sum(udp, ulen, ref_sum(ph, 12)));
            if (c == 0) c = 0xffff;
            put16(udp + 6, static_cast<uint16_t>(c ^ udp_csum_xor));
        }
        return b;
    }
};

class parse : public mbuf_test {
protected:
    vxlan_parse_result run(const frame& f, uint64_t ol_flags = 0, uint32_t ptype = 0) {
        rte_mbuf* m = make(f.build());
        m->ol_flags = ol_flags;
        m->packet_type = ptype;
        return vxlan_parse(m, htons(8472), htonl(1u << 8), to_rte(k_vtep));
    }
};

// What a NIC that parsed the VXLAN tunnel puts in packet_type.
constexpr uint32_t k_ptype_vxlan = RTE_PTYPE_L2_ETHER | RTE_PTYPE_L3_IPV4 | RTE_PTYPE_L4_UDP | RTE_PTYPE_TUNNEL_VXLAN |
                                   RTE_PTYPE_INNER_L2_ETHER | RTE_PTYPE_INNER_L3_IPV4;

TEST_F(parse, ok) {
    const auto r = run(frame{});
    EXPECT_EQ(r.status, vxlan_status::ok);
    EXPECT_EQ(r.outer_len, 14 + 20 + 8 + 8);
}

TEST_F(parse, not_vxlan) {
    frame f;
    f.dport = 4789;
    EXPECT_EQ(run(f).status, vxlan_status::not_vxlan);
}

TEST_F(parse, outer_fragment_more_fragments) {
    frame f;
    f.frag = 0x2000;
    EXPECT_EQ(run(f).status, vxlan_status::outer_fragment);
}

TEST_F(parse, outer_fragment_offset) {
    frame f;
    f.frag = 0x0010;
    EXPECT_EQ(run(f).status, vxlan_status::outer_fragment);
}

TEST_F(parse, truncated_ip_shorter_than_udp) {
    frame f;
    f.ip_len_delta = -(8 + 8 + 14 + 28) + 7;  // IP length = 20 + 7
    EXPECT_EQ(run(f).status, vxlan_status::truncated);
}

TEST_F(parse, truncated_no_room_for_vxlan_and_inner_ethernet) {
    frame f;
    f.payload = 0;  // UDP + VXLAN + inner Ethernet exactly: the inner IPv4 is the worker's to check
    EXPECT_EQ(run(f).status, vxlan_status::ok);
    f.ip_len_delta = -1;
    f.udp_len_delta = -1;  // one byte short of the inner Ethernet header
    EXPECT_EQ(run(f).status, vxlan_status::truncated);
}

TEST_F(parse, bad_udp_length) {
    frame f;
    f.udp_len_delta = -2;
    EXPECT_EQ(run(f).status, vxlan_status::bad_udp_length);
    f.udp_len_delta = +2;
    EXPECT_EQ(run(f).status, vxlan_status::bad_udp_length);
}

TEST_F(parse, bad_udp_checksum_nonzero_wrong) {
    frame f;
    f.udp_csum = true;
    f.udp_csum_xor = 0x0101;
    EXPECT_EQ(run(f).status, vxlan_status::bad_udp_checksum);
}

TEST_F(parse, nonzero_correct_checksum_accepted) {
    frame f;
    f.udp_csum = true;
    EXPECT_EQ(run(f).status, vxlan_status::ok);
    f.ihl = 6;  // the pseudo-header and L4 offset follow the options
    EXPECT_EQ(run(f).status, vxlan_status::ok);
}

TEST_F(parse, zero_checksum_accepted) {
    frame f;
    ASSERT_FALSE(f.udp_csum);
    EXPECT_EQ(run(f).status, vxlan_status::ok);
}

TEST_F(parse, nic_checksum_flags_are_trusted) {
    frame bad;
    bad.udp_csum = true;
    bad.udp_csum_xor = 0x0101;
    EXPECT_EQ(run(bad, RTE_MBUF_F_RX_L4_CKSUM_GOOD).status, vxlan_status::ok);
    frame good;
    good.udp_csum = true;
    EXPECT_EQ(run(good, RTE_MBUF_F_RX_L4_CKSUM_BAD).status, vxlan_status::bad_udp_checksum);
    // NONE (both bits) means "not checked": verified in software.
    EXPECT_EQ(run(bad, RTE_MBUF_F_RX_L4_CKSUM_NONE).status, vxlan_status::bad_udp_checksum);
    EXPECT_EQ(run(good, RTE_MBUF_F_RX_L4_CKSUM_NONE).status, vxlan_status::ok);
}

TEST_F(parse, a_parsed_tunnel_reports_the_outer_udp_checksum_in_the_outer_flags) {
    frame bad;
    bad.udp_csum = true;
    bad.udp_csum_xor = 0x0101;
    frame good;
    good.udp_csum = true;
    EXPECT_EQ(run(bad, RTE_MBUF_F_RX_OUTER_L4_CKSUM_GOOD, k_ptype_vxlan).status, vxlan_status::ok);
    EXPECT_EQ(run(good, RTE_MBUF_F_RX_OUTER_L4_CKSUM_BAD, k_ptype_vxlan).status, vxlan_status::bad_udp_checksum);
    // The plain L4 flags are about the inner packet then: not trusted for the outer UDP.
    EXPECT_EQ(run(bad, RTE_MBUF_F_RX_L4_CKSUM_GOOD, k_ptype_vxlan).status, vxlan_status::bad_udp_checksum);
    EXPECT_EQ(run(good, RTE_MBUF_F_RX_L4_CKSUM_BAD, k_ptype_vxlan).status, vxlan_status::ok);
}

TEST_F(parse, bad_flags) {
    frame f;
    f.vx_flags = 0x00;
    EXPECT_EQ(run(f).status, vxlan_status::bad_flags);
    f.vx_flags = 0xf7;  // every bit but I
    EXPECT_EQ(run(f).status, vxlan_status::bad_flags);
}

TEST_F(parse, reserved_bits_ignored) {
    frame f;
    f.vx_flags = 0xff;
    f.vx_reserved = 0xa5;  // reserved bytes after the flags and after the VNI
    const auto r = run(f);
    EXPECT_EQ(r.status, vxlan_status::ok);
    EXPECT_EQ(r.outer_len, 50);
}

TEST_F(parse, wrong_vni) {
    frame f;
    f.vni = 2;
    EXPECT_EQ(run(f).status, vxlan_status::wrong_vni);
    f.vni = 0x010001;  // same low byte as ours
    EXPECT_EQ(run(f).status, vxlan_status::wrong_vni);
}

TEST_F(parse, wrong_inner_mac) {
    frame f;
    f.inner_dst = mac(0xe, 0, 0, 0, 0, 9);
    EXPECT_EQ(run(f).status, vxlan_status::wrong_inner_mac);
}

TEST_F(parse, inner_not_ipv4) {
    frame f;
    f.inner_type = 0x86dd;
    EXPECT_EQ(run(f).status, vxlan_status::inner_not_ipv4);
    f.inner_type = 0x0806;
    EXPECT_EQ(run(f).status, vxlan_status::inner_not_ipv4);
}

TEST_F(parse, outer_ip_options_counted_in_outer_len) {
    frame f;
    f.ihl = 6;
    auto r = run(f);
    EXPECT_EQ(r.status, vxlan_status::ok);
    EXPECT_EQ(r.outer_len, 14 + 24 + 8 + 8);
    f.ihl = 15;
    r = run(f);
    EXPECT_EQ(r.status, vxlan_status::ok);
    EXPECT_EQ(r.outer_len, 14 + 60 + 8 + 8);
    // And the inner frame really starts there.
    rte_mbuf* m = make(f.build());
    const auto* inner = rte_pktmbuf_mtod_offset(m, const uint8_t*, r.outer_len);
    EXPECT_EQ(std::memcmp(inner, k_vtep.bytes.data(), 6), 0);
}

TEST_F(parse, other_vni_and_port) {
    frame f;
    f.vni = 0x123456;
    f.dport = 4789;
    rte_mbuf* m = make(f.build());
    EXPECT_EQ(vxlan_parse(m, htons(4789), vni_to_be(0x123456), to_rte(k_vtep)).status, vxlan_status::ok);
    EXPECT_EQ(vxlan_parse(m, htons(8472), vni_to_be(0x123456), to_rte(k_vtep)).status, vxlan_status::not_vxlan);
}

// ---- check_ipv4 and checksum edits ----------------------------------------------

bytes ip_hdr(uint8_t vihl = 0x45, uint16_t tlen = 40, size_t avail = 40) {
    bytes b(avail, 0);
    b[0] = vihl;
    put16(&b[2], tlen);
    b[8] = 64;
    b[9] = 6;
    put32(&b[12], ip4(10, 0, 0, 1));
    put32(&b[16], ip4(10, 0, 0, 2));
    const size_t hl = (vihl & 0xf) * 4u;
    if (hl >= 20 && hl <= avail) put16(&b[10], ref_csum(b.data(), hl));
    return b;
}
ipv4_check chk(const bytes& b, uint32_t avail, uint64_t fl = 0) {
    return check_ipv4(reinterpret_cast<const rte_ipv4_hdr*>(b.data()), avail, fl);
}

TEST(check_ipv4, each_result) {
    EXPECT_EQ(chk(ip_hdr(), 40), ipv4_check::ok);
    EXPECT_EQ(chk(ip_hdr(), 19), ipv4_check::truncated);
    EXPECT_EQ(chk(ip_hdr(0x65), 40), ipv4_check::bad_version);
    EXPECT_EQ(chk(ip_hdr(0x44), 40), ipv4_check::bad_ihl);
    EXPECT_EQ(chk(ip_hdr(0x4f, 40, 80), 40), ipv4_check::bad_ihl);  // 60-byte header, 40 available
    EXPECT_EQ(chk(ip_hdr(0x45, 19), 40), ipv4_check::bad_length);
    EXPECT_EQ(chk(ip_hdr(0x46, 22), 40), ipv4_check::bad_length);   // shorter than its own header
    EXPECT_EQ(chk(ip_hdr(0x45, 41), 40), ipv4_check::bad_length);
    EXPECT_EQ(chk(ip_hdr(0x45, 40, 60), 60), ipv4_check::ok);       // Ethernet padding after it
    bytes bad = ip_hdr();
    bad[10] ^= 1;
    EXPECT_EQ(chk(bad, 40), ipv4_check::bad_checksum);
    bytes opt = ip_hdr(0x46, 40);
    EXPECT_EQ(chk(opt, 40), ipv4_check::ok);
    opt[21] ^= 0x10;  // an option byte is covered by the checksum
    EXPECT_EQ(chk(opt, 40), ipv4_check::bad_checksum);
}

TEST(check_ipv4, nic_flags) {
    bytes bad = ip_hdr();
    bad[10] ^= 1;
    EXPECT_EQ(chk(bad, 40, RTE_MBUF_F_RX_IP_CKSUM_GOOD), ipv4_check::ok);
    EXPECT_EQ(chk(ip_hdr(), 40, RTE_MBUF_F_RX_IP_CKSUM_BAD), ipv4_check::bad_checksum);
    EXPECT_EQ(chk(bad, 40, RTE_MBUF_F_RX_IP_CKSUM_NONE), ipv4_check::bad_checksum);
    EXPECT_EQ(chk(ip_hdr(), 40, RTE_MBUF_F_RX_IP_CKSUM_NONE), ipv4_check::ok);
    // Structural checks still apply when the NIC vouches for the checksum.
    EXPECT_EQ(chk(ip_hdr(0x45, 41), 40, RTE_MBUF_F_RX_IP_CKSUM_GOOD), ipv4_check::bad_length);
}

TEST(check_ipv4, every_single_bit_flip_is_caught) {
    // The usual 20-byte header takes a shortcut; options take the general path.
    for (const uint8_t vihl : {uint8_t{0x45}, uint8_t{0x46}}) {
        const bytes good = ip_hdr(vihl, 40);
        ASSERT_EQ(chk(good, 40), ipv4_check::ok);
        const size_t hl = (vihl & 0xf) * 4u;
        for (size_t bit = 0; bit < hl * 8; ++bit) {
            bytes b = good;
            b[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
            EXPECT_NE(chk(b, 40), ipv4_check::ok) << "header " << int{vihl} << ", bit " << bit;
        }
    }
}

TEST(rx_flags, sorted_by_header) {
    rte_mbuf m{};
    // Not parsed as a tunnel: the plain flags are the outer headers'.
    m.ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_BAD;
    EXPECT_EQ(rx_outer_ip_flags(&m) & RTE_MBUF_F_RX_IP_CKSUM_MASK, RTE_MBUF_F_RX_IP_CKSUM_GOOD);
    EXPECT_EQ(rx_outer_l4_flags(&m), RTE_MBUF_F_RX_L4_CKSUM_BAD);
    EXPECT_EQ(rx_inner_ip_flags(&m), 0u);
    // Parsed as VXLAN: the plain flags are the inner headers', the outer ones in OUTER_.
    m.packet_type = k_ptype_vxlan;
    EXPECT_EQ(rx_outer_ip_flags(&m), RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN);
    EXPECT_EQ(rx_outer_l4_flags(&m), RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN);
    EXPECT_EQ(rx_inner_ip_flags(&m) & RTE_MBUF_F_RX_IP_CKSUM_MASK, RTE_MBUF_F_RX_IP_CKSUM_GOOD);
    m.ol_flags = RTE_MBUF_F_RX_OUTER_IP_CKSUM_BAD | RTE_MBUF_F_RX_OUTER_L4_CKSUM_GOOD;
    EXPECT_EQ(rx_outer_ip_flags(&m), RTE_MBUF_F_RX_IP_CKSUM_BAD);
    EXPECT_EQ(rx_outer_l4_flags(&m), RTE_MBUF_F_RX_L4_CKSUM_GOOD);
    EXPECT_EQ(rx_inner_ip_flags(&m) & RTE_MBUF_F_RX_IP_CKSUM_MASK, RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN);
}

TEST(checksum, dec_ttl_matches_recompute) {
    std::mt19937 rng(1);
    for (int i = 0; i < 100000; ++i) {
        alignas(4) uint8_t h[20];
        for (auto& x : h) x = static_cast<uint8_t>(rng());
        h[0] = 0x45;
        if (h[8] == 0) h[8] = 1;
        put16(h + 10, 0);
        put16(h + 10, ref_csum(h, 20));
        const uint8_t ttl = h[8];
        ipv4_dec_ttl(reinterpret_cast<rte_ipv4_hdr*>(h));
        ASSERT_EQ(h[8], ttl - 1);
        const uint16_t got = get16(h + 10);
        put16(h + 10, 0);
        ASSERT_EQ(got, ref_csum(h, 20)) << "iteration " << i;
    }
}

TEST(checksum, adjust_matches_recompute) {
    std::mt19937 rng(2);
    for (int i = 0; i < 100000; ++i) {
        alignas(4) uint8_t h[20];
        for (auto& x : h) x = static_cast<uint8_t>(rng());
        // Like the template: sum with total length 0, then add the length.
        const bool from_zero = i % 2 == 0;
        const unsigned w = from_zero ? 1 : rng() % 10;
        if (w == 5) continue;  // the checksum word itself
        if (from_zero) put16(h + 2, 0);
        put16(h + 10, 0);
        put16(h + 10, ref_csum(h, 20));
        const uint16_t old_w = get16(h + 2 * w);
        const uint16_t new_w = static_cast<uint16_t>(rng());
        const uint16_t adj = csum_adjust(static_cast<rte_be16_t>(htons(get16(h + 10))), old_w, new_w);
        put16(h + 2 * w, new_w);
        put16(h + 10, 0);
        ASSERT_EQ(ntohs(adj), ref_csum(h, 20)) << "iteration " << i << " word " << w;
    }
}

// ---- ARP ------------------------------------------------------------------------

TEST_F(mbuf_test, arp_parse_accepts_request) {
    rte_mbuf* m = make(k_arp_request_padded);
    rte_arp_hdr* a = arp_parse(m);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(static_cast<void*>(a), rte_pktmbuf_mtod_offset(m, void*, 14));
}

TEST_F(mbuf_test, arp_parse_rejects_malformed) {
    struct bad { size_t off; uint8_t val; const char* what; };
    for (const bad& b : {bad{15, 6, "hardware type 6"}, bad{16, 0x86, "protocol 0x86dd"}, bad{18, 8, "hlen 8"},
                         bad{19, 16, "plen 16"}}) {
        bytes f(k_arp_request_padded, k_arp_request_padded + sizeof k_arp_request_padded);
        f[b.off] = b.val;
        if (b.off == 16) f[17] = 0xdd;
        EXPECT_EQ(arp_parse(make(f)), nullptr) << b.what;
    }
    EXPECT_EQ(arp_parse(make(k_arp_request_padded, 14 + 27)), nullptr) << "truncated";
    EXPECT_NE(arp_parse(make(k_arp_request_padded, 14 + 28)), nullptr) << "exactly Ethernet + ARP";
}

TEST_F(mbuf_test, arp_reply_in_place_golden) {
    rte_mbuf* m = make(k_arp_request_padded);
    rte_arp_hdr* a = arp_parse(m);
    ASSERT_NE(a, nullptr);
    arp_reply_in_place(m, a, to_rte(k_vtep));
    EXPECT_TRUE(same_bytes(contents(m), k_arp_reply));  // padding trimmed: 42 bytes
}

TEST_F(mbuf_test, arp_build_request_broadcast_golden) {
    rte_mbuf* m = arp_build_request(pool_, to_rte(k_uplink), ipv4_addr{ip4(198, 18, 0, 1)}, ipv4_addr{ip4(198, 18, 0, 2)});
    ASSERT_NE(m, nullptr);
    owned_.push_back(m);
    EXPECT_TRUE(same_bytes(contents(m), k_arp_who_has_bcast));
}

TEST_F(mbuf_test, arp_build_request_unicast_golden) {
    const rte_ether_addr nh = to_rte(k_nexthop);
    rte_mbuf* m =
        arp_build_request(pool_, to_rte(k_uplink), ipv4_addr{ip4(198, 18, 0, 1)}, ipv4_addr{ip4(198, 18, 0, 2)}, &nh);
    ASSERT_NE(m, nullptr);
    owned_.push_back(m);
    EXPECT_TRUE(same_bytes(contents(m), k_arp_who_has_ucast));
}

// ---- ICMP -----------------------------------------------------------------------

void expect_valid_icmp_error(const bytes& f) {
    ASSERT_GE(f.size(), 14u + 20 + 8);
    EXPECT_EQ(ref_csum(&f[14], 20), 0) << "IP checksum";
    EXPECT_EQ(get16(&f[16]), f.size() - 14) << "IP total length";
    EXPECT_EQ(ref_csum(&f[34], f.size() - 34), 0) << "ICMP checksum";
}

TEST_F(mbuf_test, icmp_time_exceeded_golden) {
    rte_mbuf* m = make(k_ttl1_udp);
    ASSERT_TRUE(icmp_error_in_place(m, k_icmp_time_exceeded, 0, 0, htonl(ip4(10, 244, 1, 1))));
    const bytes got = contents(m);
    EXPECT_TRUE(same_bytes(got, k_time_exceeded));
    expect_valid_icmp_error(got);
}

TEST_F(mbuf_test, icmp_frag_needed_golden) {
    bytes f(k_big_head, k_big_head + sizeof k_big_head);
    for (size_t i = 0; f.size() < 14 + 1478; ++i) f.push_back(static_cast<uint8_t>(i * 7));
    rte_mbuf* m = make(f);
    ASSERT_TRUE(icmp_error_in_place(m, k_icmp_dest_unreach, k_icmp_code_frag_needed, 1450, htonl(ip4(10, 244, 1, 1))));
    const bytes got = contents(m);
    EXPECT_TRUE(same_bytes(got, k_frag_needed));
    expect_valid_icmp_error(got);
    ASSERT_GE(got.size(), 42u);
    EXPECT_EQ(get16(&got[34 + 4]), 0);     // unused
    EXPECT_EQ(get16(&got[34 + 6]), 1450);  // next-hop MTU (RFC 1191)
}

TEST_F(mbuf_test, icmp_error_short_packet_quotes_all_of_it) {
    // A 24-byte IP packet: header + 4 bytes, all quoted; Ethernet padding dropped.
    bytes f(k_ttl1_udp, k_ttl1_udp + 14 + 24);
    put16(&f[16], 24);
    put16(&f[24], 0);
    put16(&f[24], ref_csum(&f[14], 20));
    f.resize(60, 0);
    rte_mbuf* m = make(f);
    ASSERT_TRUE(icmp_error_in_place(m, k_icmp_time_exceeded, 0, 0, htonl(ip4(10, 244, 1, 1))));
    const bytes got = contents(m);
    EXPECT_EQ(got.size(), 14u + 20 + 8 + 24);
    expect_valid_icmp_error(got);
    EXPECT_EQ(std::memcmp(&got[42], &f[14], 24), 0);
}

TEST_F(mbuf_test, icmp_error_needs_headroom_and_one_segment) {
    rte_mbuf* m = make_with_headroom(k_ttl1_udp, 27);
    EXPECT_FALSE(icmp_error_in_place(m, k_icmp_time_exceeded, 0, 0, htonl(ip4(10, 244, 1, 1))));
    rte_mbuf* ok = make_with_headroom(k_ttl1_udp, 28);
    EXPECT_TRUE(icmp_error_in_place(ok, k_icmp_time_exceeded, 0, 0, htonl(ip4(10, 244, 1, 1))));
    rte_mbuf* head = make(k_ttl1_udp, 34);  // the first 34 bytes, the rest chained
    rte_mbuf* tail = rte_pktmbuf_alloc(pool_);
    ASSERT_NE(tail, nullptr);
    std::memcpy(rte_pktmbuf_append(tail, sizeof k_ttl1_udp - 34), k_ttl1_udp + 34, sizeof k_ttl1_udp - 34);
    ASSERT_EQ(rte_pktmbuf_chain(head, tail), 0);  // freed with head
    EXPECT_FALSE(icmp_error_in_place(head, k_icmp_time_exceeded, 0, 0, htonl(ip4(10, 244, 1, 1))));
}

bytes allowed_hdr(uint8_t proto, uint32_t src, uint32_t dst, uint16_t frag = 0, uint8_t icmp_type = 8) {
    bytes b(28, 0);
    b[0] = 0x45;
    put16(&b[2], 28);
    put16(&b[6], frag);
    b[8] = 1;
    b[9] = proto;
    put32(&b[12], src);
    put32(&b[16], dst);
    b[20] = icmp_type;
    return b;
}
bool allowed(const bytes& b) { return icmp_error_allowed(reinterpret_cast<const rte_ipv4_hdr*>(b.data())); }

TEST(icmp_error_allowed, rules) {
    const uint32_t a = ip4(10, 244, 1, 2), z = ip4(10, 244, 2, 3);
    EXPECT_TRUE(allowed(allowed_hdr(IPPROTO_TCP, a, z)));
    EXPECT_TRUE(allowed(allowed_hdr(IPPROTO_UDP, a, z)));
    EXPECT_TRUE(allowed(allowed_hdr(IPPROTO_ICMP, a, z, 0, 8)));  // echo request
    EXPECT_TRUE(allowed(allowed_hdr(IPPROTO_ICMP, a, z, 0, 0)));  // echo reply
    EXPECT_TRUE(allowed(allowed_hdr(IPPROTO_TCP, a, z, 0x2000)));  // first fragment
    for (uint8_t t : {3, 4, 5, 11, 12}) EXPECT_FALSE(allowed(allowed_hdr(IPPROTO_ICMP, a, z, 0, t))) << "type " << int(t);
    EXPECT_FALSE(allowed(allowed_hdr(IPPROTO_TCP, a, z, 0x0001)));  // non-initial fragment
    EXPECT_FALSE(allowed(allowed_hdr(IPPROTO_TCP, a, z, 0x2100)));
    EXPECT_FALSE(allowed(allowed_hdr(IPPROTO_TCP, 0, z)));
    EXPECT_FALSE(allowed(allowed_hdr(IPPROTO_TCP, 0xffffffff, z)));
    EXPECT_FALSE(allowed(allowed_hdr(IPPROTO_TCP, ip4(127, 0, 0, 1), z)));
    EXPECT_FALSE(allowed(allowed_hdr(IPPROTO_TCP, ip4(224, 0, 0, 5), z)));
    EXPECT_FALSE(allowed(allowed_hdr(IPPROTO_TCP, ip4(239, 1, 2, 3), z)));
    EXPECT_FALSE(allowed(allowed_hdr(IPPROTO_TCP, ip4(240, 0, 0, 1), z)));  // class E
    EXPECT_FALSE(allowed(allowed_hdr(IPPROTO_UDP, a, ip4(224, 0, 0, 251))));
    EXPECT_FALSE(allowed(allowed_hdr(IPPROTO_UDP, a, 0xffffffff)));
    // An ICMP packet too short to hold its type byte may be an error: silent.
    bytes no_type = allowed_hdr(IPPROTO_ICMP, a, z, 0, 8);
    put16(&no_type[2], 20);
    EXPECT_FALSE(allowed(no_type));
    put16(&no_type[2], 21);
    EXPECT_TRUE(allowed(no_type));
}

TEST_F(mbuf_test, icmp_echo_reply_in_place_golden) {
    rte_mbuf* m = make(k_echo_request);
    ASSERT_TRUE(icmp_echo_reply_in_place(m));
    const bytes got = contents(m);
    EXPECT_TRUE(same_bytes(got, k_echo_reply));
    EXPECT_EQ(ref_csum(&got[34], got.size() - 34), 0);
}

TEST_F(mbuf_test, icmp_echo_reply_rejects_non_requests) {
    auto variant = [&](size_t off, uint8_t v) {
        bytes f(k_echo_request, k_echo_request + sizeof k_echo_request);
        f[off] = v;
        return f;
    };
    EXPECT_FALSE(icmp_echo_reply_in_place(make(variant(34, 0)))) << "echo reply";
    EXPECT_FALSE(icmp_echo_reply_in_place(make(variant(35, 1)))) << "code 1";
    EXPECT_FALSE(icmp_echo_reply_in_place(make(variant(23, 17)))) << "UDP";
    EXPECT_FALSE(icmp_echo_reply_in_place(make(variant(20, 0x60)))) << "fragment (MF)";
    const bytes before(k_echo_request, k_echo_request + sizeof k_echo_request);
    rte_mbuf* m = make(variant(34, 13));
    EXPECT_FALSE(icmp_echo_reply_in_place(m));
    EXPECT_EQ(contents(m)[34], 13) << "left unchanged";
}

}  // namespace
}  // namespace vxr::encap
