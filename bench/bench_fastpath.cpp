// Micro-benchmarks of the fast path (Google Benchmark). Each reports
// ns/packet (from Benchmark's timer) and TSC cycles/packet ("cycles_per_pkt").
// Run: build/bench/bench_fastpath [--benchmark_repetitions=5 --benchmark_report_aggregates_only=true]
#include <benchmark/benchmark.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_fib.h>
#include <rte_lpm.h>
#include <rte_mbuf.h>
#include <rte_random.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "control/config.hpp"
#include "control/router.hpp"
#include "encap/vxlan.hpp"
#include "fastpath/dataplane.hpp"
#include "fastpath/worker.hpp"

namespace {

using namespace vxr;
using fastpath::route_table;

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

// An Ethernet/IPv4/UDP frame from pod 10.244.1.2 to a remote pod, with
// varying ports so that flows differ.
void write_pod_frame(rte_mbuf* m, uint32_t flow, rte_ether_addr src, rte_ether_addr dst) {
    rte_pktmbuf_reset(m);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, k_inner_len));
    eth->dst_addr = dst;
    eth->src_addr = src;
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    std::memset(ip, 0, k_inner_len - sizeof(rte_ether_hdr));
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(k_inner_len - sizeof(rte_ether_hdr));
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = rte_cpu_to_be_32(0x0af40102);
    ip->dst_addr = rte_cpu_to_be_32(0x0af40200 | (2 + flow % 250));
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    udp->src_port = rte_cpu_to_be_16(static_cast<uint16_t>(1024 + flow));
    udp->dst_port = rte_cpu_to_be_16(5001);
    udp->dgram_len = rte_cpu_to_be_16(k_inner_len - sizeof(rte_ether_hdr) - sizeof(rte_ipv4_hdr));
}

