// Publishing our node, reading back our VTEP MAC, authentication (token
// rotation, client certificates via kubeconfig), TLS verification and the
// dedicated-thread runner, against the fixture API server.
#include <gtest/gtest.h>

#include <poll.h>

#include <fstream>

#include "control/k8s/sync_thread.hpp"
#include "k8s_harness.hpp"

using namespace vxr::test;
namespace k8s = vxr::control::k8s;
using vxr::ipv4_addr;
using vxr::mac_addr;

namespace {

const std::string k_pfx = "flannel.alpha.coreos.com/";

k8s::self_publication me() {
    return {1, *mac_addr::parse("aa:bb:cc:00:00:01"), *ipv4_addr::parse("192.0.2.10")};
}

std::string b64(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        for (int s = 18; s >= 0; s -= 6) out += t[(v >> s) & 63];
    }
    if (i < in.size()) {
        uint32_t v = uint8_t(in[i]) << 16 | (i + 1 < in.size() ? uint8_t(in[i + 1]) << 8 : 0);
        out += t[(v >> 18) & 63];
        out += t[(v >> 12) & 63];
        out += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

}  // namespace

class k8s_publish : public ::testing::Test {
protected:
    void SetUp() override { shared_fixture().reset(); }
    fixture_server& fx() { return shared_fixture(); }
};

TEST_F(k8s_publish, patch_status_sets_annotations_and_condition_with_retries) {
    fx().control("upsert", R"({"name": "self-node", "idx": 1, "annotations": false, "event": false})");
    fx().control("fault", R"({"kind": "patch", "status": 500, "count": 2})");
    harness h;
    h.sync->publish_self(me());
    ASSERT_TRUE(h.until([&] { return h.st().self_published; }));
    EXPECT_EQ(h.st().publish_attempts, 3u);
    auto patches = fx().control("patches");
    ASSERT_EQ(patches.Size(), 3u);
    EXPECT_STREQ(patches[2]["name"].GetString(), "self-node");
    EXPECT_STREQ(patches[2]["content_type"].GetString(), "application/strategic-merge-patch+json");
    auto all_reqs = fx().requests();
    auto reqs = requests_of(all_reqs, "patch");
    ASSERT_EQ(reqs.size(), 3u);
    EXPECT_STREQ((*reqs[0])["path"].GetString(), "/api/v1/nodes/self-node/status");
    EXPECT_STREQ((*reqs[0])["method"].GetString(), "PATCH");
    auto node = fx().control("node", R"({"name": "self-node"})");
    auto& ann = node["metadata"]["annotations"];
    EXPECT_STREQ(ann[(k_pfx + "backend-data").c_str()].GetString(), R"({"VNI":1,"VtepMAC":"aa:bb:cc:00:00:01"})");
    EXPECT_STREQ(ann[(k_pfx + "backend-type").c_str()].GetString(), "vxlan");
    EXPECT_STREQ(ann[(k_pfx + "kube-subnet-manager").c_str()].GetString(), "true");
    EXPECT_STREQ(ann[(k_pfx + "public-ip").c_str()].GetString(), "192.0.2.10");
    EXPECT_TRUE(ann.HasMember("kubeadm.alpha.kubernetes.io/cri-socket"));  // merged, not replaced
    bool found = false;
    for (auto& c : node["status"]["conditions"].GetArray()) {
        if (std::string(c["type"].GetString()) != "NetworkUnavailable") continue;
        found = true;
        EXPECT_STREQ(c["status"].GetString(), "False");
        EXPECT_STREQ(c["reason"].GetString(), "VxrouteIsUp");
    }
    EXPECT_TRUE(found);
    EXPECT_EQ(node["status"]["conditions"].Size(), 5u);  // the kubelet's conditions are kept
}

TEST_F(k8s_publish, patch_honours_retry_after_and_republishes_when_overwritten) {
    fx().control("upsert", R"({"name": "self-node", "idx": 1, "event": false})");
    harness h;
    ASSERT_TRUE(h.synced_and_watching());
    h.sync->publish_self(me());
    ASSERT_TRUE(h.until([&] { return h.st().self_published; }));
    // Someone rewrites our annotations: we put them back.
    fx().control("upsert", R"({"name": "self-node", "idx": 1, "mac": "02:00:00:00:00:99"})");
    ASSERT_TRUE(h.until([&] { return fx().control("patches").Size() == 2 && h.st().self_published; }));
    auto node = fx().control("node", R"({"name": "self-node"})");
    EXPECT_NE(std::string(node["metadata"]["annotations"][(k_pfx + "backend-data").c_str()].GetString()).find("aa:bb:cc:00:00:01"),
              std::string::npos);
    // 429 on a publish waits for Retry-After.
    fx().control("fault", R"({"kind": "patch", "status": 429, "retry_after": 1})");
    h.sync->publish_self(me());
    ASSERT_TRUE(h.until([&] { return fx().control("patches").Size() == 4 && h.st().self_published; }));
    auto all_reqs = fx().requests();
    auto reqs = requests_of(all_reqs, "patch");
    ASSERT_EQ(reqs.size(), 4u);
    EXPECT_GE((*reqs[3])["time"].GetDouble() - (*reqs[2])["time"].GetDouble(), 0.95);
}

TEST_F(k8s_publish, previous_vtep_mac_is_read_back) {
    fx().control("upsert", R"({"name": "self-node", "idx": 1, "mac": "5a:5a:00:00:00:07", "event": false})");
    harness h;
    ASSERT_TRUE(h.synced_and_watching());
    ASSERT_TRUE(h.st().own_vtep_mac.has_value());
    EXPECT_EQ(h.st().own_vtep_mac->str(), "5a:5a:00:00:00:07");
    auto mac = k8s::fetch_published_vtep_mac(fx().client(), "self-node", std::chrono::seconds(5));
    ASSERT_TRUE(mac.ok()) << mac.err();
    ASSERT_TRUE(mac->has_value());
    EXPECT_EQ((*mac)->str(), "5a:5a:00:00:00:07");
    auto missing = k8s::fetch_published_vtep_mac(fx().client(), "no-such-node", std::chrono::seconds(5));
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.err().find("404"), std::string::npos);
}

