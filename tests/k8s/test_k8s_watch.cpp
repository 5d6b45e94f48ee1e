// List+watch against the fixture API server: pagination, watch parameters,
// events split across chunks, bookmarks, resume, 410 (in-stream and HTTP),
// 5xx backoff, 429 Retry-After, malformed events.
#include <gtest/gtest.h>

#include <set>

#include "k8s_harness.hpp"

using namespace vxr::test;
namespace k8s = vxr::control::k8s;

class k8s_watch : public ::testing::Test {
protected:
    void SetUp() override { shared_fixture().reset(); }
    fixture_server& fx() { return shared_fixture(); }
};

TEST_F(k8s_watch, paginated_list_then_watch_from_list_rv) {
    fx().control("generate", R"({"count": 1234})");
    auto rv = std::to_string(fx().control("state")["rv"].GetInt());
    harness h;
    ASSERT_TRUE(h.synced_and_watching());
    EXPECT_EQ(h.sync->peers().size(), 1234u);
    EXPECT_EQ(h.added(), 1234u);
    EXPECT_EQ(h.st().resource_version, rv);
    auto reqs = fx().requests();
    auto lists = requests_of(reqs, "list");
    ASSERT_EQ(lists.size(), 3u);
    for (auto* r : lists) EXPECT_EQ(query(r, "limit"), "500");
    EXPECT_EQ(query(lists[0], "continue"), "");
    EXPECT_NE(query(lists[1], "continue"), "");
    EXPECT_NE(query(lists[2], "continue"), query(lists[1], "continue"));
    auto watches = requests_of(reqs, "watch");
    ASSERT_EQ(watches.size(), 1u);
    EXPECT_EQ(query(watches[0], "resourceVersion"), rv);
    EXPECT_EQ(query(watches[0], "allowWatchBookmarks"), "true");
    int t = std::stoi(query(watches[0], "timeoutSeconds"));
    EXPECT_GE(t, 300);
    EXPECT_LE(t, 600);
    // A peer as published by the fixture.
    const auto& p = h.sync->peers().at("node-5");
    EXPECT_EQ(p.vtep_mac.str(), "0a:58:00:00:00:05");
    EXPECT_EQ(p.pod_cidr.str(), "10.64.5.0/24");
}

TEST_F(k8s_watch, events_split_across_chunks_become_diffs) {
    fx().control("config", R"({"max_chunk": 13})");  // every event spans many chunks
    fx().control("generate", R"({"count": 3})");
    harness h;
    ASSERT_TRUE(h.synced_and_watching());
    h.diffs.clear();
    fx().control("upsert", R"({"name": "new-1", "idx": 77})");
    fx().control("upsert", R"({"name": "node-1", "idx": 1, "mac": "02:aa:bb:cc:dd:01"})");
    fx().control("delete", R"({"name": "node-2"})");
    ASSERT_TRUE(h.until([&] { return h.added() == 1 && h.updated() == 1 && h.removed() == 1; }));
    ASSERT_EQ(h.diffs.size(), 3u);  // one diff per event, in order
    EXPECT_EQ(h.diffs[0].added[0].name, "new-1");
    EXPECT_EQ(h.diffs[1].updated[0].after.vtep_mac.str(), "02:aa:bb:cc:dd:01");
    EXPECT_EQ(h.diffs[1].updated[0].before.vtep_mac.str(), "0a:58:00:00:00:01");
    EXPECT_EQ(h.diffs[2].removed[0].name, "node-2");
    EXPECT_EQ(h.sync->peers().size(), 3u);
    EXPECT_EQ(h.st().resource_version, std::to_string(fx().control("state")["rv"].GetInt()));
    EXPECT_EQ(h.st().malformed, 0u);
}

TEST_F(k8s_watch, bookmark_moves_rv_and_clean_close_resumes_from_it) {
    fx().control("generate", R"({"count": 2})");
    harness h;
    ASSERT_TRUE(h.synced_and_watching());
    int bm_rv = fx().control("bookmark")["rv"].GetInt();
    ASSERT_TRUE(h.until([&] { return h.st().resource_version == std::to_string(bm_rv); }));
    fx().control("close_watches");
    // A change while we are between watches must arrive via the resumed watch.
    fx().control("upsert", R"({"name": "late", "idx": 9})");
    ASSERT_TRUE(h.until([&] { return h.sync->peers().count("late") == 1; }));
    auto reqs = fx().requests();
    auto watches = requests_of(reqs, "watch");
    ASSERT_GE(watches.size(), 2u);
    EXPECT_EQ(query(watches[1], "resourceVersion"), std::to_string(bm_rv));
    EXPECT_EQ(requests_of(reqs, "list").size(), 1u);  // no relist
    EXPECT_EQ(h.st().consecutive_errors, 0u);
}

