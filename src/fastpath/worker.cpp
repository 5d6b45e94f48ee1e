// The worker lcore: polls its RX queues and runs each burst through the
// pipeline's stages (DESIGN.md 1), one file per stage:
//   classify (classify_uplink.cpp, classify_local.cpp)
//   -> conntrack + service (service.cpp) -> route (route.cpp)
//   -> transmit (stage.hpp, transmit.cpp)
// Thread: worker lcores. No locks, heap allocation, syscalls (bar the opt-in
// idle backoff), logging or exceptions here (DESIGN.md 3).
#include "fastpath/worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "fastpath/classify.hpp"

namespace vxr::fastpath {

namespace {
constexpr uint64_t k_drain_us = 100;          // l3fwd's TX drain period: bounds latency at low rates
constexpr uint32_t k_idle_polls_before_sleep = 1024;  // ~tens of us of empty polls before backing off
}  // namespace

worker::worker(const worker_params& p)
    : p_(p),
      c_(*p.counters),
      ctx_(p.id, *p.counters, p.shared->punt),
      service_(ctx_, p.svc != nullptr ? p.shared->ct : nullptr, p.shared->affinity, p.svc),
      route_(ctx_, p.shared->routes) {
    route_.set_service_stage(&service_);
}

template <port_role R>
void worker::process_burst(const snapshot& s, uint16_t in_port, rte_mbuf** pkts, uint16_t n) {
    burst b;
    b.in_port = in_port;
    if constexpr (R == port_role::uplink)
        classify_uplink(ctx_, s, pkts, n, b);
    else
        classify_local<R>(ctx_, s, pkts, n, b);
    service_.run<R>(s, b, route_);
    route_.run<R>(s, b);
}

void worker::flush_all(const snapshot& s) { ctx_.flush_all(s); }

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
        if (cur != nullptr && cur != s) ctx_.flush_all(*cur);
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
            ctx_.drain_inject(*s, p_.inject);
            const uint64_t now = rte_rdtsc();
            drained = nb == 0 || now - last_drain > drain_tsc;
            if (drained) {
                ctx_.flush_all(*s);
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
    if (cur != nullptr) ctx_.flush_all(*cur);
    rte_rcu_qsbr_thread_offline(sh.qsbr, p_.id);
    rte_rcu_qsbr_thread_unregister(sh.qsbr, p_.id);
    return 0;
}

int worker_main(void* arg) {
    worker w(*static_cast<worker_params*>(arg));
    return w.run();
}

}  // namespace vxr::fastpath
