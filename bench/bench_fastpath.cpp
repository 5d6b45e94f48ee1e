// Micro-benchmarks of the fast path (Google Benchmark). Each reports
// ns/packet (from Benchmark's timer) and TSC cycles/packet ("cycles_per_pkt").
// The route-lookup benchmarks are in bench_routes.cpp (same binary).
// Run: build/bench/bench_fastpath [--benchmark_repetitions=5 --benchmark_report_aggregates_only=true]
#include <benchmark/benchmark.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_fib.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "bench_routes.hpp"
#include "control/node/config.hpp"
#include "control/node/router.hpp"
#include "encap/vxlan.hpp"
#include "fastpath/dataplane.hpp"
#include "fastpath/route_table.hpp"
#include "fastpath/worker.hpp"

namespace {

using namespace vxr;
using bench::report;

constexpr uint16_t k_inner_len = 64 - 4;  // a 64-byte frame on the wire, less the FCS

struct env {
    fastpath::dataplane dp;
    std::unique_ptr<control::router> router;
    rte_mempool* pool = nullptr;
    encap::encap_template tmpl{};
    uint16_t pod_port = 0;
    uint16_t uplink_port = 0;
};
env* g_env = nullptr;

// An Ethernet/IPv4/UDP frame of `len` bytes (less the FCS) from pod
// 10.244.1.2 to `dst_ip`:`dport`. The first 60 bytes are written (headers,
// zeroes); a longer frame's payload is left as the buffer holds it, as a
// NIC's DMA would leave it for a worker that never reads it.
void write_udp_frame(rte_mbuf* m, uint32_t dst_ip, uint16_t sport, uint16_t dport, rte_ether_addr src,
                     rte_ether_addr dst, uint16_t len = k_inner_len) {
    rte_pktmbuf_reset(m);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, len));
    eth->dst_addr = dst;
    eth->src_addr = src;
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    std::memset(ip, 0, std::min(len, k_inner_len) - sizeof(rte_ether_hdr));
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(len - sizeof(rte_ether_hdr));
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = rte_cpu_to_be_32(0x0af40102);
    ip->dst_addr = rte_cpu_to_be_32(dst_ip);
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    udp->src_port = rte_cpu_to_be_16(sport);
    udp->dst_port = rte_cpu_to_be_16(dport);
    udp->dgram_len = rte_cpu_to_be_16(len - sizeof(rte_ether_hdr) - sizeof(rte_ipv4_hdr));
}

// To a remote pod, with varying ports so that flows differ.
void write_pod_frame(rte_mbuf* m, uint32_t flow, rte_ether_addr src, rte_ether_addr dst,
                     uint16_t len = k_inner_len) {
    write_udp_frame(m, 0x0af40200 | (2 + flow % 250), static_cast<uint16_t>(1024 + flow), 5001, src, dst, len);
}

// Simple IMIX, 7:4:1 of small, medium and large frames (sizes on the wire,
// with the FCS), in one fixed 12-frame order that runs on across bursts (a
// 32-frame burst holds 2 2/3 of it). Large is the pod MTU of the bench's
// config (uplink MTU 1500 less the 50 bytes of VXLAN): a 1450-byte IPv4
// packet, a 1468-byte frame; a 1500-byte frame would not fit the tunnel.
constexpr uint16_t k_imix_large = 1450 + sizeof(rte_ether_hdr) + 4;
constexpr std::array<uint16_t, 12> k_imix = {64, 576, 64, 64, 576, 64, k_imix_large, 64, 576, 64, 64, 576};

// The IMIX frame for the i-th packet: its length less the FCS; adds its
// wire length to `bytes`.
uint16_t imix_len(uint64_t i, uint64_t& bytes) {
    const uint16_t wire = k_imix[i % k_imix.size()];
    bytes += wire;
    return static_cast<uint16_t>(wire - 4);
}

