// Admin-socket commands: decode a request, act on the router, encode a reply.
// Thread: control (main) lcore.
#pragma once

#include <string>

#include "control/node/router.hpp"

namespace vxr::control {

class k8s_bridge;
namespace services {
class service_proxy;
}

// `k8s` is null when the config has no "kubernetes" section, `svc` when
// Services are off.
std::string handle_command(router& r, const k8s_bridge* k8s, const services::service_proxy* svc,
                           const std::string& request_json);

// DPDK telemetry commands (/vxroute/counters, /vxroute/drops): they run on
// DPDK's telemetry thread, so they read only the workers' atomic counters.
void register_telemetry(const fastpath::dataplane& dp);

}  // namespace vxr::control
