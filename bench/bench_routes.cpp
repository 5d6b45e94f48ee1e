// Route-lookup micro-benchmarks: rte_lpm against the workers' route table
// (rte_fib DIR24_8), 1k / 100k / 1M /24 routes, random or clustered
// destinations, bulk lookups at bursts 1/4/32/256 or one address per call.
// Part of bench_fastpath (its main initialises EAL first).
// Thread: the benchmark's main thread.
#include <benchmark/benchmark.h>

#include <rte_cycles.h>
#include <rte_fib.h>
#include <rte_lpm.h>
#include <rte_random.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "bench_routes.hpp"
#include "fastpath/route_table.hpp"

namespace vxr::bench {
namespace {
constexpr uint32_t k_dests = 1u << 16;     // addresses cycled through; a power of two
constexpr uint32_t k_cluster_24s = 4;      // clustered: a few busy peers, their table lines cache-hot

std::map<uint32_t, std::unique_ptr<fastpath::route_table>>& fib_cache() {
    static std::map<uint32_t, std::unique_ptr<fastpath::route_table>> cache;
    return cache;
}
}  // namespace

std::vector<uint32_t> make_dests(uint32_t routes, dests d) {
    std::vector<uint32_t> ips(k_dests);
    for (auto& ip : ips) {
        const uint32_t net = d == dests::random ? static_cast<uint32_t>(rte_rand() % routes)
                                                : static_cast<uint32_t>(routes / 2 + rte_rand() % k_cluster_24s);
        ip = route_prefix(net) | static_cast<uint32_t>(rte_rand() & 0xff);
    }
    return ips;
}

fastpath::route_table* fib_with(uint32_t routes) {
    auto& cache = fib_cache();
    if (auto it = cache.find(routes); it != cache.end()) return it->second.get();
    auto rt = std::make_unique<fastpath::route_table>();
    if (!rt->init(routes + 16, SOCKET_ID_ANY, nullptr)) return nullptr;
    rt->begin();
    for (uint32_t i = 0; i < routes; ++i)
        if (!rt->add({ipv4_addr{route_prefix(i)}, 24}, i & 0xffffff)) return nullptr;
    rt->commit();
    return (cache[routes] = std::move(rt)).get();
}

}  // namespace vxr::bench