TEST_F(k8s_publish, rotated_token_is_picked_up_from_the_file) {
    fx().control("generate", R"({"count": 1})");
    harness h;  // token file re-read every 50 ms
    ASSERT_TRUE(h.synced_and_watching());
    fx().write_token("token-2");
    h.run_for(200);
    fx().control("tokens", R"({"accept": ["token-2"]})");
    fx().control("close_watches");
    auto before = h.st().watches;
    ASSERT_TRUE(h.until([&] { return h.st().watches > before && h.st().watch_connected; }));
    auto all_reqs = fx().requests();
    auto watches = requests_of(all_reqs, "watch");
    EXPECT_STREQ((*watches.back())["auth"].GetString(), "Bearer token-2");
    EXPECT_EQ(h.st().consecutive_errors, 0u);  // no 401 on the way
}

TEST_F(k8s_publish, unauthorized_rereads_the_token_at_once) {
    fx().control("generate", R"({"count": 1})");
    auto o = test_options();
    o.http.token_reload = std::chrono::hours(1);  // only a 401 can trigger the re-read
    harness h(o);
    ASSERT_TRUE(h.synced_and_watching());
    fx().write_token("token-3");
    fx().control("tokens", R"({"accept": ["token-3"]})");
    fx().control("close_watches");
    ASSERT_TRUE(h.until([&] { return h.st().consecutive_errors == 1; }));
    EXPECT_NE(h.st().last_error.find("401"), std::string::npos) << h.st().last_error;
    ASSERT_TRUE(h.until([&] { return h.st().watch_connected && h.st().consecutive_errors == 0; }));
    auto all_reqs = fx().requests();
    auto watches = requests_of(all_reqs, "watch");
    EXPECT_STREQ((*watches.back())["auth"].GetString(), "Bearer token-3");
}

