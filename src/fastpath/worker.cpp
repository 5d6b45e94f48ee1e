// Thread: worker lcores. No locks, heap allocation, syscalls (bar the opt-in
// idle backoff), logging or exceptions here (DESIGN.md 3).
#include "fastpath/worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_fib.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "encap/arp.hpp"
#include "encap/icmp.hpp"
#include "encap/ipv4.hpp"
#include "encap/vxlan.hpp"

namespace vxr::fastpath {

namespace {
constexpr uint16_t k_burst = 32;
constexpr uint64_t k_drain_us = 100;          // l3fwd's TX drain period: bounds latency at low rates
constexpr uint32_t k_idle_polls_before_sleep = 1024;  // ~tens of us of empty polls before backing off
constexpr uint64_t k_icmp_per_second = 1000;  // RFC 1812 4.3.2.8: rate-limit ICMP errors
constexpr uint64_t k_icmp_burst = 100;
constexpr int k_prefetch_ahead = 4;

drop_reason ipv4_drop(encap::ipv4_check c) {
    switch (c) {
        case encap::ipv4_check::truncated: return drop_reason::ipv4_truncated;
        case encap::ipv4_check::bad_version: return drop_reason::ipv4_bad_version;
        case encap::ipv4_check::bad_ihl: return drop_reason::ipv4_bad_ihl;
        case encap::ipv4_check::bad_length: return drop_reason::ipv4_bad_length;
        default: return drop_reason::ipv4_bad_checksum;
    }
}

drop_reason vxlan_drop(encap::vxlan_status s) {
    switch (s) {
        case encap::vxlan_status::outer_fragment: return drop_reason::vxlan_outer_fragment;
        case encap::vxlan_status::bad_udp_length: return drop_reason::vxlan_bad_udp_length;
        case encap::vxlan_status::bad_udp_checksum: return drop_reason::vxlan_bad_udp_checksum;
        case encap::vxlan_status::bad_flags: return drop_reason::vxlan_bad_flags;
        case encap::vxlan_status::wrong_vni: return drop_reason::vxlan_wrong_vni;
        case encap::vxlan_status::wrong_inner_mac: return drop_reason::vxlan_wrong_inner_mac;
        case encap::vxlan_status::inner_not_ipv4: return drop_reason::vxlan_inner_not_ipv4;
        default: return drop_reason::vxlan_truncated;
    }
}

inline rte_ipv4_hdr* ip_of(rte_mbuf* m) { return rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr)); }

inline bool is_unicast_ip(rte_be32_t a) {
    const uint32_t h = rte_be_to_cpu_32(a);
    return h != 0xffffffff && (h >> 28) != 0xe;
}

// Ethernet padding and anything past the IPv4 packet is not ours to forward.
inline void trim_to_ip(rte_mbuf* m, const rte_ipv4_hdr* ip) {
    const uint32_t want = sizeof(rte_ether_hdr) + rte_be_to_cpu_16(ip->total_length);
    if (rte_pktmbuf_pkt_len(m) > want) rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - want));
}

void tx_error_cb(rte_mbuf** unsent, uint16_t count, void* userdata) {
    rte_pktmbuf_free_bulk(unsent, count);
    static_cast<counter*>(userdata)->add(count);
}
}  // namespace

rte_eth_dev_tx_buffer* make_tx_buffer(int socket, counter* dropped) {
    auto* b = static_cast<rte_eth_dev_tx_buffer*>(
        rte_zmalloc_socket("vxr_txb", RTE_ETH_TX_BUFFER_SIZE(k_burst), RTE_CACHE_LINE_SIZE, socket));
    if (b == nullptr) return nullptr;
    rte_eth_tx_buffer_init(b, k_burst);
    rte_eth_tx_buffer_set_err_callback(b, tx_error_cb, dropped);
    return b;
}

worker::worker(const worker_params& p)
    : p_(p),
      c_(*p.counters),
      icmp_tokens_(k_icmp_burst),
      icmp_last_tsc_(rte_rdtsc()),
      tsc_per_token_(rte_get_tsc_hz() / k_icmp_per_second) {}

