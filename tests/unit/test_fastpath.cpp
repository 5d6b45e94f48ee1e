// The real worker pipeline (worker::process) on in-memory mbufs, with the
// forwarding state built by the real control::router (DESIGN.md 6.1-6.2).
//
// How output is observed: every port is a net_null vdev (hot-pluggable, no
// kernel, frees what it transmits). The worker writes forwarded packets into
// the per-(port, worker) rte_eth_dev_tx_buffer that the published snapshot
// lists; the test takes them out of those buffers before any flush, inspects
// their bytes and frees them. That is the most direct view: no pcap files, no
// timing, and every mbuf is accounted for (each test ends by checking the
// pool's in-use count against its baseline). Bursts stay below the buffer
// size (32) so that the buffer never flushes on its own.
//
// Expected frames are built byte by byte here (own checksum), not with the
// code under test.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <rte_ring.h>

#include "control/node/config.hpp"
#include "control/node/router.hpp"
#include "common/log.hpp"
#include "fastpath/counters.hpp"
#include "fastpath/dataplane.hpp"
#include "fastpath/worker.hpp"
#include "eal_env.hpp"

namespace vxr::fastpath {
namespace {

// One worker lcore must exist for dataplane::init (it is never launched).
[[maybe_unused]] auto* const g_eal = test::eal_env::install({"-l", "0-1"});

using bytes = std::vector<uint8_t>;

// ---- frame building, independent of src/encap ----------------------------------

uint16_t ref_sum(const uint8_t* p, size_t n, uint32_t s = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) s += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) s += static_cast<uint32_t>(p[n - 1] << 8);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<uint16_t>(s);
}
uint16_t ref_csum(const uint8_t* p, size_t n) { return static_cast<uint16_t>(~ref_sum(p, n)); }
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return static_cast<uint32_t>(get16(p)) << 16 | get16(p + 2); }
void put16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8); p[1] = static_cast<uint8_t>(v); }
void put32(uint8_t* p, uint32_t v) { put16(p, static_cast<uint16_t>(v >> 16)); put16(p + 2, static_cast<uint16_t>(v)); }
constexpr uint32_t ip4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return a << 24 | b << 16 | c << 8 | d; }
mac_addr mac(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, uint8_t f) { return mac_addr{{a, b, c, d, e, f}}; }
mac_addr mac_of(const rte_ether_addr& a) {
    mac_addr m;
    std::memcpy(m.bytes.data(), a.addr_bytes, 6);
    return m;
}

bytes operator+(bytes a, const bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}
bytes eth(const mac_addr& dst, const mac_addr& src, uint16_t type) {
    bytes b(14);
    std::memcpy(&b[0], dst.bytes.data(), 6);
    std::memcpy(&b[6], src.bytes.data(), 6);
    put16(&b[12], type);
    return b;
}
bytes ipv4(uint32_t src, uint32_t dst, uint8_t proto, uint8_t ttl, const bytes& l4, uint16_t frag = 0x4000,
           uint16_t id = 0x0101) {
    bytes b(20);
    b[0] = 0x45;
    put16(&b[2], static_cast<uint16_t>(20 + l4.size()));
    put16(&b[4], id);
    put16(&b[6], frag);
    b[8] = ttl;
    b[9] = proto;
    put32(&b[12], src);
    put32(&b[16], dst);
    put16(&b[10], ref_csum(b.data(), 20));
    return b + l4;
}
bytes udp(uint16_t sport, uint16_t dport, size_t payload) {
    bytes b(8 + payload);
    put16(&b[0], sport);
    put16(&b[2], dport);
    put16(&b[4], static_cast<uint16_t>(b.size()));
    for (size_t i = 0; i < payload; ++i) b[8 + i] = static_cast<uint8_t>(i * 7 + 1);
    return b;
}
bytes icmp(uint8_t type, uint8_t code, size_t payload) {
    bytes b(8 + payload);
    b[0] = type;
    b[1] = code;
    put16(&b[4], 0x0042);
    put16(&b[6], 1);
    for (size_t i = 0; i < payload; ++i) b[8 + i] = static_cast<uint8_t>(i);
    put16(&b[2], ref_csum(b.data(), b.size()));
    return b;
}
// Decrement TTL and recompute the checksum of the IPv4 header at `off`.
bytes forwarded(bytes f, size_t off = 14) {
    --f[off + 8];
    put16(&f[off + 10], 0);
    put16(&f[off + 10], ref_csum(&f[off], 20));
    return f;
}

// ---- the node under test -----------------------------------------------------------

const mac_addr k_vtep = mac(0x0e, 0, 0, 0, 0, 1);       // ours; also the pods' gateway MAC
const mac_addr k_peer_vtep = mac(0x0e, 0, 0, 0, 0, 2);
const mac_addr k_peer2_vtep = mac(0x0e, 0, 0, 0, 0, 3);
const mac_addr k_underlay_nh = mac(0x02, 0, 0, 0, 0, 2);  // static neighbour 198.18.0.2
const mac_addr k_pod1 = mac(0x02, 0, 0, 0, 0x0a, 2);
const mac_addr k_pod2 = mac(0x02, 0, 0, 0, 0x0a, 3);
const mac_addr k_stranger = mac(0x02, 0, 0, 0, 0x77, 0x77);
constexpr uint32_t k_node = ip4(198, 18, 0, 1);
constexpr uint32_t k_peer = ip4(198, 18, 0, 2);
constexpr uint32_t k_peer2 = ip4(198, 18, 0, 3);  // no static neighbour: unresolved
constexpr uint32_t k_gw = ip4(10, 244, 1, 1);
constexpr uint32_t k_pod1_ip = ip4(10, 244, 1, 2);
constexpr uint32_t k_pod2_ip = ip4(10, 244, 1, 3);
constexpr uint32_t k_remote = ip4(10, 244, 2, 3);   // behind k_peer
constexpr uint32_t k_remote2 = ip4(10, 244, 3, 3);  // behind k_peer2

ipv4_prefix pfx(uint32_t a, uint8_t len) { return ipv4_prefix{ipv4_addr{a}, len}; }

peer_config peer_cfg(uint32_t node, const mac_addr& vtep, ipv4_prefix cidr) {
    peer_config p;
    p.node_ip = ipv4_addr{node};
    p.vtep_mac = vtep;
    p.pod_cidr = cidr;
    return p;
}

