// Config parsing: the embedded default, a config with every field, the
// to_json round trip, and one case per class of error (each must name the
// field path, which is the whole point of the messages).
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "control/node/config.hpp"
#include "control/node/reload.hpp"

namespace vxr::control {
namespace {

const char* const k_full_config = R"({
  "node_name": "node-x",
  "node_ip": "198.18.0.7/24",
  "underlay_gateway": "198.18.0.254",
  "uplink": "0000:3b:00.0",
  "vtep_mac": "02:00:00:00:00:07",
  "pod_cidr": "10.244.7.0/24",
  "cluster_cidr": "10.244.0.0/16",
  "vni": 42,
  "udp_port": 4789,
  "mtu": 9000,
  "pod_mtu": 8950,
  "host_iface": "",
  "workers": 4,
  "idle_backoff_us": 0,
  "max_routes": 65536,
  "mbufs": 65536,
  "admin_socket": "/tmp/x.sock",
  "metrics_listen": "0.0.0.0:9100",
  "state_dir": "/tmp/state",
  "eal_args": ["-l", "0-4", "--in-memory"],
  "peers": [
    {"name": "node-y", "node_ip": "198.18.0.8", "vtep_mac": "02:00:00:00:00:08", "pod_cidr": "10.244.8.0/24"},
    {"node_ip": "192.0.2.9", "vtep_mac": "02:00:00:00:00:09", "pod_cidr": "10.244.9.0/24"}
  ],
  "neighbors": [
    {"ip": "198.18.0.8", "mac": "02:aa:00:00:00:08"},
    {"ip": "198.18.0.254", "mac": "02:aa:00:00:00:fe"}
  ],
  "pods": [
    {"name": "web-1", "ip": "10.244.7.2", "netns": "/var/run/netns/web-1", "ifname": "eth1"},
    {"name": "bench.0_x", "ip": "10.244.7.254", "devargs": "net_ring0", "mac": "02:11:22:33:44:55"}
  ],
  "kubernetes": {"kubeconfig": "/etc/vxroute/kubeconfig", "annotation_prefix": "vxroute.example.com", "publish": false}
})";

const char* const k_minimal_config = R"({
  "node_name": "n",
  "node_ip": "198.18.0.1/24",
  "uplink": "net_null0",
  "vtep_mac": "02:00:00:00:00:01",
  "pod_cidr": "10.244.1.0/24",
  "peers": [{"node_ip": "198.18.0.2", "vtep_mac": "02:00:00:00:00:02", "pod_cidr": "10.244.2.0/24"}],
  "pods": [{"name": "p0", "ip": "10.244.1.2", "netns": "ns0"},
           {"name": "p1", "ip": "10.244.1.3", "netns": "ns1"}]
})";

// The minimal config with one top-level member replaced by raw JSON
// (or removed when raw_value is null).
std::string with(const char* key, const char* raw_value) {
    rapidjson::Document doc;
    doc.Parse(k_minimal_config);
    doc.RemoveMember(key);
    if (raw_value) {
        rapidjson::Document v(&doc.GetAllocator());
        v.Parse(raw_value);
        EXPECT_FALSE(v.HasParseError()) << raw_value;
        doc.AddMember(rapidjson::Value(key, doc.GetAllocator()), rapidjson::Value(v, doc.GetAllocator()),
                      doc.GetAllocator());
    }
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    doc.Accept(w);
    return sb.GetString();
}

bool same(const config& a, const config& b) {
    if (a.peers.size() != b.peers.size() || a.neighbors.size() != b.neighbors.size() ||
        a.pods.size() != b.pods.size())
        return false;
    for (size_t i = 0; i < a.peers.size(); ++i) {
        const auto &x = a.peers[i], &y = b.peers[i];
        if (x.node_ip != y.node_ip || x.vtep_mac != y.vtep_mac || x.pod_cidr != y.pod_cidr || x.name != y.name)
            return false;
    }
    for (size_t i = 0; i < a.neighbors.size(); ++i)
        if (a.neighbors[i].ip != b.neighbors[i].ip || a.neighbors[i].mac != b.neighbors[i].mac) return false;
    for (size_t i = 0; i < a.pods.size(); ++i) {
        const auto &x = a.pods[i], &y = b.pods[i];
        if (x.name != y.name || x.ip != y.ip || x.netns != y.netns || x.devargs != y.devargs || x.mac != y.mac ||
            (!x.netns.empty() && x.ifname != y.ifname))
            return false;
    }
    if (a.kubernetes.has_value() != b.kubernetes.has_value()) return false;
    if (a.kubernetes) {
        const auto &x = *a.kubernetes, &y = *b.kubernetes;
        if (x.kubeconfig != y.kubeconfig || x.in_cluster != y.in_cluster ||
            x.annotation_prefix != y.annotation_prefix || x.publish != y.publish || x.watch != y.watch)
            return false;
    }
    const auto &sa = a.services, &sb = b.services;
    const auto &ta = sa.timeouts, &tb = sb.timeouts;
    if (sa.enabled != sb.enabled || sa.maglev_table_size != sb.maglev_table_size || sa.maglev_seed != sb.maglev_seed ||
        sa.conntrack_max != sb.conntrack_max || sa.node_port_range != sb.node_port_range ||
        sa.node_port_addresses != sb.node_port_addresses || sa.cluster_ip_ranges != sb.cluster_ip_ranges ||
        ta.tcp_syn_sent != tb.tcp_syn_sent || ta.tcp_syn_recv != tb.tcp_syn_recv ||
        ta.tcp_established != tb.tcp_established || ta.tcp_fin_wait != tb.tcp_fin_wait ||
        ta.tcp_time_wait != tb.tcp_time_wait || ta.tcp_close != tb.tcp_close ||
        ta.udp_unreplied != tb.udp_unreplied || ta.udp_assured != tb.udp_assured)
        return false;
    return a.node_name == b.node_name && a.node_ip == b.node_ip && a.underlay_gateway == b.underlay_gateway && a.cluster_cidr == b.cluster_cidr &&
           a.uplink == b.uplink && a.vtep_mac == b.vtep_mac && a.pod_cidr == b.pod_cidr && a.vni == b.vni &&
           a.udp_port == b.udp_port && a.mtu == b.mtu && a.pod_mtu == b.pod_mtu && a.host_iface == b.host_iface &&
           a.workers == b.workers && a.idle_backoff_us == b.idle_backoff_us && a.max_routes == b.max_routes &&
           a.mbufs == b.mbufs && a.admin_socket == b.admin_socket && a.metrics_listen == b.metrics_listen &&
           a.state_dir == b.state_dir &&
           a.eal_args == b.eal_args;
}

