// The node's own traffic to its node ports and hostPorts (host_nat.hpp).
#include "control/services/host_nat.hpp"

#include <tuple>

#include "common/log.hpp"
#include "control/node/json_out.hpp"
#include "control/node/netns.hpp"

namespace vxr::control::services {

namespace {

// A failed transaction is tried again no sooner than this: nft is a process
// per try, and what failed (no nf_tables in the kernel, no CAP_NET_ADMIN)
// rarely heals by itself.
constexpr auto k_retry_every = std::chrono::seconds(5);

const char* nft_proto(k8s::l4_protocol p) {
    switch (p) {
        case k8s::l4_protocol::udp: return "udp";
        case k8s::l4_protocol::sctp: return "sctp";
        default: return "tcp";
    }
}

// The node's address (which the kernel sources a packet to a local address
// from: the address itself) may reach a fenced load-balancer IP when a range
// holds it or a node address, as kube-proxy's firewall chain lets it.
bool node_may_reach(const frontend& f, const std::vector<ip_addr>& node_ips) {
    if (f.source_ranges.empty() || f.ranges_hold_node(node_ips)) return true;
    for (const auto& r : f.source_ranges)
        if (r.contains(f.key.addr)) return true;
    return false;
}

std::string map_elements(const host_nat_plan& plan) {
    std::string s;
    for (const auto& r : plan.rules)
        s += "\t" + r.from.addr.str() + " . " + nft_proto(r.from.protocol) + " . " + std::to_string(r.from.port) +
             " : " + r.to.str() + " . " + std::to_string(r.to_port) + ",\n";
    return s;
}

std::string set_elements(const host_nat_plan& plan) {
    std::string s;
    const ip_addr* last = nullptr;
    for (const auto& r : plan.rules) {  // sorted by key: equal addresses are next to each other
        if (last != nullptr && *last == r.from.addr) continue;
        s += "\t" + r.from.addr.str() + ",\n";
        last = &r.from.addr;
    }
    return s;
}

}  // namespace

host_nat_plan plan_host_nat(const std::map<frontend_key, frontend_ptr>& frontends,
                            const std::vector<ip_addr>& node_ips) {
    // Each Service port's IPv4 ClusterIP frontend, by (Service, port name, protocol).
    std::map<std::tuple<std::string, std::string, k8s::l4_protocol>, const frontend*> cluster_ip;
    for (const auto& [key, f] : frontends)
        if (f->kind == frontend_kind::cluster_ip && key.addr.is_v4())
            cluster_ip.try_emplace(std::make_tuple(f->service, f->port_name, key.protocol), f.get());
    host_nat_plan plan;
    for (const auto& [key, f] : frontends) {
        if (!key.addr.is_v4() || f->kind == frontend_kind::cluster_ip) continue;
        if (f->kind == frontend_kind::host_port) {
            // Its one backend is the pod (containerPort), the client kept:
            // from the node, the node's overlay address.
            if (f->backends.empty() || !f->backends.front().addr.is_v4()) continue;
            plan.rules.push_back({key, f->backends.front().addr, f->backends.front().port});
            continue;
        }
        if (f->kind == frontend_kind::load_balancer && !node_may_reach(*f, node_ips)) {
            ++plan.fenced;
            continue;
        }
        // Through the ClusterIP: the workers pick among all the Service
        // port's backends (kube-proxy sends the node's own traffic to an
        // externalTrafficPolicy Local node port to every endpoint too), or
        // reject when it has none.
        auto c = cluster_ip.find(std::make_tuple(f->service, f->port_name, key.protocol));
        if (c == cluster_ip.end()) {
            ++plan.without_cluster_ip;
            continue;
        }
        plan.rules.push_back({key, c->second->key.addr, c->second->key.port});
    }
    return plan;
}

std::string render_host_nat_table(const host_nat_params& p) {
    const std::string t = "ip " + p.table;
    // add + delete + define: replaces a table an earlier run left behind
    // (a crash) atomically, and works as well when there is none.
    return "add table " + t + "\n" +
           "delete table " + t + "\n" +
           "table " + t + " {\n"
           "\tmap frontends {\n"
           "\t\ttype ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service\n"
           "\t}\n"
           "\tset addresses {\n"
           "\t\ttype ipv4_addr\n"
           "\t}\n"
           "\tchain output {\n"
           "\t\ttype nat hook output priority -100; policy accept;\n"
           "\t\tfib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @frontends\n"
           "\t}\n"
           "\tchain postrouting {\n"
           "\t\ttype nat hook postrouting priority 100; policy accept;\n"
           "\t\toifname \"" + p.host_iface + "\" ct status dnat ct original ip daddr @addresses snat ip to " +
           p.overlay_src.str() + "\n"
           "\t}\n"
           "}\n";
}

std::string render_host_nat_elements(const host_nat_params& p, const host_nat_plan& plan) {
    const std::string t = "ip " + p.table;
    std::string s = "flush map " + t + " frontends\n" + "flush set " + t + " addresses\n";
    if (plan.rules.empty()) return s;  // nft refuses an empty element list
    s += "add element " + t + " frontends {\n" + map_elements(plan) + "}\n";
    s += "add element " + t + " addresses {\n" + set_elements(plan) + "}\n";
    return s;
}

std::string render_host_nat_delete(const host_nat_params& p) { return "delete table ip " + p.table + "\n"; }

host_nat::host_nat(host_nat_params p, runner run) : params_(std::move(p)), run_(std::move(run)) {
    if (!run_) run_ = [](const std::string& input) { return run_command({"nft", "-f", "-"}, input); };
}

bool host_nat::apply(const std::string& text, const char* what) {
    last_try_ = std::chrono::steady_clock::now();
    auto r = run_(text);
    if (!r) {
        ++stats_.failures;
        stats_.last_error = std::string(what) + ": " + r.err();
        VXR_LOG_ERROR("services: host node-port rules (nft table ip %s): %s; the node's own connections to its "
                      "node ports and hostPorts stay in its kernel until this succeeds",
                      params_.table.c_str(), stats_.last_error.c_str());
        return false;
    }
    ++stats_.applies;
    stats_.last_error.clear();
    return true;
}

void host_nat::start() {
    applied_.clear();
    stats_.installed = apply(render_host_nat_table(params_), "creating the table");
    if (stats_.installed) stats_.rules = 0;
    pending_ = true;
}

void host_nat::push() {
    if (!stats_.installed) {
        start();
        if (!stats_.installed) return;
    }
    const std::string text = render_host_nat_elements(params_, want_);
    if (text == applied_) {
        pending_ = false;
        return;
    }
    if (!apply(text, "replacing the elements")) {
        applied_.clear();  // unknown now: the next try sends it whole anyway
        pending_ = true;
        return;
    }
    applied_ = text;
    pending_ = false;
    stats_.rules = want_.rules.size();
    stats_.without_cluster_ip = want_.without_cluster_ip;
    stats_.fenced = want_.fenced;
}

void host_nat::update(const std::map<frontend_key, frontend_ptr>& frontends, const std::vector<ip_addr>& node_ips) {
    want_ = plan_host_nat(frontends, node_ips);
    push();
}

void host_nat::retry_failed() {
    if (!pending_ || std::chrono::steady_clock::now() - last_try_ < k_retry_every) return;
    push();
}

void host_nat::stop() {
    if (!stats_.installed) return;
    if (apply(render_host_nat_delete(params_), "deleting the table")) {
        stats_.installed = false;
        stats_.rules = 0;
        applied_.clear();
    }
}

void write_json(k8s::json_writer& w, const host_nat& h) {
    const auto& s = h.stats();
    w.StartObject();
    kv(w, "table", "ip " + h.params().table);
    w.Key("installed");
    w.Bool(s.installed);
    kv(w, "rules", uint64_t{s.rules});
    kv(w, "without_cluster_ip", uint64_t{s.without_cluster_ip});
    kv(w, "fenced", uint64_t{s.fenced});
    kv(w, "applies", uint64_t{s.applies});
    kv(w, "failures", uint64_t{s.failures});
    if (!s.last_error.empty()) kv(w, "last_error", s.last_error);
    w.EndObject();
}

}  // namespace vxr::control::services