size_t drop_index(std::string_view name) {
    for (size_t i = 0; i < k_drop_names.size(); ++i)
        if (k_drop_names[i] == name) return i;
    ADD_FAILURE() << "no drop reason named " << name;
    return 0;
}

using outputs = std::map<uint16_t, std::vector<bytes>>;

class fastpath : public testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(test::eal_env::ready()) << "EAL did not start; see the environment's failure";
        log::set_level(log::level::warn);  // 2,000 peer add/remove lines otherwise
        dp_ = std::make_unique<dataplane>();
        dataplane_params dpp;
        dpp.workers = 1;
        dpp.mbufs = 8191;
        dpp.max_routes = 1u << 16;
        auto r = dp_->init(dpp);
        ASSERT_TRUE(r) << r.err();

        cfg_.node_name = "a";
        cfg_.node_ip = pfx(k_node, 24);
        cfg_.uplink = "net_null0";
        cfg_.vtep_mac = k_vtep;
        cfg_.pod_cidr = pfx(ip4(10, 244, 1, 0), 24);
        cfg_.host_iface = "";
        cfg_.neighbors.push_back({ipv4_addr{k_peer}, k_underlay_nh});
        rt_ = std::make_unique<control::router>(cfg_, *dp_);
        auto s = rt_->start();
        ASSERT_TRUE(s) << s.err();
        ASSERT_TRUE(add_pod("p1", k_pod1_ip, "net_null1", k_pod1));
        ASSERT_TRUE(add_pod("p2", k_pod2_ip, "net_null2", k_pod2));
        auto pr = rt_->add_peer(peer_cfg(k_peer, k_peer_vtep, pfx(ip4(10, 244, 2, 0), 24)));
        ASSERT_TRUE(pr) << pr.err();

        for (const port_info* p : dp_->ports()) {
            if (p->name == "net_null0") uplink_ = p->id;
            if (p->name == "net_null1") p1_ = p->id;
            if (p->name == "net_null2") p2_ = p->id;
        }
        ASSERT_EQ(dp_->current()->uplink_port, uplink_);
        uplink_mac_ = mac_of(dp_->port(uplink_)->mac);
        w_ = std::make_unique<worker>(dp_->params_for(0));
        inject_ = rte_ring_lookup("vxr_inject0");
        ASSERT_NE(inject_, nullptr);
        baseline_ = rte_mempool_in_use_count(dp_->pool());
        ASSERT_EQ(baseline_, 0u);
    }

    void TearDown() override {
        if (!dp_ || !w_) return;
        EXPECT_TRUE(take().empty()) << "unexpected packets left in TX buffers";
        drain_punt();
        drain_inject();
        EXPECT_EQ(rte_mempool_in_use_count(dp_->pool()), baseline_) << "mbuf leak";
        w_.reset();
        rt_.reset();
        dp_.reset();
    }

    result<void> add_pod(const std::string& name, uint32_t ip, const std::string& devargs, const mac_addr& m) {
        control::pod_config p;
        p.name = name;
        p.ip = ipv4_addr{ip};
        p.devargs = devargs;
        p.mac = m;
        return rt_->add_pod(p);
    }

    rte_mbuf* mbuf(const bytes& f, uint16_t headroom = RTE_PKTMBUF_HEADROOM) {
        rte_mbuf* m = rte_pktmbuf_alloc(dp_->pool());
        EXPECT_NE(m, nullptr);
        if (m == nullptr) return nullptr;
        m->data_off = headroom;
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
        return m;
    }
    static bytes contents(const rte_mbuf* m) {
        bytes out(rte_pktmbuf_pkt_len(m));
        const void* p = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(out.size()), out.data());
        if (p != out.data()) std::memcpy(out.data(), p, out.size());
        return out;
    }

    // Run frames through the pipeline as if received on `port`; return what
    // the worker queued for transmission, by port.
    outputs send(port_role role, uint16_t port, const std::vector<bytes>& frames,
                 const snapshot* s = nullptr, uint16_t headroom = RTE_PKTMBUF_HEADROOM) {
        if (s == nullptr) s = dp_->current();
        for (size_t i = 0; i < frames.size(); i += 16) {
            rte_mbuf* pkts[16];
            uint16_t n = 0;
            for (size_t j = i; j < frames.size() && n < 16; ++j) pkts[n++] = mbuf(frames[j], headroom);
            w_->process(*s, role, port, pkts, n);
        }
        return take(s);
    }
    outputs send(port_role role, uint16_t port, const bytes& frame) {
        return send(role, port, std::vector<bytes>{frame});
    }
    outputs from_pod1(const bytes& f) { return send(port_role::pod, p1_, f); }
    outputs from_uplink(const bytes& f) { return send(port_role::uplink, uplink_, f); }

    outputs take(const snapshot* s = nullptr) {
        if (s == nullptr) s = dp_->current();
        outputs out;
        for (uint16_t port = 0; port < RTE_MAX_ETHPORTS; ++port) {
            rte_eth_dev_tx_buffer* b = s->ports[port].txb[0];
            if (b == nullptr) continue;
            for (uint16_t i = 0; i < b->length; ++i) {
                out[port].push_back(contents(b->pkts[i]));
                rte_pktmbuf_free(b->pkts[i]);
            }
            b->length = 0;
        }
        return out;
    }
    std::vector<rte_mbuf*> punted() {
        std::vector<rte_mbuf*> v(4096);
        v.resize(dp_->punt_dequeue(v.data(), static_cast<unsigned>(v.size())));
        return v;
    }
    unsigned drain_punt() {
        unsigned n = 0;
        for (auto v = punted(); !v.empty(); v = punted()) {
            n += static_cast<unsigned>(v.size());
            for (rte_mbuf* m : v) rte_pktmbuf_free(m);
        }
        return n;
    }
    std::vector<bytes> drain_inject() {
        std::vector<bytes> out;
        void* objs[64];
        unsigned n;
        while ((n = rte_ring_dequeue_burst(inject_, objs, 64, nullptr)) != 0) {
            for (unsigned i = 0; i < n; ++i) {
                out.push_back(contents(static_cast<rte_mbuf*>(objs[i])));
                rte_pktmbuf_free(static_cast<rte_mbuf*>(objs[i]));
            }
        }
        return out;
    }

    const worker_counters& ctr() const { return dp_->counters(0); }
    std::array<uint64_t, k_drop_reasons> drops() const {
        std::array<uint64_t, k_drop_reasons> a{};
        for (size_t i = 0; i < a.size(); ++i) a[i] = ctr().drops[i].get();
        return a;
    }
    // The drop counters that moved since `before`, by name.
    std::map<std::string, uint64_t> drops_since(const std::array<uint64_t, k_drop_reasons>& before) const {
        std::map<std::string, uint64_t> d;
        const auto now = drops();
        for (size_t i = 0; i < now.size(); ++i)
            if (now[i] != before[i]) d[std::string(k_drop_names[i])] = now[i] - before[i];
        return d;
    }
    uint64_t drop_count(std::string_view name) const { return ctr().drops[drop_index(name)].get(); }

    size_t route_count() const {
        rapidjson::Document d;
        d.Parse(rt_->show("routes").c_str());
        return d.HasParseError() ? SIZE_MAX : d["count"].GetUint64();
    }
    uint32_t route_nexthop(const std::string& prefix) const {
        rapidjson::Document d;
        d.Parse(rt_->show("routes").c_str());
        for (const auto& r : d["routes"].GetArray())
            if (r["prefix"].GetString() == prefix) return r["nexthop"].GetUint();
        ADD_FAILURE() << "no route " << prefix;
        return 0;
    }

    // A frame from pod 1 (to the gateway MAC) carrying `ip_pkt`.
    bytes pod1_frame(const bytes& ip_pkt) const { return eth(k_vtep, k_pod1, 0x0800) + ip_pkt; }
    // What peer k_peer sends us for the inner IPv4 packet `ip_pkt`.
    bytes from_peer(const bytes& ip_pkt, uint32_t vni = 1, uint16_t udp_csum = 0) const {
        const bytes inner = eth(k_vtep, k_peer_vtep, 0x0800) + ip_pkt;
        bytes u(16);
        put16(&u[0], 54321);
        put16(&u[2], 8472);
        put16(&u[4], static_cast<uint16_t>(16 + inner.size()));
        put16(&u[6], udp_csum);
        u[8] = 0x08;
        put32(&u[12], vni << 8);
        return eth(uplink_mac_, k_underlay_nh, 0x0800) + ipv4(k_peer, k_node, 17, 64, u + inner, 0x4000, 0);
    }
    // What we must send to the peer at `peer_ip` (VTEP `vtep`, underlay MAC
    // `nh_mac`) for an inner packet, with the UDP source port taken from `got`.
    bytes expected_encap(const bytes& inner_ip, uint32_t peer_ip, const mac_addr& vtep, const mac_addr& nh_mac,
                         uint16_t sport) const {
        const bytes inner = eth(vtep, k_vtep, 0x0800) + inner_ip;
        bytes u(16);
        put16(&u[0], sport);
        put16(&u[2], 8472);
        put16(&u[4], static_cast<uint16_t>(16 + inner.size()));
        u[8] = 0x08;
        put32(&u[12], 1u << 8);
        return eth(nh_mac, uplink_mac_, 0x0800) + ipv4(k_node, peer_ip, 17, 64, u + inner, 0x4000, 0);
    }

    control::config cfg_;
    std::unique_ptr<dataplane> dp_;
    std::unique_ptr<control::router> rt_;
    std::unique_ptr<worker> w_;
    rte_ring* inject_ = nullptr;
    uint16_t uplink_ = RTE_MAX_ETHPORTS, p1_ = RTE_MAX_ETHPORTS, p2_ = RTE_MAX_ETHPORTS;
    mac_addr uplink_mac_;
    unsigned baseline_ = 0;
};

