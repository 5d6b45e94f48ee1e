// Maglev table build time (control/services/maglev.hpp): what the control
// thread spends per Service on each EndpointSlice change, at Cilium's
// default size (M=16381) with 10 / 100 / 1000 backends and at M=65521 with
// 1000 (the size that keeps 1000 backends within 1% of their fair share).
// Its own executable: no EAL, no ports, just the control-plane library.
// Thread: the benchmark's main thread.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "control/services/maglev.hpp"

namespace vxr::bench {
namespace {

std::vector<std::string> backend_keys(uint32_t n) {
    std::vector<std::string> k;
    for (uint32_t i = 0; i < n; ++i)
        k.push_back("10.244." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":8080");
    return k;
}

void bm_maglev_build(benchmark::State& state) {
    const auto m = static_cast<uint32_t>(state.range(0));
    const auto keys = backend_keys(static_cast<uint32_t>(state.range(1)));
    for (auto _ : state) {
        auto t = control::services::build_maglev(keys, {.table_size = m});
        if (!t) {
            state.SkipWithError(t.err().c_str());
            break;
        }
        benchmark::DoNotOptimize(t->slots().data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * m);  // slots filled
}

}  // namespace

BENCHMARK(bm_maglev_build)
    ->ArgNames({"M", "N"})
    ->Args({16381, 10})
    ->Args({16381, 100})
    ->Args({16381, 1000})
    ->Args({65521, 1000})
    ->Unit(benchmark::kMicrosecond);

}  // namespace vxr::bench

BENCHMARK_MAIN();
