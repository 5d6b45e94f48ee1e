// What every micro-benchmark reports: ns/packet (Benchmark's timer) and TSC
// cycles/packet ("cycles_per_pkt"). Runs on the benchmark's main thread only.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>

namespace vxr::bench {

inline void report(benchmark::State& state, uint64_t cycles, uint64_t pkts) {
    state.SetItemsProcessed(static_cast<int64_t>(pkts));
    state.counters["cycles_per_pkt"] = pkts ? static_cast<double>(cycles) / static_cast<double>(pkts) : 0;
    state.counters["ns_per_pkt"] = benchmark::Counter(static_cast<double>(pkts),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace vxr::bench
