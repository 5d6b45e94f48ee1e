// The reflector's list/watch semantics and the store's coalescing, proved once
// per resource (the watch cache's five, and Nodes through a second reflector):
// pagination, a continue token that expires mid-list, events split across
// chunks coalesced per object, bookmarks and resume, relist by diff after an
// in-stream or HTTP 410, namespace/name keys, selectors; and several
// resources on one cluster_sync. Faults are in test_k8s_cache_faults.cpp.
#include <gtest/gtest.h>

#include "cache_harness.hpp"

using namespace vxr::test;

namespace {

class k8s_cache : public cache_test {};

TEST_P(k8s_cache, paginated_list_then_watch_from_the_lists_rv) {
    h.upsert_many(c, 1234);
    const auto rv = h.server_rv();
    h.start();
    ASSERT_TRUE(h.synced_and_watching(c));
    auto changes = h.take(c);
    EXPECT_EQ(changes.size(), 1234u);
    EXPECT_EQ(c.store.view().size(), 1234u);
    EXPECT_EQ(g_decodes, 1234u);
    for (const auto& [key, ch] : changes) ASSERT_FALSE(ch.before) << key;
    const auto* o = c.get(c.key("obj-567"));
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->name, "obj-567");
    EXPECT_EQ(o->ns, c.rc.namespaced ? "ns-a" : "");
    EXPECT_EQ(o->labels.at("idx"), "567");
    EXPECT_EQ(h.stats(c).resource_version, rv);
    EXPECT_EQ(h.stats(c).lists, 1u);

    auto lists = h.requests(c, "list");
    ASSERT_EQ(lists.size(), 3u);
    for (const auto& r : lists) EXPECT_EQ(r.q("limit"), "500");
    EXPECT_EQ(lists[0].q("continue"), "");
    EXPECT_NE(lists[1].q("continue"), "");
    EXPECT_NE(lists[2].q("continue"), "");
    EXPECT_NE(lists[2].q("continue"), lists[1].q("continue"));
    auto watches = h.requests(c, "watch");
    ASSERT_EQ(watches.size(), 1u);
    EXPECT_EQ(watches[0].q("resourceVersion"), rv);
    EXPECT_EQ(watches[0].q("allowWatchBookmarks"), "true");
    int t = std::stoi(watches[0].q("timeoutSeconds"));
    EXPECT_GE(t, 300);
    EXPECT_LE(t, 600);
}

TEST_P(k8s_cache, continue_token_expiring_mid_list_gives_a_complete_fresh_list) {
    h.upsert_many(c, 1234);
    // The first page is served, then etcd compacts: its continue token is too old.
    h.ctl(c, "fault", R"("kind": "list", "then": "compact")");
    h.start();
    ASSERT_TRUE(h.synced_and_watching(c));
    EXPECT_EQ(h.stats(c).gone, 1u);
    EXPECT_EQ(h.stats(c).lists, 1u);
    EXPECT_EQ(h.stats(c).consecutive_errors, 0u);
    auto lists = h.requests(c, "list");
    ASSERT_EQ(lists.size(), 5u);  // page 1, page 2 (410), then pages 1-3 again
    EXPECT_NE(lists[1].q("continue"), "");
    EXPECT_EQ(lists[2].q("continue"), "");
    EXPECT_EQ(h.requests(c, "watch").at(0).q("resourceVersion"), h.stats(c).resource_version);
    // The whole set, each object once; the first page's objects, unchanged,
    // were not decoded again.
    EXPECT_EQ(h.take(c).size(), 1234u);
    EXPECT_EQ(c.store.view().size(), 1234u);
    EXPECT_EQ(g_decodes, 1234u);
}

TEST_P(k8s_cache, events_split_across_chunks_coalesce_per_object) {
    h.ctl("config", R"({"max_chunk": 13})");  // every event spans many chunks
    h.upsert_many(c, 3);
    h.start();
    ASSERT_TRUE(h.synced_and_watching(c));
    ASSERT_EQ(h.take(c).size(), 3u);
    const auto first = c.store.view().at(c.key("obj-0"));
    for (int v = 1; v <= 3; ++v) h.upsert(c, c.object("obj-0", labels_json({{"v", std::to_string(v)}})));
    h.upsert(c, c.object("tmp"));
    h.remove(c, "tmp");
    h.remove(c, "obj-1");
    h.upsert(c, c.object("new"));
    const auto rv = h.server_rv();
    ASSERT_TRUE(h.until([&] { return h.stats(c).resource_version == rv; }));
    EXPECT_EQ(h.stats(c).events, 7u);
    auto ch = h.take(c);
    ASSERT_EQ(ch.size(), 3u);  // obj-0 once, tmp not at all
    const auto& o0 = ch.at(c.key("obj-0"));
    EXPECT_EQ(o0.before, first);  // the state before the first of the three updates
    ASSERT_TRUE(o0.after);
    EXPECT_EQ(o0.after->labels.at("v"), "3");
    EXPECT_EQ(o0.after->resource_version, std::to_string(std::stoi(rv) - 4));  // then tmp twice, obj-1, new
    EXPECT_FALSE(ch.at(c.key("obj-1")).after);
    EXPECT_TRUE(ch.at(c.key("obj-1")).before);
    EXPECT_FALSE(ch.at(c.key("new")).before);
    EXPECT_EQ(ch.at(c.key("new")).after->name, "new");
    EXPECT_EQ(c.store.view().count(c.key("tmp")), 0u);
    EXPECT_EQ(c.store.view().size(), 3u);
    EXPECT_EQ(c.store.stats().changes, 6u);
    EXPECT_EQ(h.stats(c).malformed, 0u);
    EXPECT_TRUE(h.take(c).empty());
}

