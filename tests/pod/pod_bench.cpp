// vxr-pod's benchmark modes; see pod_bench.hpp. A test tool's single lcore:
// allocation and file writes happen only before the loop and in the 100 ms
// stats tick.
#include "pod_bench.hpp"

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <numeric>
#include <random>
#include <vector>

namespace vxr::pod {
namespace {

constexpr uint16_t k_burst = 32;
constexpr uint64_t k_stats_every_ms = 100;  // rate windows of seconds: 100 ms snapshots are plenty
constexpr uint64_t k_link_every_ms = 20;
constexpr uint16_t k_src_port = 10000;

struct bench_counters {
    uint64_t tx = 0, tx_full = 0;           // pod port: frames sent; bursts the ring did not take whole
    uint64_t rx = 0;                        // pod port: frames received
    uint64_t wire_rx = 0;                   // wire port: frames received (txonly: the sink)
    uint64_t source_rx = 0, injected = 0;   // rxonly: frames read from the source, sent on the wire port
    uint64_t link_changes = 0;
};

double monotonic_s() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

void write_stats(const bench_config& cfg, const bench_counters& c, bool link_up, bool final) {
    if (cfg.stats.empty()) return;
    const std::string tmp = cfg.stats + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) return;
    std::fprintf(f,
                 "{\"mode\":\"%s\",\"time_s\":%.6f,\"link\":\"%s\",\"link_changes\":%lu,\"tx\":%lu,\"tx_full\":%lu,"
                 "\"rx\":%lu,\"wire_rx\":%lu,\"source_rx\":%lu,\"injected\":%lu,\"tsc_hz\":%lu,\"final\":%s}\n",
                 cfg.txonly ? "txonly" : "rxonly", monotonic_s(), link_up ? "up" : "down", c.link_changes, c.tx,
                 c.tx_full, c.rx, c.wire_rx, c.source_rx, c.injected, rte_get_tsc_hz(), final ? "true" : "false");
    std::fclose(f);
    std::rename(tmp.c_str(), cfg.stats.c_str());
}

// One complete frame per destination, checksums included: per packet the
// generator only copies cfg.size bytes.
std::vector<uint8_t> build_frames(const bench_config& cfg, size_t& count) {
    count = std::max<size_t>(cfg.dst_count, cfg.flows);
    std::vector<uint32_t> order(cfg.dst_count);
    std::iota(order.begin(), order.end(), 0u);
    std::mt19937 rng(7);  // fixed: every run sends the same sequence
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<uint8_t> frames(count * cfg.size, 0);
    const uint32_t base = rte_be_to_cpu_32(cfg.dst_base_be);
    for (size_t i = 0; i < count; ++i) {
        uint8_t* p = frames.data() + i * cfg.size;
        auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
        eth->dst_addr = cfg.dst_mac;
        eth->src_addr = cfg.src_mac;
        eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
        const auto ip_len = static_cast<uint16_t>(cfg.size - sizeof(*eth));
        ip->version_ihl = RTE_IPV4_VHL_DEF;
        ip->total_length = rte_cpu_to_be_16(ip_len);
        ip->packet_id = rte_cpu_to_be_16(static_cast<uint16_t>(i));
        ip->time_to_live = 64;
        ip->next_proto_id = IPPROTO_UDP;
        ip->src_addr = cfg.src_ip_be;
        ip->dst_addr = rte_cpu_to_be_32(base + order[i % cfg.dst_count] * cfg.dst_step);
        ip->hdr_checksum = rte_ipv4_cksum(ip);
        auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
        udp->src_port = rte_cpu_to_be_16(k_src_port);
        udp->dst_port = rte_cpu_to_be_16(static_cast<uint16_t>(cfg.port_base + i % cfg.flows));
        udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(ip_len - sizeof(*ip)));
        udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
    }
    return frames;
}

// Received bursts are only counted.
uint16_t drain(uint16_t port) {
    rte_mbuf* pkts[k_burst];
    const uint16_t n = rte_eth_rx_burst(port, 0, pkts, k_burst);
    if (n) rte_pktmbuf_free_bulk(pkts, n);
    return n;
}

// A burst the TX ring did not take whole: the rest stays for the next call.
struct pending_burst {
    rte_mbuf* pkts[k_burst];
    uint16_t n = 0;

    uint16_t send(uint16_t port) {
        if (n == 0) return 0;
        const uint16_t sent = rte_eth_tx_burst(port, 0, pkts, n);
        if (sent && sent < n) std::memmove(pkts, pkts + sent, (n - sent) * sizeof(pkts[0]));
        n = static_cast<uint16_t>(n - sent);
        return sent;
    }

    void drop() {
        if (n) rte_pktmbuf_free_bulk(pkts, n);
        n = 0;
    }
};

}  // namespace

