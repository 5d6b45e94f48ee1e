#include "control/ops/metrics.hpp"

#include <charconv>
#include <cstdio>
#include <chrono>
#include <cmath>

namespace vxr::control {

namespace {

std::string escape(std::string_view s, bool quote) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (quote && c == '"') out += "\\\"";
        else out += c;
    }
    return out;
}

// The help of each VXR_EVENTS counter (fastpath/counters.hpp), in its order.
struct event_help {
    const char* event;
    const char* help;
};
constexpr event_help k_event_help[] = {
    {"encapsulated", "Packets encapsulated in VXLAN towards a peer node."},
    {"decapsulated", "VXLAN packets from peer nodes decapsulated."},
    {"routed_local", "Packets routed to a pod on this node."},
    {"to_host", "Packets handed to the host exception port."},
    {"from_host", "Packets received on the host exception port or for it."},
    {"arp_replied", "ARP requests the worker answered."},
    {"icmp_sent", "ICMP messages the worker sent (echo replies and errors)."},
    {"punted", "Packets handed to the control thread (ARP, waiting for a neighbour)."},
    {"injected", "Packets the control thread sent through this worker."},
    {"snapshots_seen", "Table snapshots this worker switched to."},
    {"ct_hits", "Packets of a tracked (Service) flow found in connection tracking."},
    {"svc_new_flows", "New flows to a Service frontend that picked a backend."},
    {"svc_translated", "Packets rewritten by Service translation (either direction)."},
    {"svc_untranslated", "Packets that passed the Service pre-check but belong to no frontend or tracked flow."},
    {"svc_rejected", "Packets to a Service without endpoints, answered with ICMP port unreachable."},
    {"svc_icmp_translated", "ICMP errors about a translated flow whose quoted packet was translated back."},
    {"svc_to_uplink", "Replies to clients outside the cluster (node ports, external and load-balancer IPs) sent out the uplink to the next hop their flow came from."},
};
constexpr size_t k_events = 0
#define VXR_EVENT(name) +1
    VXR_EVENTS(VXR_EVENT)
#undef VXR_EVENT
    ;
static_assert(std::size(k_event_help) == k_events, "k_event_help lists an event VXR_EVENTS does not have");
constexpr const char* help_of(std::string_view event) {
    for (const auto& h : k_event_help)
        if (event == h.event) return h.help;
    return nullptr;
}

std::string worker_id(const worker_stats& w) { return std::to_string(w.id); }

void render_build(exposition& e, const metrics_input& in) {
    e.gauge("vxroute_build_info", "vxroute build: version and the DPDK it runs on; always 1.");
    e.sample(1, {{"version", in.version}, {"dpdk_version", in.dpdk_version}});
    e.gauge("vxroute_node_info", "This node's name as configured; always 1.");
    e.sample(1, {{"node", in.node_name}});
    e.gauge("vxroute_start_time_seconds", "Unix time vxrouted started.");
    e.sample_double(in.start_time_seconds);
    e.gauge("vxroute_ready", "1 when /readyz answers 200.");
    e.sample(in.ready ? 1 : 0);
    e.gauge("vxroute_healthy", "1 when /healthz answers 200.");
    e.sample(in.healthy ? 1 : 0);
    e.gauge("vxroute_tsc_hz", "TSC ticks per second: divides the *_cycles_total counters into seconds.");
    e.sample(in.tsc_hz);
}