TEST_F(k8s_publish, kubeconfig_with_client_certificate_data) {
    fx().control("generate", R"({"count": 3})");
    auto slurp = [&](const char* f) {
        std::ifstream in(fx().dir() + "/" + f);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    std::string kc = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: " +
                     b64(slurp("ca.crt")) + "\n    server: " + fx().url() +
                     "\n  name: fx\ncontexts:\n- context:\n    cluster: fx\n    user: cert\n  name: fx\n"
                     "current-context: fx\nusers:\n- name: cert\n  user:\n    client-certificate-data: " +
                     b64(slurp("client.crt")) + "\n    client-key-data: " + b64(slurp("client.key")) + "\n";
    std::ofstream(fx().dir() + "/kubeconfig") << kc;
    auto cfg = k8s::load_kubeconfig(fx().dir() + "/kubeconfig");
    ASSERT_TRUE(cfg.ok()) << cfg.err();
    harness h(test_options(), &*cfg);
    ASSERT_TRUE(h.synced_and_watching());
    EXPECT_EQ(h.sync->peers().size(), 3u);
    auto all_reqs = fx().requests();
    EXPECT_STREQ((*requests_of(all_reqs, "list")[0])["auth"].GetString(), "");  // no token was sent
}

TEST_F(k8s_publish, tls_verification_is_always_on) {
    auto cfg = fx().client();
    cfg.ca_file.clear();  // the system store does not know the fixture's CA
    harness h(test_options(), &cfg);
    ASSERT_TRUE(h.until([&] { return h.st().consecutive_errors >= 1; }));
    EXPECT_FALSE(h.st().synced);
    auto all_reqs = fx().requests();
    EXPECT_TRUE(requests_of(all_reqs, "list").empty());
    auto wrong_name = fx().client();
    wrong_name.server = "https://localhost.localdomain:" + fx().url().substr(fx().url().rfind(':') + 1);
    EXPECT_FALSE(k8s::http_get_once(wrong_name, "/api/v1/nodes", std::chrono::seconds(2)).ok());
}

TEST_F(k8s_publish, sync_thread_hands_diffs_over) {
    fx().control("generate", R"({"count": 50})");
    fx().control("upsert", R"({"name": "self-node", "idx": 999, "event": false})");
    auto s = k8s::cluster_sync::create(fx().client(), test_options());
    ASSERT_TRUE(s.ok());
    k8s::sync_thread t(std::move(*s));
    t.start();
    ASSERT_TRUE(eventually([&] { return t.status().synced && t.status().watch_connected; }, std::chrono::seconds(5)));
    pollfd pfd{t.notify_fd(), POLLIN, 0};
    EXPECT_EQ(::poll(&pfd, 1, 0), 1);  // readable: diffs are waiting
    auto diffs = t.drain();
    ASSERT_EQ(diffs.size(), 1u);
    EXPECT_EQ(diffs[0].added.size(), 50u);
    EXPECT_EQ(::poll(&pfd, 1, 0), 0);
    EXPECT_EQ(t.peers().size(), 50u);
    ASSERT_TRUE(t.status().own_vtep_mac.has_value());
    t.publish_self(me());
    fx().control("delete", R"({"name": "node-7"})");
    ASSERT_TRUE(t.wait_for_diff(std::chrono::seconds(5)));
    diffs = t.drain();
    ASSERT_EQ(diffs.size(), 1u);
    EXPECT_EQ(diffs[0].removed.at(0).name, "node-7");
    ASSERT_TRUE(eventually([&] { return t.status().self_published; }, std::chrono::seconds(5)));
    EXPECT_TRUE(t.skipped().empty());
    t.stop();
}