int start_port(uint16_t port, rte_mempool* pool, uint16_t ring) {
    rte_eth_conf conf{};
    int rc;
    if ((rc = rte_eth_dev_configure(port, 1, 1, &conf)) != 0 ||
        (rc = rte_eth_rx_queue_setup(port, 0, ring, rte_eth_dev_socket_id(port), nullptr, pool)) != 0 ||
        (rc = rte_eth_tx_queue_setup(port, 0, ring, rte_eth_dev_socket_id(port), nullptr)) != 0 ||
        (rc = rte_eth_dev_start(port)) != 0) {
        std::fprintf(stderr, "vxr-pod: port %u setup failed: %s\n", port, rte_strerror(-rc));
        return -1;
    }
    return 0;
}

int hotplug_port(const std::string& devargs, const std::string& stats, uint16_t& port) {
    if (!stats.empty()) {
        const std::string tmp = stats + ".tmp";
        if (FILE* f = std::fopen(tmp.c_str(), "w")) {
            std::fprintf(f, "{\"phase\":\"waiting\",\"link\":\"down\"}\n");
            std::fclose(f);
            std::rename(tmp.c_str(), stats.c_str());
        }
    }
    std::fprintf(stderr, "vxr-pod: other ports started; hot-plugging %s\n", devargs.c_str());
    if (rte_dev_probe(devargs.c_str()) != 0) {
        std::fprintf(stderr, "vxr-pod: cannot probe %s\n", devargs.c_str());
        return -1;
    }
    const std::string name = devargs.substr(0, devargs.find(','));
    if (rte_eth_dev_get_port_by_name(name.c_str(), &port) != 0) {
        std::fprintf(stderr, "vxr-pod: %s probed but no port named %s\n", devargs.c_str(), name.c_str());
        return -1;
    }
    return 0;
}

int run_bench(const bench_config& cfg) {
    size_t count = 0;
    std::vector<uint8_t> frames;
    if (cfg.txonly) {
        frames = build_frames(cfg, count);
        if (count == 0) return 1;
    }
    const uint64_t ms = rte_get_tsc_hz() / 1000;
    bench_counters c;
    pending_burst out, inject;
    size_t next_frame = 0;
    bool link_up = false;
    uint64_t next_link = 0, next_stats = 0;
    std::fprintf(stderr, "vxr-pod: bench %s, pod port %u, wire port %d, source port %d, %zu frames\n",
                 cfg.txonly ? "txonly" : "rxonly", cfg.pod_port,
                 cfg.wire_port == k_no_port ? -1 : cfg.wire_port, cfg.source_port == k_no_port ? -1 : cfg.source_port,
                 count);
    while (*cfg.stop == 0) {
        const uint64_t now = rte_rdtsc();
        if (now >= next_link) {
            rte_eth_link link{};
            rte_eth_link_get_nowait(cfg.pod_port, &link);
            if (static_cast<bool>(link.link_status) != link_up) {
                link_up = link.link_status;
                ++c.link_changes;
                std::fprintf(stderr, "vxr-pod: link %s\n", link_up ? "up" : "down");
            }
            next_link = now + k_link_every_ms * ms;
        }
        if (now >= next_stats) {
            write_stats(cfg, c, link_up, false);
            next_stats = now + k_stats_every_ms * ms;
        }
        c.rx += drain(cfg.pod_port);
        if (cfg.wire_port != k_no_port) c.wire_rx += drain(cfg.wire_port);
        if (cfg.txonly && link_up) {
            if (out.n < k_burst) {
                const auto want = static_cast<uint16_t>(k_burst - out.n);
                if (rte_pktmbuf_alloc_bulk(cfg.pool, out.pkts + out.n, want) == 0) {
                    for (uint16_t i = out.n; i < k_burst; ++i) {
                        rte_mbuf* m = out.pkts[i];
                        rte_memcpy(rte_pktmbuf_mtod(m, void*), frames.data() + next_frame * cfg.size, cfg.size);
                        m->data_len = cfg.size;
                        m->pkt_len = cfg.size;
                        if (++next_frame == count) next_frame = 0;
                    }
                    out.n = k_burst;
                }
            }
            const uint16_t sent = out.send(cfg.pod_port);
            c.tx += sent;
            if (out.n) ++c.tx_full;
        }
        if (!cfg.txonly && cfg.source_port != k_no_port && cfg.wire_port != k_no_port) {
            if (inject.n == 0) {
                inject.n = rte_eth_rx_burst(cfg.source_port, 0, inject.pkts, k_burst);
                c.source_rx += inject.n;
            }
            c.injected += inject.send(cfg.wire_port);
        }
    }
    out.drop();
    inject.drop();
    write_stats(cfg, c, link_up, true);
    std::fprintf(stderr, "vxr-pod: bench tx %lu rx %lu wire_rx %lu injected %lu\n", c.tx, c.rx, c.wire_rx,
                 c.injected);
    return 0;
}

}  // namespace vxr::pod
