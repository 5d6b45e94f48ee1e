// vxr-pod: a reference DPDK pod for vxroute's vhost-user pod ports.
//
// One DPDK port (normally net_virtio_user in server mode: the pod owns the
// unix socket, vxrouted's net_vhost connects to it as a client and
// reconnects), one lcore, no threads. It answers ARP and ICMP echo for its
// own address (so `ping` works) and, by --mode:
//   send  UDP from --ip to --dst (destination port varying over --flows),
//         TSC-paced at --rate pps, until --count packets or --duration s;
//         counts the echoed replies (rx_matched) and the largest silence
//         between two replies (the outage a restart causes)
//   echo  swaps MACs/IPs/ports of UDP to --ip and sends it back (5tswap)
//   sink  counts
//   txonly, rxonly  benchmark generator / sink at full rate (pod_bench.hpp):
//         txonly sends 64-byte (--size) UDP to --dst-count destinations
//         --dst + i * --dst-step; with --wire NAME it counts what arrives on
//         that second port; rxonly counts what arrives and io-forwards port
//         --source NAME to --wire NAME. --pod-vdev DEVARGS hot-plugs the pod
//         port after the EAL ports started (a virtio-user server blocks until
//         its client connects; the client may need the other ports first).
// The MAC is the port's (virtio_user mac=...). The gateway MAC is --gw-mac
// (vxrouted's VTEP MAC) or, without it, learnt by ARP for --gw (vxrouted
// answers ARP for every address but the pod's own); sending waits for it.
// Stats: one JSON line to --stats, rewritten every 500 ms and at exit.
// SIGINT/SIGTERM or the end of a send run: final stats, exit 0 (a sender
// stops sending and still waits --wait-ms for replies in flight; a second
// signal ends it at once). The other side going away is normal: link down,
// packets not sent are counted.
//
// usage: vxr-pod <EAL args> -- --ip A --gw G [--gw-mac M] [--dst D] [--mode send|echo|sink]
//        [--count N] [--rate PPS] [--size BYTES] [--flows F] [--duration S]
//        [--wait-ms MS] [--delay-ms MS] [--stats FILE] [--port-base P]
//        [--dst-count N] [--dst-step S] [--wire DEV] [--source DEV] [--pod-vdev DEVARGS]
#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "pod_bench.hpp"

#include <arpa/inet.h>
#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr uint16_t k_burst = 32;
constexpr uint16_t k_ring = 512;            // descriptors: a few ms of traffic at test rates
constexpr unsigned k_mbufs = 4095;
constexpr unsigned k_bench_mbufs = 32767;   // bench: a net_pcap source holds its whole file (10,000) in mbufs
constexpr uint32_t k_magic = 0x76787270;    // "vxrp": marks our UDP payloads
constexpr uint16_t k_src_port_base = 10000;
constexpr unsigned k_idle_polls = 64;       // empty polls before sleeping (we share cores)
constexpr unsigned k_idle_sleep_us = 100;   // short enough for a 512-descriptor ring at 100 kpps
constexpr uint64_t k_stats_every_ms = 500;
constexpr uint64_t k_link_every_ms = 20;    // link poll: also when a virtio-user server accepts vxrouted's
                                            // (re)connection and notices a lost one
constexpr uint64_t k_arp_every_ms = 200;    // ARP for the gateway until it answers

enum class pod_mode { send, echo, sink, txonly, rxonly };

struct options {
    uint32_t ip_be = 0, gw_be = 0, dst_be = 0;
    rte_ether_addr gw_mac{};
    bool have_gw_mac = false;
    pod_mode mode = pod_mode::echo;
    uint64_t count = 0;          // 0 = no limit
    uint64_t rate = 1000;        // packets per second
    uint16_t size = 64;          // frame size without FCS
    uint16_t flows = 1;
    uint16_t port_base = 9000;   // destination ports port_base .. port_base+flows-1
    double duration = 0;         // seconds, 0 = no limit
    uint64_t wait_ms = 1000;     // send: how long to wait for the last replies
    uint64_t delay_ms = 0;       // send: wait after link up (the vhost side may still be enabling its queues)
    std::string stats;
    uint32_t dst_count = 1, dst_step = 1;  // txonly
    std::string wire, source, pod_vdev;     // txonly/rxonly: DPDK device names, hot-plugged pod port
    bool bench() const { return mode == pod_mode::txonly || mode == pod_mode::rxonly; }
};