// Gbit/s of frames on the wire (with the FCS, without preamble and gap), by
// the same clock as the Mpps figure.
void report_bits(benchmark::State& state, uint64_t bytes) {
    state.counters["gbit_per_s"] =
        benchmark::Counter(static_cast<double>(bytes) * 8 / 1e9, benchmark::Counter::kIsRate);
    state.counters["mean_frame"] = state.iterations() ? static_cast<double>(bytes) /
                                                           static_cast<double>(state.iterations() * state.range(0))
                                                     : 0;
}

// Puts each frame back as it was written (the timed loops move data_off).
// Untimed: the mbufs stay cache-hot, as they are after RX.
void rewind(const std::vector<rte_mbuf*>& pkts, uint16_t off, uint32_t len) {
    for (rte_mbuf* m : pkts) {
        m->data_off = off;
        m->data_len = static_cast<uint16_t>(len);
        m->pkt_len = len;
    }
}

// The encapsulation step alone: template copy, length/checksum fix, flow hash.
void bm_encap(benchmark::State& state) {
    const auto burst = static_cast<unsigned>(state.range(0));
    std::vector<rte_mbuf*> pkts(burst);
    rte_pktmbuf_alloc_bulk(g_env->pool, pkts.data(), burst);
    for (unsigned i = 0; i < burst; ++i) write_pod_frame(pkts[i], i, {}, {});
    const uint16_t off = pkts[0]->data_off;
    const uint32_t len = pkts[0]->pkt_len;
    uint64_t cycles = 0, n = 0;
    for (auto _ : state) {
        rewind(pkts, off, len);
        const uint64_t t0 = rte_rdtsc();
        for (unsigned i = 0; i < burst; ++i) {
            rte_mbuf* m = pkts[i];
            auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
            encap::vxlan_encap(m, g_env->tmpl, encap::flow_src_port(ip));
        }
        cycles += rte_rdtsc() - t0;
        n += burst;
        benchmark::DoNotOptimize(pkts.data());
    }
    rte_pktmbuf_free_bulk(pkts.data(), burst);
    report(state, cycles, n);
}

// Encapsulation with its route lookup, as the worker does it for a burst
// from a pod: one bulk rte_fib lookup over the burst's destinations, then
// each packet takes the template of the peer its route names. 10,000 peers'
// /24s (the route benchmarks' table); before each burst (untimed) the frames
// get new destinations drawn from all of them, so table entries and
// templates come from all over.
constexpr uint32_t k_lookup_peers = 10000;
constexpr uint32_t k_peer_node_ip0 = 0xc6120000u;  // 198.18.0.0: peer i's node IP is this + i

// Peer i's template (next hop i in bench::fib_with's table).
const std::vector<encap::encap_template>& peer_templates() {
    static const std::vector<encap::encap_template> tmpls = [] {
        std::vector<encap::encap_template> v(k_lookup_peers, g_env->tmpl);
        for (uint32_t i = 0; i < k_lookup_peers; ++i) v[i].outer.ip.dst_addr = rte_cpu_to_be_32(k_peer_node_ip0 + i);
        return v;
    }();
    return tmpls;
}