TEST(config, embedded_default_parses) {
    auto c = parse_config(default_config_json());
    ASSERT_TRUE(c.ok()) << c.err();
    EXPECT_EQ(c->node_name, "node-a");
    EXPECT_EQ(c->node_ip.str(), "198.18.0.1/24");
    EXPECT_EQ(c->uplink, "net_af_packet0,iface=vxr-ua");
    EXPECT_EQ(c->vtep_mac.str(), "02:76:78:00:00:01");
    EXPECT_EQ(c->pod_cidr.str(), "10.244.1.0/24");
    EXPECT_EQ(c->vni, 1u);
    EXPECT_EQ(c->udp_port, 8472);
    EXPECT_EQ(c->host_iface, "vxr-host");
    EXPECT_EQ(c->workers, 1u);
    EXPECT_EQ(c->idle_backoff_us, 50u);
    EXPECT_EQ(c->admin_socket, "/run/vxroute/node-a.sock");
    EXPECT_EQ(c->eal_args, (std::vector<std::string>{"-l", "0-1", "--file-prefix=vxr-node-a"}));
    ASSERT_EQ(c->peers.size(), 1u);
    EXPECT_EQ(c->peers[0].name, "node-b");
    EXPECT_EQ(c->peers[0].node_ip.str(), "198.18.0.2");
    EXPECT_EQ(c->peers[0].vtep_mac.str(), "02:76:78:00:00:02");
    EXPECT_EQ(c->peers[0].pod_cidr.str(), "10.244.2.0/24");
    ASSERT_EQ(c->pods.size(), 2u);
    EXPECT_EQ(c->pods[0].name, "pod-a");
    EXPECT_EQ(c->pods[0].ip.str(), "10.244.1.2");
    EXPECT_EQ(c->pods[0].netns, "vxr-pod-a");
    EXPECT_EQ(c->pods[0].ifname, "eth0");
    EXPECT_EQ(c->pods[1].name, "pod-a2");
    EXPECT_EQ(c->pods[1].ip.str(), "10.244.1.3");
    EXPECT_EQ(c->pods[1].netns, "vxr-pod-a2");
    EXPECT_EQ(c->gateway_ip().str(), "10.244.1.1");
    EXPECT_EQ(c->effective_pod_mtu(), 1450);
}

TEST(config, every_field) {
    auto r = parse_config(k_full_config);
    ASSERT_TRUE(r.ok()) << r.err();
    const config& c = *r;
    EXPECT_EQ(c.node_name, "node-x");
    EXPECT_EQ(c.node_ip.addr.str(), "198.18.0.7");  // host bits kept: it is our address
    EXPECT_EQ(c.node_ip.len, 24);
    ASSERT_TRUE(c.underlay_gateway.has_value());
    EXPECT_EQ(c.underlay_gateway->str(), "198.18.0.254");
    EXPECT_EQ(c.uplink, "0000:3b:00.0");
    EXPECT_EQ(c.vtep_mac.str(), "02:00:00:00:00:07");
    EXPECT_EQ(c.pod_cidr.str(), "10.244.7.0/24");
    EXPECT_EQ(c.vni, 42u);
    EXPECT_EQ(c.udp_port, 4789);
    EXPECT_EQ(c.mtu, 9000);
    EXPECT_EQ(c.pod_mtu, 8950);
    EXPECT_EQ(c.effective_pod_mtu(), 8950);
    EXPECT_EQ(c.host_iface, "");
    EXPECT_EQ(c.workers, 4u);
    EXPECT_EQ(c.idle_backoff_us, 0u);
    EXPECT_EQ(c.max_routes, 65536u);
    EXPECT_EQ(c.mbufs, 65536u);
    EXPECT_EQ(c.admin_socket, "/tmp/x.sock");
    EXPECT_EQ(c.metrics_listen, "0.0.0.0:9100");
    EXPECT_EQ(c.state_dir, "/tmp/state");
    EXPECT_EQ(c.eal_args, (std::vector<std::string>{"-l", "0-4", "--in-memory"}));
    ASSERT_EQ(c.peers.size(), 2u);
    EXPECT_EQ(c.peers[0].name, "node-y");
    EXPECT_EQ(c.peers[1].name, "");
    EXPECT_EQ(c.peers[1].node_ip.str(), "192.0.2.9");
    ASSERT_EQ(c.neighbors.size(), 2u);
    EXPECT_EQ(c.neighbors[1].ip.str(), "198.18.0.254");
    EXPECT_EQ(c.neighbors[1].mac.str(), "02:aa:00:00:00:fe");
    ASSERT_EQ(c.pods.size(), 2u);
    EXPECT_EQ(c.pods[0].netns, "/var/run/netns/web-1");
    EXPECT_EQ(c.pods[0].ifname, "eth1");
    EXPECT_FALSE(c.pods[0].mac.has_value());
    EXPECT_EQ(c.pods[1].devargs, "net_ring0");
    ASSERT_TRUE(c.pods[1].mac.has_value());
    EXPECT_EQ(c.pods[1].mac->str(), "02:11:22:33:44:55");
}

