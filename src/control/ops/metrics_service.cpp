#include "control/ops/metrics_service.hpp"
#include "control/services/service_proxy.hpp"

#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_version.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "common/log.hpp"
#include "control/node/k8s_bridge.hpp"
#include "control/node/router.hpp"
#include "fastpath/dataplane.hpp"

#ifndef VXR_VERSION
#define VXR_VERSION "unknown"
#endif

namespace vxr::control {

namespace {

constexpr const char* k_metrics_type = "text/plain; version=0.0.4; charset=utf-8";

// When this process started, as Unix time: boot time (/proc/stat btime)
// plus our start in clock ticks after boot (/proc/self/stat field 22), the
// way Prometheus' own clients compute process_start_time_seconds.
double process_start_time() {
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::ifstream stat("/proc/self/stat");
    std::string line;
    if (!std::getline(stat, line)) return now;
    const auto close = line.rfind(')');  // the command name may contain spaces
    if (close == std::string::npos) return now;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    unsigned long long ticks = 0;
    for (int i = 3; i <= 22 && rest >> field; ++i)
        if (i == 22) ticks = std::stoull(field);
    std::ifstream proc_stat("/proc/stat");
    std::string key;
    unsigned long long btime = 0;
    while (proc_stat >> key) {
        if (key == "btime") {
            proc_stat >> btime;
            break;
        }
        proc_stat.ignore(1 << 16, '\n');
    }
    const long hz = ::sysconf(_SC_CLK_TCK);
    if (btime == 0 || hz <= 0) return now;
    return static_cast<double>(btime) + static_cast<double>(ticks) / static_cast<double>(hz);
}

}  // namespace

metrics_service::metrics_service(const router& r, const fastpath::dataplane& dp)
    : router_(r), dp_(dp), start_time_(process_start_time()) {}

result<void> metrics_service::open(const std::string& listen) {
    if (listen.empty()) return {};
    auto addr = parse_listen_address(listen);
    if (!addr) return make_error("metrics_listen: " + addr.err());
    if (auto r = http_.open(*addr, [this](std::string_view m, std::string_view p) { return handle(m, p); }); !r)
        return make_error("metrics endpoint: " + r.err());
    VXR_LOG_INFO("metrics endpoint on http://%s (/metrics, /healthz, /readyz)", http_.address().c_str());
    return {};
}

void metrics_service::observe_workers() {
    std::vector<uint64_t> polls(dp_.workers());
    for (unsigned w = 0; w < dp_.workers(); ++w) polls[w] = dp_.counters(w).polls.get();
    watch_.observe(polls, worker_watch::clock::now());
}

void metrics_service::poll() {
    if (!http_.is_open()) return;
    observe_workers();
    http_.run();
}

std::string metrics_service::health_reason() const {
    if (!dp_.running()) return "workers not running";
    std::vector<unsigned> lcores(dp_.workers());
    for (unsigned w = 0; w < dp_.workers(); ++w) lcores[w] = dp_.worker_lcore(w);
    return watch_.stalled(lcores, worker_watch::clock::now());
}

std::string metrics_service::ready_reason() const { return ready_reason(router_.collect_ports()); }

std::string metrics_service::ready_reason(const std::vector<port_stats>& ports) const {
    readiness_input in;
    const uint16_t uplink = router_.uplink_port();
    in.uplink_name = "(not attached)";
    for (const port_stats& p : ports) {
        if (p.id != uplink) continue;
        in.uplink_name = p.name;
        in.uplink_up = p.link_up;
    }
    for (const auto& p : router_.cfg().pods)
        if (!router_.find_pod(p.name)) in.missing_pods.push_back(p.name);
    in.kubernetes = router_.cfg().kubernetes.has_value();
    if (k8s_) in.k8s = k8s_->stats();
    return not_ready_reason(in);
}

metrics_input metrics_service::collect() const {
    metrics_input in;
    in.version = VXR_VERSION;
    in.dpdk_version = rte_version();
    in.node_name = router_.cfg().node_name;
    in.start_time_seconds = start_time_;
    in.tsc_hz = rte_get_tsc_hz();
    in.ports = router_.collect_ports();
    for (unsigned w = 0; w < dp_.workers(); ++w) {
        worker_stats ws;
        ws.id = w;
        ws.lcore = dp_.worker_lcore(w);
        ws.counters.add(dp_.counters(w));
        in.workers.push_back(ws);
    }
    in.control = router_.control_stats();
    in.inject_dropped = dp_.inject_dropped();
    if (dp_.pool()) {
        in.mbufs_in_use = rte_mempool_in_use_count(dp_.pool());
        in.mbufs = dp_.pool()->size;
    }
    in.routes = router_.route_count();
    in.peers = router_.peer_count();
    in.pods = router_.pod_count();
    const auto n = router_.neighbor_counts();
    for (size_t s = 0; s < n.size(); ++s)
        in.neighbors.emplace_back(neighbor_state_name(static_cast<neighbor_state>(s)), n[s]);
    if (k8s_) in.k8s = k8s_->stats();
    if (services_) {
        services_metrics sm;
        for (const auto& f : services_->frontend_counters())
            sm.frontends.push_back({f.service, f.port_name, f.frontend, f.new_flows, f.packets, f.bytes, f.rejects,
                                    f.source_denied});
        if (const auto* ct = dp_.ct()) {
            const auto c = ct->counters();
            sm.ct_entries = c.entries;
            sm.ct_capacity = ct->capacity();
            sm.ct_inserts = c.inserts;
            sm.ct_expiries = c.expiries;
            sm.ct_full = c.full;
            sm.ct_busy = c.busy;
            sm.ct_clashes = c.clashes;
            sm.ct_ended = c.ended;
        }
        if (const auto* a = dp_.affinity()) sm.affinity_entries = a->entries();
        sm.tables_published = services_->stats().tables_published;
        sm.build_errors = services_->stats().build_errors;
        if (const auto* h = services_->health_checks()) {
            sm.health_listeners = h->listeners();
            sm.health_listen_failures = h->listen_failures();
        }
        if (const auto* h = services_->host_nat_rules()) {
            sm.host_nat_rules = h->stats().rules;
            sm.host_nat_failures = h->stats().failures;
        }
        in.services = std::move(sm);
    }
    in.healthy = health_reason().empty();
    in.ready = ready_reason(in.ports).empty();
    return in;
}

http_reply metrics_service::handle(std::string_view method, std::string_view path) {
    const bool known = path == "/metrics" || path == "/healthz" || path == "/readyz";
    if (!known) return {404, "not found: try /metrics, /healthz or /readyz\n"};
    if (method != "GET" && method != "HEAD") return {405, "method not allowed: use GET\n"};
    if (path == "/metrics") return {200, render_metrics(collect()), k_metrics_type};
    const std::string reason = path == "/healthz" ? health_reason() : ready_reason();
    if (!reason.empty()) return {503, reason + "\n"};
    return {200, "ok\n"};
}

}  // namespace vxr::control