void render_ports(exposition& e, const metrics_input& in) {
    auto per_port = [&](counter_name name, const char* help, uint64_t port_stats::*field) {
        e.counter(name, help);
        for (const auto& p : in.ports) e.sample(p.*field, {{"port", p.name}, {"kind", p.kind}});
    };
    per_port("vxroute_port_rx_packets_total", "Packets the workers received on the port.", &port_stats::rx_packets);
    per_port("vxroute_port_rx_bytes_total", "Bytes the workers received on the port.", &port_stats::rx_bytes);
    per_port("vxroute_port_tx_packets_total", "Packets the workers sent on the port.", &port_stats::tx_packets);
    per_port("vxroute_port_tx_bytes_total", "Bytes the workers sent on the port.", &port_stats::tx_bytes);
    per_port("vxroute_port_tx_dropped_total", "Packets the device did not accept for sending (TX queue full).",
             &port_stats::tx_dropped);
    per_port("vxroute_port_rx_missed_total", "Packets the device dropped for lack of RX descriptors (imissed).",
             &port_stats::rx_missed);
    per_port("vxroute_port_rx_nombuf_total", "RX mbuf allocation failures of the device (rx_nombuf).",
             &port_stats::rx_nombuf);
    per_port("vxroute_port_rx_errors_total", "Erroneous packets the device received (ierrors).",
             &port_stats::rx_errors);
    per_port("vxroute_port_tx_errors_total", "Packets the device failed to send (oerrors).", &port_stats::tx_errors);
    per_port("vxroute_port_link_changes_total", "Link up/down events of the port.", &port_stats::link_changes);
    per_port("vxroute_port_queue_state_changes_total", "Queues enabled or disabled by the other side (vhost-user).",
             &port_stats::queue_state_changes);

    auto per_queue = [&](counter_name name, const char* help, uint64_t queue_stats::*field) {
        e.counter(name, help);
        for (const auto& p : in.ports)
            for (const auto& q : p.queues) e.sample(q.*field, {{"port", p.name}, {"queue", std::to_string(q.id)}});
    };
    per_queue("vxroute_port_queue_rx_packets_total", "Packets received on the device queue, as the device counts.",
              &queue_stats::rx_packets);
    per_queue("vxroute_port_queue_rx_bytes_total", "Bytes received on the device queue, as the device counts.",
              &queue_stats::rx_bytes);
    per_queue("vxroute_port_queue_tx_packets_total", "Packets sent on the device queue, as the device counts.",
              &queue_stats::tx_packets);
    per_queue("vxroute_port_queue_tx_bytes_total", "Bytes sent on the device queue, as the device counts.",
              &queue_stats::tx_bytes);

    e.gauge("vxroute_port_link_up", "1 when the port's link is up.");
    for (const auto& p : in.ports) e.sample(p.link_up ? 1 : 0, {{"port", p.name}, {"kind", p.kind}});
    e.gauge("vxroute_vhost_connected", "1 when the vhost-user pod is connected (its port's link is up).");
    for (const auto& p : in.ports)
        if (p.pod_kind == "vhost-user") e.sample(p.link_up ? 1 : 0, {{"port", p.name}});
}