void worker::drop(rte_mbuf* m, drop_reason r) {
    c_.drop(r);
    rte_pktmbuf_free(m);
}

void worker::tx(const snapshot& s, uint16_t port, rte_mbuf* m) {
    rte_eth_dev_tx_buffer* b = port < RTE_MAX_ETHPORTS ? s.ports[port].txb[p_.id] : nullptr;
    if (unlikely(b == nullptr)) return drop(m, drop_reason::stale_port);
    auto& pc = c_.ports[port];
    pc.tx_packets.add();
    pc.tx_bytes.add(rte_pktmbuf_pkt_len(m));
    rte_eth_tx_buffer(port, static_cast<uint16_t>(p_.id), b, m);
}

void worker::punt(rte_mbuf* m, punt_kind k, uint32_t idx, uint16_t in_port) {
    m->hash.usr = punt_tag(k, idx);
    m->port = in_port;
    if (unlikely(rte_ring_mp_enqueue(p_.shared->punt, m) != 0)) return drop(m, drop_reason::punt_full);
    c_.punted.add();
}

void worker::flush_all(const snapshot& s) {
    for (uint16_t port = 0; port < RTE_MAX_ETHPORTS; ++port) {
        rte_eth_dev_tx_buffer* b = s.ports[port].txb[p_.id];
        if (b != nullptr && b->length != 0) rte_eth_tx_buffer_flush(port, static_cast<uint16_t>(p_.id), b);
    }
}

void worker::icmp_error(const snapshot& s, rte_mbuf* m, uint8_t type, uint8_t code, uint16_t mtu, uint16_t in_port,
                        bool generated) {
    if (generated || !encap::icmp_error_allowed(ip_of(m))) return drop(m, drop_reason::icmp_not_allowed);
    const uint64_t now = rte_rdtsc();
    const uint64_t earned = (now - icmp_last_tsc_) / tsc_per_token_;
    if (earned != 0) {
        icmp_tokens_ = RTE_MIN(k_icmp_burst, icmp_tokens_ + earned);
        icmp_last_tsc_ += earned * tsc_per_token_;
    }
    if (icmp_tokens_ == 0) return drop(m, drop_reason::icmp_rate_limited);
    --icmp_tokens_;
    if (!encap::icmp_error_in_place(m, type, code, mtu, s.gateway_ip_be)) return drop(m, drop_reason::no_headroom);
    c_.icmp_sent.add();
    reroute(s, m, in_port);
}

// A packet we originated (ICMP) goes through the routing step once, marked so
// that it can never cause another ICMP error.
void worker::reroute(const snapshot& s, rte_mbuf* m, uint16_t in_port) {
    const auto nh = p_.shared->routes->lookup(ipv4_addr{rte_be_to_cpu_32(ip_of(m)->dst_addr)});
    route_one(s, m, nh.has_value(), nh.value_or(0), in_port, false, true);
}

void worker::route_one(const snapshot& s, rte_mbuf* m, bool found, uint32_t nh_idx, uint16_t in_port,
                       bool from_tunnel, bool generated) {
    if (unlikely(!found || nh_idx >= s.nexthops.size())) return drop(m, drop_reason::no_route);
    const nexthop& nh = s.nexthops[nh_idx];
    rte_ipv4_hdr* ip = ip_of(m);
    if (nh.kind == nh_kind::self) {
        if (!generated && encap::icmp_echo_reply_in_place(m)) return reroute(s, m, in_port);
        return drop(m, drop_reason::no_route);
    }
    if (unlikely(ip->time_to_live <= 1))
        return icmp_error(s, m, encap::k_icmp_time_exceeded, 0, 0, in_port, generated);
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    switch (nh.kind) {
        case nh_kind::pod:
        case nh_kind::host:
            if (nh.kind == nh_kind::host && s.host_port == RTE_MAX_ETHPORTS)
                return drop(m, drop_reason::no_host_port);
            if (!generated) encap::ipv4_dec_ttl(ip);
            eth->dst_addr = nh.mac;
            eth->src_addr = s.gateway_mac;
            (nh.kind == nh_kind::pod ? c_.routed_local : c_.to_host).add();
            return tx(s, nh.port, m);
        case nh_kind::peer: {
            if (from_tunnel) return drop(m, drop_reason::hairpin);
            if (unlikely(rte_be_to_cpu_16(ip->total_length) > s.pod_mtu)) {
                if (encap::ipv4_df(ip))
                    return icmp_error(s, m, encap::k_icmp_dest_unreach, encap::k_icmp_code_frag_needed, s.pod_mtu,
                                      in_port, generated);
                return drop(m, drop_reason::too_big);
            }
            if (!generated) encap::ipv4_dec_ttl(ip);
            const peer_entry& pe = s.peers[nh.peer];
            if (unlikely(!encap::vxlan_encap(m, pe.tmpl, encap::flow_src_port(ip))))
                return drop(m, drop_reason::no_headroom);
            c_.encapsulated.add();
            if (unlikely(!pe.resolved)) return punt(m, punt_kind::neighbor_wait, pe.neighbor, in_port);
            return tx(s, s.uplink_port, m);
        }
        default:
            return drop(m, drop_reason::no_route);
    }
}