::testing::AssertionResult same_bytes(const bytes& got, const bytes& want, size_t skip_from = 0, size_t skip_len = 0) {
    if (got.size() != want.size())
        return testing::AssertionFailure() << "length " << got.size() << ", want " << want.size();
    for (size_t i = 0; i < got.size(); ++i) {
        if (i >= skip_from && i < skip_from + skip_len) continue;
        if (got[i] != want[i])
            return testing::AssertionFailure() << "byte " << i << " is 0x" << std::hex << int(got[i]) << ", want 0x"
                                               << int(want[i]);
    }
    return testing::AssertionSuccess();
}

// Checks an ICMP error frame sent to pod 1 from the gateway about `orig_ip`.
void expect_icmp_error_to_pod1(const bytes& f, uint8_t type, uint8_t code, uint16_t mtu, const bytes& orig_ip) {
    ASSERT_EQ(f.size(), 14u + 20 + 8 + 28);
    EXPECT_TRUE(same_bytes(bytes(f.begin(), f.begin() + 14), eth(k_pod1, k_vtep, 0x0800)));
    const uint8_t* ip = &f[14];
    EXPECT_EQ(ip[0], 0x45);
    EXPECT_EQ(get16(ip + 2), 56);
    EXPECT_EQ(ip[9], 1);
    EXPECT_EQ(get32(ip + 12), k_gw);
    EXPECT_EQ(get32(ip + 16), k_pod1_ip);
    EXPECT_EQ(ip[8], 64) << "a packet we originate is not aged by our own forwarding";
    EXPECT_EQ(ref_csum(ip, 20), 0) << "IP checksum";
    const uint8_t* ic = ip + 20;
    EXPECT_EQ(ic[0], type);
    EXPECT_EQ(ic[1], code);
    EXPECT_EQ(get16(ic + 4), 0);
    EXPECT_EQ(get16(ic + 6), mtu);
    EXPECT_EQ(ref_csum(ic, 8 + 28), 0) << "ICMP checksum";
    EXPECT_EQ(std::memcmp(ic + 8, orig_ip.data(), 28), 0) << "quotes the original header + 8 bytes";
}

// ---- forwarding paths ----------------------------------------------------------------

TEST_F(fastpath, encap_pod_to_peer) {
    const bytes ip = ipv4(k_pod1_ip, k_remote, 17, 64, udp(40000, 53, 100));
    auto out = from_pod1(pod1_frame(ip));
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[uplink_].size(), 1u);
    const bytes& got = out[uplink_][0];
    ASSERT_GE(got.size(), 36u);
    const uint16_t sport = get16(&got[34]);
    EXPECT_GE(sport, 49152);
    EXPECT_TRUE(same_bytes(got, expected_encap(forwarded(ip, 0), k_peer, k_peer_vtep, k_underlay_nh, sport)));
    // The source port is the inner flow's hash: the same flow keeps it, another flow moves it.
    auto again = from_pod1(pod1_frame(ip));
    EXPECT_EQ(get16(&again[uplink_].at(0)[34]), sport);
    std::set<uint16_t> ports;
    for (uint16_t sp = 40000; sp < 40016; ++sp) {
        auto o = from_pod1(pod1_frame(ipv4(k_pod1_ip, k_remote, 17, 64, udp(sp, 53, 10))));
        ports.insert(get16(&o[uplink_].at(0)[34]));
    }
    EXPECT_GE(ports.size(), 14u);
    EXPECT_EQ(ctr().encapsulated.get(), 18u);
    EXPECT_EQ(ctr().ports[uplink_].tx_packets.get(), 18u);
    EXPECT_TRUE(drops_since({}).empty());
}

