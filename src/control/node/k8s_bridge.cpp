#include "control/node/k8s_bridge.hpp"
#include "control/node/json_out.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "common/log.hpp"
#include "control/k8s/client_config.hpp"

namespace vxr::control {
namespace {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Seconds since t, or null when it never happened.
void put_age(writer& w, const char* key, std::chrono::system_clock::time_point t) {
    w.Key(key);
    if (t == std::chrono::system_clock::time_point{}) {
        w.Null();
        return;
    }
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - t);
    w.Int64(std::max<int64_t>(0, age.count()));
}

std::string describe(const peer_config& p) {
    return (p.name.empty() ? std::string("?") : p.name) + " (" + p.node_ip.str() + ", " + p.pod_cidr.str() +
           ", VTEP " + p.vtep_mac.str() + ")";
}

}  // namespace

k8s_bridge::k8s_bridge(const config& cfg, router& r) : cfg_(cfg), kcfg_(cfg.kubernetes.value()), router_(r) {}

k8s_bridge::~k8s_bridge() { stop(); }

result<void> k8s_bridge::start() {
    auto client = kcfg_.in_cluster ? k8s::in_cluster_config() : k8s::load_kubeconfig(kcfg_.kubeconfig);
    if (!client) return make_error("kubernetes: " + client.err());
    source_ = client->source + " -> " + client->server;
    k8s::sync_options o;
    o.node.prefix = kcfg_.annotation_prefix;
    o.node.vni = cfg_.vni;
    o.node.self_name = cfg_.node_name;
    auto s = k8s::cluster_sync::create(*client, std::move(o));
    if (!s) return make_error("kubernetes: " + s.err());
    auto cache = k8s::watch_cache::create(kcfg_.watch);
    if (!cache) return make_error("kubernetes: " + cache.err());
    cache_ = std::move(*cache);
    cache_->attach(**s);
    thread_ = std::make_unique<k8s::sync_thread>(std::move(*s));
    thread_->start();
    std::string also;
    for (const auto& n : cache_->names()) also += ", " + n;
    VXR_LOG_INFO("kubernetes: watching nodes%s at %s (annotations %s/*, VNI %u)", also.c_str(), source_.c_str(),
                 kcfg_.annotation_prefix.c_str(), cfg_.vni);
    return {};
}

void k8s_bridge::stop() {
    if (!thread_) return;
    thread_->stop();
    thread_.reset();
    VXR_LOG_INFO("kubernetes: sync stopped");
}

void k8s_bridge::poll() {
    if (!thread_) return;
    // Status before the drain: the sync thread queues a list's diff before
    // it reports synced, so once this says synced, the drain applies it.
    const auto st = thread_->status();
    // Only diffs change forwarding: while the API server is unreachable
    // nothing arrives and the router keeps the last known peers.
    for (const auto& d : thread_->drain()) apply(d);
    if (st.synced) programmed_ = true;
    cache_->poll();
    log_transitions(st);
    if (st.synced && kcfg_.publish && !publish_requested_) {
        // The router encapsulates with, and accepts, only its configured VTEP
        // MAC; publishing any other would make peers' traffic undeliverable.
        if (st.own_vtep_mac && *st.own_vtep_mac != cfg_.vtep_mac)
            VXR_LOG_WARN("kubernetes: node %s published VTEP MAC %s before; republishing the configured %s",
                         cfg_.node_name.c_str(), st.own_vtep_mac->str().c_str(), cfg_.vtep_mac.str().c_str());
        thread_->publish_self({cfg_.vni, cfg_.vtep_mac, cfg_.node_ip.addr});
        publish_requested_ = true;
        VXR_LOG_INFO("kubernetes: publishing node %s (public-ip %s, VTEP %s)", cfg_.node_name.c_str(),
                     cfg_.node_ip.addr.str().c_str(), cfg_.vtep_mac.str().c_str());
    }
}

void k8s_bridge::apply(const k8s::peer_diff& d) {
    // One snapshot per diff, not per node: an initial sync brings thousands.
    router_.begin_batch();
    apply_changes(d);
    router_.end_batch();
}

void k8s_bridge::apply_changes(const k8s::peer_diff& d) {
    for (const auto& p : d.removed) remove(p);
    // An update replaces the node's own peer entry (remove + add); other
    // peers' routes and templates are not touched.
    for (const auto& u : d.updated) {
        VXR_LOG_INFO("kubernetes: peer %s changed to %s", describe(u.before).c_str(), describe(u.after).c_str());
        remove(u.before, false);
        if (add(u.after, false)) ++updated_;
    }
    for (const auto& p : d.added) add(p);
}

bool k8s_bridge::add(const peer_config& p, bool count) {
    if (auto r = router_.add_peer(p); !r) {
        ++failures_;
        last_failure_ = "add " + describe(p) + ": " + r.err();
        failed_[p.node_ip] = r.err();
        VXR_LOG_ERROR("kubernetes: cannot add peer %s: %s", describe(p).c_str(), r.err().c_str());
        return false;
    }
    failed_.erase(p.node_ip);
    if (count) ++added_;
    VXR_LOG_INFO("kubernetes: added peer %s", describe(p).c_str());
    return true;
}

void k8s_bridge::remove(const peer_config& p, bool count) {
    // A peer the router refused was never installed: nothing to withdraw.
    if (failed_.erase(p.node_ip)) return;
    if (auto r = router_.remove_peer(p.node_ip); !r) {
        ++failures_;
        last_failure_ = "remove " + describe(p) + ": " + r.err();
        VXR_LOG_ERROR("kubernetes: cannot remove peer %s: %s", describe(p).c_str(), r.err().c_str());
        return;
    }
    if (count) ++removed_;
    VXR_LOG_INFO("kubernetes: removed peer %s", describe(p).c_str());
}