TEST_P(k8s_cache, bookmark_moves_the_rv_and_a_clean_close_resumes_from_it) {
    h.upsert_many(c, 2);
    h.start();
    ASSERT_TRUE(h.synced_and_watching(c));
    auto list_rv = h.stats(c).resource_version;
    auto bm = std::to_string(h.ctl(c, "bookmark")["rv"].GetInt());
    ASSERT_NE(bm, list_rv);
    ASSERT_TRUE(h.until([&] { return h.stats(c).resource_version == bm; }));
    EXPECT_EQ(h.take(c).size(), 2u);  // the list; the bookmark is no change
    h.ctl(c, "close_watches");
    // A change while we are between watches must come with the resumed watch.
    h.upsert(c, c.object("late"));
    const auto now_rv = h.server_rv();
    ASSERT_TRUE(h.until([&] { return h.stats(c).resource_version == now_rv; }));
    auto ch = h.take(c);
    ASSERT_EQ(ch.size(), 1u);
    EXPECT_FALSE(ch.at(c.key("late")).before);
    auto watches = h.requests(c, "watch");
    ASSERT_EQ(watches.size(), 2u);
    EXPECT_EQ(watches[1].q("resourceVersion"), bm);
    EXPECT_EQ(h.requests(c, "list").size(), 1u);  // no relist
    EXPECT_EQ(h.stats(c).lists, 1u);
    EXPECT_EQ(h.stats(c).consecutive_errors, 0u);
}

// After a 410 the relist reports only what changed while the watch could not
// tell us, and does not decode again what it already has.
void relist_after_gone(sync_harness& h, cache& c, bool http) {
    if (http) h.ctl(c, "gone_mode", R"("mode": "http")");
    h.upsert_many(c, 5);
    h.start();
    ASSERT_TRUE(h.synced_and_watching(c));
    ASSERT_EQ(h.take(c).size(), 5u);
    const auto decodes = g_decodes;
    // Changes the watch never reports (compacted history).
    h.remove(c, "obj-0", false);
    h.upsert(c, c.object("obj-1", labels_json({{"idx", "one"}})), false);
    h.upsert(c, c.object("obj-9"), false);
    h.ctl(c, "compact");
    // In-stream: the open watch gets ERROR 410. HTTP: the re-watch from our
    // compacted rv gets 410 Gone.
    h.ctl(c, http ? "close_watches" : "expire_watches");
    ASSERT_TRUE(h.until([&] { return h.stats(c).lists == 2 && h.stats(c).watch_connected; }));
    EXPECT_EQ(h.stats(c).gone, 1u);
    EXPECT_EQ(h.stats(c).consecutive_errors, 0u);
    auto ch = h.take(c);
    ASSERT_EQ(ch.size(), 3u);
    EXPECT_FALSE(ch.at(c.key("obj-0")).after);
    EXPECT_EQ(ch.at(c.key("obj-1")).before->labels.at("idx"), "1");
    EXPECT_EQ(ch.at(c.key("obj-1")).after->labels.at("idx"), "one");
    EXPECT_FALSE(ch.at(c.key("obj-9")).before);
    EXPECT_EQ(g_decodes - decodes, 2u);  // obj-1 and obj-9; obj-2..4 unchanged
    EXPECT_EQ(c.store.view().size(), 5u);
    auto watches = h.requests(c, "watch");
    EXPECT_EQ(watches.back().q("resourceVersion"), h.stats(c).resource_version);
}

TEST_P(k8s_cache, in_stream_410_relists_and_reports_only_what_changed) { relist_after_gone(h, c, false); }

TEST_P(k8s_cache, http_410_relists_and_reports_only_what_changed) { relist_after_gone(h, c, true); }

TEST_P(k8s_cache, keys_are_namespace_slash_name) {
    h.upsert(c, c.object("web", "{}", "ns-a"), false);
    h.upsert(c, c.object("web", "{}", "ns-b"), false);
    h.start();
    ASSERT_TRUE(h.synced_and_watching(c));
    h.upsert(c, c.object("db", "{}", "ns-b"));
    const auto now_rv = h.server_rv();
    ASSERT_TRUE(h.until([&] { return h.stats(c).resource_version == now_rv; }));
    h.take(c);
    std::vector<std::string> keys;
    for (const auto& [k, v] : c.store.view()) keys.push_back(k);
    if (c.rc.namespaced) {
        EXPECT_EQ(keys, (std::vector<std::string>{"ns-a/web", "ns-b/db", "ns-b/web"}));
        EXPECT_EQ(c.get("ns-b/web")->ns, "ns-b");
    } else {
        // Cluster-scoped: the server drops the namespace, the second "web"
        // replaced the first.
        EXPECT_EQ(keys, (std::vector<std::string>{"db", "web"}));
    }
}

