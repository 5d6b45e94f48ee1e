// A remote node as the control plane learns it (config file, admin socket or
// the Kubernetes Node watch): shared by control/node and control/k8s, so it
// lives below both.
#pragma once

#include <string>

#include "common/types.hpp"

namespace vxr {

// A remote node: its underlay IP, its VTEP MAC and the pod CIDR behind it.
struct peer_config {
    ipv4_addr node_ip;
    mac_addr vtep_mac;
    ipv4_prefix pod_cidr;
    std::string name;  // optional, for display
};

}  // namespace vxr
