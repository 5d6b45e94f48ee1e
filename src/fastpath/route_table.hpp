// The IPv4 route table the workers look up: two rte_fib (DIR24_8) copies.
// Thread: the control (main) lcore changes it; workers only load active() and
// call rte_fib_lookup_bulk on it.
//
// Why two copies: rte_fib's RIB makes an insert O(log n), so a million routes
// load in seconds (rte_lpm scans every rule of the same depth per insert:
// quadratic). But DPDK 22.11's rte_fib has no RCU hook, and DIR24_8 recycles a
// tbl8 group in place (zeroing it) when a delete makes it uniform, so a worker
// reading the table during a delete could see a wrong next hop for an
// unaffected address in the same /24. So every change goes to the copy no
// worker reads, that copy is published with one release store, the control
// thread waits for RCU quiescence, and the same change is replayed on the
// other copy, which no worker reads any more.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include <rte_fib.h>

#include "common/result.hpp"
#include "common/types.hpp"

struct rte_rcu_qsbr;

namespace vxr::fastpath {

// What a lookup returns where no route matches. DIR24_8 with 4-byte entries
// keeps one bit for itself: next hops are 31-bit.
inline constexpr uint64_t k_no_route = (1u << 31) - 1;

class route_table {
public:
    route_table() = default;
    ~route_table();
    route_table(const route_table&) = delete;
    route_table& operator=(const route_table&) = delete;

    // `qsbr` is the workers' RCU state; nullptr when nobody reads concurrently
    // (tests, benchmarks).
    result<void> init(uint32_t max_routes, int socket, rte_rcu_qsbr* qsbr);

    // Outside a batch a change is visible to every worker when it returns.
    // Inside one, changes are visible at commit(); route_add's next hop must
    // be published by then.
    result<void> add(ipv4_prefix p, uint32_t nexthop);
    result<void> del(ipv4_prefix p);
    void begin();
    void commit();
    bool batching() const { return batching_; }

    // Keep both copies at destruction: a worker that never stopped may still
    // read them (the process is about to exit).
    void abandon() { fib_[0] = fib_[1] = nullptr; }

    // What the workers read: load once per burst.
    rte_fib* active() const { return active_.load(std::memory_order_acquire); }
    // One address in the published copy: the control thread, tests, and a
    // worker rerouting a packet it generated (bursts use rte_fib_lookup_bulk).
    std::optional<uint32_t> lookup(ipv4_addr ip) const {
        uint32_t a = ip.value;
        uint64_t nh = k_no_route;
        rte_fib_lookup_bulk(active(), &a, &nh, 1);
        if (nh == k_no_route) return std::nullopt;
        return static_cast<uint32_t>(nh);
    }

private:
    struct change {
        ipv4_prefix prefix;
        uint32_t nexthop;
        bool add;
    };
    int apply(rte_fib* f, const change& c) const;
    rte_fib* standby() const { return fib_[0] == active() ? fib_[1] : fib_[0]; }
    void swap_and_replay();

    rte_fib* fib_[2] = {nullptr, nullptr};
    std::atomic<rte_fib*> active_{nullptr};
    rte_rcu_qsbr* qsbr_ = nullptr;
    std::vector<change> pending_;  // applied to standby(), not yet to the other copy
    bool batching_ = false;
};

}  // namespace vxr::fastpath
