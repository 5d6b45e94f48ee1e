// The forwarding state workers read: an immutable snapshot built by the
// control thread and published with one release store (DESIGN.md 3). Routes
// live in the route table (route_table.hpp), published on their own under
// the same rte_rcu_qsbr; its next-hop values index `nexthops` here.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include <rte_ethdev.h>
#include <rte_ether.h>

#include "encap/wire.hpp"
#include "fastpath/service_table.hpp"

namespace vxr::fastpath {

inline constexpr unsigned k_max_workers = 16;

enum class port_role : uint8_t { none, uplink, pod, host };

enum class nh_kind : uint8_t {
    drop,  // a free slot; a route to it is a bug, counted as no_route
    pod,   // a local pod: rewrite L2, TX on `port`
    peer,  // a remote node: VXLAN encap with peers[peer]
    host,  // the node itself: to the host exception port
    self,  // the pod gateway address: answered by the worker (ICMP echo)
};

struct nexthop {
    nh_kind kind = nh_kind::drop;
    uint16_t port = 0;          // pod, host
    uint32_t peer = 0;          // peer
    rte_ether_addr mac{};       // pod, host: destination MAC
};

struct peer_entry {
    encap::encap_template tmpl;  // outer dst MAC filled once the next hop is resolved
    uint32_t neighbor = 0;       // the control thread's neighbour index, for punts
    bool resolved = false;
};

struct port_entry {
    port_role role = port_role::none;
    uint16_t mtu = 1500;
    uint32_t pod_ip_be = 0;     // pods: the only source address the pod may use
    rte_ether_addr mac{};       // our MAC on this port (what the worker sends from)
    std::array<rte_eth_dev_tx_buffer*, k_max_workers> txb{};  // one per worker, written only by it
};

struct rx_queue {
    uint16_t port;
    uint16_t queue;
    port_role role;
};

struct snapshot {
    uint64_t generation = 0;
    // Our identity, pre-converted to the byte order the worker compares in.
    rte_be32_t node_ip_be = 0;
    rte_be32_t gateway_ip_be = 0;
    rte_be16_t udp_port_be = 0;
    rte_be32_t vni_be = 0;
    rte_ether_addr vtep_mac{};
    rte_ether_addr gateway_mac{};  // what pods see as their gateway
    uint16_t pod_mtu = 1450;       // largest inner IPv4 packet that fits the tunnel
    uint16_t uplink_port = RTE_MAX_ETHPORTS;
    uint16_t host_port = RTE_MAX_ETHPORTS;  // RTE_MAX_ETHPORTS: none

    std::array<port_entry, RTE_MAX_ETHPORTS> ports{};
    std::array<std::vector<rx_queue>, k_max_workers> rx;  // what each worker polls
    std::vector<nexthop> nexthops;
    std::vector<peer_entry> peers;
    // Services translated by this node's workers; null: Services are off,
    // and the conntrack and service stages are skipped. Shared between
    // snapshots (the control thread keeps it alive; workers read `services`).
    std::shared_ptr<const service_table> services_owner;
    const service_table* services = nullptr;
};

}  // namespace vxr::fastpath
