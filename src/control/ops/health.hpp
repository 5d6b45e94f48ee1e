// What /healthz and /readyz decide, as pure functions of what the control
// thread observed, so the rules are unit-tested without DPDK.
// Thread: control (main) lcore.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "control/node/stats.hpp"

namespace vxr::control {

// Liveness of the workers: each one's `polls` counter must keep moving. The
// control loop feeds it every turn; a worker whose counter stood still for
// longer than the limit is stuck (a loop iteration takes microseconds, and
// the idle backoff sleeps at most 100 ms).
class worker_watch {
public:
    using clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds k_stall_limit{1000};

    void observe(const std::vector<uint64_t>& polls, clock::time_point now);
    // Empty when every worker moved within the limit, else one line naming
    // the first stuck worker ("worker 0 (lcore 1): no progress for 2.4 s").
    std::string stalled(const std::vector<unsigned>& lcores, clock::time_point now) const;

private:
    struct seen {
        uint64_t polls = 0;
        clock::time_point moved{};
    };
    std::vector<seen> workers_;
};

struct readiness_input {
    std::string uplink_name;
    bool uplink_up = false;
    std::vector<std::string> missing_pods;  // configured pods without a port
    bool kubernetes = false;                // the config has a "kubernetes" section
    std::optional<k8s_stats> k8s;           // absent if the sync did not start
};

// Empty when ready, else one line saying what is missing.
std::string not_ready_reason(const readiness_input& in);

}  // namespace vxr::control
