// The watch-cache suites' harness: one cluster_sync with add_watch() stores
// of a metadata-only test type, against the fixture API server, driven by
// poll() on the test thread. The decoder reads only metadata, so these suites
// test the reflector and the store, not the per-type decoders.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <ostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "control/k8s/resource.hpp"
#include "control/k8s/store.hpp"
#include "k8s_harness.hpp"

namespace vxr::test {

namespace k8s = vxr::control::k8s;

struct meta_only {
    std::string name, ns, resource_version;
    std::map<std::string, std::string> labels;
};

// object_store takes a plain function pointer, so its call count is a global;
// everything runs on the test thread. A relist must not decode again what
// did not change.
inline uint64_t g_decodes = 0;

inline result<meta_only> decode_meta(const rapidjson::Value& obj) {
    ++g_decodes;
    auto m = obj.FindMember("metadata");
    if (m == obj.MemberEnd() || !m->value.IsObject()) return make_error("no metadata");
    const auto& meta = m->value;
    auto str = [&](const char* key) {
        auto it = meta.FindMember(key);
        return it != meta.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString()) : std::string{};
    };
    meta_only out{str("name"), str("namespace"), str("resourceVersion"), {}};
    if (auto l = meta.FindMember("labels"); l != meta.MemberEnd()) {
        if (!l->value.IsObject()) return make_error("metadata.labels is not an object");
        for (const auto& kv : l->value.GetObject()) {
            if (!kv.value.IsString()) return make_error(std::string("label ") + kv.name.GetString() + " is not a string");
            out.labels.emplace(kv.name.GetString(), kv.value.GetString());
        }
    }
    return out;
}

struct resource_case {
    std::string plural, kind, path;
    bool namespaced;
};

inline std::vector<resource_case> cached_resources() {
    std::vector<resource_case> v;
    // Namespace is the only cluster-scoped resource the cache holds.
#define VXR_TEST_RESOURCE(id, type, decoder, plural, kind, path) \
    v.push_back({plural, kind, path, std::string_view(plural) != "namespaces"});
    VXR_K8S_CACHED_RESOURCES(VXR_TEST_RESOURCE)
#undef VXR_TEST_RESOURCE
    return v;
}

inline std::vector<resource_case> all_resources() {
    auto v = cached_resources();
    v.push_back({"nodes", "Node", "/api/v1/nodes", false});
    return v;
}

// gtest prints a failing parameter with this, not as bytes.
inline void PrintTo(const resource_case& c, std::ostream* os) { *os << c.plural; }

inline std::string resource_name(const ::testing::TestParamInfo<resource_case>& p) { return p.param.plural; }


// A JSON string literal (names, labels and selectors here are plain ASCII).
inline std::string js(std::string_view s) {
    std::string o = "\"";
    for (char ch : s) {
        if (ch == '"' || ch == '\\') o += '\\';
        o += ch;
    }
    return o + "\"";
}

inline std::string labels_json(const std::map<std::string, std::string>& labels) {
    std::string o = "{";
    for (const auto& [k, v] : labels) o += (o.size() > 1 ? "," : "") + js(k) + ":" + js(v);
    return o + "}";
}

// One resource's watch cache under test.
struct cache {
    resource_case rc;
    k8s::resource_spec spec;
    k8s::object_store<meta_only> store;

    explicit cache(resource_case c)
        : rc(std::move(c)), spec{rc.plural, rc.kind, rc.path, {}, {}}, store(rc.kind, &decode_meta) {
        // cluster_sync always runs its own Node reflector (into the peer
        // table). A selector that keeps every test object tells ours apart
        // in the request log and lets a fault hit only ours.
        if (rc.plural == "nodes") spec.field_selector = "metadata.name!=self-node";
    }
    std::string key(const std::string& name, const std::string& ns = "ns-a") const {
        return rc.namespaced ? ns + "/" + name : name;
    }
    // An object's JSON; the fixture adds kind, apiVersion and resourceVersion.
    std::string object(const std::string& name, const std::string& labels = "{}", const std::string& ns = "ns-a",
                       const std::string& extra = "") const {
        std::string o = "{\"metadata\":{\"name\":" + js(name);
        if (rc.namespaced) o += ",\"namespace\":" + js(ns);
        o += ",\"labels\":" + labels + "}";
        if (!extra.empty()) o += "," + extra;
        return o + "}";
    }
    // `"resource":"services"` plus, when ours has selectors, the query a
    // fault must match to hit this reflector only.
    std::string scope() const {
        std::string q;
        if (!spec.label_selector.empty()) q += "\"labelSelector\":" + js(spec.label_selector);
        if (!spec.field_selector.empty()) q += std::string(q.empty() ? "" : ",") + "\"fieldSelector\":" + js(spec.field_selector);
        return "\"resource\":" + js(rc.plural) + (q.empty() ? "" : ",\"query\":{" + q + "}");
    }
    const meta_only* get(const std::string& key) const {
        auto it = store.view().find(key);
        return it == store.view().end() ? nullptr : it->second.get();
    }
};