void bm_encap_lookup(benchmark::State& state) {
    const auto burst = static_cast<unsigned>(state.range(0));
    fastpath::route_table* table = bench::fib_with(k_lookup_peers);
    if (table == nullptr) return state.SkipWithError("route table fill failed");
    const auto& tmpls = peer_templates();
    const std::vector<uint32_t> dests = bench::make_dests(k_lookup_peers, bench::dests::random);
    std::vector<rte_mbuf*> pkts(burst);
    if (rte_pktmbuf_alloc_bulk(g_env->pool, pkts.data(), burst) != 0) return state.SkipWithError("mbuf pool empty");
    for (unsigned i = 0; i < burst; ++i) write_pod_frame(pkts[i], i, {}, {});
    const uint16_t off = pkts[0]->data_off;
    const uint32_t len = pkts[0]->pkt_len;
    std::vector<uint32_t> dst(burst);
    std::vector<uint64_t> hop(burst);
    rte_fib* fib = table->active();
    const size_t dmask = dests.size() - 1;
    uint64_t cycles = 0, n = 0, wrong = 0;
    size_t at = 0;
    for (auto _ : state) {
        rewind(pkts, off, len);
        for (rte_mbuf* m : pkts)
            rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr))->dst_addr =
                rte_cpu_to_be_32(dests[at++ & dmask]);
        const uint64_t t0 = rte_rdtsc();
        for (unsigned i = 0; i < burst; ++i)
            dst[i] = rte_be_to_cpu_32(rte_pktmbuf_mtod_offset(pkts[i], rte_ipv4_hdr*, sizeof(rte_ether_hdr))->dst_addr);
        rte_fib_lookup_bulk(fib, dst.data(), hop.data(), burst);
        for (unsigned i = 0; i < burst; ++i) {
            rte_mbuf* m = pkts[i];
            auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
            encap::vxlan_encap(m, tmpls[hop[i]], encap::flow_src_port(ip));
        }
        cycles += rte_rdtsc() - t0;
        n += burst;
        // The outer destination must be the peer whose /24 holds the inner one.
        const auto* o = rte_pktmbuf_mtod_offset(pkts[burst - 1], rte_ipv4_hdr*, sizeof(rte_ether_hdr));
        wrong += rte_be_to_cpu_32(o->dst_addr) - k_peer_node_ip0 != (dst[burst - 1] - bench::route_prefix(0)) >> 8;
    }
    rte_pktmbuf_free_bulk(pkts.data(), burst);
    if (wrong != 0) state.SkipWithError("a packet was encapsulated toward the wrong peer");
    report(state, cycles, n);
}

// What the NIC told us about the checksums of a VXLAN packet (arg 1).
enum class rx_offload : int64_t {
    none = 0,    // virtual devices: both IPv4 headers are summed in software
    outer = 1,   // IPv4 RX checksum offload: the outer header verified
    tunnel = 2,  // 8472 registered as a VXLAN port: outer and inner verified
};

void set_rx_offload(rte_mbuf* m, rx_offload o) {
    m->ol_flags = o == rx_offload::none ? 0 : RTE_MBUF_F_RX_IP_CKSUM_GOOD;
    m->packet_type = RTE_PTYPE_L2_ETHER | RTE_PTYPE_L3_IPV4 | RTE_PTYPE_L4_UDP;
    if (o == rx_offload::tunnel)
        m->packet_type |= RTE_PTYPE_TUNNEL_VXLAN | RTE_PTYPE_INNER_L2_ETHER | RTE_PTYPE_INNER_L3_IPV4;
}

// The decapsulation checks alone, as the worker makes them: outer IPv4
// check, VXLAN parse, strip, inner IPv4 check. Args: burst, rx_offload.
void bm_decap(benchmark::State& state) {
    const auto burst = static_cast<unsigned>(state.range(0));
    const auto offload = static_cast<rx_offload>(state.range(1));
    std::vector<rte_mbuf*> pkts(burst);
    rte_pktmbuf_alloc_bulk(g_env->pool, pkts.data(), burst);
    auto t = g_env->tmpl;
    t.inner.dst_addr = encap::to_rte(g_env->router->cfg().vtep_mac);  // addressed to us
    t.outer.ip.dst_addr = rte_cpu_to_be_32(g_env->router->cfg().node_ip.addr.value);
    t.outer.ip.hdr_checksum = 0;
    t.outer.ip.hdr_checksum = rte_ipv4_cksum(&t.outer.ip);
    for (unsigned i = 0; i < burst; ++i) {
        write_pod_frame(pkts[i], i, {}, {});
        auto* ip = rte_pktmbuf_mtod_offset(pkts[i], rte_ipv4_hdr*, sizeof(rte_ether_hdr));
        encap::vxlan_encap(pkts[i], t, encap::flow_src_port(ip));
        set_rx_offload(pkts[i], offload);
    }
    const uint16_t off = pkts[0]->data_off;
    const uint32_t len = pkts[0]->pkt_len;
    const rte_be16_t port = rte_cpu_to_be_16(8472);
    const rte_be32_t vni = encap::vni_to_be(1);
    const rte_ether_addr vtep = t.inner.dst_addr;
    uint64_t cycles = 0, n = 0, ok = 0;
    for (auto _ : state) {
        rewind(pkts, off, len);
        const uint64_t t0 = rte_rdtsc();
        for (unsigned i = 0; i < burst; ++i) {
            rte_mbuf* m = pkts[i];
            auto* oip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
            if (encap::check_ipv4(oip, len - sizeof(rte_ether_hdr), encap::rx_outer_ip_flags(m)) !=
                encap::ipv4_check::ok)
                continue;
            const auto r = encap::vxlan_parse(m, port, vni, vtep);
            if (r.status != encap::vxlan_status::ok) continue;
            rte_pktmbuf_adj(m, r.outer_len);
            auto* iip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
            ok += encap::check_ipv4(iip, rte_pktmbuf_data_len(m) - sizeof(rte_ether_hdr),
                                    encap::rx_inner_ip_flags(m)) == encap::ipv4_check::ok;
        }
        cycles += rte_rdtsc() - t0;
        n += burst;
    }
    rte_pktmbuf_free_bulk(pkts.data(), burst);
    if (ok != n) state.SkipWithError("decap rejected a valid packet");
    report(state, cycles, n);
}