TEST_F(fastpath, decap_peer_to_pod) {
    const bytes ip = ipv4(k_remote, k_pod1_ip, 1, 62, icmp(8, 0, 32));
    auto out = from_uplink(from_peer(ip));
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[p1_].size(), 1u);
    EXPECT_TRUE(same_bytes(out[p1_][0], eth(k_pod1, k_vtep, 0x0800) + forwarded(ip, 0)));
    EXPECT_EQ(ctr().decapsulated.get(), 1u);
    EXPECT_EQ(ctr().routed_local.get(), 1u);
    EXPECT_TRUE(drops_since({}).empty());
}

TEST_F(fastpath, decap_with_padding_and_udp_checksum) {
    // A non-zero, correct outer UDP checksum is verified and accepted;
    // Ethernet padding after the outer packet is not forwarded.
    const bytes ip = ipv4(k_remote, k_pod2_ip, 17, 30, udp(1, 2, 3));
    bytes f = from_peer(ip);
    {
        uint8_t* o = &f[14];
        uint8_t* u = o + 20;
        const uint16_t ulen = get16(u + 4);
        uint8_t ph[12];
        std::memcpy(ph, o + 12, 8);
        ph[8] = 0;
        ph[9] = 17;
        put16(ph + 10, ulen);
        put16(u + 6, static_cast<uint16_t>(~ref_sum(u, ulen, ref_sum(ph, 12))));
    }
    f.resize(f.size() + 6, 0);
    auto out = from_uplink(f);
    ASSERT_EQ(out[p2_].size(), 1u);
    EXPECT_TRUE(same_bytes(out[p2_][0], eth(k_pod2, k_vtep, 0x0800) + forwarded(ip, 0)));
}

TEST_F(fastpath, pod_to_pod) {
    const bytes ip = ipv4(k_pod1_ip, k_pod2_ip, 6, 64, bytes(40, 0xab));
    auto out = from_pod1(pod1_frame(ip) + bytes(4, 0));  // with padding
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[p2_].size(), 1u);
    EXPECT_TRUE(same_bytes(out[p2_][0], eth(k_pod2, k_vtep, 0x0800) + forwarded(ip, 0)));
    EXPECT_EQ(ctr().routed_local.get(), 1u);
    EXPECT_EQ(ctr().ports[p2_].tx_packets.get(), 1u);
}

TEST_F(fastpath, echo_to_gateway) {
    const bytes ip = ipv4(k_pod1_ip, k_gw, 1, 64, icmp(8, 0, 24));
    auto out = from_pod1(pod1_frame(ip));
    ASSERT_EQ(out[p1_].size(), 1u);
    const bytes& f = out[p1_][0];
    ASSERT_EQ(f.size(), 14u + ip.size());
    EXPECT_TRUE(same_bytes(bytes(f.begin(), f.begin() + 14), eth(k_pod1, k_vtep, 0x0800)));
    EXPECT_EQ(get32(&f[14 + 12]), k_gw);
    EXPECT_EQ(get32(&f[14 + 16]), k_pod1_ip);
    EXPECT_EQ(ref_csum(&f[14], 20), 0);
    EXPECT_EQ(f[14 + 8], 64) << "TTL of a reply we originate";
    EXPECT_EQ(f[34], 0);  // echo reply
    EXPECT_EQ(ref_csum(&f[34], f.size() - 34), 0);
    EXPECT_EQ(std::memcmp(&f[38], &ip[24], ip.size() - 24), 0) << "identifier, sequence and data echoed";
}

TEST_F(fastpath, proxy_arp_for_pods) {
    auto arp = [&](uint16_t op, uint32_t sip, uint32_t tip) {
        bytes a(28, 0);
        put16(&a[0], 1);
        put16(&a[2], 0x0800);
        a[4] = 6;
        a[5] = 4;
        put16(&a[6], op);
        std::memcpy(&a[8], k_pod1.bytes.data(), 6);
        put32(&a[14], sip);
        put32(&a[24], tip);
        return eth(mac(0xff, 0xff, 0xff, 0xff, 0xff, 0xff), k_pod1, 0x0806) + a + bytes(18, 0);
    };
    // Who has the gateway, and any other address: we do.
    for (uint32_t tip : {k_gw, k_remote, k_pod2_ip}) {
        auto out = from_pod1(arp(1, k_pod1_ip, tip));
        ASSERT_EQ(out[p1_].size(), 1u);
        const bytes& r = out[p1_][0];
        ASSERT_EQ(r.size(), 42u);
        EXPECT_TRUE(same_bytes(bytes(r.begin(), r.begin() + 14), eth(k_pod1, k_vtep, 0x0806)));
        EXPECT_EQ(get16(&r[20]), 2);
        EXPECT_EQ(std::memcmp(&r[22], k_vtep.bytes.data(), 6), 0);
        EXPECT_EQ(get32(&r[28]), tip);
        EXPECT_EQ(std::memcmp(&r[32], k_pod1.bytes.data(), 6), 0);
        EXPECT_EQ(get32(&r[38]), k_pod1_ip);
    }
    EXPECT_EQ(ctr().arp_replied.get(), 3u);
    const auto before = drops();
    // Gratuitous ARP and a reply are not answered.
    EXPECT_TRUE(from_pod1(arp(1, k_pod1_ip, k_pod1_ip)).empty());
    EXPECT_TRUE(from_pod1(arp(2, k_pod1_ip, k_gw)).empty());
    // An RFC 5227 address probe (sender 0.0.0.0, target the pod's own
    // address) must not be answered either: a reply tells the pod that its
    // address is in use by someone else.
    EXPECT_TRUE(from_pod1(arp(1, 0, k_pod1_ip)).empty()) << "proxy ARP answered the pod's duplicate-address probe";
    EXPECT_EQ(drops_since(before), (std::map<std::string, uint64_t>{{"arp_ignored", 3}}));
}

