// The worker lcore: polls its RX queues, classifies and forwards bursts.
// Thread: worker lcores only. Must not: lock, allocate from the heap, make
// syscalls (except the opt-in idle backoff), log, or throw.
#pragma once

#include <atomic>
#include <cstdint>

#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "fastpath/affinity.hpp"
#include "fastpath/conntrack.hpp"
#include "fastpath/counters.hpp"
#include "fastpath/route_table.hpp"
#include "fastpath/route.hpp"
#include "fastpath/service.hpp"
#include "fastpath/snapshot.hpp"
#include "fastpath/stage.hpp"

namespace vxr::fastpath {

// Shared between the control thread and all workers; each member says who
// writes it.
struct shared_state {
    std::atomic<const snapshot*> published{nullptr};  // control: release store
    std::atomic<bool> stop{false};                     // control
    const route_table* routes = nullptr;               // control: its own RCU publication
    rte_rcu_qsbr* qsbr = nullptr;
    rte_ring* punt = nullptr;                          // workers -> control (MP/SC)
    conntrack* ct = nullptr;                           // control, before launch: null when Services are off
    affinity_table* affinity = nullptr;                // likewise
};

struct worker_params {
    unsigned id = 0;                  // 0..workers-1: RX/TX queue index and RCU thread id
    shared_state* shared = nullptr;
    worker_counters* counters = nullptr;
    svc_counters* svc = nullptr;      // k_max_frontends of them; null when Services are off
    rte_ring* inject = nullptr;       // control -> this worker (SP/SC); mbuf->port = TX port
    uint32_t idle_backoff_us = 0;
};

// The lcore entry point (rte_eal_remote_launch); `arg` is a worker_params*.
int worker_main(void* arg);

// One burst through the pipeline, without RX: for golden tests and benchmarks
// that drive the real classification and forwarding on in-memory mbufs.
// Forwarded packets go to the TX buffers of `s`; call flush_all afterwards.
class worker {
public:
    explicit worker(const worker_params& p);
    worker(const worker&) = delete;  // the route stage points at our service stage
    worker& operator=(const worker&) = delete;
    void process(const snapshot& s, port_role role, uint16_t in_port, rte_mbuf** pkts, uint16_t n);
    void flush_all(const snapshot& s);
    int run();

private:
    template <port_role R>
    void process_burst(const snapshot& s, uint16_t in_port, rte_mbuf** pkts, uint16_t n);

    worker_params p_;
    worker_counters& c_;
    stage_ctx ctx_;
    service_stage service_;
    route_stage route_;
};

}  // namespace vxr::fastpath
