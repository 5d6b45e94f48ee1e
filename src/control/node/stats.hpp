// Counter views shared by `show counters`/`show ports`, DPDK telemetry and
// the Prometheus endpoint, so that each sum is computed in one place.
// Thread: any reader; worker counters are read with relaxed loads only.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "control/k8s/cluster_sync.hpp"
#include "control/k8s/watch_cache.hpp"
#include "fastpath/counters.hpp"

namespace vxr::control {

// One worker's counter block, or the sum of several.
struct counter_sums {
#define VXR_EVENT(name) uint64_t name = 0;
    VXR_EVENTS(VXR_EVENT)
#undef VXR_EVENT
    uint64_t busy_cycles = 0, total_cycles = 0, polls = 0, idle_polls = 0, rx_packets = 0, tx_packets = 0,
             tx_dropped = 0;
    std::array<uint64_t, fastpath::k_drop_reasons> drops{};

    void add(const fastpath::worker_counters& c) {
#define VXR_EVENT(name) name += c.name.get();
        VXR_EVENTS(VXR_EVENT)
#undef VXR_EVENT
        busy_cycles += c.busy_cycles.get();
        total_cycles += c.total_cycles.get();
        polls += c.polls.get();
        idle_polls += c.idle_polls.get();
        for (auto& p : c.ports) {
            rx_packets += p.rx_packets.get();
            tx_packets += p.tx_packets.get();
            tx_dropped += p.tx_dropped.get();
        }
        for (size_t i = 0; i < drops.size(); ++i) drops[i] += c.drops[i].get();
    }
    uint64_t dropped() const {
        uint64_t n = 0;
        for (auto d : drops) n += d;
        return n;
    }
};

// An ethdev queue's own counters (rte_eth_stats q_*), for queues in use.
struct queue_stats {
    uint16_t id = 0;
    uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
};

// One attached port: our workers' counters for it (summed over workers)
// and the device's own statistics.
struct port_stats {
    uint16_t id = 0;
    std::string name;      // the pod's name for pod ports, else the ethdev name
    std::string dpdk_name; // the ethdev name (what dpdk-dumpcap -i takes)
    std::string kind;      // uplink, pod, host
    std::string pod_kind;  // kernel, vhost-user, dpdk; empty for other ports
    std::string mac;
    std::string devargs;
    bool link_up = false;
    uint64_t link_changes = 0, queue_state_changes = 0;
    uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0, tx_dropped = 0;
    uint64_t rx_missed = 0, rx_nombuf = 0, rx_errors = 0, tx_errors = 0;
    std::vector<queue_stats> queues;
};

// The control thread's own counters (router.cpp).
struct control_counters {
    uint64_t arp_requests_sent = 0;
    uint64_t arp_replies_sent = 0;
    uint64_t arp_learned = 0;
    uint64_t arp_to_host = 0;
    uint64_t pending_dropped = 0;   // neighbour queue full or neighbour failed
    uint64_t pending_sent = 0;
    uint64_t snapshots_published = 0;
    uint64_t route_changes = 0;
};

// The Kubernetes sync as the metrics endpoint and readiness see it
// (k8s_bridge): the sync thread's own status plus what the router made of it.
struct k8s_stats {
    bool running = false;            // the sync thread exists
    k8s::sync_status sync;           // as the sync thread last reported it (sync.caches: each cache's watch)
    std::vector<k8s::watch_cache::resource_stats> caches;  // each cache's store: objects, decode errors, latency
    bool routes_programmed = false;  // the first full list's peers applied to the router
    uint64_t peers_added = 0, peers_updated = 0, peers_removed = 0, peer_failures = 0;
    std::string source;              // kubeconfig or service account -> API server URL
};

}  // namespace vxr::control