void report(benchmark::State& state, uint64_t cycles, uint64_t pkts) {
    state.SetItemsProcessed(static_cast<int64_t>(pkts));
    state.counters["cycles_per_pkt"] = pkts ? static_cast<double>(cycles) / static_cast<double>(pkts) : 0;
    state.counters["ns_per_pkt"] = benchmark::Counter(static_cast<double>(pkts),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
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
        const uint64_t t0 = rte_rdtsc();
        for (unsigned i = 0; i < burst; ++i) {
            rte_mbuf* m = pkts[i];
            m->data_off = off;
            m->data_len = static_cast<uint16_t>(len);
            m->pkt_len = len;
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

// The decapsulation checks alone: outer IPv4 check, VXLAN parse, strip, inner check.
void bm_decap(benchmark::State& state) {
    const auto burst = static_cast<unsigned>(state.range(0));
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
    }
    const uint16_t off = pkts[0]->data_off;
    const uint32_t len = pkts[0]->pkt_len;
    const rte_be16_t port = rte_cpu_to_be_16(8472);
    const rte_be32_t vni = encap::vni_to_be(1);
    const rte_ether_addr vtep = t.inner.dst_addr;
    uint64_t cycles = 0, n = 0, ok = 0;
    for (auto _ : state) {
        const uint64_t t0 = rte_rdtsc();
        for (unsigned i = 0; i < burst; ++i) {
            rte_mbuf* m = pkts[i];
            m->data_off = off;
            m->data_len = static_cast<uint16_t>(len);
            m->pkt_len = len;
            auto* oip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
            if (encap::check_ipv4(oip, len - sizeof(rte_ether_hdr), 0) != encap::ipv4_check::ok) continue;
            const auto r = encap::vxlan_parse(m, port, vni, vtep);
            if (r.status != encap::vxlan_status::ok) continue;
            rte_pktmbuf_adj(m, r.outer_len);
            auto* iip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
            ok += encap::check_ipv4(iip, rte_pktmbuf_data_len(m) - sizeof(rte_ether_hdr), 0) == encap::ipv4_check::ok;
        }
        cycles += rte_rdtsc() - t0;
        n += burst;
    }
    rte_pktmbuf_free_bulk(pkts.data(), burst);
    if (ok != n) state.SkipWithError("decap rejected a valid packet");
    report(state, cycles, n);
}

// The whole worker pipeline for pod -> remote node: classify, bulk LPM,
// TTL, encap, TX buffer into a net_null uplink. Includes refilling the burst
// (mbuf alloc + writing a 60-byte frame), reported separately by bm_refill.
void bm_pipeline_encap(benchmark::State& state) {
    const auto burst = static_cast<uint16_t>(state.range(0));
    fastpath::worker w(g_env->dp.params_for(0));
    const fastpath::snapshot& s = *g_env->dp.current();
    const rte_ether_addr pod_mac = encap::to_rte(*mac_addr::parse("02:00:00:00:01:02"));
    std::vector<rte_mbuf*> pkts(burst);
    uint64_t cycles = 0, n = 0, flow = 0;
    const uint64_t before = g_env->dp.counters(0).encapsulated.get();
    for (auto _ : state) {
        const uint64_t t0 = rte_rdtsc();
        if (rte_pktmbuf_alloc_bulk(g_env->pool, pkts.data(), burst) != 0) {
            state.SkipWithError("mbuf pool empty");
            break;
        }
        for (uint16_t i = 0; i < burst; ++i) write_pod_frame(pkts[i], static_cast<uint32_t>(flow++), pod_mac, s.gateway_mac);
        w.process(s, fastpath::port_role::pod, g_env->pod_port, pkts.data(), burst);
        cycles += rte_rdtsc() - t0;
        n += burst;
    }
    w.flush_all(s);
    if (g_env->dp.counters(0).encapsulated.get() - before != n) state.SkipWithError("not every packet was encapsulated");
    report(state, cycles, n);
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

// /24s spread over 10.0.0.0/8 and beyond, as peers' pod CIDRs would be; then
// random destinations among them looked up in bursts of 32 through `lookup`.
constexpr uint32_t route_prefix(uint32_t i) { return (0x0a000000u + (i << 8)) & 0xffffff00u; }

template <typename Hop, typename Lookup>
void run_bulk_lookups(benchmark::State& state, uint32_t routes, Lookup&& lookup) {
    std::vector<uint32_t> ips(1 << 16);
    for (auto& ip : ips) ip = 0x0a000000u + static_cast<uint32_t>(rte_rand() % (uint64_t{routes} << 8));
    Hop hops[32];
    uint64_t cycles = 0, n = 0;
    size_t at = 0;
    for (auto _ : state) {
        const uint64_t t0 = rte_rdtsc();
        lookup(&ips[at], hops);
        cycles += rte_rdtsc() - t0;
        benchmark::DoNotOptimize(hops);
        at = (at + 32) & (ips.size() - 1);
        n += 32;
    }
    report(state, cycles, n);
}

void bm_lpm_bulk(benchmark::State& state) {
    const auto routes = static_cast<uint32_t>(state.range(0));
    rte_lpm_config c{};
    c.max_rules = routes + 16;
    c.number_tbl8s = 1 << 12;
    rte_lpm* lpm = rte_lpm_create(("bench_lpm" + std::to_string(routes)).c_str(), SOCKET_ID_ANY, &c);
    if (lpm == nullptr) return state.SkipWithError("rte_lpm_create failed");
    for (uint32_t i = 0; i < routes; ++i) rte_lpm_add(lpm, route_prefix(i), 24, i & 0xffffff);
    run_bulk_lookups<uint32_t>(state, routes, [&](const uint32_t* ips, uint32_t* hops) {
        rte_lpm_lookup_bulk(lpm, ips, hops, 32);
    });
    rte_lpm_free(lpm);
}

// The same routes and destinations in the workers' route table (two rte_fib
// DIR24_8 copies, 4-byte next hops), to choose between the two by measurement.
void bm_fib_bulk(benchmark::State& state) {
    const auto routes = static_cast<uint32_t>(state.range(0));
    route_table rt;
    if (auto r = rt.init(routes + 16, SOCKET_ID_ANY, nullptr); !r) return state.SkipWithError(r.err().c_str());
    rt.begin();
    for (uint32_t i = 0; i < routes; ++i) (void)rt.add({ipv4_addr{route_prefix(i)}, 24}, i & 0xffffff);
    rt.commit();
    run_bulk_lookups<uint64_t>(state, routes, [&](const uint32_t* ips, uint64_t* hops) {
        rte_fib_lookup_bulk(rt.active(), const_cast<uint32_t*>(ips), hops, 32);
    });
}

// Loading N /24 routes into the route table in one batch (both copies), as a
// full resync from the API server would: seconds per million, linear in N.
void bm_route_fill(benchmark::State& state) {
    const auto routes = static_cast<uint32_t>(state.range(0));
    route_table rt;
    if (auto r = rt.init(routes + 16, SOCKET_ID_ANY, nullptr); !r) return state.SkipWithError(r.err().c_str());
    uint32_t nh = 0;
    for (auto _ : state) {
        rt.begin();
        for (uint32_t i = 0; i < routes; ++i)
            if (!rt.add({ipv4_addr{route_prefix(i)}, 24}, ++nh & 0xffffff)) return state.SkipWithError("add failed");
        rt.commit();
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * routes);
}

BENCHMARK(bm_encap)->Arg(1)->Arg(4)->Arg(32)->Arg(256);
BENCHMARK(bm_decap)->Arg(1)->Arg(4)->Arg(32)->Arg(256);
BENCHMARK(bm_pipeline_encap)->Arg(1)->Arg(4)->Arg(32);
BENCHMARK(bm_refill)->Arg(1)->Arg(4)->Arg(32);
// rte_lpm at 1M is left out: filling its rule table is linear per insert
// (quadratic in all), which takes minutes at 1M; the reason for rte_fib.
BENCHMARK(bm_lpm_bulk)->Arg(1000)->Arg(100000);
BENCHMARK(bm_fib_bulk)->Arg(1000)->Arg(100000)->Arg(1000000);
BENCHMARK(bm_route_fill)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond)->Iterations(3);

int setup() {
    const std::string prefix = "--file-prefix=vxrbench" + std::to_string(getpid());
    std::vector<std::string> args = {"bench", "-l", "0-1", "--no-pci", "--in-memory", prefix,
                                     "--log-level=lib.eal:error"};
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
