// The connection-tracking table (fastpath/conntrack.hpp) at its default size:
// lookup_bulk of 32 keys among 1M established flows (random order, so
// nearly every bucket and entry is a cache miss), inserts of new flows per
// core, and the sweep's cost per slot examined and per entry removed.
// Thread: the benchmark's main thread (an EAL lcore; nothing else online in
// the QSBR variable, so deleted slots come back at the next sweep).
#include <benchmark/benchmark.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_random.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "fastpath/conntrack.hpp"

namespace vxr::bench {
namespace {

using fastpath::conntrack;
using fastpath::ct_dir;
using fastpath::ct_entry;
using fastpath::ct_init;
using fastpath::ct_key;

constexpr uint32_t k_flows = 1u << 20;

struct env {
    rte_rcu_qsbr* qsbr = nullptr;
    std::unique_ptr<conntrack> full;  // 1M established flows
    std::vector<ct_init> flows;       // what `full` holds
    std::vector<ct_init> fresh;       // other flows, for inserts
    std::vector<uint32_t> order;      // a random permutation of the flows
};
env* g_env = nullptr;

ct_init make_flow(uint32_t i, uint32_t salt) {
    const uint32_t client = htonl(0x0a000000u + i);
    const uint16_t cport = htons(static_cast<uint16_t>(1024 + salt));
    ct_init in;
    in.orig = fastpath::ct_key_v4(client, htonl(0x0a60000au), cport, htons(80), IPPROTO_TCP);
    in.reply = fastpath::ct_key_v4(htonl(0x0af40100u + i % 200), client, htons(8080), cport, IPPROTO_TCP);
    in.backend_id = i % 200;
    in.tcp_flags = RTE_TCP_ACK_FLAG;  // picked up as established
    in.now_tsc = rte_rdtsc();
    in.bytes = 64;
    return in;
}

std::unique_ptr<conntrack> make_table() {
    fastpath::ct_params p;
    p.max_entries = k_flows;
    p.qsbr = g_env->qsbr;
    auto r = conntrack::create(p);
    if (!r) {
        std::fprintf(stderr, "bench: %s\n", r.err().c_str());
        std::exit(1);
    }
    return std::move(*r);
}

// One table for the insert and sweep benchmarks: two at 1M flows are
// ~0.5 GB of hugepages.
conntrack& scratch() {
    static std::unique_ptr<conntrack> ct = make_table();
    return *ct;
}

// Removes every entry (far-future clock) and gives the slots back.
void drain(conntrack& ct) {
    const uint64_t later = rte_rdtsc() + 600000 * rte_get_tsc_hz();
    while (ct.counters().entries != 0) ct.expire_some(later, 1u << 16);
    ct.expire_some(later, 1);  // reclaims the last keys
}

void bm_lookup_bulk(benchmark::State& state) {
    const auto burst = static_cast<unsigned>(state.range(0));
    const bool touch = state.range(1) != 0;
    conntrack& ct = *g_env->full;
    const ct_key* keys[conntrack::k_burst_max];
    ct_entry* e[conntrack::k_burst_max];
    ct_dir d[conntrack::k_burst_max];
    uint64_t pos = 0, pkts = 0, cycles = 0, misses = 0;
    for (auto _ : state) {
        for (unsigned i = 0; i < burst; ++i) {
            const ct_init& f = g_env->flows[g_env->order[pos++ & (k_flows - 1)]];
            keys[i] = (i & 1) ? &f.reply : &f.orig;  // both directions, as a worker sees them
        }
        const uint64_t t0 = rte_rdtsc();
        const uint64_t hits = ct.lookup_bulk(keys, burst, e, d);
        if (touch)
            for (unsigned i = 0; i < burst; ++i)
                if (hits & (1ull << i)) ct.update(*e[i], d[i], RTE_TCP_ACK_FLAG, 64, t0);
        cycles += rte_rdtsc() - t0;
        misses += burst - static_cast<unsigned>(__builtin_popcountll(hits));
        benchmark::DoNotOptimize(e);
        pkts += burst;
    }
    if (misses != 0) state.SkipWithError("lookups missed established flows");
    report(state, cycles, pkts);
}

void bm_insert(benchmark::State& state) {
    // Into a table already holding `fill` flows (the cuckoo paths get longer).
    const auto fill = static_cast<uint32_t>(state.range(0));
    constexpr uint32_t k_batch = 1u << 16;
    conntrack* ct = &scratch();
    drain(*ct);
    for (uint32_t i = 0; i < fill; ++i) ct->insert(g_env->flows[i]);
    uint64_t cycles = 0, inserts = 0, next = 0;
    for (auto _ : state) {
        if (next + k_batch > g_env->fresh.size() || ct->counters().entries + k_batch > k_flows) {
            state.PauseTiming();
            drain(*ct);
            for (uint32_t i = 0; i < fill; ++i) ct->insert(g_env->flows[i]);
            next = 0;
            state.ResumeTiming();
        }
        const uint64_t t0 = rte_rdtsc();
        for (uint32_t i = 0; i < k_batch; ++i) {
            const auto r = ct->insert(g_env->fresh[next + i]);
            benchmark::DoNotOptimize(r.entry);
        }
        cycles += rte_rdtsc() - t0;
        next += k_batch;
        inserts += k_batch;
    }
    if (ct->counters().full != 0) state.SkipWithError("table full during the insert benchmark");
    report(state, cycles, inserts);
    state.counters["inserts_per_s"] = benchmark::Counter(static_cast<double>(inserts), benchmark::Counter::kIsRate);
}

// A full pass over 1M slots: every entry expired (removed) or none.
void bm_expire(benchmark::State& state) {
    const bool all_expired = state.range(0) != 0;
    const auto budget = static_cast<uint32_t>(state.range(1));
    conntrack* ct = &scratch();
    uint64_t cycles = 0, slots = 0, removed = 0;
    for (auto _ : state) {
        state.PauseTiming();
        drain(*ct);
        for (uint32_t i = 0; i < k_flows; ++i) ct->insert(g_env->flows[i]);
        const uint64_t now = all_expired ? rte_rdtsc() + 500000 * rte_get_tsc_hz() : rte_rdtsc();
        state.ResumeTiming();
        const uint64_t t0 = rte_rdtsc();
        for (uint32_t done = 0; done < k_flows; done += budget) removed += ct->expire_some(now, budget);
        cycles += rte_rdtsc() - t0;
        slots += k_flows;
    }
    report(state, cycles, all_expired ? removed : slots);  // per entry removed, or per live slot examined
}

BENCHMARK(bm_lookup_bulk)->ArgNames({"burst", "update"})->ArgsProduct({{1, 8, 32}, {0, 1}});
BENCHMARK(bm_insert)->ArgName("fill")->Arg(0)->Arg(k_flows / 2)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_expire)->ArgNames({"expired", "budget"})->ArgsProduct({{0, 1}, {256, 4096}})
    ->Unit(benchmark::kMillisecond)->Iterations(3);

int setup() {
    const std::string prefix = "--file-prefix=vxrctbench" + std::to_string(getpid());
    std::vector<std::string> args = {"bench", "-l", "0", "--no-pci", prefix, "--log-level=lib.eal:error"};
    const char* mem = std::getenv("VXR_BENCH_EAL_MEM");  // e.g. "--no-huge -m 3072"
    std::istringstream in(mem != nullptr ? mem : "--in-memory");
    for (std::string a; in >> a;) args.push_back(a);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        std::fprintf(stderr, "bench: EAL init failed (hugepages reserved? ./scripts/hugepages.sh)\n");
        return 1;
    }
    g_env = new env();
    g_env->qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("bench_qsbr", rte_rcu_qsbr_get_memsize(4), 64));
    if (g_env->qsbr == nullptr || rte_rcu_qsbr_init(g_env->qsbr, 4) != 0) {
        std::fprintf(stderr, "bench: cannot create the QSBR variable\n");
        return 1;
    }
    for (uint32_t i = 0; i < k_flows; ++i) g_env->flows.push_back(make_flow(i, 1));
    for (uint32_t i = 0; i < 4 * k_flows; ++i) g_env->fresh.push_back(make_flow(i % k_flows, 2 + i / k_flows));
    g_env->order.resize(k_flows);
    for (uint32_t i = 0; i < k_flows; ++i) g_env->order[i] = i;
    for (uint32_t i = k_flows - 1; i > 0; --i) std::swap(g_env->order[i], g_env->order[rte_rand_max(i + 1)]);
    g_env->full = make_table();
    for (const ct_init& f : g_env->flows)
        if (g_env->full->insert(f).status != fastpath::ct_insert_status::inserted) {
            std::fprintf(stderr, "bench: cannot fill the table with %u flows\n", k_flows);
            return 1;
        }
    return 0;
}

}  // namespace
}  // namespace vxr::bench

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (vxr::bench::setup() != 0) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