// The pod -> remote pipeline with `write` choosing each packet's flow;
// checks that every packet was encapsulated.
template <typename W>
void run_pipeline(benchmark::State& state, W write) {
    const auto burst = static_cast<uint16_t>(state.range(0));
    fastpath::worker w(g_env->dp.params_for(0));
    const fastpath::snapshot& s = *g_env->dp.current();
    const rte_ether_addr pod_mac = encap::to_rte(*mac_addr::parse("02:00:00:00:01:02"));
    std::vector<rte_mbuf*> pkts(burst);
    uint64_t cycles = 0, n = 0;
    const uint64_t before = g_env->dp.counters(0).encapsulated.get();
    for (auto _ : state) {
        const uint64_t t0 = rte_rdtsc();
        if (rte_pktmbuf_alloc_bulk(g_env->pool, pkts.data(), burst) != 0) {
            state.SkipWithError("mbuf pool empty");
            break;
        }
        for (uint16_t i = 0; i < burst; ++i) write(pkts[i], pod_mac, s.gateway_mac);
        w.process(s, fastpath::port_role::pod, g_env->pod_port, pkts.data(), burst);
        cycles += rte_rdtsc() - t0;
        n += burst;
    }
    w.flush_all(s);
    if (g_env->dp.counters(0).encapsulated.get() - before != n) state.SkipWithError("not every packet was encapsulated");
    report(state, cycles, n);
}

// The whole worker pipeline for pod -> remote node: classify, bulk LPM,
// TTL, encap, TX buffer into a net_null uplink. Includes refilling the burst
// (mbuf alloc + writing a 60-byte frame), reported separately by bm_refill.
void bm_pipeline_encap(benchmark::State& state) {
    uint32_t flow = 0;
    run_pipeline(state, [&](rte_mbuf* m, rte_ether_addr src, rte_ether_addr dst) { write_pod_frame(m, flow++, src, dst); });
}

// bm_pipeline_encap with IMIX frames (k_imix).
void bm_pipeline_encap_imix(benchmark::State& state) {
    uint32_t flow = 0;
    uint64_t bytes = 0;
    run_pipeline(state, [&](rte_mbuf* m, rte_ether_addr src, rte_ether_addr dst) {
        write_pod_frame(m, flow, src, dst, imix_len(flow, bytes));
        ++flow;
    });
    report_bits(state, bytes);
}

