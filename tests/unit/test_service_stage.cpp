// The conntrack and service stages through the real worker pipeline: a
// Service table published by the real router, frames from pods and from the
// uplink, and the exact bytes that come out (checksums recomputed here from
// scratch, not with the incremental code under test).
// Three lcores on the two CPUs any test machine has: the main one and two
// workers, for the two-worker case (workers are driven on this thread).
#define VXR_FASTPATH_TEST_EAL_ARGS {"--lcores", "0@0,1@1,2@1"}
#include "fastpath_harness.hpp"

#include "fastpath/service_table.hpp"

namespace vxr::fastpath {
namespace {

constexpr uint32_t k_vip = ip4(10, 96, 0, 10);
constexpr uint32_t k_vip_empty = ip4(10, 96, 0, 20);

// The one's-complement sum of the TCP or UDP segment of IPv4 packet `p`
// with its pseudo-header, computed from scratch.
uint16_t l4_sum(const bytes& p) {
    const size_t ihl = (p[0] & 0xf) * 4u;
    const size_t len = get16(&p[2]) - ihl;
    uint8_t ph[12];
    std::memcpy(ph, &p[12], 8);
    ph[8] = 0;
    ph[9] = p[9];
    put16(&ph[10], static_cast<uint16_t>(len));
    return ref_sum(&p[ihl], len, ref_sum(ph, 12));
}
// Fills in a TCP or UDP packet's checksum.
bytes with_l4_csum(bytes p) {
    const size_t off = (p[0] & 0xf) * 4u + (p[9] == 6 ? 16 : 6);
    put16(&p[off], 0);
    put16(&p[off], static_cast<uint16_t>(~l4_sum(p)));
    return p;
}
// A valid L4 checksum makes the sum all ones.
bool l4_ok(const bytes& ip_pkt) { return l4_sum(ip_pkt) == 0xffff; }

bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags, size_t payload) {
    bytes b(20 + payload);
    put16(&b[0], sport);
    put16(&b[2], dport);
    put32(&b[4], 1000);
    b[12] = 5 << 4;
    b[13] = flags;
    put16(&b[14], 65535);
    for (size_t i = 0; i < payload; ++i) b[20 + i] = static_cast<uint8_t>(i * 3 + 5);
    return b;
}
constexpr uint8_t k_syn = 0x02, k_ack = 0x10;

bytes tcp_ip(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags, size_t payload = 10) {
    return with_l4_csum(ipv4(src, dst, 6, 64, tcp(sport, dport, flags, payload)));
}
bytes udp_ip(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, size_t payload = 20) {
    return with_l4_csum(ipv4(src, dst, 17, 64, udp(sport, dport, payload)));
}

svc_backend backend(uint32_t ip, uint16_t port, uint32_t id, bool local) {
    svc_backend b{};
    const uint32_t be = htonl(ip);
    std::memcpy(b.addr, &be, 4);
    b.port = htons(port);
    b.family = 2;
    b.local = local;
    b.id = id;
    return b;
}

// A pool whose Maglev slots alternate over the backends.
std::shared_ptr<const svc_pool> pool(std::vector<svc_backend> bs) {
    auto p = std::make_shared<svc_pool>();
    p->backends = std::move(bs);
    if (!p->backends.empty())
        for (uint16_t i = 0; i < 251; ++i) p->slots.push_back(static_cast<uint16_t>(i % p->backends.size()));
    return p;
}

svc_frontend_spec frontend(uint32_t vip, uint16_t port, uint8_t proto, uint32_t id,
                           std::shared_ptr<const svc_pool> all, uint8_t flags = 0) {
    svc_frontend_spec f;
    f.key = svc_key_v4(htonl(vip), htons(port), proto);
    f.id = id;
    f.flags = flags;
    f.all = all;
    f.local = pool({});
    f.name = "default/svc" + std::to_string(id);
    return f;
}

class services : public fastpath {
protected:
    void before_worker() override {
        ct_params p;
        p.max_entries = 1024;
        auto r = dp_->enable_services(p);
        ASSERT_TRUE(r) << r.err();
    }