TEST(config, defaults_for_absent_fields) {
    auto c = parse_config(k_minimal_config);
    ASSERT_TRUE(c.ok()) << c.err();
    config d;
    EXPECT_EQ(c->vni, d.vni);
    EXPECT_EQ(c->udp_port, d.udp_port);
    EXPECT_EQ(c->mtu, d.mtu);
    EXPECT_EQ(c->admin_socket, d.admin_socket);
    EXPECT_EQ(c->metrics_listen, "127.0.0.1:9464") << "metrics on loopback unless asked otherwise";
    EXPECT_FALSE(c->underlay_gateway.has_value());
    EXPECT_TRUE(c->neighbors.empty());
    EXPECT_FALSE(c->kubernetes.has_value()) << "absent = static peers only";
}

TEST(config, kubernetes_every_field) {
    auto c = parse_config(k_full_config);
    ASSERT_TRUE(c.ok()) << c.err();
    ASSERT_TRUE(c->kubernetes.has_value());
    EXPECT_EQ(c->kubernetes->kubeconfig, "/etc/vxroute/kubeconfig");
    EXPECT_FALSE(c->kubernetes->in_cluster);
    EXPECT_EQ(c->kubernetes->annotation_prefix, "vxroute.example.com");
    EXPECT_FALSE(c->kubernetes->publish);
}

TEST(config, kubernetes_defaults) {
    auto c = parse_config(with("kubernetes", R"({"in_cluster": true})"));
    ASSERT_TRUE(c.ok()) << c.err();
    ASSERT_TRUE(c->kubernetes.has_value());
    EXPECT_TRUE(c->kubernetes->in_cluster);
    EXPECT_TRUE(c->kubernetes->kubeconfig.empty());
    EXPECT_EQ(c->kubernetes->annotation_prefix, "flannel.alpha.coreos.com");
    EXPECT_TRUE(c->kubernetes->publish);
    // in_cluster: false is allowed next to a kubeconfig.
    auto k = parse_config(with("kubernetes", R"({"kubeconfig": "k.yaml", "in_cluster": false})"));
    ASSERT_TRUE(k.ok()) << k.err();
    EXPECT_EQ(k->kubernetes->kubeconfig, "k.yaml");
}

TEST(config, kubernetes_round_trip) {
    for (const char* k : {R"({"in_cluster": true})", R"({"kubeconfig": "/a b/k\\\"c", "publish": false})",
                          R"({"kubeconfig": "k", "annotation_prefix": "x-1.example"})",
                          R"({"in_cluster": true, "watch": ["pods", "services"]})"}) {
        auto a = parse_config(with("kubernetes", k));
        ASSERT_TRUE(a.ok()) << a.err();
        auto b = parse_config(to_json(*a));
        ASSERT_TRUE(b.ok()) << b.err() << "\n" << to_json(*a);
        EXPECT_TRUE(same(*a, *b)) << to_json(*a);
        EXPECT_EQ(to_json(*b), to_json(*a));
    }
}

TEST(config, kubernetes_watch_names_the_resources_of_the_watch_cache) {
    auto none = parse_config(with("kubernetes", R"({"in_cluster": true})"));
    ASSERT_TRUE(none.ok()) << none.err();
    EXPECT_TRUE(none->kubernetes->watch.empty()) << "default: Nodes only";
    auto all = parse_config(with("kubernetes", R"({"in_cluster": true, "watch": ["services", "endpointslices", "pods",
                                                  "namespaces", "networkpolicies"]})"));
    ASSERT_TRUE(all.ok()) << all.err();
    EXPECT_EQ(all->kubernetes->watch.size(), 5u);
    auto unknown = parse_config(with("kubernetes", R"({"in_cluster": true, "watch": ["pods", "service"]})"));
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.err().find("kubernetes.watch[1]: unknown resource \"service\" (one of services, endpointslices"),
              std::string::npos)
        << unknown.err();
    auto twice = parse_config(with("kubernetes", R"({"in_cluster": true, "watch": ["pods", "pods"]})"));
    ASSERT_FALSE(twice.ok());
    EXPECT_NE(twice.err().find("kubernetes.watch[1]: \"pods\" is listed twice"), std::string::npos) << twice.err();
    auto not_string = parse_config(with("kubernetes", R"({"in_cluster": true, "watch": [1]})"));
    ASSERT_FALSE(not_string.ok());
    EXPECT_NE(not_string.err().find("kubernetes.watch[0]"), std::string::npos) << not_string.err();
}

TEST(config, validate_kubernetes_catches_changes_made_in_code) {
    auto c = parse_config(with("kubernetes", R"({"in_cluster": true})"));
    ASSERT_TRUE(c.ok()) << c.err();
    c->kubernetes->kubeconfig = "/k";
    auto r = validate(*c);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().find("kubernetes: set either kubeconfig or in_cluster, not both"), std::string::npos) << r.err();
}

TEST(config, services_defaults) {
    auto c = parse_config(k_minimal_config);
    ASSERT_TRUE(c.ok()) << c.err();
    const services_config& s = c->services;
    EXPECT_FALSE(s.enabled);
    EXPECT_EQ(s.maglev_table_size, 16381u);
    EXPECT_EQ(s.maglev_seed, 0u);
    EXPECT_EQ(s.conntrack_max, 1u << 20);
    EXPECT_EQ(s.timeouts.tcp_established, 432000u) << "nf_conntrack's 5 days";
    EXPECT_EQ(s.timeouts.udp_unreplied, 30u);
    EXPECT_EQ(s.node_port_range, "30000-32767");
    EXPECT_TRUE(s.node_port_addresses.empty()) << "empty: the node IP";
    ASSERT_EQ(s.cluster_ip_ranges.size(), 1u);
    EXPECT_EQ(s.cluster_ip_ranges[0].str(), "10.96.0.0/12");
}