TEST_F(fastpath, ttl_expiry_sends_time_exceeded) {
    const bytes ip = ipv4(k_pod1_ip, k_remote, 17, 1, udp(40000, 53, 20));
    auto out = from_pod1(pod1_frame(ip));
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[p1_].size(), 1u);
    expect_icmp_error_to_pod1(out[p1_][0], 11, 0, 0, ip);
    // The packet became the ICMP error: counted as sent, not as a drop.
    EXPECT_EQ(ctr().icmp_sent.get(), 1u);
    EXPECT_TRUE(drops_since({}).empty());
    // TTL 1 to a local pod expires too; TTL 2 is forwarded with TTL 1.
    out = from_pod1(pod1_frame(ipv4(k_pod1_ip, k_pod2_ip, 17, 1, udp(1, 2, 3))));
    ASSERT_EQ(out[p1_].size(), 1u);
    EXPECT_EQ(out[p1_][0][34], 11);
    out = from_pod1(pod1_frame(ipv4(k_pod1_ip, k_pod2_ip, 17, 2, udp(1, 2, 3))));
    ASSERT_EQ(out[p2_].size(), 1u);
    EXPECT_EQ(out[p2_][0][14 + 8], 1);
}

TEST_F(fastpath, ttl_expiry_from_tunnel_answers_through_tunnel) {
    const bytes ip = ipv4(k_remote, k_pod1_ip, 17, 1, udp(40000, 53, 20));
    auto out = from_uplink(from_peer(ip));
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[uplink_].size(), 1u);
    const bytes& f = out[uplink_][0];
    ASSERT_EQ(f.size(), 50u + 14 + 56);
    const bytes inner(f.begin() + 64, f.end());
    EXPECT_EQ(get32(&inner[12]), k_gw);
    EXPECT_EQ(get32(&inner[16]), k_remote);
    EXPECT_EQ(inner[20], 11);
    EXPECT_EQ(ref_csum(&inner[20], 36), 0);
    EXPECT_EQ(std::memcmp(&inner[28], ip.data(), 28), 0);
    EXPECT_TRUE(same_bytes(f, expected_encap(inner, k_peer, k_peer_vtep, k_underlay_nh, get16(&f[34]))));
    EXPECT_EQ(inner[8], 64) << "a packet we originate is not aged by our own forwarding";
    EXPECT_EQ(ctr().icmp_sent.get(), 1u);
    EXPECT_TRUE(drops_since({}).empty());
}

TEST_F(fastpath, frag_needed_and_too_big) {
    // pod MTU = 1500 - 50 = 1450.
    const bytes fits = ipv4(k_pod1_ip, k_remote, 17, 64, udp(1, 2, 1450 - 28));
    auto out = from_pod1(pod1_frame(fits));
    ASSERT_EQ(out[uplink_].size(), 1u);
    EXPECT_EQ(out[uplink_][0].size(), 14u + 50 + 1450);
    EXPECT_EQ(get16(&out[uplink_][0][16]), 1500);

    const bytes df = ipv4(k_pod1_ip, k_remote, 17, 64, udp(1, 2, 1451 - 28));
    out = from_pod1(pod1_frame(df));
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[p1_].size(), 1u);
    expect_icmp_error_to_pod1(out[p1_][0], 3, 4, 1450, df);
    // With DF the packet became the ICMP error; too_big counts only non-DF.
    EXPECT_EQ(ctr().icmp_sent.get(), 1u);
    EXPECT_TRUE(drops_since({}).empty());

    const auto before = drops();
    const bytes no_df = ipv4(k_pod1_ip, k_remote, 17, 64, udp(1, 2, 1451 - 28), 0);
    EXPECT_TRUE(from_pod1(pod1_frame(no_df)).empty());
    EXPECT_EQ(drops_since(before), (std::map<std::string, uint64_t>{{"too_big", 1}}));
}

TEST_F(fastpath, no_route_and_hairpin) {
    auto before = drops();
    EXPECT_TRUE(from_pod1(pod1_frame(ipv4(k_pod1_ip, ip4(10, 99, 0, 1), 17, 64, udp(1, 2, 3)))).empty());
    EXPECT_TRUE(from_pod1(pod1_frame(ipv4(k_pod1_ip, ip4(10, 244, 1, 77), 17, 64, udp(1, 2, 3)))).empty());
    EXPECT_EQ(drops_since(before), (std::map<std::string, uint64_t>{{"no_route", 2}}));
    before = drops();
    // A tunnel packet for another peer's pods is not sent back into the tunnel.
    EXPECT_TRUE(from_uplink(from_peer(ipv4(k_remote, ip4(10, 244, 2, 9), 17, 64, udp(1, 2, 3)))).empty());
    EXPECT_EQ(drops_since(before), (std::map<std::string, uint64_t>{{"hairpin", 1}}));
}

// ---- drop reasons ---------------------------------------------------------------------

struct drop_case {
    const char* reason;
    port_role role;
    bytes frame;
};

