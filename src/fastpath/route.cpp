// The route stage (route.hpp).
// Thread: worker lcores only. Must not: lock, allocate, make syscalls, log, or throw.
#include "fastpath/route.hpp"

#include <rte_cycles.h>
#include <rte_fib.h>

#include "encap/icmp.hpp"
#include "encap/ipv4.hpp"
#include "encap/vxlan.hpp"
#include "fastpath/service.hpp"

namespace vxr::fastpath {

namespace {
constexpr uint64_t k_icmp_per_second = 1000;  // RFC 1812 4.3.2.8: rate-limit ICMP errors
constexpr uint64_t k_icmp_burst = 100;
}  // namespace

route_stage::route_stage(const stage_ctx& ctx, const route_table* routes)
    : ctx_(ctx),
      routes_(routes),
      icmp_tokens_(k_icmp_burst),
      icmp_last_tsc_(rte_rdtsc()),
      tsc_per_token_(rte_get_tsc_hz() / k_icmp_per_second) {}

template <port_role R>
void route_stage::run(const snapshot& s, burst& b) {
    if (b.n == 0) return;
    uint64_t hop[k_burst];
    rte_fib_lookup_bulk(routes_->active(), b.dst, hop, b.n);
    constexpr bool from_uplink = R == port_role::uplink;
    for (uint16_t i = 0; i < b.n; ++i) {
        const bool found = hop[i] != k_no_route;
        const auto nh = static_cast<uint32_t>(hop[i]);
        if (from_uplink && (b.flags[i] & k_pkt_local)) {  // the node's, not a node port
            ctx_.tx_host(s, b.pkts[i]);
            continue;
        }
        if (from_uplink && (b.flags[i] & k_pkt_direct) &&
            !(found && nh < s.nexthops.size() && s.nexthops[nh].kind == nh_kind::pod)) {
            ctx_.tx_host(s, b.pkts[i]);
            continue;
        }
        // A node port's flow from outside may go on to another node; what
        // came out of the overlay may not go back into it.
        route_one(s, b.pkts[i], found, nh, b.in_port, from_uplink && (b.flags[i] & k_pkt_tunnel), false);
    }
    b.n = 0;
}

template void route_stage::run<port_role::uplink>(const snapshot&, burst&);
template void route_stage::run<port_role::pod>(const snapshot&, burst&);
template void route_stage::run<port_role::host>(const snapshot&, burst&);

void route_stage::icmp_error(const snapshot& s, rte_mbuf* m, uint8_t type, uint8_t code, uint16_t mtu,
                             uint16_t in_port, bool generated) {
    if (generated || !encap::icmp_error_allowed(ip_of(m))) return ctx_.drop(m, drop_reason::icmp_not_allowed);
    const uint64_t now = rte_rdtsc();
    const uint64_t earned = (now - icmp_last_tsc_) / tsc_per_token_;
    if (earned != 0) {
        icmp_tokens_ = RTE_MIN(k_icmp_burst, icmp_tokens_ + earned);
        icmp_last_tsc_ += earned * tsc_per_token_;
    }
    if (icmp_tokens_ == 0) return ctx_.drop(m, drop_reason::icmp_rate_limited);
    --icmp_tokens_;
    if (!encap::icmp_error_in_place(m, type, code, mtu, s.gateway_ip_be))
        return ctx_.drop(m, drop_reason::no_headroom);
    ctx_.counters().icmp_sent.add();
    if (svc_ != nullptr) svc_->untranslate_icmp_error(s, m);
    reroute(s, m, in_port);
}

// A packet we originated (ICMP) goes through the routing step once, marked so
// that it can never cause another ICMP error.
void route_stage::reroute(const snapshot& s, rte_mbuf* m, uint16_t in_port) {
    const auto nh = routes_->lookup(ipv4_addr{rte_be_to_cpu_32(ip_of(m)->dst_addr)});
    route_one(s, m, nh.has_value(), nh.value_or(0), in_port, false, true);
}

__attribute__((always_inline)) inline void route_stage::route_one(const snapshot& s, rte_mbuf* m, bool found,
                                                                   uint32_t nh_idx, uint16_t in_port,
                            bool from_tunnel, bool generated) {
    if (unlikely(!found || nh_idx >= s.nexthops.size())) return ctx_.drop(m, drop_reason::no_route);
    const nexthop& nh = s.nexthops[nh_idx];
    rte_ipv4_hdr* ip = ip_of(m);
    if (nh.kind == nh_kind::self) {
        if (!generated && encap::icmp_echo_reply_in_place(m)) return reroute(s, m, in_port);
        return ctx_.drop(m, drop_reason::no_route);
    }
    if (unlikely(ip->time_to_live <= 1))
        return icmp_error(s, m, encap::k_icmp_time_exceeded, 0, 0, in_port, generated);
    auto& c = ctx_.counters();
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    switch (nh.kind) {
        case nh_kind::pod:
        case nh_kind::host:
            if (nh.kind == nh_kind::host && s.host_port == RTE_MAX_ETHPORTS)
                return ctx_.drop(m, drop_reason::no_host_port);
            if (!generated) encap::ipv4_dec_ttl(ip);
            eth->dst_addr = nh.mac;
            eth->src_addr = s.gateway_mac;
            (nh.kind == nh_kind::pod ? c.routed_local : c.to_host).add();
            return ctx_.tx(s, nh.port, m);
        case nh_kind::peer: {
            if (from_tunnel) return ctx_.drop(m, drop_reason::hairpin);
            if (unlikely(rte_be_to_cpu_16(ip->total_length) > s.pod_mtu)) {
                if (encap::ipv4_df(ip))
                    return icmp_error(s, m, encap::k_icmp_dest_unreach, encap::k_icmp_code_frag_needed, s.pod_mtu,
                                      in_port, generated);
                return ctx_.drop(m, drop_reason::too_big);
            }
            if (!generated) encap::ipv4_dec_ttl(ip);
            const peer_entry& pe = s.peers[nh.peer];
            if (unlikely(!encap::vxlan_encap(m, pe.tmpl, encap::flow_src_port(ip))))
                return ctx_.drop(m, drop_reason::no_headroom);
            c.encapsulated.add();
            if (unlikely(!pe.resolved)) return ctx_.punt(m, punt_kind::neighbor_wait, pe.neighbor, in_port);
            return ctx_.tx(s, s.uplink_port, m);
        }
        default:
            return ctx_.drop(m, drop_reason::no_route);
    }
}

}  // namespace vxr::fastpath