TEST_P(k8s_cache, label_and_field_selectors_reach_the_server_and_filter) {
    const bool pods = c.rc.plural == "pods";
    c.spec.label_selector = "app=web,tier!=db";
    c.spec.field_selector = c.rc.namespaced ? "metadata.namespace=ns-a" : "metadata.name!=web-2";
    if (pods) c.spec.field_selector += ",spec.nodeName=node-1";
    const std::string on_1 = pods ? R"("spec":{"nodeName":"node-1"})" : "";
    const std::string web = labels_json({{"app", "web"}});
    h.upsert(c, c.object("web-1", web, "ns-a", on_1), false);
    h.upsert(c, c.object("web-2", web, "ns-b", on_1), false);  // other namespace / excluded name
    h.upsert(c, c.object("db-1", labels_json({{"app", "db"}}), "ns-a", on_1), false);
    h.upsert(c, c.object("web-db", labels_json({{"app", "web"}, {"tier", "db"}}), "ns-a", on_1), false);
    if (pods) h.upsert(c, c.object("web-3", web, "ns-a", R"("spec":{"nodeName":"node-2"})"), false);
    h.start();
    ASSERT_TRUE(h.synced_and_watching(c));
    auto ch = h.take(c);
    ASSERT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch.begin()->first, c.key("web-1"));
    // On the watch: db-1 starts to match (ADDED), web-1 stops (DELETED).
    h.upsert(c, c.object("db-1", web, "ns-a", on_1));
    h.upsert(c, c.object("web-1", labels_json({{"app", "other"}}), "ns-a", on_1));
    h.upsert(c, c.object("web-2", labels_json({{"app", "web"}, {"v", "2"}}), "ns-b", on_1));
    const auto rv = h.server_rv();
    h.ctl(c, "bookmark", R"("advance": 1)");  // so we can tell when the watch is past them
    ASSERT_TRUE(h.until([&] { return std::stoi(h.stats(c).resource_version) > std::stoi(rv); }));
    ch = h.take(c);
    ASSERT_EQ(ch.size(), 2u);
    EXPECT_FALSE(ch.at(c.key("db-1")).before);
    EXPECT_FALSE(ch.at(c.key("web-1")).after);
    ASSERT_EQ(c.store.view().size(), 1u);
    EXPECT_EQ(c.store.view().begin()->first, c.key("db-1"));
    auto lists = h.requests(c, "list");  // only those with our selectors, exactly
    auto watches = h.requests(c, "watch");
    EXPECT_EQ(lists.size(), 1u);
    EXPECT_EQ(watches.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(resources, k8s_cache, ::testing::ValuesIn(all_resources()), resource_name);

// --- several resources on one cluster_sync ----------------------------------------

class k8s_cache_many : public ::testing::Test {
protected:
    void SetUp() override {
        shared_fixture().reset();
        for (const auto& rc : cached_resources()) h.add(rc);
    }
    sync_harness h;
};

TEST_F(k8s_cache_many, each_resource_has_its_own_reflector_and_objects) {
    for (auto& c : h.caches) {
        h.upsert(*c, c->object(c->rc.plural + "-a"), false);
        h.upsert(*c, c->object("shared-name"), false);
    }
    h.start();
    ASSERT_TRUE(h.until([&] {
        for (auto& c : h.caches)
            if (!h.stats(*c).synced || !h.stats(*c).watch_connected) return false;
        return true;
    }));
    auto st = h.sync->status();
    ASSERT_EQ(st.caches.size(), h.caches.size());
    for (size_t i = 0; i < h.caches.size(); ++i) EXPECT_EQ(st.caches[i].name, h.caches[i]->rc.plural);
    EXPECT_EQ(st.watches, 1u);  // the Node reflector: one list, one watch of its own
    for (auto& c : h.caches) {
        SCOPED_TRACE(c->rc.plural);
        auto ch = h.take(*c);
        ASSERT_EQ(ch.size(), 2u);
        EXPECT_TRUE(ch.count(c->key(c->rc.plural + "-a")));
        EXPECT_TRUE(ch.count(c->key("shared-name")));
        EXPECT_EQ(h.requests(*c, "list").size(), 1u);
        ASSERT_EQ(h.requests(*c, "watch").size(), 1u);
        EXPECT_EQ(h.requests(*c, "watch")[0].q("resourceVersion"), h.stats(*c).resource_version);
    }
    // An event goes to its resource's store only.
    h.upsert(*h.caches[2], h.caches[2]->object("later"));
    ASSERT_TRUE(h.until([&] { return h.caches[2]->store.stats().objects == 3; }));
    h.run_for(100);
    for (size_t i = 0; i < h.caches.size(); ++i) EXPECT_EQ(h.take(*h.caches[i]).size(), i == 2 ? 1u : 0u) << i;
}

}  // namespace