TEST_F(k8s_watch, watch_timeout_is_randomized) {
    harness h;
    ASSERT_TRUE(h.synced_and_watching());
    for (int i = 0; i < 5; ++i) {
        auto before = h.st().watches;
        fx().control("close_watches");
        ASSERT_TRUE(h.until([&] { return h.st().watches > before && h.st().watch_connected; }));
    }
    std::set<std::string> seen;
    auto all_reqs = fx().requests();
    for (auto* w : requests_of(all_reqs, "watch")) {
        int t = std::stoi(query(w, "timeoutSeconds"));
        EXPECT_GE(t, 300);
        EXPECT_LE(t, 600);
        seen.insert(query(w, "timeoutSeconds"));
    }
    EXPECT_GT(seen.size(), 1u);
}

TEST_F(k8s_watch, in_stream_410_relists_by_diff) {
    fx().control("generate", R"({"count": 5})");
    harness h;
    ASSERT_TRUE(h.synced_and_watching());
    h.diffs.clear();
    // Changes the watch never reports (compacted history), then 410 in-stream.
    fx().control("delete", R"({"name": "node-0", "event": false})");
    fx().control("upsert", R"({"name": "node-1", "idx": 1, "public_ip": "198.51.100.1", "event": false})");
    fx().control("upsert", R"({"name": "node-9", "idx": 9, "event": false})");
    fx().control("compact");
    fx().control("expire_watches");
    ASSERT_TRUE(h.until([&] { return h.st().lists == 2 && h.st().watch_connected; }));
    EXPECT_EQ(h.st().gone, 1u);
    // Only what changed: unchanged peers were not removed and re-added.
    ASSERT_EQ(h.diffs.size(), 1u);
    EXPECT_EQ(h.added(), 1u);
    EXPECT_EQ(h.updated(), 1u);
    EXPECT_EQ(h.removed(), 1u);
    EXPECT_EQ(h.diffs[0].removed[0].name, "node-0");
    EXPECT_EQ(h.diffs[0].updated[0].after.node_ip.str(), "198.51.100.1");
    EXPECT_EQ(h.sync->peers().size(), 5u);
    EXPECT_EQ(h.st().consecutive_errors, 0u);
}

TEST_F(k8s_watch, watch_from_compacted_rv_gets_in_stream_410_and_relists) {
    fx().control("generate", R"({"count": 2})");
    harness h;
    ASSERT_TRUE(h.synced_and_watching());
    fx().control("compact");
    fx().control("close_watches");  // the re-watch from our old rv gets ERROR 410
    ASSERT_TRUE(h.until([&] { return h.st().lists == 2 && h.st().watch_connected; }));
    EXPECT_EQ(h.st().gone, 1u);
}

TEST_F(k8s_watch, http_410_on_watch_relists) {
    fx().control("generate", R"({"count": 2})");
    fx().control("gone_mode", R"({"mode": "http"})");
    harness h;
    ASSERT_TRUE(h.synced_and_watching());
    fx().control("compact");
    fx().control("close_watches");
    ASSERT_TRUE(h.until([&] { return h.st().lists == 2 && h.st().watch_connected; }));
    EXPECT_EQ(h.st().gone, 1u);
    EXPECT_EQ(h.sync->peers().size(), 2u);
    EXPECT_TRUE(h.diffs.size() == 1);  // the initial list only: the relist changed nothing
}

TEST_F(k8s_watch, server_errors_back_off_then_recover) {
    fx().control("generate", R"({"count": 2})");
    fx().control("fault", R"({"kind": "list", "status": 500, "count": 4})");
    auto o = test_options();
    o.watch.backoff = {std::chrono::milliseconds(40), std::chrono::milliseconds(30000)};
    harness h(o);
    ASSERT_TRUE(h.until([&] { return h.st().consecutive_errors == 4; }));
    EXPECT_NE(h.st().last_error.find("injected fault 500"), std::string::npos) << h.st().last_error;
    EXPECT_FALSE(h.st().synced);
    ASSERT_TRUE(h.synced_and_watching());
    EXPECT_EQ(h.st().consecutive_errors, 0u);
    auto all_reqs = fx().requests();
    auto lists = requests_of(all_reqs, "list");
    ASSERT_EQ(lists.size(), 5u);
    // Gaps follow base * 2^n scaled by [0.5, 1]: 20-40, 40-80, 80-160, 160-320 ms.
    double nominal = 0.040;
    for (size_t i = 1; i < lists.size(); ++i, nominal *= 2) {
        double gap = (*lists[i])["time"].GetDouble() - (*lists[i - 1])["time"].GetDouble();
        EXPECT_GE(gap, nominal * 0.5 - 0.005) << i;
        EXPECT_LE(gap, nominal + 0.1) << i;
    }
}

