// The worker lcore: polls its RX queues, classifies and forwards bursts.
// Thread: worker lcores only. Must not: lock, allocate from the heap, make
// syscalls (except the opt-in idle backoff), log, or throw.
#pragma once

#include <atomic>
#include <cstdint>

#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "fastpath/counters.hpp"
#include "fastpath/route_table.hpp"
#include "fastpath/snapshot.hpp"

namespace vxr::fastpath {

// What a punted packet is waiting for (stored in mbuf->hash.usr with the
// index in the low 24 bits; mbuf->port holds the ingress port).
enum class punt_kind : uint8_t { arp = 1, neighbor_wait = 2, stale_mac = 3 };
inline uint32_t punt_tag(punt_kind k, uint32_t idx) { return static_cast<uint32_t>(k) << 24 | (idx & 0xffffff); }
inline punt_kind punt_tag_kind(uint32_t tag) { return static_cast<punt_kind>(tag >> 24); }
inline uint32_t punt_tag_index(uint32_t tag) { return tag & 0xffffff; }

// Shared between the control thread and all workers; each member says who
// writes it.
struct shared_state {
    std::atomic<const snapshot*> published{nullptr};  // control: release store
    std::atomic<bool> stop{false};                     // control
    const route_table* routes = nullptr;               // control: its own RCU publication
    rte_rcu_qsbr* qsbr = nullptr;
    rte_ring* punt = nullptr;                          // workers -> control (MP/SC)
};

struct worker_params {
    unsigned id = 0;                  // 0..workers-1: RX/TX queue index and RCU thread id
    shared_state* shared = nullptr;
    worker_counters* counters = nullptr;
    rte_ring* inject = nullptr;       // control -> this worker (SP/SC); mbuf->port = TX port
    uint32_t idle_backoff_us = 0;
};

// A TX buffer for one (port, worker); TX failures are freed and counted in
// `dropped`. Control thread, when a port is added.
rte_eth_dev_tx_buffer* make_tx_buffer(int socket, counter* dropped);

// The lcore entry point (rte_eal_remote_launch); `arg` is a worker_params*.
int worker_main(void* arg);

// One burst through the pipeline, without RX: for golden tests and benchmarks
// that drive the real classification and forwarding on in-memory mbufs.
// Forwarded packets go to the TX buffers of `s`; call flush_all afterwards.
class worker {
public:
    explicit worker(const worker_params& p);
    void process(const snapshot& s, port_role role, uint16_t in_port, rte_mbuf** pkts, uint16_t n);
    void flush_all(const snapshot& s);
    int run();

private:
    template <port_role R>
    void process_burst(const snapshot& s, uint16_t in_port, rte_mbuf** pkts, uint16_t n);
    void route_one(const snapshot& s, rte_mbuf* m, bool found, uint32_t nh, uint16_t in_port, bool from_tunnel,
                   bool generated);
    void reroute(const snapshot& s, rte_mbuf* m, uint16_t in_port);
    void icmp_error(const snapshot& s, rte_mbuf* m, uint8_t type, uint8_t code, uint16_t mtu, uint16_t in_port,
                    bool generated);
    void tx(const snapshot& s, uint16_t port, rte_mbuf* m);
    void tx_host(const snapshot& s, rte_mbuf* m);
    void drop(rte_mbuf* m, drop_reason r);
    void punt(rte_mbuf* m, punt_kind k, uint32_t idx, uint16_t in_port);
    void drain_inject(const snapshot& s);

    worker_params p_;
    worker_counters& c_;
    uint64_t icmp_tokens_;
    uint64_t icmp_last_tsc_;
    uint64_t tsc_per_token_;
};

}  // namespace vxr::fastpath