    void publish(std::vector<svc_frontend_spec> specs) {
        auto t = service_table::build(std::move(specs), SOCKET_ID_ANY);
        ASSERT_TRUE(t) << t.err();
        rt_->set_services(std::shared_ptr<const service_table>(std::move(*t)));
    }
    const svc_counters& fc(uint32_t id) const { return dp_->frontend_counters(0)[id]; }
    outputs from_pod2(const bytes& ip_pkt) { return send(port_role::pod, p2_, eth(k_vtep, k_pod2, 0x0800) + ip_pkt); }
    // The inner IPv4 packet of an encapsulated frame (outer eth+ip+udp+vxlan+inner eth).
    static bytes inner_ip(const bytes& f) { return bytes(f.begin() + 14 + 20 + 8 + 8 + 14, f.end()); }
    static bytes ip_part(const bytes& f) { return bytes(f.begin() + 14, f.end()); }
};

// What a packet must look like after translation: the same bytes with the
// addresses and ports replaced, TTL decremented, checksums recomputed.
bytes translated(bytes ip_pkt, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) {
    put32(&ip_pkt[12], src);
    put32(&ip_pkt[16], dst);
    put16(&ip_pkt[20], sport);
    put16(&ip_pkt[22], dport);
    --ip_pkt[8];
    put16(&ip_pkt[10], 0);
    put16(&ip_pkt[10], ref_csum(ip_pkt.data(), 20));
    return with_l4_csum(ip_pkt);
}

TEST_F(services, tcp_dnat_to_local_backend_and_reverse) {
    publish({frontend(k_vip, 80, 6, 1, pool({backend(k_pod2_ip, 8080, 11, true)}))});
    const bytes syn = tcp_ip(k_pod1_ip, k_vip, 40000, 80, k_syn);
    auto out = from_pod1(pod1_frame(syn));
    ASSERT_EQ(out[p2_].size(), 1u) << "to the backend pod's port";
    const bytes got = ip_part(out[p2_][0]);
    EXPECT_TRUE(same_bytes(got, translated(syn, k_pod1_ip, 40000, k_pod2_ip, 8080)));
    EXPECT_TRUE(l4_ok(got)) << "TCP checksum after DNAT";
    EXPECT_EQ(ref_csum(got.data(), 20), 0) << "IPv4 checksum after DNAT";

    const bytes synack = tcp_ip(k_pod2_ip, k_pod1_ip, 8080, 40000, k_syn | k_ack);
    out = from_pod2(synack);
    ASSERT_EQ(out[p1_].size(), 1u) << "the reply goes back to the client";
    const bytes back = ip_part(out[p1_][0]);
    EXPECT_TRUE(same_bytes(back, translated(synack, k_vip, 80, k_pod1_ip, 40000)))
        << "the reply comes from the Service address";
    EXPECT_TRUE(l4_ok(back));

    const bytes ack = tcp_ip(k_pod1_ip, k_vip, 40000, 80, k_ack, 100);
    out = from_pod1(pod1_frame(ack));
    ASSERT_EQ(out[p2_].size(), 1u);
    EXPECT_TRUE(same_bytes(ip_part(out[p2_][0]), translated(ack, k_pod1_ip, 40000, k_pod2_ip, 8080)));

    EXPECT_EQ(fc(1).new_flows.get(), 1u);
    EXPECT_EQ(fc(1).packets.get(), 2u) << "client -> Service packets";
    EXPECT_EQ(ctr().ct_hits.get(), 2u) << "the reply and the ACK";
    EXPECT_EQ(ctr().svc_translated.get(), 3u);
    EXPECT_EQ(dp_->ct()->counters().entries, 1u);
}

TEST_F(services, udp_dnat_to_remote_backend_and_reverse_after_decap) {
    publish({frontend(k_vip, 53, 17, 2, pool({backend(k_remote, 5353, 21, false)}))});
    const bytes q = udp_ip(k_pod1_ip, k_vip, 41000, 53);
    auto out = from_pod1(pod1_frame(q));
    ASSERT_EQ(out[uplink_].size(), 1u) << "encapsulated to the backend's node";
    const bytes inner = inner_ip(out[uplink_][0]);
    EXPECT_TRUE(same_bytes(inner, translated(q, k_pod1_ip, 41000, k_remote, 5353)))
        << "crosses the overlay already addressed to the backend";
    EXPECT_TRUE(l4_ok(inner));

    const bytes a = udp_ip(k_remote, k_pod1_ip, 5353, 41000, 40);
    out = from_uplink(from_peer(a));
    ASSERT_EQ(out[p1_].size(), 1u);
    const bytes back = ip_part(out[p1_][0]);
    EXPECT_TRUE(same_bytes(back, translated(a, k_vip, 53, k_pod1_ip, 41000)));
    EXPECT_TRUE(l4_ok(back));
}

TEST_F(services, no_endpoints_rejects_with_port_unreachable) {
    publish({frontend(k_vip_empty, 80, 6, 3, pool({}), k_svc_reject)});
    const bytes syn = tcp_ip(k_pod1_ip, k_vip_empty, 40001, 80, k_syn);
    auto out = from_pod1(pod1_frame(syn));
    ASSERT_EQ(out[p1_].size(), 1u) << "an ICMP error back to the client, not a silent drop";
    expect_icmp_error_to_pod1(out[p1_][0], 3, 3, 0, syn);
    EXPECT_EQ(fc(3).rejects.get(), 1u);
    EXPECT_EQ(ctr().svc_rejected.get(), 1u);
    EXPECT_EQ(dp_->ct()->counters().entries, 0u) << "a reject creates no flow";
}

TEST_F(services, established_flow_keeps_its_backend_across_rebuilds) {
    publish({frontend(k_vip, 80, 6, 1, pool({backend(k_pod2_ip, 8080, 11, true)}))});
    auto out = from_pod1(pod1_frame(tcp_ip(k_pod1_ip, k_vip, 40002, 80, k_syn)));
    ASSERT_EQ(out[p2_].size(), 1u);
    // The backend set changes: only the remote backend is left.
    publish({frontend(k_vip, 80, 6, 1, pool({backend(k_remote, 8080, 12, false)}))});
    out = from_pod1(pod1_frame(tcp_ip(k_pod1_ip, k_vip, 40002, 80, k_ack)));
    EXPECT_EQ(out[p2_].size(), 1u) << "the flow stays on the backend it picked";
    EXPECT_EQ(out.count(uplink_), 0u);
    out = from_pod1(pod1_frame(tcp_ip(k_pod1_ip, k_vip, 40003, 80, k_syn)));
    ASSERT_EQ(out[uplink_].size(), 1u) << "a new flow takes the new set";
    EXPECT_EQ(get32(&inner_ip(out[uplink_][0])[16]), k_remote);
}

TEST_F(services, maglev_pick_is_the_flow_hash_slot) {
    const auto p = pool({backend(k_pod2_ip, 8080, 11, true), backend(k_remote, 8080, 12, false)});
    publish({frontend(k_vip, 80, 6, 1, p)});
    std::set<uint32_t> seen;
    for (uint16_t sport = 42000; sport < 42040; ++sport) {
        const bytes syn = tcp_ip(k_pod1_ip, k_vip, sport, 80, k_syn);
        auto out = from_pod1(pod1_frame(syn));
        const svc_backend* want = service_table::pick(
            *p, svc_flow_hash(htonl(k_pod1_ip), htonl(k_vip), htons(sport), htons(80), 6));
        ASSERT_NE(want, nullptr);
        uint32_t want_ip;
        std::memcpy(&want_ip, want->addr, 4);
        want_ip = ntohl(want_ip);
        const uint32_t got = out.count(p2_) ? get32(&ip_part(out[p2_][0])[16]) : get32(&inner_ip(out[uplink_][0])[16]);
        EXPECT_EQ(got, want_ip) << "source port " << sport;
        seen.insert(got);
    }
    EXPECT_EQ(seen.size(), 2u) << "40 flows reach both backends";
    EXPECT_EQ(fc(1).new_flows.get(), 40u);
}

TEST_F(services, hairpin_is_source_translated_to_the_gateway) {
    publish({frontend(k_vip, 80, 6, 1, pool({backend(k_pod2_ip, 8080, 11, true)}))});
    const bytes syn = tcp_ip(k_pod2_ip, k_vip, 43000, 80, k_syn);
    auto out = from_pod2(syn);
    ASSERT_EQ(out[p2_].size(), 1u) << "back to the backend, which is the client";
    EXPECT_TRUE(same_bytes(ip_part(out[p2_][0]), translated(syn, k_gw, 43000, k_pod2_ip, 8080)))
        << "from the gateway address, so that the reply comes through us";
    const bytes synack = tcp_ip(k_pod2_ip, k_gw, 8080, 43000, k_syn | k_ack);
    out = from_pod2(synack);
    ASSERT_EQ(out[p2_].size(), 1u);
    EXPECT_TRUE(same_bytes(ip_part(out[p2_][0]), translated(synack, k_vip, 80, k_pod2_ip, 43000)));
}

TEST_F(services, removed_backend_ends_tcp_and_forgets_udp) {
    publish({frontend(k_vip, 80, 6, 1, pool({backend(k_pod2_ip, 8080, 11, true)})),
             frontend(k_vip, 53, 17, 2, pool({backend(k_pod2_ip, 5353, 21, true)}))});
    ASSERT_EQ(from_pod1(pod1_frame(tcp_ip(k_pod1_ip, k_vip, 40004, 80, k_syn)))[p2_].size(), 1u);
    ASSERT_EQ(from_pod1(pod1_frame(udp_ip(k_pod1_ip, k_vip, 41004, 53)))[p2_].size(), 1u);
    EXPECT_EQ(dp_->ct()->end_backend(11), 1u);
    EXPECT_EQ(dp_->ct()->end_backend(21), 1u);
    const uint64_t ended = drop_count("ct_ended");
    EXPECT_TRUE(from_pod1(pod1_frame(tcp_ip(k_pod1_ip, k_vip, 40004, 80, k_ack))).empty());
    EXPECT_EQ(drop_count("ct_ended"), ended + 1) << "the TCP flow's next packet is dropped and counted";
    dp_->synchronize();  // let the removed UDP keys be reclaimed
    auto out = from_pod1(pod1_frame(udp_ip(k_pod1_ip, k_vip, 41004, 53)));
    EXPECT_EQ(out[p2_].size(), 1u) << "the UDP flow starts over";
    EXPECT_EQ(fc(2).new_flows.get(), 2u);
}

TEST_F(services, local_policy_without_local_backend_drops) {
    auto f = frontend(k_vip, 80, 6, 1, pool({backend(k_remote, 8080, 12, false)}), k_svc_local_only);
    publish({f});
    const uint64_t before = drop_count("svc_no_local_backend");
    EXPECT_TRUE(from_pod1(pod1_frame(tcp_ip(k_pod1_ip, k_vip, 40005, 80, k_syn))).empty())
        << "internalTrafficPolicy Local: never to another node's backend";
    EXPECT_EQ(drop_count("svc_no_local_backend"), before + 1);
}

TEST_F(services, reply_tuple_clash_is_dropped_and_counted) {
    // Two Services with one backend: the same client port to both would
    // give both flows the reply tuple pod2:8080 -> pod1:40006.
    const auto p = pool({backend(k_pod2_ip, 8080, 11, true)});
    publish({frontend(k_vip, 80, 6, 1, p), frontend(k_vip_empty, 80, 6, 2, p)});
    ASSERT_EQ(from_pod1(pod1_frame(tcp_ip(k_pod1_ip, k_vip, 40006, 80, k_syn)))[p2_].size(), 1u);
    const uint64_t before = drop_count("ct_clash");
    EXPECT_TRUE(from_pod1(pod1_frame(tcp_ip(k_pod1_ip, k_vip_empty, 40006, 80, k_syn))).empty());
    EXPECT_EQ(drop_count("ct_clash"), before + 1);
}

TEST_F(services, full_table_refuses_new_flows) {
    publish({frontend(k_vip, 53, 17, 2, pool({backend(k_pod2_ip, 5353, 21, true)}))});
    const uint32_t cap = dp_->ct()->capacity();
    std::vector<bytes> frames;
    for (uint32_t i = 0; i < cap + 5; ++i)
        frames.push_back(pod1_frame(udp_ip(k_pod1_ip, k_vip, static_cast<uint16_t>(10000 + i), 53, 0)));
    size_t delivered = 0;
    for (size_t i = 0; i < frames.size(); i += 16) {
        auto out = send(port_role::pod, p1_, std::vector<bytes>(frames.begin() + i,
                                                                 frames.begin() + std::min(frames.size(), i + 16)));
        delivered += out[p2_].size();
    }
    EXPECT_EQ(delivered, cap);
    EXPECT_EQ(drop_count("ct_full"), 5u);
    EXPECT_EQ(dp_->ct()->counters().full, 5u);
}

TEST_F(services, client_ip_affinity_keeps_a_client_on_one_backend) {
    const auto p = pool({backend(k_pod2_ip, 8080, 11, true), backend(k_remote, 8080, 12, false)});
    auto f = frontend(k_vip, 80, 6, 1, p, k_svc_affinity);
    f.affinity_timeout_s = 10800;
    publish({f});
    std::set<uint32_t> seen;
    for (uint16_t sport = 44000; sport < 44020; ++sport) {
        auto out = from_pod1(pod1_frame(tcp_ip(k_pod1_ip, k_vip, sport, 80, k_syn)));
        seen.insert(out.count(p2_) ? get32(&ip_part(out[p2_][0])[16]) : get32(&inner_ip(out[uplink_][0])[16]));
    }
    EXPECT_EQ(seen.size(), 1u) << "20 connections of one client, one backend";
    EXPECT_EQ(fc(1).new_flows.get(), 20u);
    affinity_table& a = *dp_->affinity();
    EXPECT_EQ(a.entries(), 1u);
    const uint32_t now_s = affinity_table::now_s(rte_rdtsc(), rte_get_tsc_hz());
    EXPECT_EQ(a.expire(now_s, 10800), 0u) << "not idle yet";
    EXPECT_EQ(a.expire(now_s + 10802, 10800), 1u) << "idle past the timeout";
    EXPECT_EQ(a.entries(), 0u);
}

// A client outside the cluster, unencapsulated on the uplink (TEST-NET-2:
// no route of ours leads there; its replies must leave by the uplink to the
// MAC the flow came from, not through the node kernel).
constexpr uint32_t k_client = ip4(198, 51, 100, 50);
const mac_addr k_client_mac = mac(0x02, 0, 0, 0, 0x0c, 1);

// A reply to the outside client, as it leaves the uplink: unencapsulated,
// from our uplink MAC to the client's, the packet `want`.
#define EXPECT_TO_CLIENT(frame, want)                                                      \
    do {                                                                                   \
        const bytes& f_ = (frame);                                                         \
        EXPECT_EQ(bytes(f_.begin(), f_.begin() + 14), eth(k_client_mac, uplink_mac_, 0x0800)) \
            << "straight out the uplink to the MAC the flow came from";                    \
        EXPECT_TRUE(same_bytes(ip_part(f_), (want))) << "the client sees the frontend answer"; \
        EXPECT_TRUE(l4_ok(ip_part(f_)));                                                    \
    } while (0)

TEST_F(services, node_port_cluster_policy_translates_both_addresses) {
    publish({frontend(k_node, 30080, 6, 5, pool({backend(k_pod2_ip, 8080, 51, true)}))});
    const bytes syn = tcp_ip(k_client, k_node, 50000, 30080, k_syn);
    auto out = from_uplink(eth(uplink_mac_, k_client_mac, 0x0800) + syn);
    ASSERT_EQ(out[p2_].size(), 1u) << "to the backend pod";
    const bytes got = ip_part(out[p2_][0]);
    EXPECT_EQ(get32(&got[12]), k_gw) << "Cluster policy: the source becomes the gateway, replies come back to us";
    const uint16_t snat_port = get16(&got[20]);
    EXPECT_TRUE(same_bytes(got, translated(syn, k_gw, snat_port, k_pod2_ip, 8080)));
    EXPECT_TRUE(l4_ok(got));

    const bytes synack = tcp_ip(k_pod2_ip, k_gw, 8080, snat_port, k_syn | k_ack);
    out = from_pod2(synack);
    ASSERT_EQ(out[uplink_].size(), 1u);
    EXPECT_TO_CLIENT(out[uplink_][0], translated(synack, k_node, 30080, k_client, 50000));
    EXPECT_EQ(fc(5).new_flows.get(), 1u);
    EXPECT_EQ(ctr().svc_to_uplink.get(), 1u);
}

// The backend on another node: the request crosses the overlay from the
// gateway address, the reply comes back decapsulated and leaves to the client.
TEST_F(services, node_port_to_a_remote_backend_answers_the_client_from_this_node) {
    publish({frontend(k_node, 30082, 6, 8, pool({backend(k_remote, 8080, 81, false)}))});
    const bytes syn = tcp_ip(k_client, k_node, 50004, 30082, k_syn);
    auto out = from_uplink(eth(uplink_mac_, k_client_mac, 0x0800) + syn);
    ASSERT_EQ(out[uplink_].size(), 1u) << "encapsulated to the backend's node";
    const bytes inner = inner_ip(out[uplink_][0]);
    EXPECT_EQ(get32(&inner[12]), k_gw);
    EXPECT_EQ(get32(&inner[16]), k_remote);
    const uint16_t snat_port = get16(&inner[20]);

    const bytes synack = tcp_ip(k_remote, k_gw, 8080, snat_port, k_syn | k_ack);
    out = from_uplink(from_peer(synack));
    ASSERT_EQ(out[uplink_].size(), 1u);
    EXPECT_TO_CLIENT(out[uplink_][0], translated(synack, k_node, 30082, k_client, 50004));
    EXPECT_EQ(ctr().decapsulated.get(), 1u);
    EXPECT_EQ(ctr().svc_to_uplink.get(), 1u);
}

TEST_F(services, node_port_local_policy_keeps_the_client_address) {
    auto f = frontend(k_node, 30081, 17, 6, pool({backend(k_remote, 5353, 61, false)}), k_svc_external_local);
    f.local = pool({backend(k_pod2_ip, 5353, 62, true)});
    publish({f});
    const bytes q = udp_ip(k_client, k_node, 50001, 30081);
    auto out = from_uplink(eth(uplink_mac_, k_client_mac, 0x0800) + q);
    ASSERT_EQ(out[p2_].size(), 1u) << "only this node's backend";
    EXPECT_TRUE(same_bytes(ip_part(out[p2_][0]), translated(q, k_client, 50001, k_pod2_ip, 5353)))
        << "Local policy: the backend sees the client's address";
    const bytes a = udp_ip(k_pod2_ip, k_client, 5353, 50001);
    out = from_pod2(a);
    ASSERT_EQ(out[uplink_].size(), 1u);
    EXPECT_TO_CLIENT(out[uplink_][0], translated(a, k_node, 30081, k_client, 50001));
}

// TTL 1 on the way back: not sent to the client, left to the route stage.
TEST_F(services, a_reply_to_the_outside_with_ttl_1_is_not_sent) {
    publish({frontend(k_node, 30083, 17, 9, pool({backend(k_pod2_ip, 5353, 91, true)}))});
    auto out = from_uplink(eth(uplink_mac_, k_client_mac, 0x0800) + udp_ip(k_client, k_node, 50005, 30083));
    ASSERT_EQ(out[p2_].size(), 1u);
    const uint16_t snat_port = get16(&ip_part(out[p2_][0])[20]);
    bytes a = udp_ip(k_pod2_ip, k_gw, 5353, snat_port);
    a[8] = 1;  // TTL
    put16(&a[10], 0);
    put16(&a[10], ref_csum(a.data(), 20));
    const uint64_t no_route = drop_count("no_route");
    out = from_pod2(a);
    EXPECT_EQ(out.count(uplink_), 0u);
    EXPECT_EQ(ctr().svc_to_uplink.get(), 0u);
    // This fixture has no host port and so no default route: the route
    // stage finds none for the client before it looks at the TTL (on a
    // node the default route leads to the host port, and the route stage's
    // TTL check answers the backend with time exceeded).
    EXPECT_EQ(drop_count("no_route"), no_route + 1) << "left to the route stage";
}

TEST_F(services, external_ip_reaching_the_node_is_translated) {
    constexpr uint32_t k_external = ip4(203, 0, 113, 10);
    publish({frontend(k_external, 80, 6, 7, pool({backend(k_pod2_ip, 8080, 71, true)}))});
    const bytes syn = tcp_ip(k_client, k_external, 50003, 80, k_syn);
    auto out = from_uplink(eth(uplink_mac_, k_client_mac, 0x0800) + syn);
    ASSERT_EQ(out[p2_].size(), 1u);
    const bytes got = ip_part(out[p2_][0]);
    EXPECT_EQ(get32(&got[16]), k_pod2_ip);
    EXPECT_EQ(get32(&got[12]), k_gw);
    EXPECT_TRUE(l4_ok(got));
}

TEST_F(services, other_traffic_to_the_node_goes_to_the_host_untouched) {
    publish({frontend(k_node, 30080, 6, 5, pool({backend(k_pod2_ip, 8080, 51, true)}))});
    const uint64_t before = drop_count("no_host_port");
    EXPECT_TRUE(from_uplink(eth(uplink_mac_, k_client_mac, 0x0800) + tcp_ip(k_client, k_node, 50002, 22, k_syn))
                    .empty());
    EXPECT_EQ(drop_count("no_host_port"), before + 1) << "for the node kernel (none in this fixture)";
    EXPECT_EQ(ctr().svc_translated.get(), 0u);
    EXPECT_EQ(dp_->ct()->counters().entries, 0u);
}

// The quoted packet of an ICMP error sent to pod 1: IPv4 header + 8 bytes.
bytes quote_of(const bytes& frame) { return bytes(frame.begin() + 14 + 20 + 8, frame.end()); }

TEST_F(services, frag_needed_through_a_service_quotes_the_service_address) {
    publish({frontend(k_vip, 80, 6, 1, pool({backend(k_remote, 8080, 12, false)}))});
    ASSERT_EQ(from_pod1(pod1_frame(tcp_ip(k_pod1_ip, k_vip, 40007, 80, k_syn)))[uplink_].size(), 1u);
    // Too big for the tunnel, DF set (ipv4() sets DF): the error the client
    // gets must name the connection it knows, to the Service.
    const bytes big = tcp_ip(k_pod1_ip, k_vip, 40007, 80, k_ack, 1460);
    auto out = from_pod1(pod1_frame(big));
    ASSERT_EQ(out[p1_].size(), 1u);
    const bytes& f = out[p1_][0];
    const uint8_t* ic = &f[14 + 20];
    EXPECT_EQ(ic[0], 3);
    EXPECT_EQ(ic[1], 4);
    EXPECT_EQ(get16(ic + 6), 1450) << "the tunnel's MTU";
    EXPECT_EQ(ref_csum(ic, f.size() - 14 - 20), 0) << "ICMP checksum after translating the quote";
    const bytes q = quote_of(f);
    EXPECT_EQ(get32(&q[12]), k_pod1_ip);
    EXPECT_EQ(get32(&q[16]), k_vip) << "the quote is put back to the Service address";
    EXPECT_EQ(get16(&q[22]), 80);
    EXPECT_EQ(ref_csum(q.data(), 20), 0) << "quoted IPv4 checksum";
    EXPECT_EQ(get32(&f[14 + 16]), k_pod1_ip);
    EXPECT_EQ(ctr().svc_icmp_translated.get(), 1u);
}

TEST_F(services, icmp_error_from_the_path_is_translated_after_decap) {
    publish({frontend(k_vip, 53, 17, 2, pool({backend(k_remote, 5353, 21, false)}))});
    const bytes q = udp_ip(k_pod1_ip, k_vip, 41008, 53);
    ASSERT_EQ(from_pod1(pod1_frame(q))[uplink_].size(), 1u);
    // The backend's node answers port unreachable about the packet as it
    // reached it (to the backend), quoting header + 8 bytes.
    const bytes seen = translated(q, k_pod1_ip, 41008, k_remote, 5353);
    bytes ic = icmp(3, 3, 0);
    ic.resize(8);
    ic.insert(ic.end(), seen.begin(), seen.begin() + 28);
    put16(&ic[4], 0);
    put16(&ic[6], 0);
    put16(&ic[2], 0);
    put16(&ic[2], ref_csum(ic.data(), ic.size()));
    const bytes err = ipv4(k_remote, k_pod1_ip, 1, 64, ic);
    auto out = from_uplink(from_peer(err));
    ASSERT_EQ(out[p1_].size(), 1u);
    const bytes& f = out[p1_][0];
    const bytes got_q = quote_of(f);
    EXPECT_EQ(get32(&got_q[16]), k_vip);
    EXPECT_EQ(get16(&got_q[22]), 53);
    EXPECT_EQ(get32(&f[14 + 12]), k_vip) << "the error came from the backend itself: it now comes from the Service";
    EXPECT_EQ(ref_csum(&f[14], 20), 0);
    EXPECT_EQ(ref_csum(&f[14 + 20], f.size() - 14 - 20), 0);
}

TEST_F(services, plain_traffic_is_untouched) {
    publish({frontend(k_vip, 80, 6, 1, pool({backend(k_pod2_ip, 8080, 11, true)}))});
    const bytes ip = ipv4(k_pod1_ip, k_remote, 17, 64, udp(40000, 53, 100));
    auto out = from_pod1(pod1_frame(ip));
    ASSERT_EQ(out[uplink_].size(), 1u);
    EXPECT_TRUE(same_bytes(inner_ip(out[uplink_][0]), forwarded(ip, 0)));
    EXPECT_EQ(ctr().ct_hits.get(), 0u);
    EXPECT_EQ(ctr().svc_untranslated.get(), 0u) << "the address pre-filters let it pass without a lookup";
    EXPECT_EQ(dp_->ct()->counters().entries, 0u);
}

// loadBalancerSourceRanges: a load-balancer address that only some
// sources may reach (kube-proxy's KUBE-FW chains and KUBE-PROXY-FIREWALL).
constexpr uint32_t k_lb = ip4(198, 51, 100, 10);

svc_source_range range(uint32_t net, uint8_t len) {
    const uint32_t be = htonl(net);
    auto r = make_svc_source_range(reinterpret_cast<const uint8_t*>(&be), 2, len);
    EXPECT_TRUE(r) << r.err();
    return *r;
}

// The client (k_client, 198.51.100.50) is in the second range; .60 in none.
svc_frontend_spec fenced_lb(uint32_t id) {
    auto f = frontend(k_lb, 80, 6, id, pool({backend(k_pod2_ip, 8080, 81, true)}));
    f.source_ranges = {range(ip4(192, 0, 2, 0), 24), range(ip4(198, 51, 100, 48), 30)};
    return f;
}

TEST_F(services, source_ranges_admit_inside_and_drop_outside) {
    publish({fenced_lb(8)});
    const bytes syn = tcp_ip(k_client, k_lb, 50010, 80, k_syn);
    auto out = from_uplink(eth(uplink_mac_, k_client_mac, 0x0800) + syn);
    ASSERT_EQ(out[p2_].size(), 1u) << "a source inside a range is translated as ever";
    const bytes got = ip_part(out[p2_][0]);
    EXPECT_TRUE(same_bytes(got, translated(syn, k_gw, get16(&got[20]), k_pod2_ip, 8080)));

    constexpr uint32_t k_outsider = ip4(198, 51, 100, 60);
    EXPECT_TRUE(from_uplink(eth(uplink_mac_, k_client_mac, 0x0800) + tcp_ip(k_outsider, k_lb, 50011, 80, k_syn))
                    .empty());
    EXPECT_EQ(drop_count("svc_source_denied"), 1u);
    // Pods are fenced as well: kube-proxy's FW chain sits in KUBE-SERVICES,
    // which pod and host traffic to the address passes through too.
    EXPECT_TRUE(from_pod1(pod1_frame(tcp_ip(k_pod1_ip, k_lb, 41011, 80, k_syn))).empty());
    EXPECT_EQ(drop_count("svc_source_denied"), 2u);
    EXPECT_EQ(fc(8).source_denied.get(), 2u) << "counted per frontend too";
    EXPECT_EQ(fc(8).new_flows.get(), 1u);
    EXPECT_EQ(dp_->ct()->counters().entries, 1u) << "no entry for a denied flow";
}

TEST_F(services, source_ranges_fence_only_the_load_balancer_address) {
    // One Service's ClusterIP, node port and load-balancer address: the
    // compiler gives ranges to the last only (kube-proxy: "nodeports are
    // not subject to loadBalancerSourceRanges").
    const auto all = pool({backend(k_pod2_ip, 8080, 81, true)});
    publish({frontend(k_vip, 80, 6, 1, all), frontend(k_node, 30080, 6, 5, all), fenced_lb(8)});
    const bytes to_node_port = tcp_ip(ip4(198, 51, 100, 60), k_node, 50012, 30080, k_syn);
    EXPECT_EQ(from_uplink(eth(uplink_mac_, k_client_mac, 0x0800) + to_node_port)[p2_].size(), 1u);
    EXPECT_EQ(from_pod1(pod1_frame(tcp_ip(k_pod1_ip, k_vip, 41012, 80, k_syn)))[p2_].size(), 1u);
    EXPECT_TRUE(from_pod1(pod1_frame(tcp_ip(k_pod1_ip, k_lb, 41013, 80, k_syn))).empty());
    EXPECT_EQ(fc(1).new_flows.get(), 1u);
    EXPECT_EQ(fc(5).new_flows.get(), 1u);
    EXPECT_EQ(fc(8).source_denied.get(), 1u);
    EXPECT_EQ(drop_count("svc_source_denied"), 1u);
}

TEST_F(services, established_flow_outlives_a_range_change) {
    // kube-proxy's KUBE-PROXY-FIREWALL matches ctstate NEW only: a tracked
    // connection keeps going when its source leaves the ranges.
    publish({fenced_lb(8)});
    const auto client = [&](uint16_t sport, uint8_t flags) {
        return from_uplink(eth(uplink_mac_, k_client_mac, 0x0800) + tcp_ip(k_client, k_lb, sport, 80, flags));
    };
    ASSERT_EQ(client(50013, k_syn)[p2_].size(), 1u);
    auto narrower = fenced_lb(8);
    narrower.source_ranges = {range(ip4(192, 0, 2, 0), 24)};
    publish({narrower});
    EXPECT_EQ(client(50013, k_ack)[p2_].size(), 1u) << "the tracked flow is translated from its entry";
    EXPECT_TRUE(client(50014, k_syn).empty()) << "a new flow from the same client is not";
    EXPECT_EQ(drop_count("svc_source_denied"), 1u);
    publish({frontend(k_lb, 80, 6, 8, pool({backend(k_pod2_ip, 8080, 81, true)}))});
    EXPECT_EQ(client(50015, k_syn)[p2_].size(), 1u) << "no ranges: any source";
}

TEST_F(services, a_fenced_frontend_without_endpoints_still_rejects) {
    // kube-proxy writes the firewall only for Services with endpoints; the
    // REJECT of one without them answers every source.
    auto f = frontend(k_lb, 80, 6, 9, pool({}), k_svc_reject);
    f.source_ranges = {range(ip4(192, 0, 2, 0), 24)};
    publish({f});
    auto out = from_pod1(pod1_frame(tcp_ip(k_pod1_ip, k_lb, 41014, 80, k_syn)));
    EXPECT_EQ(out[p1_].size(), 1u) << "port unreachable back to the pod";
    EXPECT_EQ(fc(9).rejects.get(), 1u);
    EXPECT_EQ(drop_count("svc_source_denied"), 0u);
}

TEST(service_table_ranges, masks_and_family) {
    const uint8_t a[4] = {10, 1, 2, 3};
    auto r = make_svc_source_range(a, 2, 12);
    ASSERT_TRUE(r) << r.err();
    EXPECT_EQ(r->net[0], 10);
    EXPECT_EQ(r->net[1], 0) << "host bits cleared";
    EXPECT_EQ(r->mask[1], 0xf0);
    EXPECT_EQ(r->mask[2], 0);
    EXPECT_FALSE(make_svc_source_range(a, 2, 33));
    EXPECT_FALSE(make_svc_source_range(a, 7, 8));
    const uint8_t v6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    auto r6 = make_svc_source_range(v6, 10, 128);
    ASSERT_TRUE(r6);
    EXPECT_EQ(r6->net[15], 1);
    EXPECT_EQ(r6->mask[15], 0xff);
    auto f = frontend(k_lb, 80, 6, 9, pool({}));
    f.source_ranges = {*r6};
    auto t = service_table::build({f}, SOCKET_ID_ANY);
    ASSERT_FALSE(t);
    EXPECT_NE(t.err().find("another family"), std::string::npos) << t.err();
}

// A table built after another reads the slots only of pools its
// predecessor did not have for that frontend: a bad new pool is still refused.
TEST(service_table_prev, shared_pools_are_trusted_new_ones_checked) {
    auto good = pool({backend(k_remote, 5353, 21, false)});
    auto first = service_table::build({frontend(k_vip, 53, 17, 1, good)}, SOCKET_ID_ANY);
    ASSERT_TRUE(first) << first.err();
    auto again = service_table::build({frontend(k_vip, 53, 17, 1, good)}, SOCKET_ID_ANY, first->get());
    ASSERT_TRUE(again) << again.err();
    EXPECT_EQ(again->get()->find((*first)->specs()[0]->key)->all, good.get());
    auto bad = std::make_shared<svc_pool>(*good);
    bad->slots = {0, 7};  // past the one backend
    auto refused = service_table::build({frontend(k_vip, 53, 17, 1, bad)}, SOCKET_ID_ANY, again->get());
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.err().find("missing backend"), std::string::npos) << refused.err();
}