namespace {

using namespace vxr;
using bench::dests;
using bench::fib_cache;
using bench::fib_with;
using bench::k_dests;
using bench::make_dests;
using bench::report;
using bench::route_prefix;
using fastpath::route_table;

// Filling rte_lpm is quadratic, so each table is built once and kept for
// every benchmark that uses it.
rte_lpm* lpm_with(uint32_t routes) {
    static std::map<uint32_t, rte_lpm*> cache;
    if (auto it = cache.find(routes); it != cache.end()) return it->second;
    rte_lpm_config c{};
    c.max_rules = routes + 16;
    c.number_tbl8s = 1 << 12;
    rte_lpm* lpm = rte_lpm_create(("bench_lpm" + std::to_string(routes)).c_str(), SOCKET_ID_ANY, &c);
    if (lpm != nullptr)
        for (uint32_t i = 0; i < routes; ++i) rte_lpm_add(lpm, route_prefix(i), 24, i & 0xffffff);
    return cache[routes] = lpm;
}

// Looks up `burst` destinations per call of `lookup(ips, hops, n)`; checks
// that every destination found its route, so no lookup is optimised away.
template <typename Hop, typename Lookup>
void run_lookups(benchmark::State& state, uint32_t routes, unsigned burst, Lookup&& lookup) {
    const std::vector<uint32_t> ips = make_dests(routes, static_cast<dests>(state.range(1)));
    std::vector<Hop> hops(burst);
    uint64_t cycles = 0, n = 0, found = 0;
    uint32_t at = 0;
    for (auto _ : state) {
        const uint64_t t0 = rte_rdtsc();
        lookup(&ips[at], hops.data(), burst);
        cycles += rte_rdtsc() - t0;
        // rte_lpm_lookup_bulk flags a hit in bit 24; our next hops are 24-bit
        found += (hops[burst - 1] & 0xffffff) == ((ips[at + burst - 1] - 0x0a000000u) >> 8 & 0xffffff);
        at = (at + burst) & (k_dests - 1);
        n += burst;
    }
    if (found != static_cast<uint64_t>(state.iterations())) state.SkipWithError("a lookup returned a wrong next hop");
    report(state, cycles, n);
}

// Args: routes, dests, burst.
void bm_lpm_bulk(benchmark::State& state) {
    rte_lpm* lpm = lpm_with(static_cast<uint32_t>(state.range(0)));
    if (lpm == nullptr) return state.SkipWithError("rte_lpm_create failed");
    run_lookups<uint32_t>(state, static_cast<uint32_t>(state.range(0)), static_cast<unsigned>(state.range(2)),
                          [&](const uint32_t* ips, uint32_t* hops, unsigned k) {
                              rte_lpm_lookup_bulk(lpm, ips, hops, k);
                          });
}

void bm_fib_bulk(benchmark::State& state) {
    route_table* rt = fib_with(static_cast<uint32_t>(state.range(0)));
    if (rt == nullptr) return state.SkipWithError("route table fill failed");
    run_lookups<uint64_t>(state, static_cast<uint32_t>(state.range(0)), static_cast<unsigned>(state.range(2)),
                          [&](const uint32_t* ips, uint64_t* hops, unsigned k) {
                              rte_fib_lookup_bulk(rt->active(), const_cast<uint32_t*>(ips), hops, k);
                          });
}

// One address per call, 32 calls per iteration. Args: routes, dests.
constexpr unsigned k_single_per_iter = 32;

void bm_lpm_single(benchmark::State& state) {
    rte_lpm* lpm = lpm_with(static_cast<uint32_t>(state.range(0)));
    if (lpm == nullptr) return state.SkipWithError("rte_lpm_create failed");
    run_lookups<uint32_t>(state, static_cast<uint32_t>(state.range(0)), k_single_per_iter,
                          [&](const uint32_t* ips, uint32_t* hops, unsigned k) {
                              for (unsigned i = 0; i < k; ++i) rte_lpm_lookup(lpm, ips[i], &hops[i]);
                          });
}

void bm_fib_single(benchmark::State& state) {
    route_table* rt = fib_with(static_cast<uint32_t>(state.range(0)));
    if (rt == nullptr) return state.SkipWithError("route table fill failed");
    rte_fib* fib = rt->active();
    run_lookups<uint64_t>(state, static_cast<uint32_t>(state.range(0)), k_single_per_iter,
                          [&](const uint32_t* ips, uint64_t* hops, unsigned k) {
                              // rte_fib has no single-address call; a bulk of one is what the worker's
                              // reroute() does
                              for (unsigned i = 0; i < k; ++i)
                                  rte_fib_lookup_bulk(fib, const_cast<uint32_t*>(&ips[i]), &hops[i], 1);
                          });
}

// Loading N /24 routes into the route table in one batch (both copies), as a
// full resync from the API server would: seconds per million, linear in N.
void bm_route_fill(benchmark::State& state) {
    const auto routes = static_cast<uint32_t>(state.range(0));
    // A million routes in both copies take ~0.9 GiB of hugepages: give back
    // what the lookup benchmarks' tables hold (they run before this one).
    fib_cache().clear();
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

// rte_lpm at 1M is left out: each insert scans the rules of its depth (the
// fill is quadratic), which takes minutes at 1M; the reason for rte_fib.
BENCHMARK(bm_lpm_bulk)->ArgNames({"routes", "clustered", "burst"})
    ->ArgsProduct({{1000, 100000}, {0, 1}, {1, 4, 32, 256}});
BENCHMARK(bm_fib_bulk)->ArgNames({"routes", "clustered", "burst"})
    ->ArgsProduct({{1000, 100000, 1000000}, {0, 1}, {1, 4, 32, 256}});
BENCHMARK(bm_lpm_single)->ArgNames({"routes", "clustered"})->ArgsProduct({{1000, 100000}, {0, 1}});
BENCHMARK(bm_fib_single)->ArgNames({"routes", "clustered"})->ArgsProduct({{1000, 100000, 1000000}, {0, 1}});
BENCHMARK(bm_route_fill)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
