// Recorded Node objects -> peers, the publication patch, diffs, event line
// splitting and backoff bounds.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <rapidjson/document.h>

#include "control/k8s/backoff.hpp"
#include "control/k8s/line_splitter.hpp"
#include "control/k8s/node_parse.hpp"
#include "control/k8s/peer_table.hpp"

namespace k8s = vxr::control::k8s;
using vxr::ipv4_addr;
using vxr::ipv4_prefix;
using vxr::mac_addr;

namespace {

const std::string k_pfx = "flannel.alpha.coreos.com/";

rapidjson::Document recorded_node() {
    std::ifstream f(VXR_K8S_TEST_DATA "/node_flannel.json");
    std::stringstream ss;
    ss << f.rdbuf();
    rapidjson::Document d;
    d.Parse(ss.str().c_str());
    EXPECT_FALSE(d.HasParseError());
    return d;
}

void set_annotation(rapidjson::Document& d, const std::string& key, const std::string& value) {
    auto& ann = d["metadata"]["annotations"];
    ann.RemoveMember(key.c_str());
    ann.AddMember(rapidjson::Value(key.c_str(), d.GetAllocator()), rapidjson::Value(value.c_str(), d.GetAllocator()),
                  d.GetAllocator());
}

k8s::node_options opts() {
    k8s::node_options o;
    o.self_name = "me";
    return o;
}

k8s::node_info peer_info(const std::string& name, const std::string& ip, const std::string& cidr,
                         const std::string& mac = "02:00:00:00:00:01") {
    k8s::node_info n;
    n.name = name;
    n.kind = k8s::node_kind::peer;
    n.peer = {*ipv4_addr::parse(ip), *mac_addr::parse(mac), *ipv4_prefix::parse(cidr), name};
    return n;
}

k8s::node_info skip_info(const std::string& name, const std::string& why) {
    k8s::node_info n;
    n.name = name;
    n.reason = why;
    return n;
}

}  // namespace

TEST(node_parse, valid_flannel_node_is_a_peer) {
    auto d = recorded_node();
    auto n = k8s::classify_node(d, opts());
    ASSERT_TRUE(n.ok()) << n.err();
    ASSERT_EQ(n->kind, k8s::node_kind::peer) << n->reason;
    EXPECT_EQ(n->name, "worker-7");
    EXPECT_EQ(n->resource_version, "48213");
    EXPECT_EQ(n->peer.name, "worker-7");
    EXPECT_EQ(n->peer.node_ip.str(), "192.168.56.17");
    EXPECT_EQ(n->peer.vtep_mac.str(), "6e:1f:27:4c:9a:01");
    EXPECT_EQ(n->peer.pod_cidr.str(), "10.244.7.0/24");
}

TEST(node_parse, public_ip_overwrite_wins) {
    auto d = recorded_node();
    set_annotation(d, k_pfx + "public-ip-overwrite", "203.0.113.9");
    auto n = k8s::classify_node(d, opts());
    ASSERT_EQ(n->kind, k8s::node_kind::peer) << n->reason;
    EXPECT_EQ(n->peer.node_ip.str(), "203.0.113.9");
}

TEST(node_parse, wrong_backend_is_skipped_with_reason) {
    auto d = recorded_node();
    set_annotation(d, k_pfx + "backend-type", "host-gw");
    auto n = k8s::classify_node(d, opts());
    ASSERT_EQ(n->kind, k8s::node_kind::skipped);
    EXPECT_NE(n->reason.find("host-gw"), std::string::npos) << n->reason;
}

TEST(node_parse, other_vni_is_skipped) {
    auto d = recorded_node();
    set_annotation(d, k_pfx + "backend-data", R"({"VNI":4096,"VtepMAC":"6e:1f:27:4c:9a:01"})");
    auto n = k8s::classify_node(d, opts());
    ASSERT_EQ(n->kind, k8s::node_kind::skipped);
    EXPECT_NE(n->reason.find("VNI 4096"), std::string::npos) << n->reason;
    auto o = opts();
    o.vni = 4096;
    EXPECT_EQ(k8s::classify_node(d, o)->kind, k8s::node_kind::peer);
}

