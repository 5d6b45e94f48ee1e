#include "control/ops/health.hpp"

#include <cstdio>

namespace vxr::control {

void worker_watch::observe(const std::vector<uint64_t>& polls, clock::time_point now) {
    if (workers_.size() != polls.size()) workers_.assign(polls.size(), seen{0, now});
    for (size_t i = 0; i < polls.size(); ++i) {
        if (polls[i] != workers_[i].polls) {
            workers_[i].polls = polls[i];
            workers_[i].moved = now;
        }
    }
}

std::string worker_watch::stalled(const std::vector<unsigned>& lcores, clock::time_point now) const {
    for (size_t i = 0; i < workers_.size(); ++i) {
        const auto idle = now - workers_[i].moved;
        if (idle <= k_stall_limit) continue;
        char buf[128];
        std::snprintf(buf, sizeof buf, "worker %zu (lcore %u): no progress for %.1f s", i,
                      i < lcores.size() ? lcores[i] : 0u, std::chrono::duration<double>(idle).count());
        return buf;
    }
    return {};
}

std::string not_ready_reason(const readiness_input& in) {
    if (!in.uplink_up) return "uplink " + in.uplink_name + ": link down";
    if (!in.missing_pods.empty()) {
        std::string s = "configured pod without a port:";
        for (const auto& p : in.missing_pods) s += " " + p;
        return s;
    }
    if (in.kubernetes) {
        if (!in.k8s || !in.k8s->running) return "kubernetes: sync not running";
        const k8s::sync_status& st = in.k8s->sync;
        if (!st.synced || !in.k8s->routes_programmed) {
            std::string s = "kubernetes: initial Node list not synced yet";
            if (!in.k8s->source.empty()) s += " (" + in.k8s->source + ")";
            // last_error stays after a success; it is current only while errors go on.
            if (st.consecutive_errors != 0 && !st.last_error.empty()) s += "; last error: " + st.last_error;
            for (char& c : s)
                if (c == '\n' || c == '\r') c = ' ';  // the reply is one line
            return s;
        }
    }
    return {};
}

}  // namespace vxr::control
