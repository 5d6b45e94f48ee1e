// Classify, pod and host roles (DESIGN.md 1, left column).
// Thread: worker lcores only. Must not: lock, allocate, make syscalls, log, or throw.
#include <rte_prefetch.h>

#include "encap/arp.hpp"
#include "fastpath/classify.hpp"

namespace vxr::fastpath {

namespace {
inline bool is_unicast_ip(rte_be32_t a) {
    const uint32_t h = rte_be_to_cpu_32(a);
    return h != 0xffffffff && (h >> 28) != 0xe;
}
}  // namespace

template <port_role R>
void classify_local(stage_ctx& ctx, const snapshot& s, rte_mbuf** pkts, uint16_t n, burst& out) {
    static_assert(R == port_role::pod || R == port_role::host);
    auto& c = ctx.counters();
    const port_entry& pe = s.ports[out.in_port];
    uint16_t k = 0;
    for_each_frame(ctx, pkts, n, [&](rte_mbuf* m, rte_ether_hdr* eth, uint32_t len) {
        const rte_be16_t type = eth->ether_type;
        if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
            rte_arp_hdr* arp = encap::arp_parse(m);
            if constexpr (R == port_role::host) {
                // The node kernel resolves its own underlay neighbours.
                if (arp == nullptr || arp->arp_data.arp_tip != s.gateway_ip_be) {
                    c.from_host.add();
                    ctx.tx(s, s.uplink_port, m);
                    return;
                }
            }
            // Pods see the gateway answer for every address but their own
            // (proxy ARP), so any on-link prefix length routes through us.
            if (arp == nullptr || arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
                arp->arp_data.arp_tip == arp->arp_data.arp_sip || arp->arp_data.arp_tip == pe.pod_ip_be) {
                ctx.drop(m, drop_reason::arp_ignored);
                return;
            }
            encap::arp_reply_in_place(m, arp, s.gateway_mac);
            c.arp_replied.add();
            ctx.tx(s, out.in_port, m);
            return;
        }
        if constexpr (R == port_role::host) {
            // Only what the kernel routed to our gateway is ours; the rest is
            // the node's own underlay traffic.
            if (type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
                !rte_is_same_ether_addr(&eth->dst_addr, &s.gateway_mac)) {
                c.from_host.add();
                ctx.tx(s, s.uplink_port, m);
                return;
            }
        }
        if (type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) { ctx.drop(m, drop_reason::unsupported_ethertype); return; }
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
        const auto chk = encap::check_ipv4(ip, len - sizeof(rte_ether_hdr), m->ol_flags);
        if (unlikely(chk != encap::ipv4_check::ok)) { ctx.drop(m, ipv4_drop(chk)); return; }
        if constexpr (R == port_role::pod) {
            if (unlikely(ip->src_addr != pe.pod_ip_be)) { ctx.drop(m, drop_reason::pod_spoofed_source); return; }
        }
        if (unlikely(!is_unicast_ip(ip->dst_addr))) { ctx.drop(m, drop_reason::ipv4_not_unicast); return; }
        trim_to_ip(m, ip);
        out.set(k++, m, rte_be_to_cpu_32(ip->dst_addr));
    });
    out.n = k;
}

template void classify_local<port_role::pod>(stage_ctx&, const snapshot&, rte_mbuf**, uint16_t, burst&);
template void classify_local<port_role::host>(stage_ctx&, const snapshot&, rte_mbuf**, uint16_t, burst&);

}  // namespace vxr::fastpath