struct request {
    std::map<std::string, std::string> query;
    double time = 0;
    std::string auth;
    std::string q(const std::string& k) const {
        auto it = query.find(k);
        return it == query.end() ? std::string{} : it->second;
    }
};

class sync_harness {
public:
    fixture_server& fx = shared_fixture();
    k8s::sync_options opt = test_options();
    std::unique_ptr<k8s::cluster_sync> sync;
    std::vector<std::unique_ptr<cache>> caches;

    cache& add(resource_case rc) { return *caches.emplace_back(std::make_unique<cache>(std::move(rc))); }
    void start() {
        auto s = k8s::cluster_sync::create(fx.client(), opt);
        if (!s) throw std::runtime_error(s.err());
        sync = std::move(*s);
        for (auto& c : caches) sync->add_watch(c->spec, c->store);
    }
    bool until(const std::function<bool()>& pred, int timeout_ms = 5000) {
        return eventually(pred, std::chrono::milliseconds(timeout_ms), [this] { sync->poll(10); });
    }
    void run_for(int ms) { until([] { return false; }, ms); }

    k8s::reflector_stats stats(const cache& c) const {
        for (auto& r : sync->status().caches)
            if (r.name == c.spec.name) return r.watch;
        ADD_FAILURE() << "no reflector for " << c.spec.name;
        return {};
    }
    bool synced_and_watching(const cache& c, int timeout_ms = 5000) {
        return until([&] { return stats(c).synced && stats(c).watch_connected; }, timeout_ms);
    }
    // The changes since the last take(), by key (the store hands over one per key).
    std::map<std::string, k8s::object_store<meta_only>::change> take(cache& c) {
        std::map<std::string, k8s::object_store<meta_only>::change> out;
        for (auto& ch : c.store.take()) {
            std::string key = ch.key;
            EXPECT_TRUE(out.emplace(key, std::move(ch)).second) << "two changes for " << key;
        }
        return out;
    }

    // A control command; a reply of {"error": ...} fails the test.
    rapidjson::Document ctl(const std::string& cmd, const std::string& json = "{}") {
        auto d = fx.control(cmd, json);
        if (d.IsObject() && d.HasMember("error")) {
            ADD_FAILURE() << d["error"].GetString();
            throw std::runtime_error(d["error"].GetString());
        }
        return d;
    }
    // The command with `"resource": ...` (and the fault's query) of c.
    rapidjson::Document ctl(const cache& c, const std::string& cmd, const std::string& fields = "") {
        return ctl(cmd, "{" + c.scope() + (fields.empty() ? "" : "," + fields) + "}");
    }
    void upsert(const cache& c, const std::string& object_json, bool event = true) {
        ctl("upsert", "{\"resource\":" + js(c.rc.plural) + ",\"object\":" + object_json +
                          ",\"event\":" + (event ? "true" : "false") + "}");
    }
    // n objects obj-0..obj-<n-1>, as the initial state (no events).
    void upsert_many(const cache& c, int n, const std::string& ns = "ns-a") {
        std::string objs;
        for (int i = 0; i < n; ++i)
            objs += (i ? "," : "") + c.object("obj-" + std::to_string(i), "{\"idx\":\"" + std::to_string(i) + "\"}", ns);
        ctl("upsert", "{\"resource\":" + js(c.rc.plural) + ",\"objects\":[" + objs + "],\"event\":false}");
    }
    void remove(const cache& c, const std::string& name, bool event = true, const std::string& ns = "ns-a") {
        ctl("delete", "{\"resource\":" + js(c.rc.plural) + ",\"namespace\":" + js(ns) + ",\"name\":" + js(name) +
                          ",\"event\":" + (event ? "true" : "false") + "}");
    }
    std::string server_rv() { return std::to_string(ctl("state")["rv"].GetInt()); }

    // The requests of one kind that c's reflector sent (same resource, same selectors).
    std::vector<request> requests(const cache& c, const std::string& kind) {
        auto all = ctl("requests", "{\"resource\":" + js(c.rc.plural) + ",\"kind\":" + js(kind) + "}");
        std::vector<request> out;
        for (const auto& r : all.GetArray()) {
            request x;
            for (const auto& kv : r["query"].GetObject()) x.query.emplace(kv.name.GetString(), kv.value.GetString());
            if (x.q("labelSelector") != c.spec.label_selector || x.q("fieldSelector") != c.spec.field_selector)
                continue;
            x.time = r["time"].GetDouble();
            x.auth = r["auth"].GetString();
            out.push_back(std::move(x));
        }
        return out;
    }
};

// The suites' fixture: a reset server, a fresh decode count and one cache
// of the parameter's resource on a sync_harness.
class cache_test : public ::testing::TestWithParam<resource_case> {
protected:
    void SetUp() override {
        shared_fixture().reset();
        g_decodes = 0;
        // The Node case's objects are no flannel nodes: cluster_sync's own
        // Node reflector would log each one it skips, at info.
        vxr::log::set_level(GetParam().plural == "nodes" ? vxr::log::level::warn : vxr::log::level::info);
    }
    sync_harness h;
    cache& c = h.add(GetParam());
};

}  // namespace vxr::test