struct counters {
    uint64_t sent = 0, tx = 0, rx = 0, rx_matched = 0, tx_dropped = 0, rx_other = 0;
    uint64_t rx_lost = 0, rx_reordered = 0;  // send: replies skipped / behind the newest one
    int64_t first_seq = -1, last_seq = -1;
    uint64_t arp_replies = 0, icmp_replies = 0, link_changes = 0;
    uint64_t first_reply_tsc = 0, last_reply_tsc = 0, max_gap_tsc = 0, max_gap_at_tsc = 0;
    uint64_t rtt_sum_tsc = 0, rtt_max_tsc = 0;
};

struct payload {  // at the start of the UDP payload of what we send
    uint32_t magic;
    uint32_t seq;
    uint64_t tsc;
} __attribute__((packed));

volatile sig_atomic_t g_stop = 0;  // signals received
volatile sig_atomic_t g_exit_at_once = 0;  // while blocked in a hot-plug probe: a signal ends us
void on_signal(int) {
    if (g_exit_at_once) _exit(1);
    g_stop = g_stop + 1;
}

[[noreturn]] __attribute__((format(printf, 1, 2))) void die(const char* fmt, ...) {
    std::va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "vxr-pod: ");
    std::vfprintf(stderr, fmt, ap);
    std::fprintf(stderr, "\n");
    va_end(ap);
    std::exit(2);
}

uint32_t parse_ip(const char* s) {
    in_addr a{};
    if (inet_pton(AF_INET, s, &a) != 1) die("not an IPv4 address: %s", s);
    return a.s_addr;  // network order
}

uint64_t parse_u64(const char* s) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(s, &end, 10);
    if (end == s || *end != '\0') die("not a number: %s", s);
    return v;
}

