// The fastpath gtest fixture: a real control::router and dataplane with
// net_null ports, one worker driven on this thread, frames built byte by byte
// independently of src/encap, and what the worker queued read back from its
// TX buffers (see test_fastpath.cpp's opening comment). Included by the
// fastpath and Service-stage test programs, one fixture each.
#pragma once

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

// One worker lcore must exist for dataplane::init (it is never launched).
// A test program that needs more worker lcores defines this before the include.
#ifndef VXR_FASTPATH_TEST_EAL_ARGS
#define VXR_FASTPATH_TEST_EAL_ARGS {"-l", "0-1"}
#endif
[[maybe_unused]] auto* const g_eal = test::eal_env::install(VXR_FASTPATH_TEST_EAL_ARGS);

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
inline void put16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8); p[1] = static_cast<uint8_t>(v); }
inline void put32(uint8_t* p, uint32_t v) { put16(p, static_cast<uint16_t>(v >> 16)); put16(p + 2, static_cast<uint16_t>(v)); }
constexpr uint32_t ip4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return a << 24 | b << 16 | c << 8 | d; }
inline mac_addr mac(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, uint8_t f) { return mac_addr{{a, b, c, d, e, f}}; }
inline mac_addr mac_of(const rte_ether_addr& a) {
    mac_addr m;
    std::memcpy(m.bytes.data(), a.addr_bytes, 6);
    return m;
}

bytes operator+(bytes a, const bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}
inline bytes eth(const mac_addr& dst, const mac_addr& src, uint16_t type) {
    bytes b(14);
    std::memcpy(&b[0], dst.bytes.data(), 6);
    std::memcpy(&b[6], src.bytes.data(), 6);
    put16(&b[12], type);
    return b;
}
inline bytes ipv4(uint32_t src, uint32_t dst, uint8_t proto, uint8_t ttl, const bytes& l4, uint16_t frag = 0x4000,
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
inline bytes udp(uint16_t sport, uint16_t dport, size_t payload) {
    bytes b(8 + payload);
    put16(&b[0], sport);
    put16(&b[2], dport);
    put16(&b[4], static_cast<uint16_t>(b.size()));
    for (size_t i = 0; i < payload; ++i) b[8 + i] = static_cast<uint8_t>(i * 7 + 1);
    return b;
}
inline bytes icmp(uint8_t type, uint8_t code, size_t payload) {
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
inline bytes forwarded(bytes f, size_t off = 14) {
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

inline peer_config peer_cfg(uint32_t node, const mac_addr& vtep, ipv4_prefix cidr) {
    peer_config p;
    p.node_ip = ipv4_addr{node};
    p.vtep_mac = vtep;
    p.pod_cidr = cidr;
    return p;
}

inline size_t drop_index(std::string_view name) {
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
        dpp.workers = workers();
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
        before_worker();
        w_ = std::make_unique<worker>(dp_->params_for(0));
        inject_ = rte_ring_lookup("vxr_inject0");
        ASSERT_NE(inject_, nullptr);
        baseline_ = rte_mempool_in_use_count(dp_->pool());
        ASSERT_EQ(baseline_, 0u);
    }

    // What a derived fixture sets up before the worker takes its parameters
    // (e.g. dataplane::enable_services).
    virtual void before_worker() {}
    // Worker lcores the dataplane gets; the fixture drives worker 0 (w_).
    virtual unsigned workers() const { return 1; }

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

    outputs take(const snapshot* s = nullptr, unsigned worker_id = 0) {
        if (s == nullptr) s = dp_->current();
        outputs out;
        for (uint16_t port = 0; port < RTE_MAX_ETHPORTS; ++port) {
            rte_eth_dev_tx_buffer* b = s->ports[port].txb[worker_id];
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

inline ::testing::AssertionResult same_bytes(const bytes& got, const bytes& want, size_t skip_from = 0, size_t skip_len = 0) {
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
inline void expect_icmp_error_to_pod1(const bytes& f, uint8_t type, uint8_t code, uint16_t mtu, const bytes& orig_ip) {
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

}  // namespace vxr::fastpath