TEST_F(fastpath, each_drop_reason_counts_once) {
    const bytes good = pod1_frame(ipv4(k_pod1_ip, k_remote, 17, 64, udp(1, 2, 3)));
    auto patched = [](bytes f, size_t off, uint8_t v) {
        f[off] = v;
        return f;
    };
    auto refix = [](bytes f, size_t ip_off) {  // recompute an IPv4 header checksum after a patch
        put16(&f[ip_off + 10], 0);
        put16(&f[ip_off + 10], ref_csum(&f[ip_off], (f[ip_off] & 0xf) * 4u));
        return f;
    };
    const bytes inner = ipv4(k_remote, k_pod1_ip, 17, 64, udp(1, 2, 3));
    const bytes vx = from_peer(inner);
    const size_t vxo = 14 + 20 + 8;  // VXLAN header offset in `vx`
    std::vector<drop_case> cases = {
        {"not_for_us", port_role::uplink, patched(vx, 5, vx[5] ^ 0xff)},
        {"unsupported_ethertype", port_role::pod, eth(k_vtep, k_pod1, 0x86dd) + bytes(40, 0)},
        {"ipv4_truncated", port_role::pod, eth(k_vtep, k_pod1, 0x0800) + bytes(19, 0x45)},
        {"ipv4_truncated", port_role::pod, bytes(10, 0)},
        {"ipv4_bad_version", port_role::pod, refix(patched(good, 14, 0x65), 14)},
        {"ipv4_bad_ihl", port_role::pod, patched(good, 14, 0x44)},
        {"ipv4_bad_length", port_role::pod, refix([&] { bytes f = good; put16(&f[16], 200); return f; }(), 14)},
        {"ipv4_bad_checksum", port_role::pod, patched(good, 24, good[24] ^ 0xff)},
        {"ipv4_not_unicast", port_role::pod, pod1_frame(ipv4(k_pod1_ip, ip4(224, 0, 0, 251), 17, 1, udp(5353, 5353, 8)))},
        {"ipv4_not_unicast", port_role::pod, pod1_frame(ipv4(k_pod1_ip, 0xffffffff, 17, 64, udp(68, 67, 8)))},
        {"pod_spoofed_source", port_role::pod, pod1_frame(ipv4(ip4(10, 244, 1, 99), k_remote, 17, 64, udp(1, 2, 3)))},
        {"vxlan_outer_fragment", port_role::uplink, refix(patched(vx, 20, 0x20), 14)},
        {"vxlan_truncated", port_role::uplink,
         eth(uplink_mac_, k_underlay_nh, 0x0800) + ipv4(k_peer, k_node, 17, 64, udp(54321, 8472, 4), 0x4000, 0)},
        {"vxlan_bad_udp_length", port_role::uplink, patched(vx, 14 + 20 + 5, static_cast<uint8_t>(vx[39] - 1))},
        {"vxlan_bad_udp_checksum", port_role::uplink, patched(vx, 14 + 20 + 6, 0x12)},
        {"vxlan_bad_flags", port_role::uplink, patched(vx, vxo, 0)},
        {"vxlan_wrong_vni", port_role::uplink, from_peer(inner, 2)},
        {"vxlan_wrong_inner_mac", port_role::uplink, patched(vx, vxo + 8 + 5, 0x99)},
        {"vxlan_inner_not_ipv4", port_role::uplink, patched(vx, vxo + 8 + 12, 0x86)},
        {"ipv4_bad_checksum", port_role::uplink, patched(vx, vxo + 8 + 14 + 10, vx[vxo + 8 + 14 + 10] ^ 0xff)},  // inner header
        {"no_route", port_role::pod, pod1_frame(ipv4(k_pod1_ip, ip4(10, 99, 0, 1), 17, 64, udp(1, 2, 3)))},
        {"no_route", port_role::pod, pod1_frame(ipv4(k_pod1_ip, k_gw, 17, 64, udp(1, 2, 3)))},  // gateway: ping only
        {"hairpin", port_role::uplink, from_peer(ipv4(k_remote, ip4(10, 244, 2, 8), 17, 64, udp(1, 2, 3)))},
        {"too_big", port_role::pod, pod1_frame(ipv4(k_pod1_ip, k_remote, 17, 64, udp(1, 2, 1500), 0))},
        {"icmp_not_allowed", port_role::pod, pod1_frame(ipv4(k_pod1_ip, k_remote, 1, 1, icmp(3, 1, 28)))},
        {"icmp_not_allowed", port_role::pod, pod1_frame(ipv4(k_pod1_ip, k_remote, 17, 1, udp(1, 2, 3), 0x0010))},
        {"no_host_port", port_role::pod, pod1_frame(ipv4(k_pod1_ip, k_node, 17, 64, udp(1, 2, 3)))},
        {"no_host_port", port_role::uplink,
         eth(uplink_mac_, k_underlay_nh, 0x0800) + ipv4(k_peer, k_node, 6, 64, bytes(20, 0))},
        {"no_host_port", port_role::uplink, eth(uplink_mac_, k_underlay_nh, 0x86dd) + bytes(40, 0)},
        {"arp_ignored", port_role::pod,
         eth(k_vtep, k_pod1, 0x0806) + bytes{0, 1, 8, 0, 6, 4, 0, 2} + bytes(20, 0)},
        {"arp_ignored", port_role::pod, eth(k_vtep, k_pod1, 0x0806) + bytes{0, 6, 8, 0, 6, 4, 0, 1} + bytes(20, 0)},
    };
    for (const drop_case& c : cases) {
        SCOPED_TRACE(c.reason);
        const auto before = drops();
        const auto out = send(c.role, c.role == port_role::uplink ? uplink_ : p1_, std::vector<bytes>{c.frame});
        EXPECT_TRUE(out.empty()) << "forwarded instead of dropped";
        EXPECT_EQ(drops_since(before), (std::map<std::string, uint64_t>{{c.reason, 1}}));
    }
    // The good frame itself still goes through.
    EXPECT_EQ(from_pod1(good).at(uplink_).size(), 1u);
}

TEST_F(fastpath, drop_no_headroom) {
    const auto out =
        send(port_role::pod, p1_, {pod1_frame(ipv4(k_pod1_ip, k_remote, 17, 64, udp(1, 2, 3)))}, nullptr, 49);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(drops_since({}), (std::map<std::string, uint64_t>{{"no_headroom", 1}}));
}

TEST_F(fastpath, drop_stale_port) {
    // The pod's port vanished from the snapshot while its route still points
    // at it (the window remove_pod closes by publishing before detaching).
    snapshot s = *dp_->current();
    s.ports[p2_].txb = {};
    const auto out = send(port_role::pod, p1_, {pod1_frame(ipv4(k_pod1_ip, k_pod2_ip, 17, 64, udp(1, 2, 3)))}, &s);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(drops_since({}), (std::map<std::string, uint64_t>{{"stale_port", 1}}));
}

TEST_F(fastpath, drop_icmp_rate_limited) {
    std::vector<bytes> frames;
    for (uint16_t i = 0; i < 150; ++i) frames.push_back(pod1_frame(ipv4(k_pod1_ip, k_remote, 17, 1, udp(i, 2, 3))));
    uint64_t sent = 0;
    for (size_t i = 0; i < frames.size(); i += 16) {
        const std::vector<bytes> chunk(frames.begin() + i, frames.begin() + std::min(frames.size(), i + 16));
        auto out = send(port_role::pod, p1_, chunk);
        sent += out[p1_].size();
    }
    EXPECT_EQ(sent, ctr().icmp_sent.get());
    EXPECT_GE(sent, 100u) << "a burst of 100 is allowed";
    EXPECT_LT(sent, 150u);
    EXPECT_EQ(drop_count("icmp_rate_limited"), 150 - sent);
}

