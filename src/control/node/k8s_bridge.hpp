// The Kubernetes side of vxrouted's control loop: owns the k8s sync thread
// (Node list+watch, our own node's publication), applies its peer diffs to
// the router in order, and renders `show k8s`. The network and JSON work
// happen on the sync thread; poll() only drains diffs and calls the router.
// Thread: control (main) lcore, except inside sync_thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "control/node/config.hpp"
#include "control/k8s/sync_thread.hpp"
#include "control/k8s/watch_cache.hpp"
#include "control/node/router.hpp"
#include "control/node/stats.hpp"

namespace vxr::control {

class k8s_bridge {
public:
    // cfg.kubernetes must be set.
    k8s_bridge(const config& cfg, router& r);
    ~k8s_bridge();
    k8s_bridge(const k8s_bridge&) = delete;
    k8s_bridge& operator=(const k8s_bridge&) = delete;

    // Load the kubeconfig / service account, start the sync thread. Fails
    // only on local problems (unreadable kubeconfig...); an unreachable API
    // server is retried in the background.
    result<void> start();
    // Each control-loop turn: apply what changed, publish our node once synced,
    // log state transitions. Never waits on the network.
    void poll();
    void stop();

    // JSON for `show k8s`.
    std::string show() const;
    // JSON object {"<what>": [...]} for `show services|endpoints|pods|
    // namespaces|policies` (the API's plural names work too).
    result<std::string> show_cache(const std::string& what) const;
    // Readable while the watch cache has changes for poll() (-1 before start()).
    int wake_fd() const { return cache_ ? cache_->notify_fd() : -1; }
    // The watch cache (null before start()); handlers register on it.
    k8s::watch_cache* cache() { return cache_.get(); }
    const k8s::watch_cache* cache() const { return cache_.get(); }
    // Sync state and counters for the metrics endpoint and /readyz.
    k8s_stats stats() const;

private:
    void apply(const k8s::peer_diff& d);
    void apply_changes(const k8s::peer_diff& d);
    bool add(const peer_config& p, bool count = true);
    void remove(const peer_config& p, bool count = true);
    void log_transitions(const k8s::sync_status& st);

    const config& cfg_;
    const kubernetes_config kcfg_;
    router& router_;
    std::unique_ptr<k8s::watch_cache> cache_;  // declared first: outlives the sync thread that feeds it
    std::unique_ptr<k8s::sync_thread> thread_;
    std::string source_;
    bool publish_requested_ = false;
    bool programmed_ = false;  // the initial Node list's peers are in the router
    // Peers the API server announced that the router refused (overlap, ...):
    // node_ip -> error. They are retried on the node's next update.
    std::map<ipv4_addr, std::string> failed_;
    uint64_t added_ = 0, updated_ = 0, removed_ = 0, failures_ = 0;
    std::string last_failure_;
    // What the last poll saw, so that only changes are logged.
    bool was_synced_ = false, was_connected_ = false;
};

}  // namespace vxr::control