// ---- Services ----------------------------------------------------------------------
// 10,000 ClusterIP frontends (UDP 10.96.0.1.. port 53), 10 backends each,
// 100,000 in all, every one behind the peer node (10.244.2.x, port
// 8000 + j / 250), so that a translated packet takes the same encap path as
// bm_pipeline_encap's. The Maglev slots are a plain rotation over the
// backends: the worker reads one slot either way; building 10,000 real
// tables is bench_maglev's job.
constexpr uint32_t k_services = 10000;
constexpr uint32_t k_backends_per_service = 10;
constexpr uint32_t k_established = 1000000;
uint32_t vip_of(uint32_t i) { return 0x0a600001 + i; }
bool g_services_installed = false;

void install_services() {
    if (g_services_installed) return;
    std::vector<fastpath::svc_frontend_spec> specs;
    specs.reserve(k_services);
    auto empty = std::make_shared<fastpath::svc_pool>();
    for (uint32_t i = 0; i < k_services; ++i) {
        auto p = std::make_shared<fastpath::svc_pool>();
        for (uint32_t k = 0; k < k_backends_per_service; ++k) {
            const uint32_t j = i * k_backends_per_service + k;
            fastpath::svc_backend b{};
            const uint32_t a = rte_cpu_to_be_32(0x0af40200 | (2 + j % 250));
            std::memcpy(b.addr, &a, 4);
            b.port = rte_cpu_to_be_16(static_cast<uint16_t>(8000 + j / 250));
            b.family = 2;
            b.id = j + 1;
            p->backends.push_back(b);
        }
        p->slots.resize(16381);
        for (uint32_t k = 0; k < p->slots.size(); ++k) p->slots[k] = static_cast<uint16_t>(k % k_backends_per_service);
        fastpath::svc_frontend_spec f;
        f.key = fastpath::svc_key_v4(rte_cpu_to_be_32(vip_of(i)), rte_cpu_to_be_16(53), IPPROTO_UDP);
        f.id = i;
        f.all = std::move(p);
        f.local = empty;
        f.name = "bench/svc" + std::to_string(i);
        specs.push_back(std::move(f));
    }
    auto t = fastpath::service_table::build(std::move(specs), SOCKET_ID_ANY);
    if (!t) {
        std::fprintf(stderr, "bench: %s\n", t.err().c_str());
        std::exit(1);
    }
    g_env->router->set_services(std::shared_ptr<const fastpath::service_table>(std::move(*t)));
    g_services_installed = true;
}

// Flow f of the established set: Service f % 10,000, source port 1024 + f / 10,000.
void write_service_frame(rte_mbuf* m, uint32_t f, rte_ether_addr src, rte_ether_addr dst,
                         uint16_t len = k_inner_len) {
    write_udp_frame(m, vip_of(f % k_services), static_cast<uint16_t>(1024 + f / k_services), 53, src, dst, len);
}

// bm_pipeline_encap with the 10,000 Services installed: what the address
// pre-filters cost traffic that is not a Service's.
void bm_pipeline_encap_services_on(benchmark::State& state) {
    install_services();
    uint32_t flow = 0;
    run_pipeline(state, [&](rte_mbuf* m, rte_ether_addr src, rte_ether_addr dst) { write_pod_frame(m, flow++, src, dst); });
}

// Every packet a new flow: frontend lookup, Maglev pick, conntrack insert,
// DNAT. A fixed packet count keeps the table below its size.
void bm_service_new_flows(benchmark::State& state) {
    install_services();
    static uint32_t next = 0;  // source ports 20000.. never collide with the established set's
    const uint64_t flows0 = g_env->dp.counters(0).svc_new_flows.get();
    uint64_t sent = 0;
    run_pipeline(state, [&](rte_mbuf* m, rte_ether_addr src, rte_ether_addr dst) {
        const uint32_t f = next++;
        write_udp_frame(m, vip_of(f % k_services), static_cast<uint16_t>(20000 + f / k_services), 53, src, dst);
        ++sent;
    });
    if (g_env->dp.counters(0).svc_new_flows.get() - flows0 != sent) state.SkipWithError("not every packet was a new flow");
}

