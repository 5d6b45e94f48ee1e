// The HTTP endpoint of vxrouted: /metrics (Prometheus text), /healthz and
// /readyz, served on the control thread from its own loop. A scrape reads
// the workers' counters with relaxed loads and the ethdevs' stats: it takes
// no lock a worker could wait on, so scraping never slows the workers.
// Thread: control (main) lcore only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "control/ops/health.hpp"
#include "control/ops/http_server.hpp"
#include "control/ops/metrics.hpp"

namespace vxr::fastpath {
class dataplane;
}

namespace vxr::control {

class router;
class k8s_bridge;
namespace services {
class service_proxy;
}

class metrics_service {
public:
    metrics_service(const router& r, const fastpath::dataplane& dp);

    // `listen` is the config's metrics_listen ("" disables: nothing opens).
    result<void> open(const std::string& listen);
    void set_k8s(const k8s_bridge* k) { k8s_ = k; }
    void set_services(const services::service_proxy* s) { services_ = s; }
    void close() { http_.close(); }

    // For the control loop's wait: the fd to wait on (-1 if none) and how
    // long it may wait at most.
    int poll_fd() const { return http_.poll_fd(); }
    int timeout_ms(int max_ms) const { return http_.timeout_ms(max_ms); }
    // Each control-loop turn: note the workers' progress, serve requests.
    void poll();

    // The endpoint's answer to one request (tests call it directly).
    http_reply handle(std::string_view method, std::string_view path);
    metrics_input collect() const;
    std::string health_reason() const;  // empty = healthy
    std::string ready_reason() const;   // empty = ready
    const std::string& address() const { return http_.address(); }

private:
    void observe_workers();
    std::string ready_reason(const std::vector<port_stats>& ports) const;

    const router& router_;
    const fastpath::dataplane& dp_;
    const k8s_bridge* k8s_ = nullptr;
    const services::service_proxy* services_ = nullptr;
    http_server http_;
    worker_watch watch_;
    double start_time_ = 0;
};

}  // namespace vxr::control
