// The kube-proxy replacement's control side: Services and EndpointSlices
// from the watch cache -> service_compiler -> the workers' service table
// (fastpath/service_table.hpp), published through a callback (the router's
// set_services), plus the housekeeping the fast path's shared tables need:
// conntrack expiry, ended backends, affinity expiry.
//
// Ids the fast path carries: a frontend id per frontend key (reused after
// the frontend goes, below fastpath::k_max_frontends: the per-frontend
// counters' index), and a backend id per (Service, port name, backend
// address:port), never reused, so that removing a backend from a Service
// ends exactly that Service port's flows to it.
//
// Thread: the control thread only.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "control/k8s/watch_cache.hpp"
#include "control/services/health_check.hpp"
#include "control/services/host_nat.hpp"
#include "control/services/service_compiler.hpp"
#include "fastpath/affinity.hpp"
#include "fastpath/conntrack.hpp"
#include "fastpath/dataplane.hpp"
#include "fastpath/service_table.hpp"

namespace vxr::control::services {

struct proxy_stats {
    uint64_t tables_published = 0;
    uint64_t build_errors = 0;       // tables that failed to build (the last good one stays)
    uint64_t frontends_skipped = 0;  // IPv6 frontends (not in the IPv4 fast path yet), summed over commits
    uint64_t frontend_ids_exhausted = 0;
    uint64_t backends_ended = 0;     // backend ids whose flows were ended
    uint64_t flows_ended = 0;        // conntrack entries end_backend touched
    uint64_t ct_expired = 0;
    uint64_t affinity_expired = 0;
    double last_build_ms = 0;        // compile + table build of the last commit
    // Frontends the last commit made table entries for (what its delta
    // named); every other one kept its entry, pools and id.
    uint64_t last_frontends_rebuilt = 0;
};

class service_proxy {
public:
    using publish_fn = std::function<void(std::shared_ptr<const fastpath::service_table>)>;

    // dp: after dataplane::enable_services (its conntrack, affinity table and
    // per-frontend counters).
    static result<std::unique_ptr<service_proxy>> create(compiler_config cfg, const fastpath::dataplane& dp,
                                                         publish_fn publish);

    // Feeds the compiler from the cache's Service and EndpointSlice changes.
    void attach(k8s::watch_cache& cache);
    // The compiler, for feeding it other than from the cache; mark_changed()
    // then makes the next poll() commit.
    service_compiler& compiler() { return compiler_; }
    void mark_changed() { dirty_ = true; }

    // Each control-loop turn: commit and publish what changed, end removed
    // backends' flows, sweep conntrack and affinity.
    void poll();

    // Serve the Services' healthCheckNodePorts (health_check.hpp) on `bind`
    // from now on, kept in step with every commit.
    void serve_health_checks(ipv4_addr bind);
    const health_check_server* health_checks() const { return health_.get(); }

    // Let the node's own connections to its node ports, local external and
    // load-balancer IPs and hostPorts reach the workers (host_nat.hpp),
    // kept in step with every published table; stop_host_nat() removes the
    // kernel rules (clean stop). run: tests replace nft.
    void serve_host_nat(host_nat_params p, host_nat::runner run = {});
    void stop_host_nat();
    const host_nat* host_nat_rules() const { return host_nat_.get(); }

    // vxroutectl views (JSON objects).
    std::string show_services() const;
    std::string show_conntrack(const std::string& filter, size_t limit = 1000) const;
    // Which backend a new flow with this 5-tuple gets, and why.
    result<std::string> lookup(const std::string& proto, const std::string& dst_ip, uint16_t dst_port,
                               const std::string& src_ip, uint16_t src_port) const;

