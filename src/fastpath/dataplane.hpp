// Owner of the DPDK resources the workers use: mempool, ports, routes, RCU,
// rings, counters. Thread: the control (main) lcore only; the workers see
// these only through shared_state and published snapshots.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "fastpath/counters.hpp"
#include "fastpath/route_table.hpp"
#include "fastpath/snapshot.hpp"
#include "fastpath/worker.hpp"

struct rte_mempool;

namespace vxr::fastpath {

struct dataplane_params {
    unsigned workers = 1;
    uint32_t mbufs = 16384;
    uint32_t max_routes = 1u << 16;  // a 5000-node cluster needs ~5000; 1,000,000 is tested
    uint32_t idle_backoff_us = 0;
};

struct port_info {
    uint16_t id = 0;
    port_role role = port_role::none;
    std::string devargs;
    std::string name;  // the ethdev name, e.g. net_af_packet0
    rte_ether_addr mac{};
    uint16_t mtu = 1500;
    std::array<rte_eth_dev_tx_buffer*, k_max_workers> txb{};
    // Written by DPDK's interrupt/vhost thread (link up/down, a vring enabled
    // or disabled by the pod side), read by the control thread.
    std::atomic<uint64_t> link_changes{0};
    std::atomic<uint64_t> queue_state_changes{0};
};

class dataplane {
public:
    dataplane() = default;
    ~dataplane();
    dataplane(const dataplane&) = delete;
    dataplane& operator=(const dataplane&) = delete;

    // After rte_eal_init. Fails if fewer worker lcores than params.workers.
    result<void> init(const dataplane_params& p);

    // Probe a device by devargs (vdev or PCI), give it one RX and one TX queue
    // per worker, start it. The port is not polled until a snapshot lists it.
    result<uint16_t> attach_port(const std::string& devargs, port_role role, uint16_t mtu);
    // Tells the uplink's NIC that `udp_port` carries VXLAN, so that it parses
    // the tunnel and reports the inner headers' checksums too (vxlan.hpp's
    // rx_*_flags). Virtual devices cannot: the workers then sum the headers.
    result<void> register_vxlan_port(uint16_t port, uint16_t udp_port);
    // Only after a published snapshot without the port has been synchronized.
    void detach_port(uint16_t port);
    // Every port, once the workers have stopped (shutdown).
    void close_ports();
    const port_info* port(uint16_t id) const;
    std::vector<const port_info*> ports() const;
    port_entry entry_for(uint16_t id) const;  // a snapshot's view of an attached port

    // Visible to the workers on return, or at routes_commit() after
    // routes_begin() (route_table.hpp).
    result<void> route_add(ipv4_prefix p, uint32_t nexthop) { return routes_.add(p, nexthop); }
    result<void> route_del(ipv4_prefix p) { return routes_.del(p); }
    void routes_begin() { routes_.begin(); }
    void routes_commit() { routes_.commit(); }
    const route_table& routes() const { return routes_; }

    // Publish with one release store; wait until every worker has passed a
    // quiescent state; free the previous snapshot.
    void publish(std::unique_ptr<snapshot> s);
    const snapshot* current() const { return shared_.published.load(std::memory_order_acquire); }
    void synchronize();

    result<void> launch();
    // False if a worker did not return within 2 s (stuck_lcore() names it).
    bool stop();
    unsigned stuck_lcore() const { return stuck_lcore_; }
    bool running() const { return running_; }

    unsigned workers() const { return params_.workers; }
    const worker_counters& counters(unsigned w) const { return counters_[w]; }
    unsigned worker_lcore(unsigned w) const { return lcores_[w]; }
    rte_mempool* pool() const { return pool_; }

    // Punted packets (workers -> control) and packets for the wire
    // (control -> worker 0, which owns a TX queue; m->port = TX port).
    unsigned punt_dequeue(rte_mbuf** pkts, unsigned n);
    void inject(rte_mbuf* m, uint16_t port);
    uint64_t inject_dropped() const { return inject_dropped_; }

    // Services on: the connection-tracking table the workers share (sized
    // and timed by `p`; its qsbr is ours) and the per-frontend counters.
    // Before launch(); once.
    result<void> enable_services(ct_params p);
    conntrack* ct() const { return ct_.get(); }
    affinity_table* affinity() const { return affinity_.get(); }
    const svc_counters* frontend_counters(unsigned w) const { return w < params_.workers ? svc_[w] : nullptr; }

    // For tests and benchmarks that run a worker pipeline on this thread.
    worker_params params_for(unsigned w);

private:
    dataplane_params params_;
    shared_state shared_;
    route_table routes_;
    rte_mempool* pool_ = nullptr;
    worker_counters* counters_ = nullptr;  // rte_zmalloc'd array, one per worker
    std::unique_ptr<conntrack> ct_;
    std::unique_ptr<affinity_table> affinity_;
    std::array<svc_counters*, k_max_workers> svc_{};  // rte_zmalloc'd, k_max_frontends each
    std::array<rte_ring*, k_max_workers> inject_{};
    std::array<worker_params, k_max_workers> wparams_{};
    std::array<unsigned, k_max_workers> lcores_{};
    std::array<std::unique_ptr<port_info>, RTE_MAX_ETHPORTS> ports_;
    bool running_ = false;
    unsigned stuck_lcore_ = 0;
    uint64_t inject_dropped_ = 0;
};

}  // namespace vxr::fastpath
