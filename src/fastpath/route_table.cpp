// Thread: control (main) lcore only (see route_table.hpp).
#include "fastpath/route_table.hpp"

#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_rcu_qsbr.h>

#include <string>

#include "common/log.hpp"

namespace vxr::fastpath {

namespace {
std::string errstr(int rc) { return rte_strerror(rc < 0 ? -rc : rc); }
}  // namespace

route_table::~route_table() {
    for (rte_fib* f : fib_) rte_fib_free(f);
}

result<void> route_table::init(uint32_t max_routes, int socket, rte_rcu_qsbr* qsbr) {
    static std::atomic<unsigned> instances{0};  // memzone names are process-wide
    const unsigned id = instances.fetch_add(1);
    qsbr_ = qsbr;
    rte_fib_conf c{};
    c.type = RTE_FIB_DIR24_8;
    c.default_nh = k_no_route;
    c.max_routes = static_cast<int>(max_routes);
    c.rib_ext_sz = 0;
    c.dir24_8.nh_sz = RTE_FIB_DIR24_8_4B;
    // A tbl8 group holds the prefixes longer than /24 inside one /24 (the
    // pods' /32s sit in a handful): one per 64 routes leaves room for a table
    // of /32s spread over many /24s without reserving 1 KiB per route.
    c.dir24_8.num_tbl8 = std::max(1u << 10, max_routes / 64);
    for (int i = 0; i < 2; ++i) {
        const std::string name = "vxr_fib" + std::to_string(id) + "_" + std::to_string(i);
        fib_[i] = rte_fib_create(name.c_str(), socket, &c);
        if (fib_[i] == nullptr)
            return make_error("cannot create route table (" + std::to_string(max_routes) +
                              " routes): " + errstr(rte_errno) + " (too few hugepages for max_routes?)");
    }
    active_.store(fib_[0], std::memory_order_release);
    return {};
}

int route_table::apply(rte_fib* f, const change& c) const {
    return c.add ? rte_fib_add(f, c.prefix.addr.value, c.prefix.len, c.nexthop)
                 : rte_fib_delete(f, c.prefix.addr.value, c.prefix.len);
}

result<void> route_table::add(ipv4_prefix p, uint32_t nexthop) {
    if (nexthop >= k_no_route) return make_error("cannot add route " + p.str() + ": next hop out of range");
    const change c{p, nexthop, true};
    if (const int rc = apply(standby(), c); rc != 0)
        return make_error("cannot add route " + p.str() + ": " + errstr(rc));
    pending_.push_back(c);
    if (!batching_) swap_and_replay();
    return {};
}

result<void> route_table::del(ipv4_prefix p) {
    const change c{p, 0, false};
    if (const int rc = apply(standby(), c); rc != 0)
        return make_error("cannot delete route " + p.str() + ": " + errstr(rc));
    pending_.push_back(c);
    if (!batching_) swap_and_replay();
    return {};
}

void route_table::begin() { batching_ = true; }

void route_table::commit() {
    batching_ = false;
    if (!pending_.empty()) swap_and_replay();
}

void route_table::swap_and_replay() {
    rte_fib* old = active();
    active_.store(standby(), std::memory_order_release);
    if (qsbr_ != nullptr) rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
    // The same changes, in the same order, on an identical copy: they
    // succeeded once, so they succeed again.
    for (const change& c : pending_)
        if (const int rc = apply(old, c); rc != 0)
            VXR_LOG_ERROR("route table copies diverged at %s %s: %s", c.add ? "add" : "delete",
                          c.prefix.str().c_str(), errstr(rc).c_str());
    pending_.clear();
}

}  // namespace vxr::fastpath