options parse_options(int argc, char** argv) {
    static const option longopts[] = {
        {"ip", required_argument, nullptr, 'i'},      {"gw", required_argument, nullptr, 'g'},
        {"gw-mac", required_argument, nullptr, 'G'},  {"dst", required_argument, nullptr, 'd'},
        {"mode", required_argument, nullptr, 'm'},    {"count", required_argument, nullptr, 'c'},
        {"rate", required_argument, nullptr, 'r'},    {"size", required_argument, nullptr, 's'},
        {"flows", required_argument, nullptr, 'f'},   {"duration", required_argument, nullptr, 'D'},
        {"stats", required_argument, nullptr, 'S'},   {"wait-ms", required_argument, nullptr, 'w'},
        {"port-base", required_argument, nullptr, 'p'}, {"delay-ms", required_argument, nullptr, 'L'},
        {"dst-count", required_argument, nullptr, 'N'}, {"dst-step", required_argument, nullptr, 'T'},
        {"wire", required_argument, nullptr, 'W'},     {"source", required_argument, nullptr, 'R'},
        {"pod-vdev", required_argument, nullptr, 'V'},
        {nullptr, 0, nullptr, 0}};
    options o;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, nullptr)) != -1) {
        switch (c) {
            case 'i': o.ip_be = parse_ip(optarg); break;
            case 'g': o.gw_be = parse_ip(optarg); break;
            case 'd': o.dst_be = parse_ip(optarg); break;
            case 'G':
                if (rte_ether_unformat_addr(optarg, &o.gw_mac) != 0) die("not a MAC address: %s", optarg);
                o.have_gw_mac = true;
                break;
            case 'm':
                if (std::strcmp(optarg, "send") == 0) o.mode = pod_mode::send;
                else if (std::strcmp(optarg, "echo") == 0) o.mode = pod_mode::echo;
                else if (std::strcmp(optarg, "sink") == 0) o.mode = pod_mode::sink;
                else if (std::strcmp(optarg, "txonly") == 0) o.mode = pod_mode::txonly;
                else if (std::strcmp(optarg, "rxonly") == 0) o.mode = pod_mode::rxonly;
                else die("--mode must be send, echo, sink, txonly or rxonly, not %s", optarg);
                break;
            case 'c': o.count = parse_u64(optarg); break;
            case 'r': o.rate = parse_u64(optarg); break;
            case 's': o.size = static_cast<uint16_t>(std::min<uint64_t>(parse_u64(optarg), 65535)); break;
            case 'f': o.flows = static_cast<uint16_t>(std::clamp<uint64_t>(parse_u64(optarg), 1, 65535)); break;
            case 'p': o.port_base = static_cast<uint16_t>(parse_u64(optarg)); break;
            case 'D': o.duration = std::atof(optarg); break;
            case 'w': o.wait_ms = parse_u64(optarg); break;
            case 'L': o.delay_ms = parse_u64(optarg); break;
            case 'S': o.stats = optarg; break;
            case 'N': o.dst_count = static_cast<uint32_t>(std::clamp<uint64_t>(parse_u64(optarg), 1, 1u << 20)); break;
            case 'T': o.dst_step = static_cast<uint32_t>(std::clamp<uint64_t>(parse_u64(optarg), 1, 1u << 24)); break;
            case 'W': o.wire = optarg; break;
            case 'R': o.source = optarg; break;
            case 'V': o.pod_vdev = optarg; break;
            default: die("unknown option (see the comment at the top of vxr_pod.cpp)");
        }
    }
    if (o.ip_be == 0) die("--ip is required");
    if (o.gw_be == 0 && !o.have_gw_mac) die("--gw or --gw-mac is required");
    if (o.mode == pod_mode::send) {
        if (o.dst_be == 0) die("--mode send needs --dst");
        if (o.rate == 0) die("--rate must be > 0");
        if (o.count == 0 && o.duration <= 0) die("--mode send needs --count or --duration");
    }
    if (o.mode == pod_mode::txonly && (o.dst_be == 0 || !o.have_gw_mac)) die("--mode txonly needs --dst and --gw-mac");
    if (!o.source.empty() && o.wire.empty()) die("--source needs --wire");
    if (!o.bench() && (!o.wire.empty() || !o.source.empty() || !o.pod_vdev.empty()))
        die("--wire, --source and --pod-vdev are for --mode txonly or rxonly");
    static_assert(sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + sizeof(payload) <=
                  RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN);
    if (o.size < RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN || o.size > RTE_ETHER_MAX_LEN - RTE_ETHER_CRC_LEN)
        die("--size must be 60..1514 bytes (a frame without FCS)");
    return o;
}

double tsc_ms(uint64_t tsc) { return 1e3 * static_cast<double>(tsc) / static_cast<double>(rte_get_tsc_hz()); }

// sent: UDP probes of a send run; tx: every frame (probes, echoes, ARP, ICMP).
void write_stats(const options& o, const counters& c, bool link_up, bool final) {
    if (o.stats.empty()) return;
    const std::string tmp = o.stats + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) return;
    const uint64_t replies = c.rx_matched ? c.rx_matched : 1;
    std::fprintf(f,
                 "{\"sent\":%lu,\"tx\":%lu,\"rx\":%lu,\"rx_matched\":%lu,\"tx_dropped\":%lu,\"rx_other\":%lu,"
                 "\"arp_replies\":%lu,\"icmp_replies\":%lu,\"link\":\"%s\",\"link_changes\":%lu,"
                 "\"max_gap_ms\":%.3f,\"max_gap_at_ms\":%.3f,\"reply_span_ms\":%.3f,"
                 "\"rtt_avg_us\":%.1f,\"rtt_max_us\":%.1f,\"first_seq\":%ld,\"last_seq\":%ld,\"rx_lost\":%lu,"
                 "\"rx_reordered\":%lu,\"final\":%s}\n",
                 c.sent, c.tx, c.rx, c.rx_matched, c.tx_dropped, c.rx_other, c.arp_replies, c.icmp_replies,
                 link_up ? "up" : "down", c.link_changes, tsc_ms(c.max_gap_tsc),
                 c.max_gap_at_tsc ? tsc_ms(c.max_gap_at_tsc - c.first_reply_tsc) : 0.0,
                 c.last_reply_tsc ? tsc_ms(c.last_reply_tsc - c.first_reply_tsc) : 0.0,
                 1e3 * tsc_ms(c.rtt_sum_tsc / replies), 1e3 * tsc_ms(c.rtt_max_tsc), c.first_seq, c.last_seq, c.rx_lost,
                 c.rx_reordered, final ? "true" : "false");
    std::fclose(f);
    std::rename(tmp.c_str(), o.stats.c_str());
}

