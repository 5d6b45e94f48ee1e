// Shared helpers for the integration tests: a cluster_sync wired to the
// fixture server with test-sized timeouts, driven by poll() on the test thread.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "control/k8s/cluster_sync.hpp"
#include "fixture_server.hpp"

namespace vxr::test {

inline control::k8s::sync_options test_options(const std::string& self = "self-node") {
    control::k8s::sync_options o;
    o.node.self_name = self;
    o.watch.backoff = {std::chrono::milliseconds(20), std::chrono::milliseconds(200)};
    o.watch.min_watch_duration = std::chrono::milliseconds(0);
    o.watch.seed = 1234;
    o.http.token_reload = std::chrono::milliseconds(50);
    o.http.connect_timeout = std::chrono::milliseconds(2000);
    return o;
}

struct harness {
    fixture_server& fx;
    std::unique_ptr<control::k8s::cluster_sync> sync;
    std::vector<control::k8s::peer_diff> diffs;

    explicit harness(control::k8s::sync_options o = test_options(),
                     const control::k8s::client_config* cfg = nullptr)
        : fx(shared_fixture()) {
        auto s = control::k8s::cluster_sync::create(cfg ? *cfg : fx.client(), std::move(o));
        if (!s) throw std::runtime_error(s.err());
        sync = std::move(*s);
        sync->set_diff_callback([this](const control::k8s::peer_diff& d) { diffs.push_back(d); });
    }

    bool until(const std::function<bool()>& pred, int timeout_ms = 5000) {
        return eventually(pred, std::chrono::milliseconds(timeout_ms), [this] { sync->poll(10); });
    }
    void run_for(int ms) {
        until([] { return false; }, ms);
    }
    control::k8s::sync_status st() const { return sync->status(); }
    bool synced_and_watching() {
        return until([this] { return st().synced && st().watch_connected; });
    }
    size_t added() const { size_t n = 0; for (auto& d : diffs) n += d.added.size(); return n; }
    size_t updated() const { size_t n = 0; for (auto& d : diffs) n += d.updated.size(); return n; }
    size_t removed() const { size_t n = 0; for (auto& d : diffs) n += d.removed.size(); return n; }
};

// Requests of one kind ("list", "watch", "patch", "get") the server received.
void requests_of(rapidjson::Document&& all, const std::string& kind) = delete;  // would dangle
inline std::vector<const rapidjson::Value*> requests_of(const rapidjson::Document& all, const std::string& kind) {
    std::vector<const rapidjson::Value*> out;
    for (const auto& r : all.GetArray())
        if (kind == r["kind"].GetString()) out.push_back(&r);
    return out;
}

inline std::string query(const rapidjson::Value* r, const char* key) {
    const auto& q = (*r)["query"];
    return q.HasMember(key) ? q[key].GetString() : std::string{};
}

}  // namespace vxr::test
