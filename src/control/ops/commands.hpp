// Admin-socket commands: decode a request, act on the router, encode a reply.
// Thread: control (main) lcore.
#pragma once

#include <memory>
#include <string>

#include "control/node/router.hpp"

namespace vxr::control {

class k8s_bridge;
namespace services {
class service_proxy;
}
namespace cni {
class port_mapping_table;
}

// `k8s` is null when the config has no "kubernetes" section, `svc` when
// Services are off; `maps` holds the CNI pods' port mappings.
std::string handle_command(router& r, const k8s_bridge* k8s, const services::service_proxy* svc,
                           cni::port_mapping_table* maps, const std::string& request_json);

// The CNI pods' port mappings, handed to `svc`'s compiler as hostPort
// frontends (none when null: Services off), saved in state_dir.
std::unique_ptr<cni::port_mapping_table> make_port_mapping_table(const config& cfg, services::service_proxy* svc);

// DPDK telemetry commands (/vxroute/counters, /vxroute/drops): they run on
// DPDK's telemetry thread, so they read only the workers' atomic counters.
void register_telemetry(const fastpath::dataplane& dp);

}  // namespace vxr::control