TEST_F(fastpath, drop_punt_full_and_arp_punt) {
    // Uplink ARP goes to the control thread through the punt ring (4095 slots).
    bytes a(28, 0);
    put16(&a[0], 1);
    put16(&a[2], 0x0800);
    a[4] = 6;
    a[5] = 4;
    put16(&a[6], 1);
    std::memcpy(&a[8], k_underlay_nh.bytes.data(), 6);
    put32(&a[14], k_peer);
    put32(&a[24], k_node);
    const bytes req = eth(mac(0xff, 0xff, 0xff, 0xff, 0xff, 0xff), k_underlay_nh, 0x0806) + a;
    std::vector<bytes> frames(4096, req);
    EXPECT_TRUE(send(port_role::uplink, uplink_, frames).empty());
    EXPECT_EQ(ctr().punted.get(), 4095u);
    EXPECT_EQ(drops_since({}), (std::map<std::string, uint64_t>{{"punt_full", 1}}));
    EXPECT_EQ(drain_punt(), 4095u);
    // The control thread answers one for our node address from the uplink MAC.
    EXPECT_TRUE(send(port_role::uplink, uplink_, req).empty());
    rt_->poll();
    const auto injected = drain_inject();
    ASSERT_EQ(injected.size(), 1u);
    const bytes& r = injected[0];
    ASSERT_EQ(r.size(), 42u);
    EXPECT_TRUE(same_bytes(bytes(r.begin(), r.begin() + 14), eth(k_underlay_nh, uplink_mac_, 0x0806)));
    EXPECT_EQ(get16(&r[20]), 2);
    EXPECT_EQ(get32(&r[28]), k_node);
    EXPECT_EQ(get32(&r[38]), k_peer);
}

TEST_F(fastpath, every_drop_reason_is_exercised) {
    // The names the tests above drive; a new reason needs a test.
    const std::set<std::string_view> covered = {
        "not_for_us", "unsupported_ethertype", "arp_ignored", "ipv4_truncated", "ipv4_bad_version",
        "ipv4_bad_ihl", "ipv4_bad_length", "ipv4_bad_checksum", "ipv4_not_unicast", "pod_spoofed_source",
        "vxlan_outer_fragment", "vxlan_truncated", "vxlan_bad_udp_length", "vxlan_bad_udp_checksum",
        "vxlan_bad_flags", "vxlan_wrong_vni", "vxlan_wrong_inner_mac", "vxlan_inner_not_ipv4", "no_route",
        "hairpin", "too_big", "icmp_rate_limited", "icmp_not_allowed", "no_host_port",
        "no_headroom", "punt_full", "stale_port"};
    for (std::string_view n : k_drop_names) EXPECT_TRUE(covered.count(n)) << n << " has no test";
    EXPECT_EQ(covered.size(), k_drop_reasons);
}

// ---- table updates -------------------------------------------------------------------

TEST_F(fastpath, add_and_remove_peer) {
    const bytes to2 = pod1_frame(ipv4(k_pod1_ip, k_remote2, 17, 64, udp(1, 2, 3)));
    EXPECT_TRUE(from_pod1(to2).empty());
    EXPECT_EQ(drop_count("no_route"), 1u);

    // A second peer behind the static neighbour's subnet but without a MAC yet:
    // encapsulated, then parked with the control thread until ARP resolves.
    auto r = rt_->add_peer(peer_cfg(k_peer2, k_peer2_vtep, pfx(ip4(10, 244, 3, 0), 24)));
    ASSERT_TRUE(r) << r.err();
    EXPECT_TRUE(from_pod1(to2).empty());
    EXPECT_EQ(ctr().encapsulated.get(), 1u);
    auto p = punted();
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(punt_tag_kind(p[0]->hash.usr), punt_kind::neighbor_wait);
    for (rte_mbuf* m : p) rte_pktmbuf_free(m);

    // Learn its MAC from an ARP reply: later packets go straight out.
    const mac_addr peer2_mac = mac(0x02, 0, 0, 0, 0, 3);
    bytes a(28, 0);
    put16(&a[0], 1);
    put16(&a[2], 0x0800);
    a[4] = 6;
    a[5] = 4;
    put16(&a[6], 2);
    std::memcpy(&a[8], peer2_mac.bytes.data(), 6);
    put32(&a[14], k_peer2);
    std::memcpy(&a[18], uplink_mac_.bytes.data(), 6);
    put32(&a[24], k_node);
    EXPECT_TRUE(from_uplink(eth(uplink_mac_, peer2_mac, 0x0806) + a).empty());
    rt_->poll();
    drain_inject();
    auto out = from_pod1(to2);
    ASSERT_EQ(out[uplink_].size(), 1u);
    const bytes& f = out[uplink_][0];
    EXPECT_TRUE(same_bytes(f, expected_encap(forwarded(bytes(to2.begin() + 14, to2.end()), 0), k_peer2, k_peer2_vtep,
                                             peer2_mac, get16(&f[34]))));

    auto rm = rt_->remove_peer(ipv4_addr{k_peer2});
    ASSERT_TRUE(rm) << rm.err();
    const auto before = drops();
    EXPECT_TRUE(from_pod1(to2).empty());
    EXPECT_EQ(drops_since(before), (std::map<std::string, uint64_t>{{"no_route", 1}}));
    // The other peer is untouched.
    EXPECT_EQ(from_pod1(pod1_frame(ipv4(k_pod1_ip, k_remote, 17, 64, udp(1, 2, 3)))).at(uplink_).size(), 1u);
}

TEST_F(fastpath, readding_reuses_slots) {
    const size_t slots = dp_->current()->peers.size();
    const size_t nhs = dp_->current()->nexthops.size();
    // Remove the first peer, add two others: the first takes the freed slot
    // and next hop, and each CIDR must reach its own peer.
    ASSERT_TRUE(rt_->remove_peer(ipv4_addr{k_peer}));
    const uint32_t p3 = ip4(198, 18, 0, 4), p4 = ip4(198, 18, 0, 5);
    const mac_addr v3 = mac(0x0e, 0, 0, 0, 0, 4), v4 = mac(0x0e, 0, 0, 0, 0, 5);
    ASSERT_TRUE(rt_->add_peer(peer_cfg(p3, v3, pfx(ip4(10, 244, 4, 0), 24))));
    EXPECT_EQ(dp_->current()->peers.size(), slots);
    EXPECT_EQ(dp_->current()->nexthops.size(), nhs);
    ASSERT_TRUE(rt_->add_peer(peer_cfg(k_peer, k_peer_vtep, pfx(ip4(10, 244, 2, 0), 24))));
    ASSERT_TRUE(rt_->add_peer(peer_cfg(p4, v4, pfx(ip4(10, 244, 5, 0), 24))));
    struct want { uint32_t dst, peer; mac_addr vtep; };
    for (const want& w : {want{k_remote, k_peer, k_peer_vtep}, want{ip4(10, 244, 4, 9), p3, v3},
                          want{ip4(10, 244, 5, 9), p4, v4}}) {
        SCOPED_TRACE(w.peer);
        // p3 and p4 are unresolved (punted); k_peer goes out directly.
        std::vector<bytes> seen;
        for (auto& v : from_pod1(pod1_frame(ipv4(k_pod1_ip, w.dst, 17, 64, udp(1, 2, 3)))))
            for (auto& f : v.second) seen.push_back(f);
        for (rte_mbuf* m : punted()) {
            seen.push_back(contents(m));
            rte_pktmbuf_free(m);
        }
        ASSERT_EQ(seen.size(), 1u);
        const bytes& f = seen[0];
        EXPECT_EQ(get32(&f[14 + 16]), w.peer) << "outer destination";
        EXPECT_EQ(std::memcmp(&f[50], w.vtep.bytes.data(), 6), 0) << "inner destination MAC";
        EXPECT_EQ(get32(&f[64 + 16]), w.dst);
    }
}

