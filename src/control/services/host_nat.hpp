// The node itself reaching its own node ports, local externalIPs and
// load-balancer IPs, and hostPorts (kube-proxy's KUBE-NODEPORTS in nat
// OUTPUT with --dst-type LOCAL). A packet from a local socket to a local
// address never leaves the kernel, so the workers never see it; one
// nftables table of vxrouted's own DNATs it in the kernel's nat OUTPUT hook
// to what the workers already translate for host traffic: a node-port,
// external or load-balancer frontend to its Service port's ClusterIP, a
// hostPort to the pod's address and containerPort. The kernel then routes
// it into the host port (plumb_host's ClusterIP and pod routes), sourced
// from the node's overlay address (SNAT in nat POSTROUTING, as those routes
// source it) so that replies come back the way case-8 host traffic does.
//
//   table ip vxroute {
//     map frontends { (daddr . l4proto . dport) : (addr . port) }
//     set addresses { the frontends' addresses }
//     chain output: fib daddr type local -> dnat via @frontends
//     chain postrouting: out the host port, DNATed, originally to one of
//                        @addresses -> snat to the overlay address
//   }
//
// The frontend keys are the compiler's, so the addresses are the ones the
// workers answer node ports on from the uplink (services.node_port_addresses,
// or the node IP), and both sides agree. Each commit replaces the map's and
// the set's elements in one `nft -f -` transaction; the chains never change.
//
// Thread: the control thread only (it runs the nft binary).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "common/types.hpp"
#include "control/services/service_compiler.hpp"

namespace vxr::control::services {

struct host_nat_params {
    std::string table = "vxroute";  // in family ip
    std::string host_iface;         // the host exception port (config host_iface)
    ipv4_addr overlay_src;          // the node's overlay address: its pod subnet's .0 (plumb_host)
};

// One DNAT: a frontend key (IPv4) to the address and port the workers
// translate from host traffic.
struct host_nat_rule {
    frontend_key from;
    ip_addr to;
    uint16_t to_port = 0;
    bool operator==(const host_nat_rule&) const = default;
};

struct host_nat_plan {
    std::vector<host_nat_rule> rules;  // by frontend key
    // Node-port, external and load-balancer frontends whose Service port has
    // no IPv4 ClusterIP frontend published (a lost claim): left out.
    size_t without_cluster_ip = 0;
    // Load-balancer frontends whose loadBalancerSourceRanges hold neither
    // the address itself nor a node address (kube-proxy's allowFromNode):
    // left out, so the node is not let through where the ranges fence it.
    size_t fenced = 0;
    bool operator==(const host_nat_plan&) const = default;
};

// The rules for the published frontends (pure). node_ips: the compiler's
// (where node ports are answered), for the source-range test.
host_nat_plan plan_host_nat(const std::map<frontend_key, frontend_ptr>& frontends,
                            const std::vector<ip_addr>& node_ips);

// nft input (pure). The table with its chains and an empty map and set,
// replacing one left by an earlier run (a crash) in the same transaction.
std::string render_host_nat_table(const host_nat_params& p);
// The map's and the set's elements, flushed and added in one transaction.
std::string render_host_nat_elements(const host_nat_params& p, const host_nat_plan& plan);
std::string render_host_nat_delete(const host_nat_params& p);

struct host_nat_stats {
    uint64_t applies = 0;   // nft transactions that succeeded
    uint64_t failures = 0;  // and that failed (logged with nft's message)
    size_t rules = 0;       // in the kernel now
    size_t without_cluster_ip = 0;
    size_t fenced = 0;
    bool installed = false;  // the table exists (ours)
    std::string last_error;  // empty after a success
};

class host_nat {
public:
    // Runs nft with the text as its standard input; by default `nft -f -`.
    using runner = std::function<result<void>(const std::string& input)>;

    explicit host_nat(host_nat_params p, runner run = {});
    host_nat(const host_nat&) = delete;
    host_nat& operator=(const host_nat&) = delete;

    // Creates (or replaces) the table. A failure is logged and counted, and
    // tried again at the next update.
    void start();
    // Brings the kernel's rules to `frontends` (nothing runs when they are
    // what was applied last).
    void update(const std::map<frontend_key, frontend_ptr>& frontends, const std::vector<ip_addr>& node_ips);
    // After a failure, tries again (the last update's rules) at most every
    // few seconds; each control-loop turn.
    void retry_failed();
    // Deletes the table (clean stop).
    void stop();

    const host_nat_stats& stats() const { return stats_; }
    const host_nat_params& params() const { return params_; }

private:
    bool apply(const std::string& text, const char* what);
    void push();

    host_nat_params params_;
    runner run_;
    host_nat_plan want_;
    std::string applied_;  // the elements text the kernel has; empty: unknown
    bool pending_ = false;  // want_ not in the kernel yet
    std::chrono::steady_clock::time_point last_try_{};
    host_nat_stats stats_;
};

void write_json(k8s::json_writer& w, const host_nat& h);

}  // namespace vxr::control::services