TEST(node_parse, missing_pod_cidr_is_skipped) {
    auto d = recorded_node();
    d["spec"].RemoveMember("podCIDR");
    d["spec"].RemoveMember("podCIDRs");
    auto n = k8s::classify_node(d, opts());
    ASSERT_EQ(n->kind, k8s::node_kind::skipped);
    EXPECT_NE(n->reason.find("pod CIDR"), std::string::npos) << n->reason;
}

TEST(node_parse, malformed_backend_data_is_skipped) {
    for (const char* bad : {"{not json", R"({"VNI":1})", R"({"VNI":1,"VtepMAC":"zz:zz"})", R"({"VNI":-1,"VtepMAC":"02:00:00:00:00:01"})",
                            R"(["VNI",1])", R"({"VNI":1,"VtepMAC":"00:00:00:00:00:00"})"}) {
        auto d = recorded_node();
        set_annotation(d, k_pfx + "backend-data", bad);
        auto n = k8s::classify_node(d, opts());
        ASSERT_TRUE(n.ok());
        EXPECT_EQ(n->kind, k8s::node_kind::skipped) << bad;
        EXPECT_NE(n->reason.find("backend-data"), std::string::npos) << n->reason;
    }
}

TEST(node_parse, ipv6_first_in_pod_cidrs_takes_first_ipv4) {
    auto d = recorded_node();
    auto& a = d.GetAllocator();
    d["spec"]["podCIDR"].SetString("fd00:10:244:7::/64", a);
    auto& list = d["spec"]["podCIDRs"];
    list.Clear();
    list.PushBack(rapidjson::Value("fd00:10:244:7::/64", a), a);
    list.PushBack(rapidjson::Value("10.244.77.0/24", a), a);
    auto n = k8s::classify_node(d, opts());
    ASSERT_EQ(n->kind, k8s::node_kind::peer) << n->reason;
    EXPECT_EQ(n->peer.pod_cidr.str(), "10.244.77.0/24");
    list.PopBack();
    EXPECT_EQ(k8s::classify_node(d, opts())->kind, k8s::node_kind::skipped);  // IPv6 only
}

TEST(node_parse, missing_annotations_self_and_garbage) {
    auto d = recorded_node();
    d["metadata"].RemoveMember("annotations");
    auto n = k8s::classify_node(d, opts());
    ASSERT_EQ(n->kind, k8s::node_kind::skipped);
    EXPECT_NE(n->reason.find("kube-subnet-manager"), std::string::npos);

    auto self = recorded_node();
    auto o = opts();
    o.self_name = "worker-7";
    EXPECT_EQ(k8s::classify_node(self, o)->kind, k8s::node_kind::self);

    auto ip = recorded_node();
    set_annotation(ip, k_pfx + "public-ip", "fd00::7");
    EXPECT_EQ(k8s::classify_node(ip, opts())->kind, k8s::node_kind::skipped);

    rapidjson::Document g;
    g.Parse(R"({"kind":"Node","metadata":{}})");
    EXPECT_FALSE(k8s::classify_node(g, opts()).ok());
    g.Parse("[1,2]");
    EXPECT_FALSE(k8s::classify_node(g, opts()).ok());
}

TEST(node_parse, custom_prefix) {
    auto d = recorded_node();
    auto o = opts();
    o.prefix = "example.com";
    EXPECT_EQ(k8s::classify_node(d, o)->kind, k8s::node_kind::skipped);
}

TEST(node_parse, published_vtep_mac_read_back) {
    auto d = recorded_node();
    auto mac = k8s::published_vtep_mac(d, "flannel.alpha.coreos.com");
    ASSERT_TRUE(mac);
    EXPECT_EQ(mac->str(), "6e:1f:27:4c:9a:01");
    d["metadata"].RemoveMember("annotations");
    EXPECT_FALSE(k8s::published_vtep_mac(d, "flannel.alpha.coreos.com"));
    EXPECT_FALSE(k8s::published_vtep_mac(std::string_view("{oops"), "flannel.alpha.coreos.com").ok());
}