// Established flows: 1,000,000 in conntrack (created once, untimed); each
// packet is one of the first `active` of them, in a scattered order (stride
// 7919): 10,000 stay in cache, 1,000,000 come from memory as under real load.
// False when the mbuf pool ran dry.
bool create_established() {
    install_services();
    static bool created = false;
    if (!created) {
        fastpath::worker w(g_env->dp.params_for(0));
        const fastpath::snapshot& s = *g_env->dp.current();
        rte_mbuf* pkts[32];
        for (uint32_t f = 0; f < k_established; f += 32) {
            if (rte_pktmbuf_alloc_bulk(g_env->pool, pkts, 32) != 0) return false;
            for (uint32_t i = 0; i < 32; ++i) write_service_frame(pkts[i], (f + i) % k_established, {}, s.gateway_mac);
            w.process(s, fastpath::port_role::pod, g_env->pod_port, pkts, 32);
            w.flush_all(s);
        }
        created = true;
    }
    return true;
}

// `write(m, flow, packet number, src, dst)` writes each packet of a flow of the set.
template <typename W>
void run_established(benchmark::State& state, W write) {
    if (!create_established()) return state.SkipWithError("mbuf pool empty");
    const uint64_t flows0 = g_env->dp.counters(0).svc_new_flows.get();
    const auto active = static_cast<uint64_t>(state.range(1));  // the flows this run cycles over
    uint64_t cursor = 0;
    run_pipeline(state, [&](rte_mbuf* m, rte_ether_addr src, rte_ether_addr dst) {
        write(m, static_cast<uint32_t>((cursor * 7919) % active), cursor, src, dst);
        ++cursor;
    });
    if (g_env->dp.counters(0).svc_new_flows.get() != flows0) state.SkipWithError("a packet made a new flow");
    state.counters["ct_entries"] = static_cast<double>(g_env->dp.ct()->counters().entries);
}

void bm_service_established(benchmark::State& state) {
    run_established(state, [](rte_mbuf* m, uint32_t f, uint64_t, rte_ether_addr src, rte_ether_addr dst) {
        write_service_frame(m, f, src, dst);
    });
}

// bm_service_established with IMIX frames (k_imix, by packet number).
void bm_service_established_imix(benchmark::State& state) {
    uint64_t bytes = 0;
    run_established(state, [&](rte_mbuf* m, uint32_t f, uint64_t i, rte_ether_addr src, rte_ether_addr dst) {
        write_service_frame(m, f, src, dst, imix_len(i, bytes));
    });
    report_bits(state, bytes);
}

void bm_refill(benchmark::State& state) {
    const auto burst = static_cast<uint16_t>(state.range(0));
    const fastpath::snapshot& s = *g_env->dp.current();
    std::vector<rte_mbuf*> pkts(burst);
    uint64_t cycles = 0, n = 0, flow = 0;
    for (auto _ : state) {
        const uint64_t t0 = rte_rdtsc();
        if (rte_pktmbuf_alloc_bulk(g_env->pool, pkts.data(), burst) != 0) break;
        for (uint16_t i = 0; i < burst; ++i) write_pod_frame(pkts[i], static_cast<uint32_t>(flow++), {}, s.gateway_mac);
        rte_pktmbuf_free_bulk(pkts.data(), burst);
        cycles += rte_rdtsc() - t0;
        n += burst;
    }
    report(state, cycles, n);
}

// Classification alone, through the worker's real process(): the per-packet
// checks before the route lookup (pod: ARP/IPv4 checks, anti-spoof, unicast;
// uplink: MAC, outer IPv4, VXLAN parse and strip, inner IPv4), the one bulk
// lookup, and the drop of an unassigned pod-subnet address (the router's
// "nobody's" route). The same mbufs are reused: one extra reference each
// keeps the drop from freeing them; the TSC count covers process() only.
constexpr uint32_t k_unassigned_pod_ip = 0x0af401c8;  // 10.244.1.200: in our pod CIDR, no pod