template <port_role R>
void worker::process_burst(const snapshot& s, uint16_t in_port, rte_mbuf** pkts, uint16_t n) {
    rte_mbuf* routed[k_burst];
    uint32_t dst[k_burst];
    uint64_t hop[k_burst];
    bool direct[k_burst];  // uplink: routed unencapsulated (DirectRouting) rather than decapsulated
    uint16_t nr = 0;
    const port_entry& pe = s.ports[in_port];

    for (int i = 0; i < k_prefetch_ahead && i < n; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
    for (uint16_t i = 0; i < n; ++i) {
        if (i + k_prefetch_ahead < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + k_prefetch_ahead], void*));
        rte_mbuf* m = pkts[i];
        auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
        const uint32_t len = rte_pktmbuf_data_len(m);
        if (unlikely(len < sizeof(rte_ether_hdr))) { drop(m, drop_reason::ipv4_truncated); continue; }
        const rte_be16_t type = eth->ether_type;

        if constexpr (R == port_role::uplink) {
            if (!rte_is_same_ether_addr(&eth->dst_addr, &pe.mac) && !rte_is_multicast_ether_addr(&eth->dst_addr)) {
                drop(m, drop_reason::not_for_us);
                continue;
            }
            if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) { punt(m, punt_kind::arp, 0, in_port); continue; }
            if (type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) { tx_host(s, m); continue; }
            auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
            const auto chk = encap::check_ipv4(ip, len - sizeof(rte_ether_hdr), encap::rx_outer_ip_flags(m));
            if (unlikely(chk != encap::ipv4_check::ok)) { drop(m, ipv4_drop(chk)); continue; }
            if (ip->dst_addr != s.node_ip_be) {
                // A flannel peer with DirectRouting on our L2 sends pod traffic
                // unencapsulated to our MAC; the burst's one bulk lookup decides
                // (a local pod: routed; anything else: the node's).
                trim_to_ip(m, ip);
                direct[nr] = true;
                routed[nr] = m;
                dst[nr++] = rte_be_to_cpu_32(ip->dst_addr);
                continue;
            }
            if (ip->next_proto_id != IPPROTO_UDP) { tx_host(s, m); continue; }
            trim_to_ip(m, ip);
            const auto r = encap::vxlan_parse(m, s.udp_port_be, s.vni_be, s.vtep_mac);
            if (r.status == encap::vxlan_status::not_vxlan) { tx_host(s, m); continue; }
            if (unlikely(r.status == encap::vxlan_status::wrong_inner_mac)) {
                // Dropped, and shown to the control thread so that the operator
                // sees which peer holds a stale VTEP MAC for us.
                c_.drop(drop_reason::vxlan_wrong_inner_mac);
                m->hash.usr = punt_tag(punt_kind::stale_mac, 0);
                m->port = in_port;
                if (rte_ring_mp_enqueue(p_.shared->punt, m) != 0)
                    rte_pktmbuf_free(m);  // already counted as a drop; the report is best effort
                else
                    c_.punted.add();
                continue;
            }
            if (unlikely(r.status != encap::vxlan_status::ok)) { drop(m, vxlan_drop(r.status)); continue; }
            rte_pktmbuf_adj(m, r.outer_len);
            c_.decapsulated.add();
            direct[nr] = false;
            auto* inner = ip_of(m);
            const auto ichk = encap::check_ipv4(inner, rte_pktmbuf_data_len(m) - sizeof(rte_ether_hdr),
                                                  encap::rx_inner_ip_flags(m));
            if (unlikely(ichk != encap::ipv4_check::ok)) { drop(m, ipv4_drop(ichk)); continue; }
            trim_to_ip(m, inner);
            routed[nr] = m;
            dst[nr++] = rte_be_to_cpu_32(inner->dst_addr);
        } else {
            if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
                rte_arp_hdr* arp = encap::arp_parse(m);
                if constexpr (R == port_role::host) {
                    // The node kernel resolves its own underlay neighbours.
                    if (arp == nullptr || arp->arp_data.arp_tip != s.gateway_ip_be) {
                        c_.from_host.add();
                        tx(s, s.uplink_port, m);
                        continue;
                    }
                }
                // Pods see the gateway answer for every address but their own
                // (proxy ARP), so any on-link prefix length routes through us.
                if (arp == nullptr || arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
                    arp->arp_data.arp_tip == arp->arp_data.arp_sip || arp->arp_data.arp_tip == pe.pod_ip_be) {
                    drop(m, drop_reason::arp_ignored);
                    continue;
                }
                encap::arp_reply_in_place(m, arp, s.gateway_mac);
                c_.arp_replied.add();
                tx(s, in_port, m);
                continue;
            }
            if constexpr (R == port_role::host) {
                // Only what the kernel routed to our gateway is ours; the rest
                // is the node's own underlay traffic.
                if (type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
                    !rte_is_same_ether_addr(&eth->dst_addr, &s.gateway_mac)) {
                    c_.from_host.add();
                    tx(s, s.uplink_port, m);
                    continue;
                }
            }
            if (type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) { drop(m, drop_reason::unsupported_ethertype); continue; }
            auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
            const auto chk = encap::check_ipv4(ip, len - sizeof(rte_ether_hdr), m->ol_flags);
            if (unlikely(chk != encap::ipv4_check::ok)) { drop(m, ipv4_drop(chk)); continue; }
            if constexpr (R == port_role::pod) {
                if (unlikely(ip->src_addr != pe.pod_ip_be)) { drop(m, drop_reason::pod_spoofed_source); continue; }
            }
            if (unlikely(!is_unicast_ip(ip->dst_addr))) { drop(m, drop_reason::ipv4_not_unicast); continue; }
            trim_to_ip(m, ip);
            routed[nr] = m;
            dst[nr++] = rte_be_to_cpu_32(ip->dst_addr);
        }
    }
    if (nr == 0) return;
    rte_fib_lookup_bulk(p_.shared->routes->active(), dst, hop, nr);
    for (uint16_t i = 0; i < nr; ++i) {
        const bool found = hop[i] != k_no_route;
        const uint32_t nh = static_cast<uint32_t>(hop[i]);
        if constexpr (R == port_role::uplink) {
            if (direct[i] && !(found && nh < s.nexthops.size() && s.nexthops[nh].kind == nh_kind::pod)) {
                tx_host(s, routed[i]);
                continue;
            }
        }
        route_one(s, routed[i], found, nh, in_port, R == port_role::uplink, false);
    }
}

