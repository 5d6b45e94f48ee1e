// The conntrack and service stages (DESIGN.md 1), one pass over the burst:
// packets of a tracked flow take the translation their conntrack entry holds
// (either direction); the first packet of a flow to a Service frontend picks
// a backend by Maglev, creates the entry and is translated (DNAT, and SNAT to
// the gateway address when a backend reaches its own Service). Everything
// else passes untouched. Packets to a frontend without backends are answered
// with ICMP port unreachable (kube-proxy's REJECT).
//
// The plain path pays two bit tests per packet (service_table's address
// pre-filters) and nothing else; only packets to a frontend address or from
// a backend address are parsed and looked up.
//
// Thread: worker lcores only. Must not: lock, allocate, make syscalls, log, or throw.
#pragma once

#include "fastpath/affinity.hpp"
#include "fastpath/conntrack.hpp"
#include "fastpath/route.hpp"
#include "fastpath/service_table.hpp"
#include "fastpath/stage.hpp"

namespace vxr::fastpath {

class service_stage {
public:
    // `ct` and `svc` null: Services are off and run() returns at once.
    service_stage(const stage_ctx& ctx, conntrack* ct, affinity_table* affinity, svc_counters* svc);

    // Translates in place and updates b.dst; packets answered, dropped or
    // sent here leave the burst. New flows start from pod and host ports,
    // and from the uplink only at the node's own addresses (node ports,
    // external and load-balancer IPs); the replies of those leave by the
    // uplink from here.
    template <port_role R>
    void run(const snapshot& s, burst& b, route_stage& route) {
        if (s.services == nullptr || ct_ == nullptr || b.n == 0) return;
        run_tables<R>(s, *s.services, b, route);
    }

    // An ICMP error (at ip_of(m), already checked) quoting a packet of a
    // translated flow: the quote is put back to what its sender sent, the
    // outer destination follows (RFC 5508 4.2), so that PMTUD and errors
    // work through a Service. Also for the errors the route stage builds.
    // False when the quote belongs to no translated flow.
    bool untranslate_icmp_error(const snapshot& s, rte_mbuf* m);

private:
    template <port_role R>
    void run_tables(const snapshot& s, const service_table& t, burst& b, route_stage& route);

    // sessionAffinity ClientIP: the backend the client used last, if it is
    // still in `pool` and within the frontend's timeout.
    const svc_backend* affine(const svc_frontend& f, const svc_pool& pool, rte_be32_t client, uint32_t now_s) const;

    stage_ctx ctx_;
    conntrack* ct_;
    affinity_table* affinity_;
    svc_counters* svc_;
    uint64_t tsc_hz_;
};

}  // namespace vxr::fastpath
