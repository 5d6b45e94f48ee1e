// The route stage: one bulk FIB lookup per burst on the (translated)
// destination, then per packet its next hop: a local pod or the host (L2
// rewrite), a remote node (VXLAN), or the gateway itself (ICMP echo).
// TTL and MTU are checked here, and ICMP errors are built and routed here,
// rate limited (RFC 1812 4.3.2.8).
// Thread: worker lcores only. Must not: lock, allocate, make syscalls, log, or throw.
#pragma once

#include "fastpath/route_table.hpp"
#include "fastpath/stage.hpp"

namespace vxr::fastpath {

class service_stage;

class route_stage {
public:
    route_stage(const stage_ctx& ctx, const route_table* routes);

    // Consumes the burst: every packet is sent, punted or dropped.
    template <port_role R>
    void run(const snapshot& s, burst& b);

    // The service stage whose translations the ICMP errors built here undo
    // in their quote (null: none). The worker wires it once.
    void set_service_stage(service_stage* svc) { svc_ = svc; }

    // Turns `m` into an ICMP error about itself and routes it back to its
    // source; `generated` packets (our own) never cause one.
    void icmp_error(const snapshot& s, rte_mbuf* m, uint8_t type, uint8_t code, uint16_t mtu, uint16_t in_port,
                    bool generated);

private:
    void route_one(const snapshot& s, rte_mbuf* m, bool found, uint32_t nh, uint16_t in_port, bool from_tunnel,
                   bool generated);
    void reroute(const snapshot& s, rte_mbuf* m, uint16_t in_port);

    stage_ctx ctx_;  // a copy: one indirection less per packet than a reference
    const route_table* routes_;
    service_stage* svc_ = nullptr;
    uint64_t icmp_tokens_;
    uint64_t icmp_last_tsc_;
    uint64_t tsc_per_token_;
};

}  // namespace vxr::fastpath
