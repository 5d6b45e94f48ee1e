// watch_cache on its own (no API server): the stores it creates from the
// configured names, the handlers that get each turn's coalesced changes
// with the real decoders, the eventfd that wakes the control loop, and the
// JSON views `vxroutectl show` prints.
#include <gtest/gtest.h>

#include <poll.h>

#include <string>

#include <rapidjson/document.h>

#include "control/k8s/watch_cache.hpp"
#include "decode_helpers.hpp"

namespace k8s = vxr::control::k8s;
using decode_test::load;

namespace {

void set_rv(rapidjson::Document& d, const char* rv) {
    d["metadata"]["resourceVersion"].SetString(rv, d.GetAllocator());
}

bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}

}  // namespace

TEST(watch_cache, creates_only_the_configured_stores) {
    auto c = k8s::watch_cache::create({"services", "pods"});
    ASSERT_TRUE(c.ok()) << c.err();
    EXPECT_NE((*c)->services(), nullptr);
    EXPECT_NE((*c)->pods(), nullptr);
    EXPECT_EQ((*c)->endpointslices(), nullptr);
    EXPECT_EQ((*c)->namespaces(), nullptr);
    EXPECT_EQ((*c)->networkpolicies(), nullptr);
    EXPECT_EQ((*c)->names(), (std::vector<std::string>{"services", "pods"}));
    auto none = k8s::watch_cache::create({});
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE((*none)->names().empty());
    auto bad = k8s::watch_cache::create({"service"});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().find("\"service\""), std::string::npos) << bad.err();
}

TEST(watch_cache, handlers_get_one_coalesced_change_per_object_per_turn) {
    auto c = k8s::watch_cache::create({"services"});
    ASSERT_TRUE(c.ok()) << c.err();
    auto& cache = **c;
    std::vector<k8s::changes<k8s::service>> calls;
    cache.on_services([&](const k8s::changes<k8s::service>& ch) { calls.push_back(ch); });
    auto* store = cache.services();

    auto svc = load("service_clusterip.json");
    EXPECT_FALSE(readable(cache.notify_fd()));
    // Three versions of one Service before the control loop's turn.
    for (const char* rv : {"101", "102", "103"}) {
        set_rv(svc, rv);
        ASSERT_TRUE(store->upsert(svc));
    }
    EXPECT_TRUE(readable(cache.notify_fd())) << "changes waiting must wake the control loop";
    cache.poll();
    EXPECT_FALSE(readable(cache.notify_fd()));
    ASSERT_EQ(calls.size(), 1u);
    ASSERT_EQ(calls[0].size(), 1u);
    EXPECT_EQ(calls[0][0].before, nullptr);
    ASSERT_NE(calls[0][0].after, nullptr);
    EXPECT_EQ(calls[0][0].after->meta.resource_version, "103");
    const std::string key = calls[0][0].key;

    // No change: no call.
    cache.poll();
    EXPECT_EQ(calls.size(), 1u);

    // An update then the delete within one turn: one change, before = 103, after = gone.
    set_rv(svc, "104");
    ASSERT_TRUE(store->upsert(svc));
    ASSERT_TRUE(store->remove(svc));
    cache.poll();
    ASSERT_EQ(calls.size(), 2u);
    ASSERT_EQ(calls[1].size(), 1u);
    EXPECT_EQ(calls[1][0].key, key);
    ASSERT_NE(calls[1][0].before, nullptr);
    EXPECT_EQ(calls[1][0].before->meta.resource_version, "103");
    EXPECT_EQ(calls[1][0].after, nullptr);
    EXPECT_TRUE(store->view().empty());

    // Added and deleted within one turn: nothing to tell.
    set_rv(svc, "105");
    ASSERT_TRUE(store->upsert(svc));
    ASSERT_TRUE(store->remove(svc));
    cache.poll();
    EXPECT_EQ(calls.size(), 2u);
}

TEST(watch_cache, an_object_that_does_not_decode_keeps_the_last_good_version) {
    auto c = k8s::watch_cache::create({"services"});
    ASSERT_TRUE(c.ok()) << c.err();
    auto* store = (*c)->services();
    auto svc = load("service_clusterip.json");
    set_rv(svc, "200");
    ASSERT_TRUE(store->upsert(svc));
    (*c)->poll();
    auto bad = load("service_clusterip.json");
    set_rv(bad, "201");
    bad["spec"]["ports"][0]["port"].SetInt(70000);
    EXPECT_FALSE(store->upsert(bad));
    (*c)->poll();
    ASSERT_EQ(store->view().size(), 1u);
    EXPECT_EQ(store->view().begin()->second->meta.resource_version, "200");
    EXPECT_EQ(store->stats().decode_errors, 1u);
}

TEST(watch_cache, show_prints_the_view_and_names_what_is_not_watched) {
    auto c = k8s::watch_cache::create({"services"});
    ASSERT_TRUE(c.ok()) << c.err();
    auto svc = load("service_clusterip.json");
    ASSERT_TRUE((*c)->services()->upsert(svc));
    (*c)->poll();
    auto out = (*c)->show("services");
    ASSERT_TRUE(out.ok()) << out.err();
    rapidjson::Document d;
    d.Parse(out->c_str());
    ASSERT_TRUE(d.IsArray()) << *out;
    ASSERT_EQ(d.Size(), 1u);
    EXPECT_EQ(std::string(d[0]["name"].GetString()), svc["metadata"]["name"].GetString());
    auto pods = (*c)->show("pods");
    ASSERT_FALSE(pods.ok());
    EXPECT_NE(pods.err().find("add \"pods\" to kubernetes.watch"), std::string::npos) << pods.err();
    auto unknown = (*c)->show("gateways");
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.err().find("one of services, endpointslices, pods, namespaces, networkpolicies"),
              std::string::npos)
        << unknown.err();
}
