// vxrouted's configuration: one JSON file (or the embedded default), parsed
// and validated up front so that nothing half-starts on bad input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/peer.hpp"
#include "common/result.hpp"
#include "common/types.hpp"
#include "fastpath/conntrack.hpp"

namespace vxr::control {

// A static underlay neighbour (like `ip neigh add ... nud permanent`).
struct neighbor_config {
    ipv4_addr ip;
    mac_addr mac;
};

// A pod attached to this node. Exactly one of netns / devargs / vhost_socket is set:
// - netns: a kernel pod; vxrouted creates a tap interface, moves it into
//   the namespace (a name under /var/run/netns or a path), renames it to
//   ifname, sets ip/prefix-len of the pod CIDR, MTU and a default route.
// - devargs: a DPDK device used as the pod port as is (tests, benchmarks);
//   mac is then the pod's MAC (frames to the pod carry it as destination).
// - vhost_socket: a DPDK pod over vhost-user; vxrouted is the reconnecting
//   client of the pod's virtio-user server socket ("auto" = socket_dir/
//   <name>-<ifname>.sock, Userspace CNI's shared-dir naming); mac required.
struct pod_config {
    std::string name;
    ipv4_addr ip;
    std::string netns;
    std::string ifname = "eth0";
    std::string devargs;
    std::string vhost_socket;
    std::optional<mac_addr> mac;
};

// Peers from the Kubernetes API server (Node list+watch, flannel's
// annotations) instead of, or next to, static peers. Exactly one of
// kubeconfig / in_cluster says how to reach the API server.
struct kubernetes_config {
    std::string kubeconfig;  // path of a kubeconfig file
    bool in_cluster = false; // service account of the pod we run in
    std::string annotation_prefix = "flannel.alpha.coreos.com";
    bool publish = true;     // PATCH our own Node's annotations once synced
    // Resources held in the watch cache besides Nodes (names as in
    // k8s::k_cached_resource_names: services, endpointslices, pods,
    // namespaces, networkpolicies). Empty: Nodes only.
    std::vector<std::string> watch;
};

// The kube-proxy replacement (control/services, the workers' service stage).
// Sizes are checked where they are used (Maglev primality, the node-port
// range's syntax): vxrouted fails at start-up naming the field.
struct services_config {
    bool enabled = false;
    uint32_t maglev_table_size = 16381;  // Cilium's default; a prime
    uint32_t maglev_seed = 0;            // the same on every node
    uint32_t conntrack_max = 1u << 20;   // flows
    fastpath::ct_timeouts timeouts;      // seconds; defaults are nf_conntrack's
    std::string node_port_range = "30000-32767";  // kube-apiserver --service-node-port-range
    std::vector<ipv4_addr> node_port_addresses;   // empty: node_ip
    // kube-apiserver --service-cluster-ip-range: routed from the node kernel
    // to us, so that host processes reach ClusterIPs.
    std::vector<ipv4_prefix> cluster_ip_ranges = {ipv4_prefix{ipv4_addr{0x0a600000}, 12}};
};

struct config {
    std::string node_name;
    ipv4_prefix node_ip;              // our underlay address with its subnet length ("198.18.0.1/24")
    std::optional<ipv4_addr> underlay_gateway;  // next hop for peers outside node_ip's subnet
    std::string uplink;               // devargs, e.g. "net_af_packet0,iface=eth1" or a PCI address
    mac_addr vtep_mac;                // inner source MAC of what we send; peers address us by it
    ipv4_prefix pod_cidr;             // this node's pod subnet; gateway = first host address
    std::optional<ipv4_prefix> cluster_cidr;  // all pods' network: the node reaches remote pods through us
    uint32_t vni = 1;
    uint16_t udp_port = 8472;
    uint16_t mtu = 1500;              // uplink MTU
    uint16_t pod_mtu = 0;             // 0 = mtu - 50
    std::string host_iface = "vxr-host";  // host exception tap; "" disables it
    uint32_t workers = 0;             // 0 = auto: see lcores.hpp / vxrouted.cpp
    uint32_t idle_backoff_us = 0;     // 0 = busy poll (production default)
    uint32_t max_routes = 1u << 16;  // a 5000-node cluster needs ~5000; 1,000,000 is tested
    uint32_t mbufs = 16384;
    std::string admin_socket = "/run/vxroute/vxrouted.sock";
    std::string metrics_listen = "127.0.0.1:9464";  // HTTP /metrics, /healthz, /readyz; "" disables
    std::string state_dir = "/var/lib/vxroute";  // pods added at run time survive restarts here
    std::string socket_dir = "/var/run/vxroute/sockets";  // vhost-user sockets of "auto" pods
    std::vector<std::string> eal_args;  // extra EAL arguments (-l, --file-prefix, ...)
    std::vector<peer_config> peers;
    std::vector<neighbor_config> neighbors;
    std::vector<pod_config> pods;
    std::optional<kubernetes_config> kubernetes;  // absent = static peers only
    services_config services;

    ipv4_addr gateway_ip() const { return ipv4_addr{pod_cidr.addr.value + 1}; }
    uint16_t effective_pod_mtu() const { return pod_mtu ? pod_mtu : static_cast<uint16_t>(mtu - 50); }
};

// Parse and validate. Errors name the field ("pods[1].ip: not an IPv4
// address: \"10.0.0\"") so that one line tells the operator what to fix.
result<config> parse_config(const std::string& json_text);
result<config> load_config(const std::string& path);
result<pod_config> parse_pod(const std::string& json_text);    // one pod object (admin socket)
result<peer_config> parse_peer(const std::string& json_text);  // one peer object (admin socket)

// Checks that involve more than one field (pod IP inside pod_cidr, peers'
// CIDRs not overlapping ours or each other, unique names).
result<void> validate(const config& c);
// The "kubernetes" object on its own (config_kubernetes.cpp); errors carry
// "kubernetes.<field>".
result<void> validate_kubernetes(const kubernetes_config& k);

// The embedded default: a single node that the demo's node A uses.
const char* default_config_json();

// Serialize back to JSON (vxrouted --print-config, and the admin socket).
std::string to_json(const config& c);
std::string to_json(const pod_config& p);  // one pod object, as parse_pod reads it

}  // namespace vxr::control
