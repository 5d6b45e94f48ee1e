// Classify, uplink role (DESIGN.md 1, right column).
// Thread: worker lcores only. Must not: lock, allocate, make syscalls, log, or throw.
#include <rte_prefetch.h>

#include "encap/vxlan.hpp"
#include "fastpath/classify.hpp"

namespace vxr::fastpath {

namespace {
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
}  // namespace

void classify_uplink(stage_ctx& ctx, const snapshot& s, rte_mbuf** pkts, uint16_t n, burst& out) {
    auto& c = ctx.counters();
    const port_entry& pe = s.ports[out.in_port];
    uint16_t k = 0;
    for_each_frame(ctx, pkts, n, [&](rte_mbuf* m, rte_ether_hdr* eth, uint32_t len) {
        const rte_be16_t type = eth->ether_type;
        if (!rte_is_same_ether_addr(&eth->dst_addr, &pe.mac) && !rte_is_multicast_ether_addr(&eth->dst_addr)) {
            ctx.drop(m, drop_reason::not_for_us);
            return;
        }
        if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) { ctx.punt(m, punt_kind::arp, 0, out.in_port); return; }
        if (type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) { ctx.tx_host(s, m); return; }
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
        const auto chk = encap::check_ipv4(ip, len - sizeof(rte_ether_hdr), encap::rx_outer_ip_flags(m));
        if (unlikely(chk != encap::ipv4_check::ok)) { ctx.drop(m, ipv4_drop(chk)); return; }
        if (ip->dst_addr != s.node_ip_be) {
            // A flannel peer with DirectRouting on our L2 sends pod traffic
            // unencapsulated to our MAC; the route stage decides (a local pod:
            // routed; anything else: the node's).
            // An external IP or load-balancer address of a Service reaching
            // us is handled like a node port (and, untranslated, goes to
            // the host as the direct path would send it).
            trim_to_ip(m, ip);
            const bool frontend = s.services != nullptr && s.services->may_be_frontend(ip->dst_addr);
            out.set(k++, m, rte_be_to_cpu_32(ip->dst_addr), frontend ? k_pkt_local : k_pkt_direct);
            return;
        }
        // To the node itself: maybe a Service's node port (the service stage
        // decides; what it does not translate goes to the host untouched).
        // (Asked only off the VXLAN path, which must not pay for it.)
        const auto node_port = [&] { return s.services != nullptr && s.services->may_be_frontend(ip->dst_addr); };
        if (ip->next_proto_id != IPPROTO_UDP) {
            if ((ip->next_proto_id == IPPROTO_TCP || ip->next_proto_id == IPPROTO_SCTP) && node_port()) {
                trim_to_ip(m, ip);
                out.set(k++, m, rte_be_to_cpu_32(ip->dst_addr), k_pkt_local);
            } else {
                ctx.tx_host(s, m);
            }
            return;
        }
        trim_to_ip(m, ip);
        const auto r = encap::vxlan_parse(m, s.udp_port_be, s.vni_be, s.vtep_mac);
        if (r.status == encap::vxlan_status::not_vxlan) {
            if (node_port())
                out.set(k++, m, rte_be_to_cpu_32(ip->dst_addr), k_pkt_local);
            else
                ctx.tx_host(s, m);
            return;
        }
        if (unlikely(r.status == encap::vxlan_status::wrong_inner_mac)) {
            // Dropped, and shown to the control thread so that the operator
            // sees which peer holds a stale VTEP MAC for us; the report is
            // best effort, the drop is what is counted.
            c.drop(drop_reason::vxlan_wrong_inner_mac);
            if (!ctx.try_punt(m, punt_kind::stale_mac, 0, out.in_port)) rte_pktmbuf_free(m);
            return;
        }
        if (unlikely(r.status != encap::vxlan_status::ok)) { ctx.drop(m, vxlan_drop(r.status)); return; }
        rte_pktmbuf_adj(m, r.outer_len);
        c.decapsulated.add();
        auto* inner = ip_of(m);
        const auto ichk = encap::check_ipv4(inner, rte_pktmbuf_data_len(m) - sizeof(rte_ether_hdr),
                                              encap::rx_inner_ip_flags(m));
        if (unlikely(ichk != encap::ipv4_check::ok)) { ctx.drop(m, ipv4_drop(ichk)); return; }
        trim_to_ip(m, inner);
        out.set(k++, m, rte_be_to_cpu_32(inner->dst_addr), k_pkt_tunnel);
    });
    out.n = k;
}

}  // namespace vxr::fastpath