// Swap source and destination MACs so the frame goes back where it came from;
// the source is ours.
void reply_l2(rte_ether_hdr* eth, const rte_ether_addr& our_mac) {
    eth->dst_addr = eth->src_addr;
    eth->src_addr = our_mac;
}

struct pod {
    options o;
    uint16_t port = 0;
    rte_mempool* pool = nullptr;
    rte_ether_addr mac{};
    counters c;
    uint64_t seq = 0;

    // ARP request for our IP -> reply in place (returns true to transmit m);
    // a reply from the gateway -> its MAC.
    bool handle_arp(rte_mbuf* m, rte_ether_hdr* eth) {
        if (m->data_len < sizeof(*eth) + sizeof(rte_arp_hdr)) return false;
        auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
        if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY) && arp->arp_data.arp_sip == o.gw_be &&
            !o.have_gw_mac) {
            o.gw_mac = arp->arp_data.arp_sha;
            o.have_gw_mac = true;
            std::fprintf(stderr, "vxr-pod: gateway MAC learnt by ARP\n");
            return false;
        }
        if (arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) || arp->arp_data.arp_tip != o.ip_be) return false;
        arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
        arp->arp_data.arp_tha = arp->arp_data.arp_sha;
        arp->arp_data.arp_tip = arp->arp_data.arp_sip;
        arp->arp_data.arp_sha = mac;
        arp->arp_data.arp_sip = o.ip_be;
        reply_l2(eth, mac);
        ++c.arp_replies;
        return true;
    }

    // IPv4 to us: ICMP echo request -> reply; UDP -> echo / match / count.
    bool handle_ipv4(rte_mbuf* m, rte_ether_hdr* eth, uint64_t now) {
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
        const size_t ihl = rte_ipv4_hdr_len(ip);
        if (m->data_len < sizeof(*eth) + ihl || ip->dst_addr != o.ip_be) return false;
        const size_t l4len = rte_be_to_cpu_16(ip->total_length) - ihl;
        uint8_t* l4 = reinterpret_cast<uint8_t*>(ip) + ihl;
        if (m->data_len < sizeof(*eth) + ihl + l4len) return false;
        if (ip->next_proto_id == IPPROTO_ICMP && l4len >= sizeof(rte_icmp_hdr)) {
            auto* icmp = reinterpret_cast<rte_icmp_hdr*>(l4);
            if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0) return false;
            icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
            icmp->icmp_cksum = 0;
            icmp->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(icmp, l4len));
            ++c.icmp_replies;
            return bounce_ip(eth, ip);
        }
        if (ip->next_proto_id != IPPROTO_UDP || l4len < sizeof(rte_udp_hdr)) return false;
        auto* udp = reinterpret_cast<rte_udp_hdr*>(l4);
        if (o.mode == pod_mode::echo) {
            const rte_be16_t sport = udp->src_port;  // the UDP checksum is symmetric in the ports
            udp->src_port = udp->dst_port;
            udp->dst_port = sport;
            return bounce_ip(eth, ip);
        }
        if (o.mode == pod_mode::send && ip->src_addr == o.dst_be && l4len >= sizeof(*udp) + sizeof(payload)) {
            const auto* pl = reinterpret_cast<const payload*>(udp + 1);
            if (pl->magic == k_magic) {
                ++c.rx_matched;
                const int64_t sq = pl->seq;
                if (c.first_seq < 0) c.first_seq = sq;
                if (sq > c.last_seq) {
                    if (c.last_seq >= 0) c.rx_lost += static_cast<uint64_t>(sq - c.last_seq - 1);
                    c.last_seq = sq;
                } else {
                    ++c.rx_reordered;
                }
                if (c.last_reply_tsc != 0 && now - c.last_reply_tsc > c.max_gap_tsc) {
                    c.max_gap_tsc = now - c.last_reply_tsc;
                    c.max_gap_at_tsc = c.last_reply_tsc;
                }
                if (c.first_reply_tsc == 0) c.first_reply_tsc = now;
                c.last_reply_tsc = now;
                const uint64_t rtt = now - pl->tsc;
                c.rtt_sum_tsc += rtt;
                c.rtt_max_tsc = std::max(c.rtt_max_tsc, rtt);
            }
        }
        return false;
    }

    // Send an IPv4 packet back to its source: swap addresses, fresh TTL.
    bool bounce_ip(rte_ether_hdr* eth, rte_ipv4_hdr* ip) {
        const rte_be32_t src = ip->src_addr;
        ip->src_addr = ip->dst_addr;
        ip->dst_addr = src;
        ip->time_to_live = 64;
        ip->hdr_checksum = 0;
        ip->hdr_checksum = rte_ipv4_cksum(ip);
        reply_l2(eth, mac);
        return true;
    }

    void rx_poll(uint64_t now, unsigned& got) {
        rte_mbuf* pkts[k_burst];
        rte_mbuf* out[k_burst];
        const uint16_t n = rte_eth_rx_burst(port, 0, pkts, k_burst);
        got = n;
        uint16_t nout = 0;
        for (uint16_t i = 0; i < n; ++i) {
            rte_mbuf* m = pkts[i];
            ++c.rx;
            bool send_back = false;
            if (m->data_len >= sizeof(rte_ether_hdr)) {
                auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
                if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) send_back = handle_arp(m, eth);
                else if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) send_back = handle_ipv4(m, eth, now);
                else ++c.rx_other;
            }
            if (send_back) out[nout++] = m;
            else rte_pktmbuf_free(m);
        }
        transmit(out, nout);
    }

    // A full ring (peer gone or not draining) drops and counts: never block.
    uint16_t transmit(rte_mbuf** pkts, uint16_t n) {
        if (n == 0) return 0;
        const uint16_t sent = rte_eth_tx_burst(port, 0, pkts, n);
        c.tx += sent;
        if (sent < n) {
            c.tx_dropped += n - sent;
            rte_pktmbuf_free_bulk(pkts + sent, n - sent);
        }
        return sent;
    }

    void send_arp_request() {
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        if (m == nullptr) return;
        auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
        auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
        rte_pktmbuf_append(m, RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN);
        std::memset(eth, 0, RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN);
        std::memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
        eth->src_addr = mac;
        eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
        arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
        arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
        arp->arp_hlen = RTE_ETHER_ADDR_LEN;
        arp->arp_plen = sizeof(uint32_t);
        arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
        arp->arp_data.arp_sha = mac;
        arp->arp_data.arp_sip = o.ip_be;
        arp->arp_data.arp_tip = o.gw_be;
        transmit(&m, 1);
    }

    rte_mbuf* build_udp(uint64_t now) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        if (m == nullptr) return nullptr;
        char* p = rte_pktmbuf_append(m, o.size);
        std::memset(p, 0, o.size);
        auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
        eth->dst_addr = o.gw_mac;
        eth->src_addr = mac;
        eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
        const uint16_t ip_len = static_cast<uint16_t>(o.size - sizeof(*eth));
        ip->version_ihl = RTE_IPV4_VHL_DEF;
        ip->total_length = rte_cpu_to_be_16(ip_len);
        ip->packet_id = rte_cpu_to_be_16(static_cast<uint16_t>(seq));
        ip->time_to_live = 64;
        ip->next_proto_id = IPPROTO_UDP;
        ip->src_addr = o.ip_be;
        ip->dst_addr = o.dst_be;
        ip->hdr_checksum = rte_ipv4_cksum(ip);
        auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
        const uint16_t flow = static_cast<uint16_t>(seq % o.flows);
        udp->src_port = rte_cpu_to_be_16(k_src_port_base);
        udp->dst_port = rte_cpu_to_be_16(static_cast<uint16_t>(o.port_base + flow));
        udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(ip_len - sizeof(*ip)));
        auto* pl = reinterpret_cast<payload*>(udp + 1);
        pl->magic = k_magic;
        pl->seq = static_cast<uint32_t>(seq);
        pl->tsc = now;
        udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
        ++seq;
        return m;
    }

    void print_link(bool up) {
        std::fprintf(stderr, "vxr-pod: link %s (%s)\n", up ? "up" : "down", mac_str().c_str());
    }

    std::string mac_str() const {
        char buf[RTE_ETHER_ADDR_FMT_SIZE];
        rte_ether_format_addr(buf, sizeof(buf), &mac);
        return buf;
    }
};

