#include "control/k8s/peer_table.hpp"

#include <unordered_set>

#include "common/log.hpp"

namespace vxr::control::k8s {

void peer_table::upsert(const node_info& n, peer_diff& diff) {
    if (n.kind == node_kind::peer) {
        skipped_.erase(n.name);
        auto [it, inserted] = peers_.try_emplace(n.name, n.peer);
        if (inserted) {
            diff.added.push_back(n.peer);
        } else if (!same_peer(it->second, n.peer)) {
            diff.updated.push_back({it->second, n.peer});
            it->second = n.peer;
        }
        return;
    }
    // A peer that stops qualifying (annotations removed, backend changed,
    // VNI changed) must be withdrawn, not left routing to a stale VTEP.
    if (auto it = peers_.find(n.name); it != peers_.end()) {
        diff.removed.push_back(std::move(it->second));
        peers_.erase(it);
    }
    if (n.kind == node_kind::skipped) {
        auto& reason = skipped_[n.name];
        // Log on change only: a MODIFIED event every 10 s per node (kubelet
        // heartbeats) must not repeat the same warning.
        if (reason != n.reason) VXR_LOG_INFO("k8s: node %s skipped: %s", n.name.c_str(), n.reason.c_str());
        reason = n.reason;
    } else {
        skipped_.erase(n.name);
    }
}

void peer_table::remove(const std::string& name, peer_diff& diff) {
    skipped_.erase(name);
    if (auto it = peers_.find(name); it != peers_.end()) {
        diff.removed.push_back(std::move(it->second));
        peers_.erase(it);
    }
}

peer_diff peer_table::replace_all(std::vector<node_info>&& nodes) {
    peer_diff diff;
    std::unordered_set<std::string> seen;
    seen.reserve(nodes.size());
    for (const auto& n : nodes) {
        seen.insert(n.name);
        upsert(n, diff);
    }
    for (auto it = peers_.begin(); it != peers_.end();) {
        if (seen.count(it->first)) {
            ++it;
            continue;
        }
        diff.removed.push_back(std::move(it->second));
        it = peers_.erase(it);
    }
    for (auto it = skipped_.begin(); it != skipped_.end();)
        it = seen.count(it->first) ? std::next(it) : skipped_.erase(it);
    return diff;
}

std::vector<skipped_node> peer_table::skipped() const {
    std::vector<skipped_node> out;
    out.reserve(skipped_.size());
    for (const auto& [name, reason] : skipped_) out.push_back({name, reason});
    return out;
}

node_sink::node_sink(peer_table& table, node_options opt, diff_fn on_diff, self_fn on_self)
    : table_(table), opt_(std::move(opt)), on_diff_(std::move(on_diff)), on_self_(std::move(on_self)) {}

bool node_sink::list_item(const rapidjson::Value& obj) {
    auto info = classify_node(obj, opt_);
    if (!info) {
        VXR_LOG_WARN("k8s: list: skipping malformed Node: %s", info.err().c_str());
        return false;
    }
    if (info->kind == node_kind::self && on_self_) on_self_(obj);
    pending_.push_back(std::move(*info));
    return true;
}

void node_sink::list_end() {
    peer_diff diff = table_.replace_all(std::move(pending_));
    pending_.clear();
    VXR_LOG_INFO("k8s: nodes: %zu peers (+%zu ~%zu -%zu), %zu skipped", table_.peers().size(), diff.added.size(),
                 diff.updated.size(), diff.removed.size(), table_.skipped_count());
    report(diff);
}

bool node_sink::upsert(const rapidjson::Value& obj) {
    auto info = classify_node(obj, opt_);
    if (!info) {
        VXR_LOG_WARN("k8s: watch: skipping malformed Node: %s", info.err().c_str());
        return false;
    }
    if (info->kind == node_kind::self) {
        if (on_self_) on_self_(obj);
        return true;
    }
    peer_diff diff;
    table_.upsert(*info, diff);
    report(diff);
    return true;
}

bool node_sink::remove(const rapidjson::Value& obj) {
    std::string name = object_key(obj);
    if (name == opt_.self_name) return true;
    peer_diff diff;
    table_.remove(name, diff);
    report(diff);
    return true;
}

}  // namespace vxr::control::k8s