TEST(config, services_every_field_and_round_trip) {
    auto c = parse_config(with("services", R"({"enabled": true, "maglev": {"table_size": 251, "seed": 7},
        "conntrack": {"max_entries": 4096, "timeouts": {"tcp_syn_sent": 1, "tcp_syn_recv": 2, "tcp_established": 3,
            "tcp_fin_wait": 4, "tcp_time_wait": 5, "tcp_close": 6, "udp_unreplied": 7, "udp_assured": 8}},
        "node_port_range": "31000-31999", "node_port_addresses": ["198.18.0.1", "198.18.1.1"],
        "cluster_ip_ranges": ["10.100.0.0/16"]})"));
    ASSERT_TRUE(c.ok()) << c.err();
    const services_config& s = c->services;
    EXPECT_TRUE(s.enabled);
    EXPECT_EQ(s.maglev_table_size, 251u);
    EXPECT_EQ(s.maglev_seed, 7u);
    EXPECT_EQ(s.conntrack_max, 4096u);
    EXPECT_EQ(s.timeouts.tcp_syn_sent, 1u);
    EXPECT_EQ(s.timeouts.udp_assured, 8u);
    EXPECT_EQ(s.node_port_range, "31000-31999");
    ASSERT_EQ(s.node_port_addresses.size(), 2u);
    EXPECT_EQ(s.node_port_addresses[1].str(), "198.18.1.1");
    ASSERT_EQ(s.cluster_ip_ranges.size(), 1u);
    EXPECT_EQ(s.cluster_ip_ranges[0].str(), "10.100.0.0/16");
    auto again = parse_config(to_json(*c));
    ASSERT_TRUE(again.ok()) << again.err();
    EXPECT_TRUE(same(*c, *again));
}

TEST(config, services_add_the_watches_they_need) {
    auto c = parse_config(with("kubernetes", R"({"in_cluster": true, "watch": ["pods"]})").insert(1,
        R"("services": {"enabled": true},)"));
    ASSERT_TRUE(c.ok()) << c.err();
    ASSERT_TRUE(c->kubernetes);
    EXPECT_EQ(c->kubernetes->watch, (std::vector<std::string>{"pods", "services", "endpointslices"}));
    auto none = parse_config(with("kubernetes", R"({"in_cluster": true, "watch": []})").insert(1,
        R"("services": {"enabled": true},)"));
    ASSERT_TRUE(none.ok()) << none.err();
    EXPECT_EQ(none->kubernetes->watch, (std::vector<std::string>{"services", "endpointslices", "pods"}))
        << "Pods for their hostPorts";
    auto off = parse_config(with("kubernetes", R"({"in_cluster": true, "watch": ["pods"]})"));
    ASSERT_TRUE(off.ok()) << off.err();
    EXPECT_EQ(off->kubernetes->watch, (std::vector<std::string>{"pods"})) << "Services off: nothing added";
}

TEST(config, round_trip) {
    for (const char* text : {k_full_config, k_minimal_config, default_config_json()}) {
        auto a = parse_config(text);
        ASSERT_TRUE(a.ok()) << a.err();
        std::string j = to_json(*a);
        EXPECT_EQ(j.find('\n'), std::string::npos) << "must fit one admin protocol line";
        auto b = parse_config(j);
        ASSERT_TRUE(b.ok()) << b.err() << "\n" << j;
        EXPECT_TRUE(same(*a, *b)) << j;
        EXPECT_EQ(to_json(*b), j);
    }
}

TEST(config, round_trip_escapes_strings) {
    auto c = parse_config(k_minimal_config);
    ASSERT_TRUE(c.ok());
    c->uplink = "net_pcap0,rx_pcap=\"a b\\c.pcap\"";
    auto back = parse_config(to_json(*c));
    ASSERT_TRUE(back.ok()) << back.err();
    EXPECT_EQ(back->uplink, c->uplink);
}

struct error_case {
    std::string json;
    const char* expected;  // substring of the error, starting with the field path
};

void PrintTo(const error_case& e, std::ostream* os) { *os << e.expected; }

class config_error : public testing::TestWithParam<error_case> {};

TEST_P(config_error, names_field_and_reason) {
    auto r = parse_config(GetParam().json);
    ASSERT_FALSE(r.ok()) << "accepted: " << GetParam().json;
    EXPECT_NE(r.err().find(GetParam().expected), std::string::npos)
        << "error: " << r.err() << "\nexpected to contain: " << GetParam().expected;
}

const char* const k_pods_prefix = R"([{"name":"p0","ip":"10.244.1.2","netns":"ns0"},)";
std::string second_pod(const char* pod) { return std::string(k_pods_prefix) + pod + "]"; }
std::string pods(const char* pod) { return with("pods", (std::string("[") + pod + "]").c_str()); }
std::string peers(const char* arr) { return with("peers", arr); }

