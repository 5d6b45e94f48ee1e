// vxr-pod's benchmark modes (bench/harness: the vhost-user cases).
//
// One lcore polls everything, so that generator and sink take turns packet
// burst by packet burst on one shared CPU (two busy-polling processes on one
// CPU would take turns by scheduler slices of milliseconds, far longer than
// any ring holds):
//   txonly  sends a table of pre-built frames (one per destination; built
//           once, copied per packet) on the pod port as fast as its TX ring
//           takes them; what the ring refuses is kept and offered again, so
//           the generator never builds what it cannot send. Counts what
//           arrives on the wire port (the sink).
//   rxonly  counts what arrives on the pod port; io-forwards the source port
//           (e.g. net_pcap infinite_rx) to the wire port (the generator).
// Stats: one JSON line every 100 ms with CLOCK_MONOTONIC seconds, so that a
// reader computes exact rates from two snapshots.
#pragma once

#include <rte_ether.h>
#include <rte_mempool.h>

#include <csignal>
#include <cstdint>
#include <string>

namespace vxr::pod {

constexpr uint16_t k_no_port = UINT16_MAX;

struct bench_config {
    bool txonly = true;                 // else rxonly
    uint16_t pod_port = 0;              // the pod's own port (virtio-user)
    uint16_t wire_port = k_no_port;     // txonly: sink; rxonly: where the source goes
    uint16_t source_port = k_no_port;   // rxonly: generator input
    rte_mempool* pool = nullptr;
    // txonly frames: UDP from src to dst_base + i * dst_step (i < dst_count,
    // shuffled with a fixed seed), destination ports port_base + i % flows.
    rte_ether_addr src_mac{}, dst_mac{};
    uint32_t src_ip_be = 0, dst_base_be = 0;
    uint32_t dst_count = 1, dst_step = 1;
    uint16_t size = 60, flows = 1, port_base = 9000;
    std::string stats;
    const volatile sig_atomic_t* stop = nullptr;
};

// Runs until *stop; returns 0, or 1 when the frames cannot be built.
int run_bench(const bench_config& cfg);

// One RX and one TX queue of `ring` descriptors, started; 0 or -1 (logged).
int start_port(uint16_t port, rte_mempool* pool, uint16_t ring);

// rte_dev_probe(devargs) (blocks: a virtio-user server waits for its
// client), after writing a "waiting" line to `stats` so that a harness knows
// the ports already started accept their peers. 0 and `port`, or -1 (logged).
int hotplug_port(const std::string& devargs, const std::string& stats, uint16_t& port);

}  // namespace vxr::pod
