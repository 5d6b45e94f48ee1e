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
#include "fastpath_harness.hpp"

namespace vxr::fastpath {
namespace {

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
        "no_headroom", "punt_full", "stale_port",
        // test_service_stage.cpp; ct_busy maps conntrack's busy status one to
        // one, which only a contended stripe produces (test_conntrack's race).
        "svc_no_local_backend", "svc_source_denied", "ct_full", "ct_busy", "ct_clash", "ct_ended"};
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