void run_classify(benchmark::State& state, fastpath::port_role role, uint16_t in_port,
                  const std::vector<rte_mbuf*>& pkts, const fastpath::counter* decapsulated) {
    const auto burst = static_cast<uint16_t>(pkts.size());
    fastpath::worker w(g_env->dp.params_for(0));
    const fastpath::snapshot& s = *g_env->dp.current();
    const uint16_t off = pkts[0]->data_off;
    const uint32_t len = pkts[0]->pkt_len;
    std::vector<rte_mbuf*> b(pkts);
    const auto& c = g_env->dp.counters(0);
    const uint64_t drops0 = c.drops[static_cast<size_t>(fastpath::drop_reason::no_route)].get();
    const uint64_t decap0 = decapsulated ? decapsulated->get() : 0;
    uint64_t cycles = 0, n = 0;
    for (auto _ : state) {
        for (rte_mbuf* m : pkts) rte_mbuf_refcnt_update(m, 1);
        rewind(pkts, off, len);
        const uint64_t t0 = rte_rdtsc();
        w.process(s, role, in_port, b.data(), burst);
        cycles += rte_rdtsc() - t0;
        n += burst;
    }
    const uint64_t dropped = c.drops[static_cast<size_t>(fastpath::drop_reason::no_route)].get() - drops0;
    if (dropped != n || (decapsulated && decapsulated->get() - decap0 != n))
        state.SkipWithError("not every packet was classified and dropped as no_route");
    rte_pktmbuf_free_bulk(b.data(), burst);
    report(state, cycles, n);
}

std::vector<rte_mbuf*> alloc_frames(benchmark::State& state) {
    std::vector<rte_mbuf*> pkts(static_cast<size_t>(state.range(0)));
    if (rte_pktmbuf_alloc_bulk(g_env->pool, pkts.data(), static_cast<unsigned>(pkts.size())) != 0) pkts.clear();
    return pkts;
}

void to_unassigned(rte_mbuf* m) {
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
    ip->dst_addr = rte_cpu_to_be_32(k_unassigned_pod_ip);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
}

void bm_classify_pod(benchmark::State& state) {
    auto pkts = alloc_frames(state);
    if (pkts.empty()) return state.SkipWithError("mbuf pool empty");
    const fastpath::snapshot& s = *g_env->dp.current();
    const rte_ether_addr pod_mac = encap::to_rte(*mac_addr::parse("02:00:00:00:01:02"));
    for (size_t i = 0; i < pkts.size(); ++i) {
        write_pod_frame(pkts[i], static_cast<uint32_t>(i), pod_mac, s.gateway_mac);
        to_unassigned(pkts[i]);
    }
    run_classify(state, fastpath::port_role::pod, g_env->pod_port, pkts, nullptr);
}

void bm_classify_uplink(benchmark::State& state) {
    auto pkts = alloc_frames(state);
    if (pkts.empty()) return state.SkipWithError("mbuf pool empty");
    const fastpath::snapshot& s = *g_env->dp.current();
    auto t = g_env->tmpl;  // node-b's template, turned round: from the peer to us
    t.outer.eth.dst_addr = s.ports[g_env->uplink_port].mac;
    t.inner.dst_addr = s.vtep_mac;
    t.outer.ip.dst_addr = s.node_ip_be;
    t.outer.ip.hdr_checksum = 0;
    t.outer.ip.hdr_checksum = rte_ipv4_cksum(&t.outer.ip);
    for (size_t i = 0; i < pkts.size(); ++i) {
        write_pod_frame(pkts[i], static_cast<uint32_t>(i), {}, {});
        to_unassigned(pkts[i]);
        auto* ip = rte_pktmbuf_mtod_offset(pkts[i], rte_ipv4_hdr*, sizeof(rte_ether_hdr));
        encap::vxlan_encap(pkts[i], t, encap::flow_src_port(ip));
    }
    run_classify(state, fastpath::port_role::uplink, g_env->uplink_port, pkts, &g_env->dp.counters(0).decapsulated);
}