TEST_F(k8s_watch, watch_errors_retry_from_same_rv_without_relist) {
    fx().control("generate", R"({"count": 2})");
    harness h;
    ASSERT_TRUE(h.synced_and_watching());
    auto rv = h.st().resource_version;
    fx().control("fault", R"({"kind": "watch", "status": 503, "count": 2})");
    fx().control("close_watches");
    ASSERT_TRUE(h.until([&] { return h.st().consecutive_errors == 2; }));
    ASSERT_TRUE(h.until([&] { return h.st().watch_connected && h.st().consecutive_errors == 0; }));
    auto reqs = fx().requests();
    for (auto* w : requests_of(reqs, "watch")) EXPECT_EQ(query(w, "resourceVersion"), rv);
    EXPECT_EQ(requests_of(reqs, "list").size(), 1u);
}

TEST_F(k8s_watch, too_many_requests_honours_retry_after) {
    fx().control("fault", R"({"kind": "list", "status": 429, "retry_after": 1})");
    harness h;  // backoff is 20 ms: only Retry-After explains a 1 s wait
    ASSERT_TRUE(h.synced_and_watching());
    auto all_reqs = fx().requests();
    auto lists = requests_of(all_reqs, "list");
    ASSERT_EQ(lists.size(), 2u);
    double gap = (*lists[1])["time"].GetDouble() - (*lists[0])["time"].GetDouble();
    EXPECT_GE(gap, 0.95);
    EXPECT_LE(gap, 1.5);
}

TEST_F(k8s_watch, short_empty_watch_is_an_error) {
    auto o = test_options();
    o.watch.min_watch_duration = std::chrono::milliseconds(60000);
    harness h(o);
    ASSERT_TRUE(h.synced_and_watching());
    fx().control("close_watches");
    ASSERT_TRUE(h.until([&] { return h.st().consecutive_errors == 1; }));
    EXPECT_NE(h.st().last_error.find("less than a second"), std::string::npos);
}

TEST_F(k8s_watch, malformed_events_are_logged_and_skipped) {
    fx().control("generate", R"({"count": 2})");
    harness h;
    ASSERT_TRUE(h.synced_and_watching());
    fx().control("raw", R"({"line": "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Node\",\"meta"})");
    fx().control("raw", R"({"line": "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Node\",\"metadata\":{}}}"})");
    fx().control("raw", R"({"line": "{\"type\":\"ADDED\"}"})");
    fx().control("raw", R"({"line": "{\"type\":\"SURPRISE\",\"object\":{}}"})");
    fx().control("raw", R"({"line": "[1,2,3]"})");
    fx().control("upsert", R"({"name": "bad-data", "idx": 3, "backend_data": "{\"VNI\":1,\"VtepMAC\":"})");
    fx().control("upsert", R"({"name": "good", "idx": 4})");
    ASSERT_TRUE(h.until([&] { return h.sync->peers().count("good") == 1; }));
    EXPECT_EQ(h.st().malformed, 5u);
    EXPECT_EQ(h.st().consecutive_errors, 0u);
    EXPECT_TRUE(h.st().watch_connected);
    EXPECT_EQ(h.st().watches, 1u);  // the stream survived
    auto skipped = h.sync->skipped();
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_EQ(skipped[0].name, "bad-data");
    EXPECT_NE(skipped[0].reason.find("backend-data"), std::string::npos);
}

TEST_F(k8s_watch, skipped_nodes_and_self_are_reported) {
    fx().control("generate", R"({"count": 2})");
    fx().control("upsert", R"({"name": "hostgw", "idx": 10, "backend_type": "host-gw", "event": false})");
    fx().control("upsert", R"({"name": "vni2", "idx": 11, "vni": 2, "event": false})");
    fx().control("upsert", R"({"name": "nocidr", "idx": 12, "pod_cidr": null, "event": false})");
    fx().control("upsert", R"({"name": "v6first", "idx": 13, "pod_cidr": "fd00:1::/64", "pod_cidrs": ["fd00:1::/64", "10.99.0.0/24"], "event": false})");
    fx().control("upsert", R"({"name": "self-node", "idx": 14, "event": false})");
    harness h;
    ASSERT_TRUE(h.synced_and_watching());
    EXPECT_EQ(h.st().peers, 3u);
    EXPECT_EQ(h.sync->peers().at("v6first").pod_cidr.str(), "10.99.0.0/24");
    EXPECT_EQ(h.sync->peers().count("self-node"), 0u);
    auto skipped = h.sync->skipped();
    ASSERT_EQ(skipped.size(), 3u);
    EXPECT_EQ(skipped[0].name, "hostgw");
    EXPECT_NE(skipped[1].reason.find("pod CIDR"), std::string::npos);
    EXPECT_NE(skipped[2].reason.find("VNI 2"), std::string::npos);
    EXPECT_EQ(h.st().skipped, 3u);
    // A skipped node that gets fixed becomes a peer.
    fx().control("upsert", R"({"name": "hostgw", "idx": 10})");
    ASSERT_TRUE(h.until([&] { return h.sync->peers().count("hostgw") == 1; }));
    EXPECT_EQ(h.st().skipped, 2u);
}