TEST(node_parse, status_patch_matches_flannel) {
    k8s::self_publication self{1, *mac_addr::parse("aa:bb:cc:dd:ee:01"), *ipv4_addr::parse("192.0.2.5")};
    std::string p = k8s::build_status_patch(self, "flannel.alpha.coreos.com",
                                            std::chrono::system_clock::from_time_t(1714564800));
    rapidjson::Document d;
    d.Parse(p.c_str());
    ASSERT_FALSE(d.HasParseError()) << p;
    auto& ann = d["metadata"]["annotations"];
    EXPECT_STREQ(ann[(k_pfx + "backend-data").c_str()].GetString(), R"({"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"})");
    EXPECT_STREQ(ann[(k_pfx + "backend-type").c_str()].GetString(), "vxlan");
    EXPECT_STREQ(ann[(k_pfx + "kube-subnet-manager").c_str()].GetString(), "true");
    EXPECT_STREQ(ann[(k_pfx + "public-ip").c_str()].GetString(), "192.0.2.5");
    auto& c = d["status"]["conditions"][0];
    EXPECT_STREQ(c["type"].GetString(), "NetworkUnavailable");
    EXPECT_STREQ(c["status"].GetString(), "False");
    EXPECT_STREQ(c["reason"].GetString(), "VxrouteIsUp");
    EXPECT_STREQ(c["lastTransitionTime"].GetString(), "2024-05-01T12:00:00Z");
    // What we publish is what a peer (or flannel) parses back.
    auto node = recorded_node();
    set_annotation(node, k_pfx + "backend-data", k8s::backend_data_json(1, self.vtep_mac));
    set_annotation(node, k_pfx + "public-ip", "192.0.2.5");
    EXPECT_TRUE(k8s::self_annotations_match(node, self, "flannel.alpha.coreos.com"));
    self.vni = 2;
    EXPECT_FALSE(k8s::self_annotations_match(node, self, "flannel.alpha.coreos.com"));
}

TEST(peer_table, add_modify_delete) {
    k8s::peer_table t;
    k8s::peer_diff d;
    t.upsert(peer_info("a", "192.0.2.1", "10.0.1.0/24"), d);
    t.upsert(peer_info("b", "192.0.2.2", "10.0.2.0/24"), d);
    EXPECT_EQ(d.added.size(), 2u);
    k8s::peer_diff same;
    t.upsert(peer_info("a", "192.0.2.1", "10.0.1.0/24"), same);  // kubelet heartbeat: no change
    EXPECT_TRUE(same.empty());
    k8s::peer_diff mod;
    t.upsert(peer_info("a", "192.0.2.1", "10.0.1.0/24", "02:00:00:00:00:09"), mod);
    ASSERT_EQ(mod.updated.size(), 1u);
    EXPECT_EQ(mod.updated[0].before.vtep_mac.str(), "02:00:00:00:00:01");
    EXPECT_EQ(mod.updated[0].after.vtep_mac.str(), "02:00:00:00:00:09");
    k8s::peer_diff del;
    t.remove("b", del);
    ASSERT_EQ(del.removed.size(), 1u);
    EXPECT_EQ(del.removed[0].pod_cidr.str(), "10.0.2.0/24");
    k8s::peer_diff none;
    t.remove("unknown", none);
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(t.peers().size(), 1u);
}

TEST(peer_table, peer_that_stops_qualifying_is_removed_and_reported) {
    k8s::peer_table t;
    k8s::peer_diff d;
    t.upsert(peer_info("a", "192.0.2.1", "10.0.1.0/24"), d);
    k8s::peer_diff d2;
    t.upsert(skip_info("a", "backend-type is \"host-gw\", not vxlan"), d2);
    ASSERT_EQ(d2.removed.size(), 1u);
    ASSERT_EQ(t.skipped().size(), 1u);
    EXPECT_EQ(t.skipped()[0].name, "a");
    k8s::peer_diff d3;
    t.upsert(peer_info("a", "192.0.2.1", "10.0.1.0/24"), d3);
    EXPECT_EQ(d3.added.size(), 1u);
    EXPECT_EQ(t.skipped_count(), 0u);
}