INSTANTIATE_TEST_SUITE_P(
    all, config_error,
    testing::Values(
        // syntax and shape
        error_case{"{\"node_name\": \"n\",}", "invalid JSON at line 1, column"},
        error_case{std::string(k_minimal_config) + " x", "invalid JSON"},
        error_case{"[]", "top level: must be a JSON object"},
        error_case{with("vnii", "2"), "unknown key \"vnii\" (did you mean \"vni\"?)"},
        error_case{"{\"vni\":1,\"vni\":2}", "duplicate key \"vni\""},
        // required
        error_case{with("node_name", nullptr), "node_name: required"},
        error_case{with("node_ip", nullptr), "node_ip: required"},
        error_case{with("uplink", nullptr), "uplink: required"},
        error_case{with("vtep_mac", nullptr), "vtep_mac: required"},
        error_case{with("pod_cidr", nullptr), "pod_cidr: required"},
        // types
        error_case{with("node_name", "5"), "node_name: must be a string, got 5"},
        error_case{with("vni", "\"1\""), "vni: must be an integer 1..16777215, got \"1\""},
        error_case{with("vni", "1.5"), "vni: must be an integer"},
        error_case{with("peers", "{}"), "peers: must be an array"},
        error_case{with("pods", "[1]"), "pods[0]: must be an object, got 1"},
        error_case{with("eal_args", R"(["-l", 3])"), "eal_args[1]: must be a string"},
        // ranges
        error_case{with("vni", "0"), "vni: must be 1..16777215, got 0"},
        error_case{with("vni", "16777216"), "vni: must be 1..16777215, got 16777216"},
        error_case{with("vni", "-1"), "vni: must be 1..16777215, got -1"},
        error_case{with("udp_port", "0"), "udp_port: must be 1..65535"},
        error_case{with("udp_port", "65536"), "udp_port: must be 1..65535"},
        error_case{with("mtu", "575"), "mtu: must be 576..9000"},
        error_case{with("mtu", "9001"), "mtu: must be 576..9000"},
        error_case{with("pod_mtu", "67"), "pod_mtu: must be 0 or 68..1450"},
        error_case{with("pod_mtu", "1451"), "pod_mtu: must be 0 or 68..1450"},
        error_case{with("pod_mtu", "-5"), "pod_mtu: must be 0 or 68..1450"},
        error_case{with("workers", "-1"), "workers: must be 0..64"},
        error_case{with("workers", "65"), "workers: must be 0..64"},
        error_case{with("max_routes", "1023"), "max_routes: must be 1024..16777216"},
        error_case{with("mbufs", "1048577"), "mbufs: must be 1024..1048576"},
        error_case{with("idle_backoff_us", "100001"), "idle_backoff_us: must be 0..100000"},
        // addresses
        error_case{with("node_ip", "\"198.18.0.1\""), "node_ip: not an IPv4 prefix (a.b.c.d/len): \"198.18.0.1\""},
        error_case{with("node_ip", "\"198.18.0.0/24\""), "node_ip: 198.18.0.0 is not a host address"},
        error_case{with("pod_cidr", "\"10.244.1.1/24\""), "pod_cidr: host bits set in \"10.244.1.1/24\""},
        error_case{with("pod_cidr", "\"10.244.1.0/31\""), "pod_cidr: prefix length must be at most 30"},
        error_case{with("underlay_gateway", "\"10.0.0.1\""), "underlay_gateway: 10.0.0.1 is outside node_ip's subnet"},
        error_case{with("cluster_cidr", "\"10.245.0.0/16\""), "cluster_cidr: 10.245.0.0/16 does not contain pod_cidr"},
        error_case{with("cluster_cidr", "\"10.244.1.0/25\""), "cluster_cidr: 10.244.1.0/25 does not contain pod_cidr"},
        error_case{with("vtep_mac", "\"02:00:00:00:00\""), "vtep_mac: not a MAC address"},
        error_case{with("vtep_mac", "\"03:00:00:00:00:01\""), "vtep_mac: must be a unicast MAC"},
        error_case{with("vtep_mac", "\"00:00:00:00:00:00\""), "vtep_mac: must not be all-zero"},
        error_case{with("uplink", "\"\""), "uplink: must not be empty"},
        error_case{with("uplink", "\"a\\u0000b\""), "uplink: must not contain NUL"},
        // pods
        error_case{with("pods", second_pod(R"({"name":"p1","ip":"10.0.0","netns":"n"})").c_str()),
                   "pods[1].ip: not an IPv4 address: \"10.0.0\""},
        error_case{pods(R"({"name":"p","ip":"10.244.1.2"})"), "pods[0]: exactly one of netns"},
        error_case{pods(R"({"name":"p","ip":"10.244.1.2","netns":"n","devargs":"net_null0"})"),
                   "pods[0]: exactly one of netns"},
        error_case{pods(R"({"name":"p","ip":"10.244.1.2","netns":"n","mac":"02:00:00:00:00:09"})"),
                   "pods[0].mac: only allowed with devargs"},
        error_case{pods(R"({"name":"p","ip":"10.244.1.2","devargs":"net_null0","ifname":"eth0"})"),
                   "pods[0].ifname: only allowed with netns"},
        error_case{pods(R"({"name":"p","ip":"10.244.1.2","devargs":"net_null0","mac":"01:00:00:00:00:09"})"),
                   "pods[0].mac: must be a unicast MAC"},
        error_case{pods(R"({"ip":"10.244.1.2","netns":"n"})"), "pods[0].name: required"},
        error_case{pods(R"({"name":"","ip":"10.244.1.2","netns":"n"})"), "pods[0].name: must not be empty"},
        error_case{pods(R"({"name":"a b","ip":"10.244.1.2","netns":"n"})"), "pods[0].name: may contain only"},
        error_case{pods((R"({"name":")" + std::string(64, 'a') + R"(","ip":"10.244.1.2","netns":"n"})").c_str()),
                   "pods[0].name: must be at most 63 characters"},
        error_case{pods(R"({"name":"p","ip":"10.244.1.2","netns":"n","ifname":"abcdefghijklmnop"})"),
                   "pods[0].ifname: must be at most 15 characters"},
        error_case{pods(R"({"name":"p","ip":"10.244.1.2","netns":"n","nam":"x"})"),
                   "pods[0]: unknown key \"nam\""},
        error_case{pods(R"({"name":"p","ip":"10.244.2.5","netns":"n"})"),
                   "pods[0].ip: 10.244.2.5 is outside pod_cidr 10.244.1.0/24"},
        error_case{pods(R"({"name":"p","ip":"10.244.1.0","netns":"n"})"), "pods[0].ip: 10.244.1.0 is the network"},
        error_case{pods(R"({"name":"p","ip":"10.244.1.1","netns":"n"})"), "pods[0].ip: 10.244.1.1 is the gateway"},
        error_case{pods(R"({"name":"p","ip":"10.244.1.255","netns":"n"})"),
                   "pods[0].ip: 10.244.1.255 is the broadcast"},
        error_case{with("pods", second_pod(R"({"name":"p0","ip":"10.244.1.9","netns":"n"})").c_str()),
                   "pods[1].name: duplicate pod name \"p0\""},
        error_case{with("pods", second_pod(R"({"name":"p1","ip":"10.244.1.2","netns":"n"})").c_str()),
                   "pods[1].ip: duplicate pod IP 10.244.1.2"},
        // peers
        error_case{peers(R"([{"node_ip":"198.18.0.2","vtep_mac":"02:00:00:00:00:02","pod_cidr":"10.244.2.1/24"}])"),
                   "peers[0].pod_cidr: host bits set in \"10.244.2.1/24\""},
        error_case{peers(R"([{"node_ip":"198.18.0.2","pod_cidr":"10.244.2.0/24"}])"), "peers[0].vtep_mac: required"},
        error_case{peers(R"([{"node_ip":"198.18.0.1","vtep_mac":"02:00:00:00:00:02","pod_cidr":"10.244.2.0/24"}])"),
                   "peers[0].node_ip: 198.18.0.1 is this node's own node_ip"},
        error_case{peers(R"([{"node_ip":"192.0.2.1","vtep_mac":"02:00:00:00:00:02","pod_cidr":"10.244.2.0/24"}])"),
                   "peers[0].node_ip: 192.0.2.1 is outside node_ip's subnet"},
        error_case{peers(R"([{"node_ip":"198.18.0.2","vtep_mac":"02:00:00:00:00:02","pod_cidr":"10.244.0.0/16"}])"),
                   "peers[0].pod_cidr: 10.244.0.0/16 overlaps this node's pod_cidr"},
        error_case{peers(R"([{"node_ip":"198.18.0.2","vtep_mac":"02:00:00:00:00:02","pod_cidr":"10.244.2.0/24"},
                              {"node_ip":"198.18.0.2","vtep_mac":"02:00:00:00:00:03","pod_cidr":"10.244.3.0/24"}])"),
                   "peers[1].node_ip: duplicate peer node_ip 198.18.0.2"},
        error_case{peers(R"([{"node_ip":"198.18.0.2","vtep_mac":"02:00:00:00:00:02","pod_cidr":"10.244.2.0/24"},
                              {"node_ip":"198.18.0.3","vtep_mac":"02:00:00:00:00:03","pod_cidr":"10.244.2.128/25"}])"),
                   "peers[1].pod_cidr: 10.244.2.128/25 overlaps peers[0].pod_cidr 10.244.2.0/24"},
        // neighbors
        error_case{with("neighbors", R"([{"ip":"198.18.0.2","mac":"zz"}])"), "neighbors[0].mac: not a MAC address"},
        error_case{with("neighbors", R"([{"ip":"198.18.0.2"}])"), "neighbors[0].mac: required"},
        error_case{with("neighbors", R"([{"ip":"198.18.0.2","mac":"02:00:00:00:00:02"},
                                         {"ip":"198.18.0.2","mac":"02:00:00:00:00:03"}])"),
                   "neighbors[1].ip: duplicate neighbor 198.18.0.2"}));

