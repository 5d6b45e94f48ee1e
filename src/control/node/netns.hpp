// Kernel interface plumbing for pods and the host exception port. Uses
// iproute2 (`ip`), run without a shell, from the control thread only: this
// happens once per pod, never per packet.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/types.hpp"

namespace vxr::control {

// Runs argv[0] with args; the error carries the command and its stderr.
result<void> run_command(const std::vector<std::string>& argv);
// The same with `input` as the command's standard input (nft -f -).
result<void> run_command(const std::vector<std::string>& argv, const std::string& input);
// The same, returning what the command wrote to its standard output.
result<std::string> command_output(const std::vector<std::string>& argv);

// The path of a network namespace given by name (/var/run/netns/NAME) or path.
std::string netns_path(const std::string& netns);

struct pod_link {
    std::string iface;   // the tap's name in our namespace
    std::string netns;   // name or path
    std::string ifname;  // its name inside the pod
    ipv4_addr ip;
    uint8_t prefix_len = 24;
    uint16_t mtu = 1450;
    ipv4_addr gateway;
};

// Moves the interface into the pod, renames it, sets address, MTU, link up
// and the default route via the gateway.
result<void> plumb_pod(const pod_link& l);

// Removes the pod's interface if it is still there (a pod whose namespace is
// gone has nothing left to remove).
void unplumb_pod(const std::string& netns, const std::string& ifname);

// The interface flags (IFF_UP, IFF_RUNNING: up with a carrier, ...) of
// `ifname` inside the network namespace `netns` (name or path). A tap moved
// into a pod is out of its DPDK driver's sight, which asks in our namespace.
// Control thread; a short-lived thread enters the namespace for each call.
result<unsigned> link_flags_in(const std::string& netns, const std::string& ifname);

// Host exception port: the node IP on it, and a route to our pod subnet via
// the pod gateway so that the node reaches its pods through vxrouted. With a
// cluster CIDR, the node also reaches remote pods through us, sourcing from
// <pod subnet>.0/32 as flannel's flannel.1 address does, so that replies
// come back over any VXLAN peer (vxroute or flannel) to this node.
struct host_link {
    std::string iface;
    ipv4_prefix node_ip;
    uint16_t mtu = 1500;
    ipv4_prefix pod_cidr;
    ipv4_addr gateway;
    std::optional<ipv4_prefix> cluster_cidr;
    // Service ClusterIP ranges: the node's own processes reach Services
    // through us (kube-proxy's hostServices), from the overlay address.
    std::vector<ipv4_prefix> service_cidrs;
};
result<void> plumb_host(const host_link& h);

}  // namespace vxr::control