uint16_t port_by_name(const std::string& name) {
    uint16_t id = 0;
    if (name.empty()) return vxr::pod::k_no_port;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) die("no DPDK port named %s", name.c_str());
    return id;
}

// Every EAL port, then (--pod-vdev) the hot-plugged pod port. Without bench
// options there is exactly one port: the pod's.
int setup_ports(pod& p) {
    const options& o = p.o;
    const unsigned want = o.pod_vdev.empty() ? 1 : 0;
    const unsigned extra = (o.wire.empty() ? 0 : 1) + (o.source.empty() ? 0 : 1);
    if (rte_eth_dev_count_avail() != want + extra) {
        std::fprintf(stderr, "vxr-pod: want %u DPDK port(s) from EAL (e.g. --vdev net_virtio_user0,path=SOCK,server=1), "
                             "have %u\n", want + extra, rte_eth_dev_count_avail());
        return -1;
    }
    p.pool = rte_pktmbuf_pool_create("vxr_pod_mbufs", o.bench() ? k_bench_mbufs : k_mbufs, 128, 0,
                                     RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
    if (p.pool == nullptr) {
        std::fprintf(stderr, "vxr-pod: cannot create mbuf pool: %s\n", rte_strerror(rte_errno));
        return -1;
    }
    uint16_t port = 0;
    RTE_ETH_FOREACH_DEV(port) {
        if (vxr::pod::start_port(port, p.pool, k_ring) != 0) return -1;
    }
    const uint16_t wire = port_by_name(o.wire), source = port_by_name(o.source);
    if (o.pod_vdev.empty()) {
        RTE_ETH_FOREACH_DEV(port) {
            if (port != wire && port != source) p.port = port;
        }
    } else {
        g_exit_at_once = 1;  // a virtio-user server blocks in the probe until its client connects
        const int rc = vxr::pod::hotplug_port(o.pod_vdev, o.stats, p.port);
        g_exit_at_once = 0;
        if (rc != 0 || vxr::pod::start_port(p.port, p.pool, k_ring) != 0) return -1;
    }
    rte_eth_macaddr_get(p.port, &p.mac);
    return 0;
}

int run_bench(pod& p) {
    const options& o = p.o;
    const vxr::pod::bench_config cfg{
        .txonly = o.mode == pod_mode::txonly, .pod_port = p.port, .wire_port = port_by_name(o.wire),
        .source_port = port_by_name(o.source), .pool = p.pool, .src_mac = p.mac, .dst_mac = o.gw_mac,
        .src_ip_be = o.ip_be, .dst_base_be = o.dst_be, .dst_count = o.dst_count, .dst_step = o.dst_step,
        .size = o.size, .flows = o.flows, .port_base = o.port_base, .stats = o.stats, .stop = &g_stop};
    return vxr::pod::run_bench(cfg);
}

int run(pod& p) {
    const options& o = p.o;
    const uint64_t hz = rte_get_tsc_hz();
    const uint64_t ms = hz / 1000;
    const uint64_t period = std::max<uint64_t>(1, hz / o.rate);
    uint64_t now = rte_rdtsc();
    uint64_t next_link = 0, next_stats = now + k_stats_every_ms * ms, next_arp = 0;
    uint64_t next_tx = 0, send_until = 0, done_at = 0;
    bool link_up = false;
    unsigned idle = 0;
    std::fprintf(stderr, "vxr-pod: port %u mac %s, mode %s, waiting for the link\n", p.port, p.mac_str().c_str(),
                 o.mode == pod_mode::send ? "send" : o.mode == pod_mode::echo ? "echo" : "sink");
    while (g_stop < 2) {
        now = rte_rdtsc();
        if (g_stop) {
            if (o.mode != pod_mode::send) break;
            if (done_at == 0) done_at = now;  // stop sending, collect what is in flight
        }
        if (now >= next_link) {
            rte_eth_link link{};
            rte_eth_link_get_nowait(p.port, &link);
            if (static_cast<bool>(link.link_status) != link_up) {
                link_up = link.link_status;
                ++p.c.link_changes;
                p.print_link(link_up);
                write_stats(o, p.c, link_up, false);
                if (link_up && next_tx == 0) {  // the first time up: the send run starts
                    next_tx = now + o.delay_ms * ms;
                    if (o.duration > 0)
                        send_until = next_tx + static_cast<uint64_t>(o.duration * static_cast<double>(hz));
                }
            }
            next_link = now + k_link_every_ms * ms;
        }
        unsigned got = 0;
        p.rx_poll(now, got);
        bool sent_any = false;
        if (link_up && !o.have_gw_mac && now >= next_arp) {
            p.send_arp_request();
            next_arp = now + k_arp_every_ms * ms;
        }
        if (o.mode == pod_mode::send && next_tx != 0 && done_at == 0) {
            const bool finished = (o.count && p.seq >= o.count) || (send_until && now >= send_until);
            if (finished) {
                done_at = now;
            } else if (link_up && o.have_gw_mac && now >= next_tx) {  // a down link pauses sending
                // Behind by more than a burst (link was down, we slept): skip ahead, no catch-up storm.
                if (now - next_tx > k_burst * period) next_tx = now - k_burst * period;
                rte_mbuf* out[k_burst];
                uint16_t n = 0;
                while (n < k_burst && next_tx <= now && !(o.count && p.seq >= o.count)) {
                    rte_mbuf* m = p.build_udp(now);
                    if (m == nullptr) break;
                    out[n++] = m;
                    next_tx += period;
                }
                p.c.sent += p.transmit(out, n);
                sent_any = n > 0;
            }
        }
        if (done_at && now - done_at >= o.wait_ms * ms) break;
        if (now >= next_stats) {
            write_stats(o, p.c, link_up, false);
            next_stats = now + k_stats_every_ms * ms;
        }
        if (got || sent_any) {
            idle = 0;
        } else if (++idle >= k_idle_polls) {
            // Sleep: until the next packet is due (send), else a short nap.
            uint64_t us = k_idle_sleep_us;
            if (o.mode == pod_mode::send && link_up && next_tx > now)
                us = std::min<uint64_t>(us, (next_tx - now) * 1000000 / hz);
            if (us) rte_delay_us_sleep(static_cast<unsigned>(us));
        }
    }
    write_stats(o, p.c, link_up, true);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // Our options first: a bad command line must fail before EAL creates the
    // vhost-user socket (a stale socket is what the other side would find).
    int sep = 1;
    while (sep < argc && std::strcmp(argv[sep], "--") != 0) ++sep;
    pod p;
    if (sep < argc) {
        argv[sep] = argv[0];  // getopt wants a program name in front; EAL never sees it
        p.o = parse_options(argc - sep, argv + sep);
    } else {
        char* none[] = {argv[0], nullptr};
        p.o = parse_options(1, none);
    }
    std::signal(SIGPIPE, SIG_IGN);  // the vhost-user peer closing its socket must not kill us
    // A virtio-user server blocks in EAL init (accept) until vxrouted first
    // connects; SIGINT/SIGTERM keep their default action (exit) until then.
    if (rte_eal_init(sep, argv) < 0) {
        std::fprintf(stderr, "vxr-pod: EAL init failed: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    if (setup_ports(p) != 0) {
        rte_eal_cleanup();
        return 1;
    }
    const int rc = p.o.bench() ? run_bench(p) : run(p);
    std::fprintf(stderr, "vxr-pod: sent %lu tx %lu rx %lu rx_matched %lu tx_dropped %lu lost %lu\n", p.c.sent, p.c.tx,
                 p.c.rx, p.c.rx_matched, p.c.tx_dropped, p.c.rx_lost);
    uint16_t port = 0;
    RTE_ETH_FOREACH_DEV(port) {
        rte_eth_dev_stop(port);
        rte_eth_dev_close(port);
    }
    rte_eal_cleanup();
    return rc;
}
