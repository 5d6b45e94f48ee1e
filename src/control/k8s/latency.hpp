// A fixed-bucket latency histogram (seconds), cheap enough to feed for every
// delivered change, exported as a Prometheus histogram and read as quantile
// estimates in `vxroutectl show k8s`. Not thread-safe: one owner writes it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace vxr::control::k8s {

struct latency_histogram {
    // Upper bounds in seconds; the aim is p99 < 10 ms, so the resolution is there.
    static constexpr std::array<double, 14> k_bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
    std::array<uint64_t, k_bounds.size() + 1> buckets{};  // the last one is +Inf; not cumulative
    uint64_t count = 0;
    double sum = 0;

    void add(std::chrono::nanoseconds d) {
        const double s = std::chrono::duration<double>(d).count();
        size_t i = 0;
        while (i < k_bounds.size() && s > k_bounds[i]) ++i;
        ++buckets[i];
        ++count;
        sum += s;
    }
    // The upper bound of the bucket holding quantile q (0 when empty; the
    // largest bound when it falls in +Inf).
    double quantile(double q) const {
        if (count == 0) return 0;
        const double want = q * static_cast<double>(count);
        uint64_t seen = 0;
        for (size_t i = 0; i < k_bounds.size(); ++i) {
            seen += buckets[i];
            if (static_cast<double>(seen) >= want) return k_bounds[i];
        }
        return k_bounds.back();
    }
};

}  // namespace vxr::control::k8s
