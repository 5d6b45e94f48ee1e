// Prometheus text exposition (format 0.0.4) of vxrouted's state: a small
// writer that keeps the format's rules (HELP/TYPE per family, counters end
// in _total, escaped label values) and render_metrics(), a pure function
// over a metrics_input the control thread fills from relaxed counter loads
// and ethdev stats. Nothing here touches DPDK, so it is unit-tested as is.
// Thread: control (main) lcore.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/node/stats.hpp"

namespace vxr::control {

namespace detail {
consteval bool valid_name(std::string_view s, bool colon_ok) {
    if (s.empty()) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}
consteval bool ends_with_total(std::string_view s) { return s.size() > 6 && s.substr(s.size() - 6) == "_total"; }
// Not constant-evaluable: calling it in a consteval constructor makes a bad
// name a compile error that names this function.
inline void invalid_metric_name() {}
}  // namespace detail

// Family names are literals checked at compile time: a counter must end in
// _total, a gauge must not.
struct counter_name {
    consteval counter_name(const char* s) : name(s) {
        if (!detail::valid_name(name, true) || !detail::ends_with_total(name)) detail::invalid_metric_name();
    }
    std::string_view name;
};
struct gauge_name {
    consteval gauge_name(const char* s) : name(s) {
        if (!detail::valid_name(name, true) || detail::ends_with_total(name)) detail::invalid_metric_name();
    }
    std::string_view name;
};
struct label_name {
    consteval label_name(const char* s) : name(s) {
        if (!detail::valid_name(name, false) || name.substr(0, 2) == "__") detail::invalid_metric_name();
    }
    std::string_view name;
};

struct label {
    label_name name;
    std::string_view value;
};

class exposition {
public:
    // Start a family: HELP and TYPE lines. Each family once, its samples next.
    void counter(counter_name n, std::string_view help) { family(n.name, "counter", help); }
    void gauge(gauge_name n, std::string_view help) { family(n.name, "gauge", help); }
    // A histogram family (its base name follows the gauge rule: no _total).
    void histogram(gauge_name n, std::string_view help) { family(n.name, "histogram", help); }
    // A sample of the current family.
    void sample(uint64_t value, std::initializer_list<label> labels = {});
    void sample_double(double value, std::initializer_list<label> labels = {});
    // One histogram of the current family: cumulative _bucket{le} lines from
    // per-bucket counts (the last is +Inf), then _sum and _count.
    void histogram_sample(const double* bounds, const uint64_t* buckets, size_t n_bounds, double sum, uint64_t count,
                          label l);
    const std::string& text() const { return out_; }

private:
    void family(std::string_view name, const char* type, std::string_view help);
    void series(std::initializer_list<label> labels, std::string_view suffix = {});
    void number(double value);
    std::string out_;
    std::string_view family_;
};

// Escaping rules of the text format.
std::string escape_help(std::string_view s);
std::string escape_label_value(std::string_view s);

struct worker_stats {
    unsigned id = 0;
    unsigned lcore = 0;
    counter_sums counters;
};

// Services (absent: off). One series per frontend: their number is the
// cluster's Service ports times their addresses, which the operator chose.
struct services_metrics {
    struct frontend {
        std::string service, port, address;
        uint64_t new_flows = 0, packets = 0, bytes = 0, rejects = 0, source_denied = 0;
    };
    std::vector<frontend> frontends;
    uint64_t ct_entries = 0, ct_capacity = 0, ct_inserts = 0, ct_expiries = 0, ct_full = 0, ct_busy = 0,
             ct_clashes = 0, ct_ended = 0;
    uint64_t affinity_entries = 0;
    uint64_t tables_published = 0, build_errors = 0;
    uint64_t health_listeners = 0, health_listen_failures = 0;  // healthCheckNodePort listeners
    uint64_t host_nat_rules = 0, host_nat_failures = 0;  // the host's node-port nftables rules
};

struct metrics_input {
    std::string version;       // vxroute's
    std::string dpdk_version;  // rte_version()
    std::string node_name;
    double start_time_seconds = 0;  // Unix time the process started
    uint64_t tsc_hz = 0;
    std::vector<port_stats> ports;
    std::vector<worker_stats> workers;
    control_counters control;
    uint64_t inject_dropped = 0;
    uint64_t mbufs_in_use = 0, mbufs = 0;
    uint64_t routes = 0, peers = 0, pods = 0;
    std::vector<std::pair<std::string, uint64_t>> neighbors;  // state -> count
    std::optional<k8s_stats> k8s;                             // absent: no "kubernetes" config
    std::optional<services_metrics> services;
    bool ready = false;
    bool healthy = false;
};

// The whole /metrics body. Its size is bounded by the ports (RTE_MAX_ETHPORTS),
// workers and drop reasons; no label carries an address or other unbounded value.
std::string render_metrics(const metrics_input& in);

}  // namespace vxr::control