void worker::tx_host(const snapshot& s, rte_mbuf* m) {
    if (s.host_port == RTE_MAX_ETHPORTS) return drop(m, drop_reason::no_host_port);
    c_.to_host.add();
    tx(s, s.host_port, m);
}

void worker::process(const snapshot& s, port_role role, uint16_t in_port, rte_mbuf** pkts, uint16_t n) {
    // process_burst's scratch arrays hold one RX burst; callers may pass more.
    for (uint16_t done = 0; done < n;) {
        const uint16_t k = static_cast<uint16_t>(RTE_MIN(n - done, k_burst));
        rte_mbuf** b = pkts + done;
        switch (role) {
            case port_role::uplink: process_burst<port_role::uplink>(s, in_port, b, k); break;
            case port_role::pod: process_burst<port_role::pod>(s, in_port, b, k); break;
            case port_role::host: process_burst<port_role::host>(s, in_port, b, k); break;
            default: rte_pktmbuf_free_bulk(b, k);
        }
        done = static_cast<uint16_t>(done + k);
    }
}

void worker::drain_inject(const snapshot& s) {
    if (p_.inject == nullptr) return;
    rte_mbuf* pkts[k_burst];
    const unsigned n = rte_ring_sc_dequeue_burst(p_.inject, reinterpret_cast<void**>(pkts), k_burst, nullptr);
    for (unsigned i = 0; i < n; ++i) tx(s, pkts[i]->port, pkts[i]);
    c_.injected.add(n);
}

