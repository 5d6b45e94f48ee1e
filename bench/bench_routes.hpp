// Route tables and destinations that the route-lookup benchmarks
// (bench_routes.cpp) share with bench_fastpath's encap + lookup benchmark.
// Thread: the benchmark's main thread.
#pragma once

#include <cstdint>
#include <vector>

#include "fastpath/route_table.hpp"

namespace vxr::bench {

// The i-th /24: spread over 10.0.0.0/8 and beyond, as peers' pod CIDRs would be.
constexpr uint32_t route_prefix(uint32_t i) { return (0x0a000000u + (i << 8)) & 0xffffff00u; }

enum class dests : int64_t { random = 0, clustered = 1 };

// 2^16 addresses (host order) under the first `routes` /24s. Random: any
// address under any of them (at 1M routes a tbl24 miss to DRAM on most
// lookups). Clustered: addresses within a few /24s.
std::vector<uint32_t> make_dests(uint32_t routes, dests d);

// A route table holding route_prefix(0 .. routes-1)/24 with next hop i;
// built once per size and kept (filling takes seconds per million).
fastpath::route_table* fib_with(uint32_t routes);

}  // namespace vxr::bench
