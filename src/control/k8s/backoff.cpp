#include "control/k8s/backoff.hpp"

#include <algorithm>

namespace vxr::control::k8s {

backoff::backoff(backoff_params p, uint64_t seed) : p_(p), rng_(seed) {
    if (p_.base.count() < 1) p_.base = std::chrono::milliseconds{1};
    if (p_.cap < p_.base) p_.cap = p_.base;
}

std::chrono::milliseconds backoff::next() {
    // Shift at most 30 places: 2^30 * base is far beyond any sane cap.
    uint32_t shift = std::min<uint32_t>(attempt_, 30);
    double nominal = std::min(static_cast<double>(p_.cap.count()),
                              static_cast<double>(p_.base.count()) * static_cast<double>(1ull << shift));
    if (attempt_ < 64) ++attempt_;
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    auto ms = static_cast<int64_t>(nominal * jitter(rng_));
    return std::chrono::milliseconds{std::max<int64_t>(ms, 1)};
}

}  // namespace vxr::control::k8s
