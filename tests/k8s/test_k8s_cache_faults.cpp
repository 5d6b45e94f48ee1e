// The reflector under API server faults, once per resource (the watch cache's
// five, and Nodes through a second reflector): 5xx backoff and recovery, 429
// Retry-After, a stalled watch, token rotation on 401, malformed events and
// undecodable objects; and a fault on one resource leaves the others alone.
#include <gtest/gtest.h>

#include "cache_harness.hpp"

using namespace vxr::test;

namespace {

class k8s_cache_faults : public cache_test {};

TEST_P(k8s_cache_faults, server_errors_back_off_then_recover) {
    h.upsert_many(c, 2);
    h.ctl(c, "fault", R"("kind": "list", "status": 500, "count": 4)");
    h.opt.watch.backoff = {std::chrono::milliseconds(40), std::chrono::milliseconds(30000)};
    h.start();
    ASSERT_TRUE(h.until([&] { return h.stats(c).consecutive_errors == 4; }));
    EXPECT_NE(h.stats(c).last_error.find("injected fault 500"), std::string::npos) << h.stats(c).last_error;
    EXPECT_FALSE(h.stats(c).synced);
    EXPECT_TRUE(c.store.take().empty());
    ASSERT_TRUE(h.synced_and_watching(c));
    EXPECT_EQ(h.stats(c).consecutive_errors, 0u);
    EXPECT_EQ(h.take(c).size(), 2u);
    auto lists = h.requests(c, "list");
    ASSERT_EQ(lists.size(), 5u);
    // Gaps follow base * 2^n scaled by [0.5, 1]: 20-40, 40-80, 80-160, 160-320 ms.
    double nominal = 0.040;
    for (size_t i = 1; i < lists.size(); ++i, nominal *= 2) {
        double gap = lists[i].time - lists[i - 1].time;
        EXPECT_GE(gap, nominal * 0.5 - 0.005) << i;
        EXPECT_LE(gap, nominal + 0.1) << i;
    }
    // A failing watch retries from the same rv, without a relist.
    const auto rv = h.stats(c).resource_version;
    h.ctl(c, "fault", R"("kind": "watch", "status": 503, "count": 2)");
    h.ctl(c, "close_watches");
    ASSERT_TRUE(h.until([&] { return h.stats(c).consecutive_errors == 2; }));
    EXPECT_NE(h.stats(c).last_error.find("503"), std::string::npos) << h.stats(c).last_error;
    ASSERT_TRUE(h.until([&] { return h.stats(c).watch_connected && h.stats(c).consecutive_errors == 0; }));
    auto watches = h.requests(c, "watch");
    EXPECT_EQ(watches.size(), 4u);
    for (const auto& w : watches) EXPECT_EQ(w.q("resourceVersion"), rv);
    EXPECT_EQ(h.requests(c, "list").size(), 5u);
}

TEST_P(k8s_cache_faults, too_many_requests_honours_retry_after) {
    h.ctl(c, "fault", R"("kind": "list", "status": 429, "retry_after": 1)");
    h.start();  // backoff is 20 ms: only Retry-After explains a 1 s wait
    ASSERT_TRUE(h.synced_and_watching(c));
    auto lists = h.requests(c, "list");
    ASSERT_EQ(lists.size(), 2u);
    double gap = lists[1].time - lists[0].time;
    EXPECT_GE(gap, 0.95);
    EXPECT_LE(gap, 1.5);
    EXPECT_NE(h.stats(c).last_error.find("429"), std::string::npos) << h.stats(c).last_error;
}

TEST_P(k8s_cache_faults, stalled_watch_is_restarted_from_the_same_rv) {
    // A live API server sends bookmarks on an idle watch; the fixture does so
    // every 200 ms, so only a stalled watch goes a second without a byte.
    h.ctl("config", R"({"bookmark_interval": 0.2})");
    h.upsert_many(c, 2);
    h.opt.watch.watch_stall = std::chrono::seconds(1);
    h.start();
    ASSERT_TRUE(h.synced_and_watching(c));
    const auto list_rv = h.stats(c).resource_version;
    const auto rv = std::to_string(h.ctl(c, "bookmark")["rv"].GetInt());
    h.run_for(1500);
    EXPECT_EQ(h.stats(c).stalls, 0u);  // idle but for its bookmarks: alive, left alone
    EXPECT_EQ(h.stats(c).watches, 1u);
    ASSERT_EQ(h.stats(c).resource_version, rv);
    h.ctl(c, "stall");
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(h.until([&] { return h.stats(c).stalls >= 1; }));
    // After a second of silence (the last bookmark came up to 200 ms before
    // the stall), not seconds later.
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(took, 0.75);
    EXPECT_LE(took, 2.0);
    EXPECT_EQ(h.stats(c).consecutive_errors, 0u);  // routine, no backoff
    h.upsert(c, c.object("late"));
    h.run_for(300);
    EXPECT_EQ(c.store.stats().objects, 2u);  // still stalled: nothing came through
    h.ctl(c, "unstall");
    ASSERT_TRUE(h.until([&] { return c.store.stats().objects == 3; }));
    // The watch that was stalled from its start is alive now: left alone.
    const auto stalls = h.stats(c).stalls, watches = h.stats(c).watches;
    h.run_for(1200);
    EXPECT_EQ(h.stats(c).stalls, stalls);
    EXPECT_EQ(h.stats(c).watches, watches);
    EXPECT_TRUE(h.stats(c).watch_connected);
    auto reqs = h.requests(c, "watch");
    ASSERT_EQ(reqs.size(), watches);
    ASSERT_GE(reqs.size(), 2u);
    EXPECT_EQ(reqs[0].q("resourceVersion"), list_rv);
    for (size_t i = 1; i < reqs.size(); ++i) EXPECT_EQ(reqs[i].q("resourceVersion"), rv) << i;  // resumed
    EXPECT_EQ(h.stats(c).lists, 1u);  // not relisted
    EXPECT_EQ(h.requests(c, "list").size(), 1u);
    EXPECT_EQ(h.take(c).size(), 3u);
}

// Not for Nodes: cluster_sync's own Node reflector shares the token and
// would re-watch too, so which of the two meets the 401 first is a race
// (test_k8s_publish covers the Node watch).
class k8s_cache_auth : public k8s_cache_faults {};

TEST_P(k8s_cache_auth, unauthorized_rereads_the_token_file) {
    h.upsert_many(c, 1);
    h.opt.http.token_reload = std::chrono::hours(1);  // only a 401 can make it re-read the file
    h.start();
    ASSERT_TRUE(h.synced_and_watching(c));
    h.fx.write_token("token-3");
    h.ctl("tokens", R"({"accept": ["token-3"]})");
    h.ctl(c, "close_watches");
    ASSERT_TRUE(h.until([&] { return h.requests(c, "watch").size() >= 3 && h.stats(c).watch_connected; }));
    EXPECT_NE(h.stats(c).last_error.find("401"), std::string::npos) << h.stats(c).last_error;
    EXPECT_EQ(h.stats(c).consecutive_errors, 0u);
    auto watches = h.requests(c, "watch");
    ASSERT_EQ(watches.size(), 3u);
    EXPECT_EQ(watches[1].auth, "Bearer token-1");  // refused
    EXPECT_EQ(watches[2].auth, "Bearer token-3");
    EXPECT_EQ(watches[2].q("resourceVersion"), watches[0].q("resourceVersion"));
    EXPECT_EQ(h.stats(c).lists, 1u);
}

TEST_P(k8s_cache_faults, malformed_events_and_undecodable_objects_are_counted_and_skipped) {
    h.upsert_many(c, 1);
    h.start();
    ASSERT_TRUE(h.synced_and_watching(c));
    ASSERT_EQ(h.take(c).size(), 1u);
    ::testing::internal::CaptureStderr();
    h.ctl(c, "raw", R"("line": "{\"type\":\"ADDED\",\"object\":{\"kind\":\"X\",\"meta")");  // cut short
    h.ctl(c, "raw", R"("line": "{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}")");  // no name
    h.ctl(c, "raw", R"("line": "{\"type\":\"ADDED\"}")");                              // no object
    h.ctl(c, "raw", R"("line": "{\"type\":\"SURPRISE\",\"object\":{}}")");
    h.ctl(c, "raw", R"("line": "[1,2,3]")");
    // Objects the decoder refuses: a new one is skipped, a known one keeps
    // its last good state.
    h.upsert(c, c.object("bad", R"({"n": 7})"));
    h.upsert(c, c.object("obj-0", R"({"idx": ["zero"]})"));
    h.upsert(c, c.object("good"));
    const auto rv = h.server_rv();
    const bool arrived = h.until([&] { return h.stats(c).resource_version == rv; });
    const std::string log = ::testing::internal::GetCapturedStderr();
    ASSERT_TRUE(arrived);
    EXPECT_EQ(h.stats(c).malformed, 7u);  // five events, two objects
    EXPECT_EQ(c.store.stats().decode_errors, 2u);
    EXPECT_EQ(h.stats(c).events, 3u);
    EXPECT_EQ(h.stats(c).consecutive_errors, 0u);
    EXPECT_TRUE(h.stats(c).watch_connected);
    EXPECT_EQ(h.stats(c).watches, 1u);  // the stream survived
    auto ch = h.take(c);
    ASSERT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch.begin()->first, c.key("good"));
    EXPECT_EQ(c.get(c.key("obj-0"))->labels.at("idx"), "0");
    EXPECT_EQ(c.get(c.key("bad")), nullptr);
    EXPECT_NE(log.find("skipping malformed event"), std::string::npos) << log;
    EXPECT_NE(log.find("without a name"), std::string::npos) << log;
    EXPECT_NE(log.find("unknown type 'SURPRISE'"), std::string::npos) << log;
    EXPECT_NE(log.find("skipping " + c.rc.kind + " " + c.key("bad") + ": label n is not a string"), std::string::npos)
        << log;
    EXPECT_NE(log.find("skipping " + c.rc.kind + " " + c.key("obj-0") + ":"), std::string::npos) << log;
}

INSTANTIATE_TEST_SUITE_P(resources, k8s_cache_faults, ::testing::ValuesIn(all_resources()), resource_name);
INSTANTIATE_TEST_SUITE_P(resources, k8s_cache_auth, ::testing::ValuesIn(cached_resources()), resource_name);

TEST(k8s_cache_isolation, a_fault_on_one_resource_does_not_disturb_the_others) {
    shared_fixture().reset();
    sync_harness h;
    for (const auto& rc : cached_resources()) h.add(rc);
    auto& svc = *h.caches[0];   // watches fail with 503
    auto& pods = *h.caches[2];  // relists after a 410
    auto& ns = *h.caches[3];    // stalls
    ASSERT_EQ(svc.rc.plural, "services");
    ASSERT_EQ(pods.rc.plural, "pods");
    ASSERT_EQ(ns.rc.plural, "namespaces");
    for (auto& c : h.caches) h.upsert_many(*c, 3);
    h.opt.watch.watch_stall = std::chrono::seconds(1);
    h.ctl("config", R"({"bookmark_interval": 0.2})");
    h.start();
    ASSERT_TRUE(h.until([&] {
        for (auto& c : h.caches)
            if (!h.stats(*c).synced || !h.stats(*c).watch_connected) return false;
        return true;
    }));
    for (auto& c : h.caches) h.take(*c);
    h.ctl(svc, "fault", R"("kind": "watch", "status": 503, "count": 100000)");
    h.ctl(svc, "close_watches");
    h.ctl(pods, "compact");
    h.ctl(pods, "expire_watches");
    h.ctl(ns, "stall");
    ASSERT_TRUE(h.until([&] { return h.stats(svc).consecutive_errors >= 3 && h.stats(pods).lists == 2; }));
    // Every resource changes; the healthy ones see it at once, on their first watch.
    for (auto& c : h.caches) h.upsert(*c, c->object("new"));
    for (auto* c : {h.caches[1].get(), h.caches[4].get(), &pods}) {
        SCOPED_TRACE(c->rc.plural);
        ASSERT_TRUE(h.until([&] { return c->store.stats().objects == 4; }, 2000));
        EXPECT_EQ(h.stats(*c).consecutive_errors, 0u);
        EXPECT_EQ(h.stats(*c).stalls, 0u);
        EXPECT_EQ(h.take(*c).size(), 1u);
    }
    for (auto* c : {h.caches[1].get(), h.caches[4].get()}) {
        EXPECT_EQ(h.stats(*c).watches, 1u);
        EXPECT_EQ(h.stats(*c).lists, 1u);
        EXPECT_EQ(h.stats(*c).gone, 0u);
    }
    EXPECT_EQ(h.stats(pods).gone, 1u);
    EXPECT_EQ(svc.store.stats().objects, 3u);
    EXPECT_EQ(ns.store.stats().objects, 3u);
    EXPECT_FALSE(h.stats(svc).watch_connected);
    // The stall is noticed on its own time; then both recover.
    ASSERT_TRUE(h.until([&] { return h.stats(ns).stalls >= 1; }));
    EXPECT_EQ(h.stats(svc).stalls, 0u);
    h.ctl(svc, "fault", R"("clear": true)");
    h.ctl(ns, "unstall");
    ASSERT_TRUE(h.until([&] { return svc.store.stats().objects == 4 && ns.store.stats().objects == 4; }));
    EXPECT_EQ(h.stats(svc).lists, 1u);
    EXPECT_EQ(h.stats(ns).lists, 1u);
}

}  // namespace