// Both directions of a flow need not meet one worker: the reply of a flow
// that worker 0 translated is decapsulated by worker 1 and still finds it.
class services_two_workers : public services {
protected:
    unsigned workers() const override { return 2; }
};

TEST_F(services_two_workers, reply_on_another_worker_is_translated) {
    publish({frontend(k_vip, 53, 17, 2, pool({backend(k_remote, 5353, 21, false)}))});
    const bytes q = udp_ip(k_pod1_ip, k_vip, 41009, 53);
    auto out = from_pod1(pod1_frame(q));  // worker 0
    ASSERT_EQ(out[uplink_].size(), 1u);
    worker w1(dp_->params_for(1));
    const bytes a = udp_ip(k_remote, k_pod1_ip, 5353, 41009, 40);
    rte_mbuf* m = mbuf(from_peer(a));
    w1.process(*dp_->current(), port_role::uplink, uplink_, &m, 1);
    out = take(nullptr, 1);
    ASSERT_EQ(out[p1_].size(), 1u) << "worker 1 sent it";
    EXPECT_TRUE(same_bytes(ip_part(out[p1_][0]), translated(a, k_vip, 53, k_pod1_ip, 41009)));
    EXPECT_EQ(dp_->counters(1).ct_hits.get(), 1u);
    EXPECT_EQ(dp_->counters(0).svc_new_flows.get(), 1u);
}

}  // namespace
}  // namespace vxr::fastpath