void render_workers(exposition& e, const metrics_input& in) {
    e.gauge("vxroute_worker_info", "The lcore each worker runs on; always 1.");
    for (const auto& w : in.workers) e.sample(1, {{"worker", worker_id(w)}, {"lcore", std::to_string(w.lcore)}});
    auto per_worker = [&](counter_name name, const char* help, uint64_t counter_sums::*field) {
        e.counter(name, help);
        for (const auto& w : in.workers) e.sample(w.counters.*field, {{"worker", worker_id(w)}});
    };
    per_worker("vxroute_worker_busy_cycles_total", "TSC cycles of loop iterations that received packets.",
               &counter_sums::busy_cycles);
    per_worker("vxroute_worker_cycles_total", "TSC cycles since the worker started.", &counter_sums::total_cycles);
    per_worker("vxroute_worker_polls_total", "Worker loop iterations.", &counter_sums::polls);
    per_worker("vxroute_worker_idle_polls_total", "Worker loop iterations that received nothing.",
               &counter_sums::idle_polls);
#define VXR_EVENT(name)                                                              \
    static_assert(help_of(#name) != nullptr, "k_event_help needs a line for " #name); \
    per_worker("vxroute_" #name "_total", help_of(#name), &counter_sums::name);
    VXR_EVENTS(VXR_EVENT)
#undef VXR_EVENT

    e.counter("vxroute_drops_total", "Packets the workers dropped, by reason (fastpath/drop_reasons.def).");
    counter_sums total;
    for (const auto& w : in.workers)
        for (size_t r = 0; r < total.drops.size(); ++r) total.drops[r] += w.counters.drops[r];
    for (size_t r = 0; r < total.drops.size(); ++r) e.sample(total.drops[r], {{"reason", fastpath::k_drop_names[r]}});
}

void render_control(exposition& e, const metrics_input& in) {
    const control_counters& c = in.control;
    e.counter("vxroute_arp_requests_sent_total", "ARP requests the control thread sent for underlay neighbours.");
    e.sample(c.arp_requests_sent);
    e.counter("vxroute_arp_replies_sent_total", "ARP replies the control thread sent on the uplink.");
    e.sample(c.arp_replies_sent);
    e.counter("vxroute_arp_learned_total", "Underlay neighbour MACs learned from ARP.");
    e.sample(c.arp_learned);
    e.counter("vxroute_arp_to_host_total", "ARP frames passed to the host exception port.");
    e.sample(c.arp_to_host);
    e.counter("vxroute_neighbor_queue_sent_total", "Packets sent once their underlay neighbour resolved.");
    e.sample(c.pending_sent);
    e.counter("vxroute_neighbor_queue_dropped_total",
              "Packets dropped while waiting for an underlay neighbour (queue full or neighbour failed).");
    e.sample(c.pending_dropped);
    e.counter("vxroute_inject_dropped_total", "Control-thread packets dropped because worker 0's ring was full.");
    e.sample(in.inject_dropped);
    e.counter("vxroute_snapshots_published_total", "Table snapshots published to the workers.");
    e.sample(c.snapshots_published);
    e.counter("vxroute_route_changes_total", "Routes added or removed.");
    e.sample(c.route_changes);
    e.gauge("vxroute_mbufs_in_use", "Mbufs of the packet pool in use.");
    e.sample(in.mbufs_in_use);
    e.gauge("vxroute_mbufs", "Size of the packet pool.");
    e.sample(in.mbufs);
    e.gauge("vxroute_routes", "Routes in the LPM table.");
    e.sample(in.routes);
    e.gauge("vxroute_peers", "Peer nodes (VXLAN tunnel endpoints).");
    e.sample(in.peers);
    e.gauge("vxroute_pods", "Pods attached to this node.");
    e.sample(in.pods);
    e.gauge("vxroute_neighbors", "Underlay neighbours in use, by state.");
    for (const auto& [state, n] : in.neighbors) e.sample(n, {{"state", state}});
}

// The watch cache, one series per resource (kubernetes.watch).
void render_k8s_caches(exposition& e, const k8s_stats& k) {
    auto watch_of = [&](const std::string& name) {
        for (const auto& r : k.sync.caches)
            if (r.name == name) return r.watch;
        return k8s::reflector_stats{};
    };
    struct row {
        std::string name;
        k8s::reflector_stats w;
        k8s::store_stats s;
    };
    std::vector<row> rows;
    for (const auto& c : k.caches) rows.push_back({c.name, watch_of(c.name), c.store});
    if (rows.empty()) return;  // kubernetes.watch names nothing: no families without series
    auto each = [&](auto value) {
        for (const auto& r : rows) e.sample(value(r), {{"resource", r.name}});
    };
    e.gauge("vxroute_k8s_cache_synced", "1 once the resource's first full list is in the watch cache.");
    each([](const row& r) { return uint64_t{r.w.synced}; });
    e.gauge("vxroute_k8s_cache_watch_connected", "1 while the resource's watch is connected.");
    each([](const row& r) { return uint64_t{r.w.watch_connected}; });
    e.gauge("vxroute_k8s_cache_objects", "Objects of the resource held in the watch cache.");
    each([](const row& r) { return uint64_t{r.s.objects}; });
    e.counter("vxroute_k8s_cache_lists_total", "Full lists of the resource (the first, then every relist).");
    each([](const row& r) { return r.w.lists; });
    e.counter("vxroute_k8s_cache_relists_total", "Lists after the first: a watch expired (410) or the list failed.");
    each([](const row& r) { return r.w.lists > 0 ? r.w.lists - 1 : 0; });
    e.counter("vxroute_k8s_cache_events_total", "Watch events of the resource (bookmarks included).");
    each([](const row& r) { return r.w.events; });
    e.counter("vxroute_k8s_cache_decode_errors_total",
              "Objects or events of the resource that could not be decoded: logged by namespace/name and skipped.");
    each([](const row& r) { return r.w.malformed; });
    e.counter("vxroute_k8s_cache_watch_stalls_total", "Watches restarted because no byte arrived for the stall limit.");
    each([](const row& r) { return r.w.stalls; });
    e.histogram("vxroute_k8s_cache_event_latency_seconds",
                "From a watch event's arrival to its change reaching the control loop's handlers.");
    for (const auto& r : rows)
        e.histogram_sample(k8s::latency_histogram::k_bounds.data(), r.s.latency.buckets.data(),
                           k8s::latency_histogram::k_bounds.size(), r.s.latency.sum, r.s.latency.count,
                           {"resource", r.name});
}

void render_k8s(exposition& e, const metrics_input& in) {
    e.gauge("vxroute_k8s_configured", "1 when peers come from the Kubernetes API server.");
    e.sample(in.k8s ? 1 : 0);
    if (!in.k8s) return;
    const k8s_stats& k = *in.k8s;
    const k8s::sync_status& st = k.sync;
    e.gauge("vxroute_k8s_synced", "1 once the first Node list is received and its peers are programmed.");
    e.sample(st.synced && k.routes_programmed ? 1 : 0);
    e.gauge("vxroute_k8s_watch_connected", "1 while the Node watch is connected.");
    e.sample(st.watch_connected ? 1 : 0);
    e.gauge("vxroute_k8s_last_sync_timestamp_seconds",
            "Unix time of the last successful list, watch event or bookmark (0: never).");
    const auto since_epoch = std::chrono::duration_cast<std::chrono::seconds>(st.last_sync.time_since_epoch()).count();
    e.sample(static_cast<uint64_t>(since_epoch > 0 ? since_epoch : 0));
    e.gauge("vxroute_k8s_consecutive_errors", "Failed list/watch attempts since the last success.");
    e.sample(st.consecutive_errors);
    e.gauge("vxroute_k8s_self_published", "1 once this node's annotations are published.");
    e.sample(st.self_published ? 1 : 0);
    e.counter("vxroute_k8s_lists_total", "Node lists (initial and after a watch expired).");
    e.sample(st.lists);
    e.counter("vxroute_k8s_watches_total", "Node watches started (a restart after an error counts again).");
    e.sample(st.watches);
    e.counter("vxroute_k8s_events_total", "Node watch events received.");
    e.sample(st.events);
    e.counter("vxroute_k8s_malformed_total", "Node objects or events that could not be parsed.");
    e.sample(st.malformed);
    e.counter("vxroute_k8s_gone_total", "Watches that expired (410 Gone) and forced a new list.");
    e.sample(st.gone);
    e.counter("vxroute_k8s_peer_changes_total", "Peer changes from the API server applied to the router.");
    e.sample(k.peers_added, {{"change", "added"}});
    e.sample(k.peers_updated, {{"change", "updated"}});
    e.sample(k.peers_removed, {{"change", "removed"}});
    e.counter("vxroute_k8s_peer_failures_total", "Peer changes the router refused (overlaps, ...).");
    e.sample(k.peer_failures);
    e.gauge("vxroute_k8s_nodes", "Nodes the API server lists, by what became of them.");
    e.sample(st.peers, {{"state", "peer"}});
    e.sample(st.skipped, {{"state", "skipped"}});
    render_k8s_caches(e, k);
}

}  // namespace

std::string escape_help(std::string_view s) { return escape(s, false); }
std::string escape_label_value(std::string_view s) { return escape(s, true); }

void exposition::family(std::string_view name, const char* type, std::string_view help) {
    family_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void exposition::series(std::initializer_list<label> labels, std::string_view suffix) {
    out_ += family_;
    out_ += suffix;
    if (labels.size() == 0) return;
    out_ += '{';
    bool first = true;
    for (const label& l : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += l.name.name;
        out_ += "=\"";
        out_ += escape_label_value(l.value);
        out_ += '"';
    }
    out_ += '}';
}

void exposition::sample(uint64_t value, std::initializer_list<label> labels) {
    series(labels);
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
}

void exposition::sample_double(double value, std::initializer_list<label> labels) {
    series(labels);
    out_ += ' ';
    number(value);
    out_ += '\n';
}

void exposition::histogram_sample(const double* bounds, const uint64_t* buckets, size_t n_bounds, double sum,
                                  uint64_t count, label l) {
    uint64_t cum = 0;
    char le[32];
    for (size_t i = 0; i <= n_bounds; ++i) {
        cum += buckets[i];
        if (i < n_bounds) {
            auto [end, ec] = std::to_chars(le, le + sizeof le - 1, bounds[i], std::chars_format::fixed);
            *(ec == std::errc{} ? end : le) = '\0';
        } else {
            std::snprintf(le, sizeof le, "+Inf");
        }
        series({l, {"le", le}}, "_bucket");
        out_ += ' ';
        out_ += std::to_string(cum);
        out_ += '\n';
    }
    series({l}, "_sum");
    out_ += ' ';
    number(sum);
    out_ += '\n';
    series({l}, "_count");
    out_ += ' ';
    out_ += std::to_string(count);
    out_ += '\n';
}

void exposition::number(double value) {
    if (std::isnan(value)) {
        out_ += "NaN";
    } else if (std::isinf(value)) {
        out_ += value > 0 ? "+Inf" : "-Inf";
    } else {
        char buf[32];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
        out_.append(buf, ec == std::errc{} ? end : buf);
    }
}

void render_services(exposition& e, const metrics_input& in) {
    e.gauge("vxroute_services_enabled", "1 when this node translates Services (the kube-proxy replacement).");
    e.sample(in.services ? 1 : 0);
    if (!in.services) return;
    const services_metrics& s = *in.services;
    auto each = [&](auto value) {
        for (const auto& f : s.frontends)
            e.sample(value(f), {{"service", f.service}, {"port", f.port}, {"frontend", f.address}});
    };
    if (!s.frontends.empty()) {
        e.counter("vxroute_service_new_flows_total", "New flows to the frontend that picked a backend.");
        each([](const auto& f) { return f.new_flows; });
        e.counter("vxroute_service_packets_total", "Client-to-Service packets of the frontend's flows.");
        each([](const auto& f) { return f.packets; });
        e.counter("vxroute_service_bytes_total", "Client-to-Service bytes of the frontend's flows.");
        each([](const auto& f) { return f.bytes; });
        e.counter("vxroute_service_rejects_total",
                  "Packets to the frontend while it had no usable endpoint (ICMP port unreachable sent).");
        each([](const auto& f) { return f.rejects; });
        e.counter("vxroute_service_source_denied_total",
                  "New flows to the frontend dropped: source outside the Service's loadBalancerSourceRanges.");
        each([](const auto& f) { return f.source_denied; });
    }
    e.gauge("vxroute_conntrack_entries", "Flows in the connection-tracking table.");
    e.sample(s.ct_entries);
    e.gauge("vxroute_conntrack_capacity", "Flows the connection-tracking table holds at most.");
    e.sample(s.ct_capacity);
    e.counter("vxroute_conntrack_inserts_total", "Flows added to connection tracking.");
    e.sample(s.ct_inserts);
    e.counter("vxroute_conntrack_expiries_total", "Flows removed by the idle sweep.");
    e.sample(s.ct_expiries);
    e.counter("vxroute_conntrack_full_total", "New flows refused: the table was full.");
    e.sample(s.ct_full);
    e.counter("vxroute_conntrack_busy_total", "New flows refused: an insert stayed contended.");
    e.sample(s.ct_busy);
    e.counter("vxroute_conntrack_clashes_total", "New flows refused: their reply tuple was another flow's.");
    e.sample(s.ct_clashes);
    e.counter("vxroute_conntrack_backend_ended_total", "TCP flows ended because their backend was removed.");
    e.sample(s.ct_ended);
    e.gauge("vxroute_service_affinity_entries", "Clients with a remembered backend (sessionAffinity ClientIP).");
    e.sample(s.affinity_entries);
    e.counter("vxroute_service_tables_published_total", "Service tables published to the workers.");
    e.sample(s.tables_published);
    e.counter("vxroute_service_table_errors_total", "Service tables that failed to build (the workers kept the last).");
    e.sample(s.build_errors);
    e.gauge("vxroute_service_health_listeners", "healthCheckNodePort listeners open (one per LoadBalancer Service "
                                                "with externalTrafficPolicy Local).");
    e.sample(s.health_listeners);
    e.counter("vxroute_service_health_listen_failures_total",
              "Attempts to open a healthCheckNodePort listener that failed (port in use...; retried).");
    e.sample(s.health_listen_failures);
    e.gauge("vxroute_service_host_nat_rules",
            "The node's own node-port, external-IP and hostPort DNATs in nftables table ip vxroute.");
    e.sample(s.host_nat_rules);
    e.counter("vxroute_service_host_nat_failures_total",
              "nft transactions on table ip vxroute that failed (logged with nft's message; retried).");
    e.sample(s.host_nat_failures);
}

std::string render_metrics(const metrics_input& in) {
    exposition e;
    render_build(e, in);
    render_ports(e, in);
    render_workers(e, in);
    render_control(e, in);
    render_k8s(e, in);
    render_services(e, in);
    return e.text();
}

}  // namespace vxr::control