std::string kube(const char* obj) { return with("kubernetes", obj); }

INSTANTIATE_TEST_SUITE_P(
    kubernetes, config_error,
    testing::Values(
        error_case{kube("true"), "kubernetes: must be an object, got true"},
        error_case{kube("{}"), "kubernetes: one of kubeconfig (a path) or \"in_cluster\": true is required"},
        error_case{kube(R"({"in_cluster": false})"), "kubernetes: one of kubeconfig"},
        error_case{kube(R"({"kubeconfig": "/k", "in_cluster": true})"),
                   "kubernetes: set either kubeconfig or in_cluster, not both"},
        error_case{kube(R"({"kubeconfig": ""})"), "kubernetes.kubeconfig: must not be empty"},
        error_case{kube(R"({"kubeconfig": 5})"), "kubernetes.kubeconfig: must be a string, got 5"},
        error_case{kube(R"({"in_cluster": "yes"})"), "kubernetes.in_cluster: must be true or false, got \"yes\""},
        error_case{kube(R"({"in_cluster": true, "publish": 1})"), "kubernetes.publish: must be true or false, got 1"},
        error_case{kube(R"({"in_cluster": true, "annotation_prefix": ""})"),
                   "kubernetes.annotation_prefix: not a DNS subdomain"},
        error_case{kube(R"({"in_cluster": true, "annotation_prefix": "Flannel.io"})"),
                   "kubernetes.annotation_prefix: not a DNS subdomain"},
        error_case{kube(R"({"in_cluster": true, "annotation_prefix": "a..b"})"),
                   "kubernetes.annotation_prefix: not a DNS subdomain"},
        error_case{kube(R"({"in_cluster": true, "annotation_prefix": "flannel.io/"})"),
                   "kubernetes.annotation_prefix: not a DNS subdomain"},
        error_case{kube(R"({"in_cluster": true, "annotation_prefix": "-a.b"})"),
                   "kubernetes.annotation_prefix: not a DNS subdomain"},
        error_case{kube(R"({"in_cluster": true, "anotation_prefix": "a"})"),
                   "kubernetes: unknown key \"anotation_prefix\" (did you mean \"annotation_prefix\"?)"},
        error_case{kube(R"({"in_cluster": true, "in_cluster": true})"), "kubernetes: duplicate key \"in_cluster\""},
        // services
        error_case{with("services", R"({"enabled": 1})"), "services.enabled: must be"},
        error_case{with("services", R"({"maglev": {"table_size": 1}})"), "services.maglev.table_size: "},
        error_case{with("services", R"({"maglev": {"table_size": 16777217}})"), "services.maglev.table_size: "},
        error_case{with("services", R"({"maglev": {"size": 7}})"), "services.maglev: unknown key \"size\""},
        error_case{with("services", R"({"conntrack": {"max_entries": 10}})"), "services.conntrack.max_entries: "},
        error_case{with("services", R"({"conntrack": {"timeouts": {"tcp_close": 0}}})"),
                   "services.conntrack.timeouts.tcp_close: "},
        error_case{with("services", R"({"conntrack": {"timeouts": {"udp": 5}}})"),
                   "services.conntrack.timeouts: unknown key \"udp\""},
        error_case{with("services", R"({"node_port_addresses": ["198.18.0"]})"), "services.node_port_addresses[0]: "},
        error_case{with("services", R"({"cluster_ip_ranges": ["10.96.0.1/12"]})"), "services.cluster_ip_ranges[0]: "},
        error_case{with("services", R"({"enable": true})"),
                   "services: unknown key \"enable\" (did you mean \"enabled\"?)"}));