TEST_F(fastpath, pod_host_route_beats_peer_prefix) {
    // The router refuses a peer CIDR that overlaps ours...
    EXPECT_FALSE(rt_->add_peer(peer_cfg(ip4(198, 18, 0, 9), k_peer2_vtep, pfx(ip4(10, 244, 0, 0), 16))));
    // ...so put a /32 to pod 2 inside the peer's /24 straight into the LPM:
    // longest prefix wins, and deleting it falls back to the /24.
    const uint32_t pod2_nh = route_nexthop("10.244.1.3/32");
    const uint32_t inside = ip4(10, 244, 2, 77);
    ASSERT_TRUE(dp_->route_add(pfx(inside, 32), pod2_nh));
    const bytes f = pod1_frame(ipv4(k_pod1_ip, inside, 17, 64, udp(1, 2, 3)));
    auto out = from_pod1(f);
    EXPECT_EQ(out.size(), 1u);
    EXPECT_EQ(out[p2_].size(), 1u);
    out = from_pod1(pod1_frame(ipv4(k_pod1_ip, ip4(10, 244, 2, 78), 17, 64, udp(1, 2, 3))));
    EXPECT_EQ(out[uplink_].size(), 1u);
    ASSERT_TRUE(dp_->route_del(pfx(inside, 32)));
    out = from_pod1(f);
    EXPECT_EQ(out.size(), 1u);
    EXPECT_EQ(out[uplink_].size(), 1u);
}

TEST_F(fastpath, remove_pod_stops_traffic) {
    const size_t routes = route_count();
    ASSERT_TRUE(rt_->remove_pod("p2"));
    EXPECT_EQ(route_count(), routes - 1);
    EXPECT_EQ(dp_->current()->ports[p2_].txb[0], nullptr);
    const auto before = drops();
    EXPECT_TRUE(from_pod1(pod1_frame(ipv4(k_pod1_ip, k_pod2_ip, 17, 64, udp(1, 2, 3)))).empty());
    EXPECT_EQ(drops_since(before), (std::map<std::string, uint64_t>{{"no_route", 1}}));
    ASSERT_TRUE(add_pod("p2", k_pod2_ip, "net_null2", k_pod2));
    EXPECT_EQ(route_count(), routes);
    uint16_t port = RTE_MAX_ETHPORTS;
    for (const port_info* p : dp_->ports())
        if (p->name == "net_null2") port = p->id;
    const auto out = from_pod1(pod1_frame(ipv4(k_pod1_ip, k_pod2_ip, 17, 64, udp(1, 2, 3))));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out.begin()->first, port);
}

TEST_F(fastpath, thousand_peers_added_and_removed) {
    const size_t base_routes = route_count();
    const size_t base_slots = dp_->current()->peers.size();
    const size_t base_nhs = dp_->current()->nexthops.size();
    auto node = [](uint32_t i) { return ip4(198, 19, 0, 0) + i + 1; };
    auto cidr = [](uint32_t i) { return pfx(ip4(10, 0, 0, 0) + (i << 8), 24); };
    for (int round = 0; round < 2; ++round) {
        SCOPED_TRACE(round);
        for (uint32_t i = 0; i < 1000; ++i) {
            auto r = rt_->add_peer(peer_cfg(node(i), k_peer2_vtep, cidr(i)));
            ASSERT_TRUE(r) << r.err();
        }
        EXPECT_EQ(route_count(), base_routes + 1000);
        EXPECT_EQ(rt_->peer_count(), 1001u);
        // Slots and next hops freed in round 0 are reused in round 1.
        EXPECT_EQ(dp_->current()->peers.size(), base_slots + 1000);
        EXPECT_EQ(dp_->current()->nexthops.size(), base_nhs + 1000);
        // Spot-check that traffic reaches the right peer (unresolved: punted).
        for (uint32_t i : {0u, 499u, 999u}) {
            EXPECT_TRUE(from_pod1(pod1_frame(ipv4(k_pod1_ip, cidr(i).addr.value + 5, 17, 64, udp(1, 2, 3)))).empty());
            auto p = punted();
            ASSERT_EQ(p.size(), 1u);
            EXPECT_EQ(get32(rte_pktmbuf_mtod_offset(p[0], const uint8_t*, 14 + 16)), node(i));
            rte_pktmbuf_free(p[0]);
        }
        for (uint32_t i = 0; i < 1000; ++i) ASSERT_TRUE(rt_->remove_peer(ipv4_addr{node(i)}));
        EXPECT_EQ(route_count(), base_routes);
        EXPECT_EQ(rt_->peer_count(), 1u);
        const auto before = drops();
        for (uint32_t i : {0u, 499u, 999u})
            EXPECT_TRUE(from_pod1(pod1_frame(ipv4(k_pod1_ip, cidr(i).addr.value + 5, 17, 64, udp(1, 2, 3)))).empty());
        EXPECT_EQ(drops_since(before), (std::map<std::string, uint64_t>{{"no_route", 3}}));
        EXPECT_EQ(dp_->routes().lookup(ipv4_addr{cidr(500).addr.value + 1}), std::nullopt) << "route left in the table";
    }
    EXPECT_EQ(from_pod1(pod1_frame(ipv4(k_pod1_ip, k_remote, 17, 64, udp(1, 2, 3)))).at(uplink_).size(), 1u);
}

}  // namespace
}  // namespace vxr::fastpath