    const fastpath::service_table* table() const { return table_.get(); }
    const proxy_stats& stats() const { return stats_; }
    // Per frontend, summed over the workers since the frontend got its id.
    struct frontend_counts {
        std::string service;
        std::string port_name;
        std::string frontend;
        uint64_t new_flows = 0, packets = 0, bytes = 0, rejects = 0, source_denied = 0;
    };
    std::vector<frontend_counts> frontend_counters() const;

private:
    service_proxy(service_compiler c, const fastpath::dataplane& dp, publish_fn p)
        : compiler_(std::move(c)), dp_(dp), ct_(dp.ct()), affinity_(dp.affinity()), publish_(std::move(p)) {}
    std::array<uint64_t, 5> sums(uint32_t id) const;  // new_flows, packets, bytes, rejects, source_denied
    uint32_t assign_id(const frontend_key& key);
    void rebuild();
    void housekeeping();
    // The pool of f's cluster-wide or local backends: one made earlier in
    // this commit from the same Maglev table, else a new one.
    std::shared_ptr<const fastpath::svc_pool> pool_for(const frontend& f, bool local);
    uint32_t backend_id(const frontend& f, const backend& b);
    // The table entry of f (an IPv4 frontend with its id).
    fastpath::svc_frontend_spec spec_of(const frontend& f, uint32_t id);
    // (Re)makes key's table entry from the compiled frontend (none: drops it).
    void respec(const frontend_key& key);
    void drop_spec(const frontend_key& key);
    // Counts the backend ids of s's pools in (+1) or out (-1).
    void hold(const fastpath::svc_frontend_spec& s, int delta);
    // f's loadBalancerSourceRanges as the workers test them.
    std::vector<fastpath::svc_source_range> source_ranges_of(const frontend& f) const;

    service_compiler compiler_;
    const fastpath::dataplane& dp_;
    fastpath::conntrack* ct_;
    fastpath::affinity_table* affinity_;
    publish_fn publish_;
    bool dirty_ = true;  // publish once at start, even with no Services
    std::shared_ptr<const fastpath::service_table> table_;
    // A commit touches only the frontends its delta names: the table entry
    // of every published IPv4 frontend is kept here, by its name (the
    // order service_table keeps them in), and rebuilt only when the
    // frontend changed. With 10,000 Services an EndpointSlice change so
    // costs one Service's compile and Maglev tables, not 10,000.
    std::map<std::string, fastpath::svc_spec_ref> specs_;
    std::map<frontend_key, std::string> spec_names_;
    std::set<frontend_key> unplaced_;  // left out for want of an id: retried every commit
    size_t v6_frontends_ = 0;          // published, not in the IPv4 fast path
    std::vector<ip_addr> specced_node_ips_;  // what specs_' source ranges were made with
    // Pools made in this commit by the Maglev table they were made from (the
    // compiler shares one per Service port and backend set); the shared_ptr
    // keeps the address from being reused meanwhile.
    struct pool_entry {
        std::shared_ptr<const maglev_table> maglev;
        std::shared_ptr<const fastpath::svc_pool> pool;
    };
    std::map<const maglev_table*, pool_entry> pending_pools_;
    std::shared_ptr<const fastpath::svc_pool> empty_pool_ = std::make_shared<fastpath::svc_pool>();
    std::map<frontend_key, uint32_t> frontend_ids_;
    std::map<uint32_t, std::array<uint64_t, 5>> baselines_;  // counts an id had when it was (re)assigned
    std::vector<uint32_t> free_frontend_ids_;
    uint32_t next_frontend_id_ = 0;
    std::map<std::string, uint32_t> backend_ids_;  // "ns/name|port|addr:port"
    // Per backend id: its key above and how many table entries' pools hold
    // it; one no entry holds has its flows ended after the next publication.
    struct backend_ref {
        std::string key;
        uint32_t refs = 0;
    };
    std::unordered_map<uint32_t, backend_ref> backend_refs_;
    std::set<uint32_t> unreferenced_;
    uint32_t next_backend_id_ = 1;
    uint64_t last_sweep_tsc_ = 0;
    uint64_t last_affinity_tsc_ = 0;
    uint32_t max_affinity_timeout_s_ = 0;
    proxy_stats stats_;
    std::unique_ptr<health_check_server> health_;  // null: not served
    std::unique_ptr<host_nat> host_nat_;           // null: no host port, or Services off
};

}  // namespace vxr::control::services