TEST(config, load_missing_file) {
    auto r = load_config("/nonexistent/vxroute.json");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().find("/nonexistent/vxroute.json"), std::string::npos) << r.err();
    EXPECT_NE(r.err().find("No such file or directory"), std::string::npos) << r.err();
}

TEST(config, load_file) {
    char path[] = "/tmp/vxr-config-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    std::string text = default_config_json();
    ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
    auto ok = load_config(path);
    EXPECT_TRUE(ok.ok()) << ok.err();

    std::FILE* f = std::fopen(path, "w");
    ASSERT_NE(f, nullptr);
    std::fputs(with("vni", "0").c_str(), f);
    std::fclose(f);
    auto bad = load_config(path);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.err(), std::string(path) + ": vni: must be 1..16777215, got 0");
    std::remove(path);
}

TEST(config, load_directory_is_an_error) {
    auto r = load_config("/tmp");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().find("/tmp"), std::string::npos) << r.err();
}

TEST(config, parse_pod) {
    auto k = parse_pod(R"({"name":"pod-z","ip":"10.244.1.9","netns":"vxr-pod-z"})");
    ASSERT_TRUE(k.ok()) << k.err();
    EXPECT_EQ(k->name, "pod-z");
    EXPECT_EQ(k->ip.str(), "10.244.1.9");
    EXPECT_EQ(k->ifname, "eth0");
    EXPECT_TRUE(k->devargs.empty());

    auto d = parse_pod(R"({"name":"ring","ip":"10.244.1.10","devargs":"net_ring0","mac":"02:00:00:00:01:0a"})");
    ASSERT_TRUE(d.ok()) << d.err();
    EXPECT_EQ(d->devargs, "net_ring0");
    ASSERT_TRUE(d->mac.has_value());
    EXPECT_EQ(d->mac->str(), "02:00:00:00:01:0a");

    auto v = parse_pod(R"({"name":"dp","ip":"10.244.1.11","vhost_socket":"auto","mac":"02:00:00:00:01:0b"})");
    ASSERT_TRUE(v.ok()) << v.err();
    EXPECT_EQ(v->vhost_socket, "auto");
    EXPECT_EQ(v->ifname, "eth0");
    auto back = parse_pod(to_json(*v));
    ASSERT_TRUE(back.ok()) << back.err();
    EXPECT_EQ(back->vhost_socket, "auto");
    EXPECT_EQ(back->mac, v->mac);
    EXPECT_EQ(back->ip, v->ip);

    struct {
        const char* json;
        const char* expected;
    } bad[] = {
        {R"({"name":"p","ip":"10.0.0.1","vhost_socket":"auto"})", "pod.mac: required for a vhost-user pod"},
        {R"({"name":"p","ip":"10.0.0.1","vhost_socket":"x.sock","mac":"02:00:00:00:01:0b"})",
         "pod.vhost_socket: must be \"auto\" or an absolute path"},
        {R"({"name":"p","ip":"10.0.0.1","vhost_socket":"auto","netns":"n","mac":"02:00:00:00:01:0b"})",
         "pod: exactly one of netns"},
        {R"({"name":"p","ip":"10.0.0","netns":"n"})", "pod.ip: not an IPv4 address: \"10.0.0\""},
        {R"({"name":"p","ip":"10.0.0.1","netns":"n","x":1})", "pod: unknown key \"x\""},
        {R"({"ip":"10.0.0.1","netns":"n"})", "pod.name: required"},
        {R"({"name":"p","ip":"10.0.0.1"})", "pod: exactly one of netns"},
        {R"("pod")", "pod: must be a JSON object"},
        {R"({"name":"p","ip":"10.0.0.1","netns":"n"} {})", "invalid JSON"},
    };
    for (const auto& b : bad) {
        auto r = parse_pod(b.json);
        ASSERT_FALSE(r.ok()) << b.json;
        EXPECT_NE(r.err().find(b.expected), std::string::npos) << r.err();
    }
}

TEST(config, parse_peer) {
    auto p = parse_peer(R"({"node_ip":"198.18.0.3","vtep_mac":"02:76:78:00:00:03","pod_cidr":"10.244.3.0/24"})");
    ASSERT_TRUE(p.ok()) << p.err();
    EXPECT_EQ(p->node_ip.str(), "198.18.0.3");
    EXPECT_EQ(p->vtep_mac.str(), "02:76:78:00:00:03");
    EXPECT_EQ(p->pod_cidr.str(), "10.244.3.0/24");
    EXPECT_EQ(p->name, "");

    auto named = parse_peer(
        R"({"name":"node-c","node_ip":"198.18.0.3","vtep_mac":"02:76:78:00:00:03","pod_cidr":"10.244.3.0/24"})");
    ASSERT_TRUE(named.ok()) << named.err();
    EXPECT_EQ(named->name, "node-c");

    struct {
        const char* json;
        const char* expected;
    } bad[] = {
        {R"({"node_ip":"198.18.0.3","vtep_mac":"02:76:78:00:00:03","pod_cidr":"10.244.3.1/24"})",
         "peer.pod_cidr: host bits set in \"10.244.3.1/24\""},
        {R"({"vtep_mac":"02:76:78:00:00:03","pod_cidr":"10.244.3.0/24"})", "peer.node_ip: required"},
        {R"({"node_ip":"198.18.0.3","vtep_mac":"ff:ff:ff:ff:ff:ff","pod_cidr":"10.244.3.0/24"})",
         "peer.vtep_mac: must be a unicast MAC"},
        {R"({"node_ip":"198.18.0.3","vtep_mac":"02:76:78:00:00:03","pod_cidr":"10.244.3.0/24","nme":"x"})",
         "peer: unknown key \"nme\" (did you mean \"name\"?)"},
    };
    for (const auto& b : bad) {
        auto r = parse_peer(b.json);
        ASSERT_FALSE(r.ok()) << b.json;
        EXPECT_NE(r.err().find(b.expected), std::string::npos) << r.err();
    }
}