BENCHMARK(bm_encap)->Arg(1)->Arg(4)->Arg(32)->Arg(256);
BENCHMARK(bm_encap_lookup)->Arg(1)->Arg(4)->Arg(32)->Arg(256);
BENCHMARK(bm_decap)->ArgNames({"burst", "offload"})->ArgsProduct({{1, 4, 32, 256}, {0, 1, 2}});
BENCHMARK(bm_pipeline_encap)->Arg(1)->Arg(4)->Arg(32)->Arg(256);
BENCHMARK(bm_pipeline_encap_imix)->Arg(32);
BENCHMARK(bm_refill)->Arg(1)->Arg(4)->Arg(32)->Arg(256);
BENCHMARK(bm_classify_pod)->Arg(1)->Arg(4)->Arg(32)->Arg(256);
BENCHMARK(bm_classify_uplink)->Arg(1)->Arg(4)->Arg(32)->Arg(256);
// After the plain-path benchmarks: these install the Services for the rest of the run.
BENCHMARK(bm_pipeline_encap_services_on)->Arg(32);
BENCHMARK(bm_service_new_flows)->Arg(32)->Iterations(4096);  // x repetitions stays below the table size
BENCHMARK(bm_service_established)->ArgNames({"burst", "active"})->Args({32, 10000})->Args({32, k_established});
BENCHMARK(bm_service_established_imix)->ArgNames({"burst", "active"})->Args({32, 10000})->Args({32, k_established});

int setup() {
    const std::string prefix = "--file-prefix=vxrbench" + std::to_string(getpid());
    std::vector<std::string> args = {"bench", "-l", "0-1", "--no-pci", prefix, "--log-level=lib.eal:error"};
    // EAL's memory options, space-separated; "--no-huge -m 3072" runs it
    // under valgrind --tool=callgrind, which cannot map the hugepage area.
    const char* mem = std::getenv("VXR_BENCH_EAL_MEM");
    std::istringstream in(mem != nullptr ? mem : "--in-memory");
    for (std::string a; in >> a;) args.push_back(a);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        std::fprintf(stderr, "bench: EAL init failed (hugepages reserved? ./scripts/hugepages.sh)\n");
        return 1;
    }
    g_env = new env();
    auto cfg = control::parse_config(R"({
        "node_name":"bench","node_ip":"198.18.0.1/24","uplink":"net_null0","vtep_mac":"02:76:78:00:00:01",
        "pod_cidr":"10.244.1.0/24","host_iface":"","mbufs":65535,
        "neighbors":[{"ip":"198.18.0.2","mac":"02:00:00:00:00:99"}],
        "peers":[{"node_ip":"198.18.0.2","vtep_mac":"02:76:78:00:00:02","pod_cidr":"10.244.2.0/24"}],
        "pods":[{"name":"p","ip":"10.244.1.2","devargs":"net_null1","mac":"02:00:00:00:01:02"}]})");
    if (!cfg) {
        std::fprintf(stderr, "bench: %s\n", cfg.err().c_str());
        return 1;
    }
    if (auto r = g_env->dp.init({1, cfg->mbufs, 1u << 16, 0}); !r) {
        std::fprintf(stderr, "bench: %s\n", r.err().c_str());
        return 1;
    }
    // Conntrack sized for the established-flow benchmark plus the new flows.
    fastpath::ct_params ctp;
    ctp.max_entries = 1u << 21;
    if (auto r = g_env->dp.enable_services(ctp); !r) {
        std::fprintf(stderr, "bench: %s\n", r.err().c_str());
        return 1;
    }
    g_env->router = std::make_unique<control::router>(*cfg, g_env->dp);
    if (auto r = g_env->router->start(); !r) {
        std::fprintf(stderr, "bench: %s\n", r.err().c_str());
        return 1;
    }
    g_env->pool = g_env->dp.pool();
    g_env->uplink_port = g_env->dp.current()->uplink_port;
    for (auto* p : g_env->dp.ports())
        if (p->role == fastpath::port_role::pod) g_env->pod_port = p->id;
    g_env->tmpl = g_env->dp.current()->peers.at(0).tmpl;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (setup() != 0) return 1;
    std::printf("TSC: %.0f MHz\n", static_cast<double>(rte_get_tsc_hz()) / 1e6);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