TEST(peer_table, relist_replaces_by_diff) {
    k8s::peer_table t;
    std::vector<k8s::node_info> first{peer_info("a", "192.0.2.1", "10.0.1.0/24"), peer_info("b", "192.0.2.2", "10.0.2.0/24"),
                                      peer_info("c", "192.0.2.3", "10.0.3.0/24"), skip_info("x", "no pod CIDR")};
    auto d1 = t.replace_all(std::move(first));
    EXPECT_EQ(d1.added.size(), 3u);
    EXPECT_EQ(t.skipped_count(), 1u);
    // a unchanged, b modified, c gone, d new, x gone from skipped.
    std::vector<k8s::node_info> second{peer_info("a", "192.0.2.1", "10.0.1.0/24"), peer_info("b", "192.0.2.22", "10.0.2.0/24"),
                                       peer_info("d", "192.0.2.4", "10.0.4.0/24")};
    auto d2 = t.replace_all(std::move(second));
    ASSERT_EQ(d2.added.size(), 1u);
    EXPECT_EQ(d2.added[0].name, "d");
    ASSERT_EQ(d2.updated.size(), 1u);
    EXPECT_EQ(d2.updated[0].after.node_ip.str(), "192.0.2.22");
    ASSERT_EQ(d2.removed.size(), 1u);
    EXPECT_EQ(d2.removed[0].name, "c");
    EXPECT_EQ(t.skipped_count(), 0u);
    EXPECT_EQ(t.peers().size(), 3u);
    // The same list again changes nothing.
    std::vector<k8s::node_info> third{peer_info("a", "192.0.2.1", "10.0.1.0/24"), peer_info("b", "192.0.2.22", "10.0.2.0/24"),
                                      peer_info("d", "192.0.2.4", "10.0.4.0/24")};
    EXPECT_TRUE(t.replace_all(std::move(third)).empty());
}

TEST(line_splitter, events_split_across_chunks) {
    std::string stream = "{\"type\":\"ADDED\",\"n\":1}\n{\"type\":\"MODIFIED\",\"n\":2}\r\n\n{\"type\":\"DELETED\",\"n\":3}\n{\"tail\"";
    for (size_t piece = 1; piece <= stream.size(); ++piece) {
        k8s::line_splitter s;
        std::vector<std::string> lines;
        for (size_t i = 0; i < stream.size(); i += piece)
            ASSERT_TRUE(s.feed(std::string_view(stream).substr(i, piece), [&](std::string_view l) { lines.emplace_back(l); }));
        ASSERT_EQ(lines.size(), 3u) << "piece " << piece;
        EXPECT_EQ(lines[0], "{\"type\":\"ADDED\",\"n\":1}");
        EXPECT_EQ(lines[1], "{\"type\":\"MODIFIED\",\"n\":2}");
        EXPECT_EQ(lines[2], "{\"type\":\"DELETED\",\"n\":3}");
        EXPECT_EQ(s.buffered(), 7u);  // the incomplete event waits for its newline
    }
}

TEST(backoff, bounds_and_reset) {
    k8s::backoff_params p{std::chrono::milliseconds(100), std::chrono::milliseconds(3000)};
    k8s::backoff b(p, 42);
    for (int round = 0; round < 2; ++round) {
        int64_t nominal = 100;
        for (int i = 0; i < 20; ++i) {
            auto d = b.next().count();
            EXPECT_GE(d, nominal / 2) << i;
            EXPECT_LE(d, nominal) << i;
            EXPECT_LE(d, 3000);
            nominal = std::min<int64_t>(nominal * 2, 3000);
        }
        b.reset();
        EXPECT_EQ(b.attempts(), 0u);
    }
    // Jitter actually varies the delay.
    k8s::backoff j(p, 7);
    for (int i = 0; i < 10; ++i) j.next();
    auto x = j.next(), y = j.next();
    EXPECT_NE(x, y);
    // Defaults match the issue: capped at ~30 s.
    k8s::backoff dflt(k8s::backoff_params{}, 1);
    for (int i = 0; i < 100; ++i) EXPECT_LE(dflt.next().count(), 30000);
}
