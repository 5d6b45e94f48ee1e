// kube-proxy's service health server: every Service of type LoadBalancer
// with externalTrafficPolicy Local has a healthCheckNodePort, and on every
// node an HTTP listener on that port tells the cloud load balancer whether
// the node has a local ready endpoint for the Service (200) or not (503),
// so that the balancer sends traffic only to nodes that keep it local.
// Any method and path gets the same answer: a JSON body
//   {"service": {"namespace": "default", "name": "web"},
//    "localEndpoints": 2, "serviceProxyHealthy": true}
// with Content-Type application/json and X-Content-Type-Options nosniff.
//
// Threads: the control thread calls everything below; each listener is a
// libmicrohttpd daemon with a polling thread of its own (so that answers do
// not wait for the control loop), which reads only the listener's atomics.
// A listener's daemon is stopped (its thread joined) before it is freed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/types.hpp"
#include "control/services/service_compiler.hpp"

namespace vxr::control::services {

// What one Service's health check should answer.
struct health_check_want {
    std::string service;  // "ns/name"
    uint16_t port = 0;
    uint32_t local_endpoints = 0;
    bool operator==(const health_check_want&) const = default;
};

// One per Service whose frontends carry a healthCheckNodePort, sorted by
// Service. localEndpoints is counted as kube-proxy counts it: the distinct
// addresses of this node's ready endpoints over all the Service's ports and
// families (a pod serving 80 and 443 is one endpoint); terminating ones do
// not count, so that the balancer drains a node whose pods are going away.
std::vector<health_check_want> health_checks_of(const std::map<frontend_key, frontend_ptr>& frontends);

class health_check_server {
public:
    // bind: the address every listener binds (kube-proxy: all addresses).
    explicit health_check_server(ipv4_addr bind);
    ~health_check_server();
    health_check_server(const health_check_server&) = delete;
    health_check_server& operator=(const health_check_server&) = delete;

    // Make the listeners match `want` (kube-proxy's SyncServices and
    // SyncEndpoints): a Service gone or whose port changed loses its
    // listener, every wanted one without a listener gets one, the others
    // get the new count. A port that cannot be bound is logged with the
    // Service's name, counted, and tried again by the next update or
    // retry_failed(); the other Services are served regardless.
    void update(std::vector<health_check_want> want);
    // Each control-loop turn: binds again what failed, at most every
    // k_retry_interval.
    void retry_failed();
    static constexpr std::chrono::seconds k_retry_interval{5};

    // serviceProxyHealthy: false while the workers run an older table than
    // the Services say (the last build failed); every answer is then 503.
    void set_proxy_healthy(bool healthy) { proxy_healthy_.store(healthy); }
    bool proxy_healthy() const { return proxy_healthy_.load(); }

    struct status {
        std::string service;
        uint16_t port = 0;
        uint32_t local_endpoints = 0;
        bool listening = false;
        std::string error;  // why not, when not listening
    };
    std::vector<status> statuses() const;  // by Service
    size_t listeners() const { return listeners_.size(); }
    uint64_t listen_failures() const { return listen_failures_; }
    uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
    const ipv4_addr& bind_address() const { return bind_; }

private:
    struct listener;
    void apply();
    void close_unwanted();

    ipv4_addr bind_;
    std::vector<health_check_want> want_;
    std::map<std::string, std::unique_ptr<listener>> listeners_;  // by Service
    std::map<std::string, std::string> failed_;                   // Service -> last error
    std::atomic<bool> proxy_healthy_{true};
    std::atomic<uint64_t> requests_{0};
    uint64_t listen_failures_ = 0;
    std::chrono::steady_clock::time_point last_apply_{};
};

// `vxroutectl show frontends`: the bind address, counts, and per Service
// its port, local endpoints, and whether it listens (or why not).
void write_json(k8s::json_writer& w, const health_check_server& s);

}  // namespace vxr::control::services