void k8s_bridge::log_transitions(const k8s::sync_status& st) {
    if (st.synced != was_synced_) {
        VXR_LOG_INFO("kubernetes: synced (%zu peers, %zu nodes skipped, resourceVersion %s)", st.peers, st.skipped,
                     st.resource_version.c_str());
        was_synced_ = st.synced;
    }
    if (st.watch_connected != was_connected_) {
        if (st.watch_connected) VXR_LOG_INFO("kubernetes: watch connected");
        else VXR_LOG_WARN("kubernetes: watch disconnected; forwarding with the last known peers");
        was_connected_ = st.watch_connected;
    }
    // Errors and publication are logged by the sync thread itself, as they happen.
}

k8s_stats k8s_bridge::stats() const {
    k8s_stats s;
    s.source = source_;
    if (!thread_) return s;
    s.running = true;
    s.sync = thread_->status();
    s.routes_programmed = programmed_;
    s.peers_added = added_;
    s.peers_updated = updated_;
    s.peers_removed = removed_;
    s.peer_failures = failures_;
    s.caches = cache_->stats();
    return s;
}

result<std::string> k8s_bridge::show_cache(const std::string& what) const {
    const std::string name = what == "endpoints"      ? "endpointslices"
                             : what == "policies"     ? "networkpolicies"
                             : what == "cluster-pods" ? "pods"
                                                      : what;
    if (!cache_) return make_error("kubernetes sync is not running");
    auto arr = cache_->show(name);
    if (!arr) return arr;
    return "{\"" + what + "\":" + *arr + "}";
}

std::string k8s_bridge::show() const {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    w.Key("enabled");
    w.Bool(true);
    kv(w, "source", source_);
    if (!thread_) {
        w.Key("running");
        w.Bool(false);
        w.EndObject();
        return sb.GetString();
    }
    const auto st = thread_->status();
    w.Key("synced");
    w.Bool(st.synced);
    w.Key("watch_connected");
    w.Bool(st.watch_connected);
    put_age(w, "last_sync_s_ago", st.last_sync);
    w.Key("consecutive_errors");
    w.Uint(st.consecutive_errors);
    kv(w, "last_error", st.last_error);
    put_age(w, "last_error_s_ago", st.last_error_time);
    kv(w, "resource_version", st.resource_version);
    w.Key("lists");
    w.Uint64(st.lists);
    w.Key("watches");
    w.Uint64(st.watches);
    w.Key("events");
    w.Uint64(st.events);
    w.Key("malformed");
    w.Uint64(st.malformed);
    w.Key("gone");
    w.Uint64(st.gone);
    w.Key("publish");
    w.Bool(kcfg_.publish);
    w.Key("self_published");
    w.Bool(st.self_published);
    w.Key("publish_attempts");
    w.Uint(st.publish_attempts);
    kv(w, "publish_error", st.publish_error);
    w.Key("applied");
    w.StartObject();
    w.Key("added");
    w.Uint64(added_);
    w.Key("updated");
    w.Uint64(updated_);
    w.Key("removed");
    w.Uint64(removed_);
    w.Key("failures");
    w.Uint64(failures_);
    kv(w, "last_failure", last_failure_);
    w.EndObject();
    auto peers = thread_->peers();
    std::sort(peers.begin(), peers.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    w.Key("peers");
    w.StartArray();
    for (const auto& p : peers) {
        w.StartObject();
        kv(w, "name", p.name);
        kv(w, "node_ip", p.node_ip.str());
        kv(w, "vtep_mac", p.vtep_mac.str());
        kv(w, "pod_cidr", p.pod_cidr.str());
        auto f = failed_.find(p.node_ip);
        kv(w, "state", f == failed_.end() ? "installed" : "failed");
        kv(w, "error", f == failed_.end() ? std::string() : f->second);
        w.EndObject();
    }
    w.EndArray();
    w.Key("caches");
    w.StartArray();
    for (const auto& c : cache_->stats()) {
        w.StartObject();
        kv(w, "resource", c.name);
        for (const auto& r : st.caches) {
            if (r.name != c.name) continue;
            w.Key("synced");
            w.Bool(r.watch.synced);
            w.Key("watch_connected");
            w.Bool(r.watch.watch_connected);
            kv(w, "resource_version", r.watch.resource_version);
            kv(w, "lists", r.watch.lists);
            kv(w, "events", r.watch.events);
            kv(w, "gone", r.watch.gone);
            kv(w, "stalls", r.watch.stalls);
            kv(w, "malformed", r.watch.malformed);
            kv(w, "last_error", r.watch.last_error);
        }
        kv(w, "objects", static_cast<uint64_t>(c.store.objects));
        kv(w, "decode_errors", c.store.decode_errors);
        kv(w, "changes", c.store.changes);
        w.Key("latency_p50_ms");
        w.Double(c.store.latency.quantile(0.5) * 1e3);
        w.Key("latency_p99_ms");
        w.Double(c.store.latency.quantile(0.99) * 1e3);
        w.EndObject();
    }
    w.EndArray();
    w.Key("skipped");
    w.StartArray();
    for (const auto& s : thread_->skipped()) {
        w.StartObject();
        kv(w, "name", s.name);
        kv(w, "reason", s.reason);
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return sb.GetString();
}

}  // namespace vxr::control
