// Exponential backoff with jitter for API-server retries: the jitter keeps
// thousands of nodes that lost the API server at the same moment from
// reconnecting in lockstep. Single-threaded; owned by one state machine.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace vxr::control::k8s {

struct backoff_params {
    std::chrono::milliseconds base{800};  // client-go's reflector starts at 800 ms
    std::chrono::milliseconds cap{30000};  // bounded so a recovered API server is noticed within 30 s
};

class backoff {
public:
    explicit backoff(backoff_params p, uint64_t seed = std::random_device{}());
    // The delay before the next attempt: base * 2^n capped at cap, then
    // scaled by a uniform factor in [0.5, 1] so it never exceeds the cap.
    std::chrono::milliseconds next();
    void reset() { attempt_ = 0; }
    uint32_t attempts() const { return attempt_; }
    const backoff_params& params() const { return p_; }

private:
    backoff_params p_;
    uint32_t attempt_ = 0;
    std::mt19937_64 rng_;
};

}  // namespace vxr::control::k8s
