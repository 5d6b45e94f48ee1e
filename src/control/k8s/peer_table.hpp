// The set of peers as the API server describes it, and the diffs that turn
// one version into the next. A relist replaces the set by diff against what
// we hold, never flush-and-refill: an unchanged peer is not touched, so its
// route and outer-header template never blink.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/peer.hpp"
#include "control/k8s/node_parse.hpp"
#include "control/k8s/resource.hpp"

namespace vxr::control::k8s {

struct peer_update {
    peer_config before;
    peer_config after;
};

struct peer_diff {
    std::vector<peer_config> added;
    std::vector<peer_update> updated;
    std::vector<peer_config> removed;  // the last known config, so routes can be withdrawn by CIDR
    bool empty() const { return added.empty() && updated.empty() && removed.empty(); }
    size_t size() const { return added.size() + updated.size() + removed.size(); }
};

struct skipped_node {
    std::string name;
    std::string reason;
};

class peer_table {
public:
    // One node's new state (ADDED / MODIFIED, or a node seen in a list).
    void upsert(const node_info& n, peer_diff& diff);
    // A node that is gone (DELETED).
    void remove(const std::string& name, peer_diff& diff);
    // Replace everything with a full list, by diff.
    peer_diff replace_all(std::vector<node_info>&& nodes);

    const std::unordered_map<std::string, peer_config>& peers() const { return peers_; }
    std::vector<skipped_node> skipped() const;
    size_t skipped_count() const { return skipped_.size(); }

private:
    std::unordered_map<std::string, peer_config> peers_;
    std::map<std::string, std::string> skipped_;  // ordered: stable status output
};

// The Node reflector's sink: classifies every Node by its flannel
// annotations into the peer table and reports what changed, one diff per
// watch event and one per complete list. Our own Node goes to on_self.
class node_sink final : public reflector_sink {
public:
    using diff_fn = std::function<void(const peer_diff&)>;
    using self_fn = std::function<void(const rapidjson::Value& node)>;

    node_sink(peer_table& table, node_options opt, diff_fn on_diff, self_fn on_self);

    void list_begin() override { pending_.clear(); }
    bool list_item(const rapidjson::Value& obj) override;
    void list_end() override;
    bool upsert(const rapidjson::Value& obj) override;
    bool remove(const rapidjson::Value& obj) override;

private:
    void report(const peer_diff& d) {
        if (!d.empty() && on_diff_) on_diff_(d);
    }

    peer_table& table_;
    node_options opt_;
    diff_fn on_diff_;
    self_fn on_self_;
    std::vector<node_info> pending_;  // the list being read
};

}  // namespace vxr::control::k8s
