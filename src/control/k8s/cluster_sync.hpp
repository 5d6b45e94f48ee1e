// The control plane's view of the cluster: which nodes are VXLAN peers
// (from a Node list+watch), publishing our own node's annotations, and the
// watch cache's other resources (add_watch: one reflector each, all on one
// http_engine, so a node with five caches still has one thread and one
// multi handle).
//
// Two ways to drive it:
//  - cluster_sync::poll(timeout_ms) on a thread you own: everything, the
//    diff callback included, runs inside poll(); it waits at most timeout_ms.
//  - sync_thread (sync_thread.hpp): cluster_sync on a dedicated thread; the
//    daemon drains peer diffs and reads status without ever waiting on the
//    network or on JSON parsing of a 5,000-node list. This is what vxrouted uses.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "control/k8s/client_config.hpp"
#include "control/k8s/http.hpp"
#include "control/k8s/node_parse.hpp"
#include "control/k8s/peer_table.hpp"
#include "control/k8s/reflector.hpp"

namespace vxr::control::k8s {

struct sync_options {
    node_options node;        // node name, VNI, annotation prefix
    reflector_options watch;  // paging, timeouts, backoff (every resource alike)
    http_options http;        // connect timeout, token re-read interval
    std::chrono::milliseconds patch_timeout{30000};
};

// One cached resource's list/watch state.
struct resource_sync {
    std::string name;  // "services"
    reflector_stats watch;
};

// What an operator wants to see (vxroutectl status, metrics). The flat
// fields are the Node watch's; `caches` the other resources'.
struct sync_status {
    bool synced = false;            // first full list applied: peers are complete
    bool watch_connected = false;
    std::chrono::system_clock::time_point last_sync{};  // last list / event / bookmark / clean close
    uint32_t consecutive_errors = 0;  // of the list/watch loop
    std::string last_error;
    std::chrono::system_clock::time_point last_error_time{};
    std::string resource_version;
    size_t peers = 0;
    size_t skipped = 0;
    uint64_t lists = 0, watches = 0, events = 0, malformed = 0, gone = 0, stalls = 0;
    std::vector<resource_sync> caches;
    // Publication of our own node.
    bool self_published = false;
    uint32_t publish_attempts = 0;
    std::string publish_error;
    std::optional<mac_addr> own_vtep_mac;  // from our Node's backend-data, if seen
};

class cluster_sync {
public:
    using clock = std::chrono::steady_clock;
    using diff_fn = std::function<void(const peer_diff&)>;

    static result<std::unique_ptr<cluster_sync>> create(const client_config& cfg, sync_options opt);
    ~cluster_sync();

    // Called from poll() for every change to the peer set, in order.
    void set_diff_callback(diff_fn fn) { on_diff_ = std::move(fn); }
    // Another resource to list and watch into `sink` (a watch cache store),
    // which must outlive this object. Before the first poll().
    void add_watch(resource_spec spec, reflector_sink& sink);
    // Publish (and keep published) our node's annotations and clear
    // NetworkUnavailable; retried with backoff until the API server accepts it.
    void publish_self(const self_publication& self);

    // One step: waits at most timeout_ms for the network or a timer, then
    // handles everything that is ready. Never blocks longer.
    void poll(int timeout_ms);
    // Thread-safe: makes a poll() running on another thread return now.
    void wakeup() { http_->wakeup(); }

    sync_status status() const;
    const std::unordered_map<std::string, peer_config>& peers() const { return table_.peers(); }
    std::vector<skipped_node> skipped() const { return table_.skipped(); }
    // The VTEP MAC our node published before (kept across restarts so peers'
    // neighbour entries stay valid). Known once status().synced.
    std::optional<mac_addr> own_vtep_mac() const { return own_vtep_mac_; }

private:
    explicit cluster_sync(sync_options opt);
    void on_self(const rapidjson::Value& node);
    void publish_step(clock::time_point now);
    void on_publish_done(http_response&& r);

    sync_options opt_;
    std::unique_ptr<http_engine> http_;
    peer_table table_;
    std::unique_ptr<node_sink> node_sink_;
    std::unique_ptr<reflector> reflector_;
    std::vector<std::unique_ptr<reflector>> caches_;
    diff_fn on_diff_;
    std::optional<mac_addr> own_vtep_mac_;

    std::optional<self_publication> self_;
    bool published_ = false;
    uint64_t publish_xfer_ = 0;
    clock::time_point publish_at_{};
    uint32_t publish_attempts_ = 0;
    std::string publish_error_;
    backoff publish_backoff_;
};

// The daemon's one-shot helper at start-up: GET our own Node and return the
// VTEP MAC it published before, if any (bounded by timeout; blocks).
result<std::optional<mac_addr>> fetch_published_vtep_mac(const client_config& cfg, const std::string& node_name,
                                                         std::chrono::milliseconds timeout,
                                                         std::string_view prefix = k_default_annotation_prefix);

}  // namespace vxr::control::k8s