TEST(config, validate_catches_changes_made_in_code) {
    auto c = parse_config(default_config_json());
    ASSERT_TRUE(c.ok());
    EXPECT_TRUE(validate(*c).ok());

    config added = *c;
    pod_config p;
    p.name = "pod-a";
    p.ip = *ipv4_addr::parse("10.244.1.4");
    p.netns = "x";
    added.pods.push_back(p);
    auto r = validate(added);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().find("pods[2].name: duplicate pod name \"pod-a\""), std::string::npos) << r.err();

    config overlapping = *c;
    peer_config q = overlapping.peers[0];
    q.node_ip = *ipv4_addr::parse("198.18.0.3");
    overlapping.peers.push_back(q);
    r = validate(overlapping);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().find("peers[1].pod_cidr: 10.244.2.0/24 overlaps peers[0].pod_cidr"), std::string::npos)
        << r.err();

    config mtu = *c;
    mtu.pod_mtu = 1490;
    r = validate(mtu);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().find("pod_mtu: must be 0 or 68..1450"), std::string::npos) << r.err();
}

// SIGHUP applies peers and pods only; every other key needs a restart and is
// named in the rejection.
TEST(reload, only_peers_and_pods_reload) {
    const auto base = parse_config(k_minimal_config);
    ASSERT_TRUE(base);
    auto peers2 = parse_config(with("peers", R"([{"node_ip": "198.18.0.3", "vtep_mac": "02:00:00:00:00:03",
                                                 "pod_cidr": "10.244.3.0/24"}])"));
    ASSERT_TRUE(peers2);
    EXPECT_TRUE(restart_fields(*base, *peers2).empty());
    auto no_pods = parse_config(with("pods", "[]"));
    ASSERT_TRUE(no_pods);
    EXPECT_TRUE(restart_fields(*base, *no_pods).empty());
    EXPECT_TRUE(restart_fields(*base, *base).empty());

    auto vni = parse_config(with("vni", "7"));
    ASSERT_TRUE(vni);
    EXPECT_EQ(restart_fields(*base, *vni), std::vector<std::string>{"vni"});
    auto cluster = parse_config(with("cluster_cidr", R"("10.244.0.0/16")"));
    ASSERT_TRUE(cluster);
    EXPECT_EQ(restart_fields(*base, *cluster), std::vector<std::string>{"cluster_cidr"});
    auto k8s = parse_config(with("kubernetes", R"({"in_cluster": true})"));
    ASSERT_TRUE(k8s);
    EXPECT_EQ(restart_fields(*base, *k8s), std::vector<std::string>{"kubernetes"});
    EXPECT_EQ(restart_fields(*k8s, *base), std::vector<std::string>{"kubernetes"});
}

// metrics_listen: "ADDR:PORT" (IPv4, port 1..65535) or "" to disable; a
// bad value names the field and shows the value.
TEST(config, metrics_listen) {
    for (const char* good : {R"("127.0.0.1:9464")", R"("0.0.0.0:1")", R"("10.1.2.3:65535")", R"("")"}) {
        auto c = parse_config(with("metrics_listen", good));
        ASSERT_TRUE(c.ok()) << good << ": " << c.err();
        auto again = parse_config(to_json(*c));
        ASSERT_TRUE(again.ok()) << again.err();
        EXPECT_EQ(again->metrics_listen, c->metrics_listen) << "to_json round trip of " << good;
    }
    EXPECT_EQ(parse_config(with("metrics_listen", R"("")"))->metrics_listen, "") << "\"\" disables the endpoint";
    struct bad_case {
        const char* raw;
        const char* expect;
    };
    for (const bad_case& b : std::initializer_list<bad_case>{
             {R"("localhost:9464")", "metrics_listen: not an IPv4 address before the ':'"},
             {R"("9464")", "metrics_listen: not ADDR:PORT"},
             {R"("127.0.0.1")", "metrics_listen: not ADDR:PORT"},
             {R"(":9464")", "metrics_listen: not an IPv4 address"},
             {R"("127.0.0.1:0")", "metrics_listen: port must be 1..65535: \"127.0.0.1:0\""},
             {R"("127.0.0.1:65536")", "metrics_listen: port must be 1..65535"},
             {R"("127.0.0.1:")", "metrics_listen: port must be 1..65535"},
             {R"("127.0.0.1:94x")", "metrics_listen: port must be 1..65535"},
             {R"("127.0.0.1:-1")", "metrics_listen: port must be 1..65535"},
             {R"("[::1]:9464")", "metrics_listen: not an IPv4 address"},
             {R"(9464)", "metrics_listen: must be a string, got 9464"},
         }) {
        auto c = parse_config(with("metrics_listen", b.raw));
        ASSERT_FALSE(c.ok()) << b.raw << " was accepted";
        EXPECT_NE(c.err().find(b.expect), std::string::npos) << b.raw << ": " << c.err();
    }
    // validate() checks a config built in code, too.
    auto c = parse_config(k_minimal_config);
    ASSERT_TRUE(c.ok());
    c->metrics_listen = "1.2.3.4";
    auto v = validate(*c);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.err().rfind("metrics_listen: ", 0), 0u) << v.err();
}

}  // namespace
}  // namespace vxr::control
