// cluster_sync on its own thread. The daemon's control loop (main lcore)
// also waits on RCU quiescence and serves the punt ring; it must not stall on
// a TLS handshake or on parsing a 5,000-node NodeList, so all of that happens
// here and the control loop only takes a short lock to drain diffs.
//
// Daemon call sequence:
//   auto cfg = k8s::in_cluster_config();               // or load_kubeconfig()
//   auto s = k8s::cluster_sync::create(*cfg, opts);     // opts.node = {prefix, vni, node name}
//   k8s::sync_thread t(std::move(*s));
//   t.start();
//   ... once t.status().synced: mac = t.status().own_vtep_mac.value_or(fresh_mac)
//   t.publish_self({vni, mac, node_ip});
//   loop: for (auto& d : t.drain()) apply(d);   // in order; also poll notify_fd()
//         t.status() for vxroutectl / metrics
//   t.stop();
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "control/k8s/cluster_sync.hpp"

namespace vxr::control::k8s {

class sync_thread {
public:
    explicit sync_thread(std::unique_ptr<cluster_sync> sync);
    ~sync_thread();
    sync_thread(const sync_thread&) = delete;
    sync_thread& operator=(const sync_thread&) = delete;

    void start();
    void stop();

    // Everything that changed since the last drain, oldest first. Never blocks
    // on the network; the lock is only held to swap a vector.
    std::vector<peer_diff> drain();
    // Waits up to timeout for a diff (tests, benchmarks; the daemon polls).
    bool wait_for_diff(std::chrono::milliseconds timeout);
    // An eventfd that is readable while diffs are waiting (cleared by drain()),
    // so a control loop that sleeps in epoll can wake for route changes.
    int notify_fd() const { return event_fd_; }

    void publish_self(const self_publication& self);
    sync_status status() const;
    std::vector<skipped_node> skipped() const;
    // A copy of the current peer set (status pages, debugging).
    std::vector<peer_config> peers() const;

private:
    void run();
    void snapshot();

    std::unique_ptr<cluster_sync> sync_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    int event_fd_ = -1;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<peer_diff> queue_;
    std::optional<self_publication> pending_publish_;
    sync_status status_;
    std::vector<skipped_node> skipped_;
    std::vector<peer_config> peers_;
    bool tables_dirty_ = true;
};

}  // namespace vxr::control::k8s