int worker::run() {
    shared_state& sh = *p_.shared;
    rte_rcu_qsbr_thread_register(sh.qsbr, p_.id);
    rte_rcu_qsbr_thread_online(sh.qsbr, p_.id);
    const uint64_t drain_tsc = (rte_get_tsc_hz() + US_PER_S - 1) / US_PER_S * k_drain_us;
    const snapshot* cur = nullptr;
    const snapshot* seen = nullptr;
    uint64_t last_drain = rte_rdtsc();
    uint64_t prev = last_drain;
    uint32_t idle_run = 0;
    rte_mbuf* pkts[k_burst];

    while (!sh.stop.load(std::memory_order_relaxed)) {
        const snapshot* s = sh.published.load(std::memory_order_acquire);
        // `cur` is non-null only while TX buffers still hold packets for its
        // ports; we have not reported quiescence since, so it is alive.
        if (cur != nullptr && cur != s) flush_all(*cur);
        cur = s;
        if (s != seen) {  // compares addresses only; `seen` may be freed
            seen = s;
            c_.snapshots_seen.add();
        }
        uint32_t nb = 0;
        bool drained = true;
        if (s != nullptr) {
            for (const rx_queue& q : s->rx[p_.id]) {
                const uint16_t n = rte_eth_rx_burst(q.port, q.queue, pkts, k_burst);
                if (n == 0) continue;
                nb += n;
                auto& pc = c_.ports[q.port];
                pc.rx_packets.add(n);
                uint64_t bytes = 0;
                for (uint16_t i = 0; i < n; ++i) bytes += rte_pktmbuf_pkt_len(pkts[i]);
                pc.rx_bytes.add(bytes);
                process(*s, q.role, q.port, pkts, n);
            }
            drain_inject(*s);
            const uint64_t now = rte_rdtsc();
            drained = nb == 0 || now - last_drain > drain_tsc;
            if (drained) {
                flush_all(*s);
                last_drain = now;
            }
        }
        // Buffered packets reference the snapshot's ports, so quiescence is
        // reported only with empty TX buffers: at least every drain period.
        if (drained) {
            rte_rcu_qsbr_quiescent(sh.qsbr, p_.id);
            cur = nullptr;
        }

        const uint64_t now = rte_rdtsc();
        c_.total_cycles.add(now - prev);
        c_.polls.add();
        if (nb != 0) {
            c_.busy_cycles.add(now - prev);
            idle_run = 0;
        } else {
            c_.idle_polls.add();
        }
        prev = now;
        if (nb == 0 && p_.idle_backoff_us != 0 && ++idle_run > k_idle_polls_before_sleep) {
            // Opt-in for shared test machines: let other processes run.
            rte_rcu_qsbr_thread_offline(sh.qsbr, p_.id);
            rte_delay_us_sleep(p_.idle_backoff_us);
            rte_rcu_qsbr_thread_online(sh.qsbr, p_.id);
            const uint64_t woke = rte_rdtsc();
            c_.total_cycles.add(woke - prev);
            prev = woke;
        }
    }
    if (cur != nullptr) flush_all(*cur);
    rte_rcu_qsbr_thread_offline(sh.qsbr, p_.id);
    rte_rcu_qsbr_thread_unregister(sh.qsbr, p_.id);
    return 0;
}

int worker_main(void* arg) {
    worker w(*static_cast<worker_params*>(arg));
    return w.run();
}

}  // namespace vxr::fastpath
