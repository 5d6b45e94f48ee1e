// CNI plugin pure parts: env/config parsing, per-version results, error
// JSON, pod names and MACs, IPAM.
#include <gtest/gtest.h>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "control/cni/cni.hpp"

namespace cni = vxr::control::cni;
using vxr::ipv4_addr;
using vxr::ipv4_prefix;

namespace {

ipv4_addr ip(const char* s) { return *ipv4_addr::parse(s); }

struct fake_env {
    std::map<std::string, std::string> vars;
    std::optional<cni::failure> parse(cni::env& e) const {
        return cni::parse_env(
            [this](const char* k) -> const char* {
                auto it = vars.find(k);
                return it == vars.end() ? nullptr : it->second.c_str();
            },
            e);
    }
};

fake_env add_env() {
    return {{{"CNI_COMMAND", "ADD"},
             {"CNI_CONTAINERID", "0123456789abcdef0123456789abcdef"},
             {"CNI_NETNS", "/var/run/netns/p1"},
             {"CNI_IFNAME", "eth0"},
             {"CNI_PATH", "/opt/cni/bin"}}};
}

rapidjson::Document parse(const std::string& s) {
    rapidjson::Document d;
    d.Parse(s.c_str());
    EXPECT_FALSE(d.HasParseError()) << s;
    return d;
}

const char* k_conf = R"({"cniVersion":"1.0.0","name":"vxroute","type":"vxroute-cni"})";

}  // namespace

TEST(CniEnv, ParsesAdd) {
    auto fe = add_env();
    fe.vars["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAME=web-0;VXROUTE_KIND=vhost";
    cni::env e;
    ASSERT_FALSE(fe.parse(e));
    EXPECT_EQ(e.command, "ADD");
    EXPECT_EQ(e.ifname, "eth0");
    EXPECT_EQ(e.args.at("K8S_POD_NAME"), "web-0");
    EXPECT_EQ(e.args.at("VXROUTE_KIND"), "vhost");
}

TEST(CniEnv, MissingOrInvalidIsCode4) {
    for (const char* drop : {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"}) {
        auto fe = add_env();
        fe.vars.erase(drop);
        cni::env e;
        auto f = fe.parse(e);
        ASSERT_TRUE(f) << drop;
        EXPECT_EQ(f->code, cni::k_err_invalid_env) << drop;
    }
    for (auto [k, v] : std::map<std::string, std::string>{{"CNI_COMMAND", "FROB"},
                                                          {"CNI_CONTAINERID", "-bad"},
                                                          {"CNI_CONTAINERID", "a/b"},
                                                          {"CNI_IFNAME", "much-too-long-ifname"},
                                                          {"CNI_IFNAME", "a/b"},
                                                          {"CNI_NETNS", "relative"},
                                                          {"CNI_ARGS", "novalue"}}) {
        auto fe = add_env();
        fe.vars[k] = v;
        cni::env e;
        auto f = fe.parse(e);
        ASSERT_TRUE(f) << k << "=" << v;
        EXPECT_EQ(f->code, cni::k_err_invalid_env) << k << "=" << v;
    }
}

TEST(CniEnv, DelWithoutNetnsAndVersionAlone) {
    auto fe = add_env();
    fe.vars["CNI_COMMAND"] = "DEL";
    fe.vars.erase("CNI_NETNS");
    cni::env e;
    EXPECT_FALSE(fe.parse(e));
    fake_env v{{{"CNI_COMMAND", "VERSION"}}};
    EXPECT_FALSE(v.parse(e));
}

TEST(CniConf, DefaultsAndOverrides) {
    cni::net_conf c;
    ASSERT_FALSE(cni::parse_net_conf(k_conf, c));
    EXPECT_EQ(c.socket, "/run/vxroute/vxrouted.sock");
    EXPECT_EQ(c.kind, "kernel");
    cni::net_conf c2;
    ASSERT_FALSE(cni::parse_net_conf(
        R"({"cniVersion":"0.4.0","name":"n","type":"vxroute-cni","socket":"/tmp/x.sock","kind":"vhost",
            "sharedDir":"/srv/shared","prevResult":{"ips":[{"version":"4","address":"10.244.1.7/24"}]}})",
        c2));
    EXPECT_EQ(c2.socket, "/tmp/x.sock");
    EXPECT_EQ(c2.kind, "vhost");
    EXPECT_EQ(c2.shared_dir, "/srv/shared");
    ASSERT_TRUE(c2.prev_ip);
    EXPECT_EQ(*c2.prev_ip, ip("10.244.1.7"));
}

TEST(CniConf, ErrorCodes) {
    struct tc {
        const char* text;
        int code;
    } cases[] = {
        {"{not json", cni::k_err_decode},
        {"[1,2]", cni::k_err_decode},
        {R"({"name":"n","type":"vxroute-cni"})", cni::k_err_invalid_config},
        {R"({"cniVersion":"0.2.0","name":"n","type":"vxroute-cni"})", cni::k_err_incompatible_version},
        {R"({"cniVersion":"9.9.9","name":"n","type":"vxroute-cni"})", cni::k_err_incompatible_version},
        {R"({"cniVersion":"1.0.0","type":"vxroute-cni"})", cni::k_err_invalid_config},
        {R"({"cniVersion":"1.0.0","name":"n","type":"bridge"})", cni::k_err_invalid_config},
        {R"({"cniVersion":"1.0.0","name":"n","type":"vxroute-cni","kind":"tap"})", cni::k_err_invalid_config},
        {R"({"cniVersion":"1.0.0","name":"n","type":"vxroute-cni","socket":7})", cni::k_err_invalid_config},
        {R"({"cniVersion":"1.0.0","name":"n","type":"vxroute-cni","socket":"rel.sock"})", cni::k_err_invalid_config},
        {R"({"cniVersion":"1.0.0","name":"n","type":"vxroute-cni","timeoutMs":0})", cni::k_err_invalid_config},
    };
    for (const auto& t : cases) {
        cni::net_conf c;
        auto f = cni::parse_net_conf(t.text, c);
        ASSERT_TRUE(f) << t.text;
        EXPECT_EQ(f->code, t.code) << t.text << ": " << f->msg;
    }
}

TEST(CniConf, KindFromArgsOverridesConfig) {
    cni::net_conf c;
    ASSERT_FALSE(cni::parse_net_conf(k_conf, c));
    cni::env e;
    std::string kind;
    ASSERT_FALSE(cni::pod_kind(e, c, kind));
    EXPECT_EQ(kind, "kernel");
    e.args["VXROUTE_KIND"] = "vhost";
    ASSERT_FALSE(cni::pod_kind(e, c, kind));
    EXPECT_EQ(kind, "vhost");
    e.args["VXROUTE_KIND"] = "dpdk";
    auto f = cni::pod_kind(e, c, kind);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->code, cni::k_err_invalid_env);
}

TEST(CniResult, PerVersionFormat) {
    cni::pod_result r;
    r.ip = ip("10.244.1.2");
    r.prefix_len = 24;
    r.gateway = ip("10.244.1.1");
    r.mac = "02:00:00:00:00:01";
    cni::env e;
    e.ifname = "eth0";
    e.netns = "/var/run/netns/p1";
    for (const char* v : {"0.3.0", "0.3.1", "0.4.0", "1.0.0"}) {
        auto d = parse(cni::render_result(v, r, e));
        EXPECT_STREQ(d["cniVersion"].GetString(), v);
        const auto& ipo = d["ips"][0];
        EXPECT_STREQ(ipo["address"].GetString(), "10.244.1.2/24");
        EXPECT_STREQ(ipo["gateway"].GetString(), "10.244.1.1");
        EXPECT_EQ(ipo["interface"].GetInt(), 0);
        EXPECT_EQ(ipo.HasMember("version"), std::string(v) != "1.0.0") << v;
        EXPECT_STREQ(d["interfaces"][0]["name"].GetString(), "eth0");
        EXPECT_STREQ(d["interfaces"][0]["sandbox"].GetString(), "/var/run/netns/p1");
        EXPECT_FALSE(d["interfaces"][0].HasMember("socketPath"));
        EXPECT_STREQ(d["routes"][0]["dst"].GetString(), "0.0.0.0/0");
        EXPECT_STREQ(d["routes"][0]["gw"].GetString(), "10.244.1.1");
    }
    r.socket_path = "/srv/p/abc-eth0.sock";
    auto d = parse(cni::render_result("1.0.0", r, e));
    EXPECT_STREQ(d["interfaces"][0]["socketPath"].GetString(), "/srv/p/abc-eth0.sock");
}

TEST(CniResult, ErrorAndVersionJson) {
    auto d = parse(cni::render_error("0.4.0", {11, "vxrouted is down", "socket /x"}));
    EXPECT_STREQ(d["cniVersion"].GetString(), "0.4.0");
    EXPECT_EQ(d["code"].GetInt(), 11);
    EXPECT_STREQ(d["msg"].GetString(), "vxrouted is down");
    EXPECT_STREQ(d["details"].GetString(), "socket /x");
    auto u = parse(cni::render_error("7.0.0", {1, "x", ""}));
    EXPECT_STREQ(u["cniVersion"].GetString(), "1.0.0");
    auto v = parse(cni::render_version("0.4.0"));
    EXPECT_STREQ(v["cniVersion"].GetString(), "0.4.0");
    std::set<std::string> vs;
    for (const auto& s : v["supportedVersions"].GetArray()) vs.insert(s.GetString());
    EXPECT_EQ(vs, (std::set<std::string>{"0.3.0", "0.3.1", "0.4.0", "1.0.0"}));
}

TEST(CniResult, ParsesDaemonResult) {
    cni::pod_result r;
    ASSERT_FALSE(cni::parse_pod_result(
        R"({"name":"p","ip":"10.244.1.9","prefix_len":24,"gateway":"10.244.1.1","mac":"02:aa:00:00:00:01","mtu":1450,"kind":"vhost","socket_path":"/s/x.sock"})",
        r));
    EXPECT_EQ(r.ip, ip("10.244.1.9"));
    EXPECT_EQ(r.mtu, 1450);
    EXPECT_EQ(r.socket_path, "/s/x.sock");
    EXPECT_TRUE(cni::parse_pod_result(R"({"ip":"x"})", r));
}

TEST(CniNames, DeterministicValidAndDistinct) {
    const std::string id(64, 'a');
    const std::string n = cni::pod_name(id, "eth0");
    EXPECT_EQ(n, cni::pod_name(id, "eth0"));
    EXPECT_LE(n.size(), 63u);
    for (char c : n) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') << n;
    EXPECT_NE(n, cni::pod_name(id, "eth1"));
    // Same 16-character prefix, different IDs: still different pods.
    EXPECT_NE(n, cni::pod_name(id + "b", "eth0"));
    EXPECT_NE(cni::pod_name("ab", "c"), cni::pod_name("a", "bc"));
    EXPECT_EQ(cni::socket_base(id, "net1"), "aaaaaaaaaaaa-net1");
    // A 15-character ifname with odd characters stays valid.
    const std::string odd = cni::pod_name(id, "e@th#0123456789");
    for (char c : odd) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') << odd;
}

TEST(CniNames, MacIsStableLocalUnicast) {
    std::set<vxr::mac_addr> seen;
    for (int i = 0; i < 1000; ++i) {
        const std::string id = "container" + std::to_string(i);
        const auto m = cni::pod_mac(id, "eth0");
        EXPECT_EQ(m, cni::pod_mac(id, "eth0"));
        EXPECT_EQ(m.bytes[0] & 0x01, 0) << m.str();  // unicast
        EXPECT_EQ(m.bytes[0] & 0x02, 0x02) << m.str();  // locally administered
        seen.insert(m);
    }
    EXPECT_EQ(seen.size(), 1000u);
}

TEST(CniIpam, LowestFreeSkipsNetworkGatewayBroadcast) {
    const auto cidr = *ipv4_prefix::parse("10.244.1.0/24");
    EXPECT_EQ(cni::allocate_ip(cidr, {}), ip("10.244.1.2"));
    EXPECT_EQ(cni::allocate_ip(cidr, {ip("10.244.1.2"), ip("10.244.1.3")}), ip("10.244.1.4"));
    // A hole is filled first; addresses outside the CIDR do not matter.
    EXPECT_EQ(cni::allocate_ip(cidr, {ip("10.244.1.3"), ip("10.244.2.2")}), ip("10.244.1.2"));
    std::vector<ipv4_addr> used;
    for (uint32_t a = 2; a < 254; ++a) used.push_back(ipv4_addr{cidr.addr.value + a});
    EXPECT_EQ(cni::allocate_ip(cidr, used), ip("10.244.1.254"));
    used.push_back(ip("10.244.1.254"));
    EXPECT_FALSE(cni::allocate_ip(cidr, used));  // .255 is the broadcast
}

TEST(CniIpam, SmallCidrs) {
    auto c30 = *ipv4_prefix::parse("10.0.0.4/30");
    EXPECT_EQ(cni::allocate_ip(c30, {}), ip("10.0.0.6"));
    EXPECT_FALSE(cni::allocate_ip(c30, {ip("10.0.0.6")}));
    EXPECT_FALSE(cni::allocate_ip(*ipv4_prefix::parse("10.0.0.4/31"), {}));
}

// runtimeConfig.portMappings (the "portMappings" capability).
namespace {

std::string conf_with(const std::string& runtime_config) {
    return R"({"cniVersion":"1.0.0","name":"vxroute","type":"vxroute-cni","runtimeConfig":)" + runtime_config + "}";
}

}  // namespace

TEST(CniPortMappings, ParsedWithDefaults) {
    cni::net_conf c;
    auto f = cni::parse_net_conf(
        conf_with(R"({"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""},
                                      {"hostPort":53,"containerPort":5353,"protocol":"UDP","hostIP":"192.168.1.10"},
                                      {"hostPort":9000,"containerPort":9000},
                                      {"hostPort":3868,"containerPort":3868,"protocol":"Sctp","hostIP":"fd00::1"},
                                      {"hostPort":8081,"containerPort":81,"hostIP":"0.0.0.0"},
                                      {"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""}]})"),
        c);
    ASSERT_FALSE(f) << f->msg;
    ASSERT_EQ(c.port_mappings.size(), 5u) << "the repeated entry is one mapping";
    EXPECT_EQ(c.port_mappings[0].host_port, 8080);
    EXPECT_EQ(c.port_mappings[0].container_port, 80);
    EXPECT_EQ(c.port_mappings[0].protocol, vxr::control::k8s::l4_protocol::tcp);
    EXPECT_FALSE(c.port_mappings[0].host_ip);
    EXPECT_EQ(c.port_mappings[1].protocol, vxr::control::k8s::l4_protocol::udp) << "case-insensitive";
    EXPECT_EQ(c.port_mappings[1].host_ip->str(), "192.168.1.10");
    EXPECT_EQ(c.port_mappings[2].protocol, vxr::control::k8s::l4_protocol::tcp) << "tcp by default";
    EXPECT_EQ(c.port_mappings[3].protocol, vxr::control::k8s::l4_protocol::sctp);
    EXPECT_TRUE(c.port_mappings[3].host_ip->is_v6());
    EXPECT_FALSE(c.port_mappings[4].host_ip) << "0.0.0.0 is every address, as empty";
    EXPECT_EQ(cni::describe_port_mappings(c.port_mappings),
              "8080/tcp -> 80, 192.168.1.10:53/udp -> 5353, 9000/tcp -> 9000, [fd00::1]:3868/sctp -> 3868, "
              "8081/tcp -> 81");

    cni::net_conf none;
    ASSERT_FALSE(cni::parse_net_conf(conf_with(R"({"bandwidth":{}})"), none));
    EXPECT_TRUE(none.port_mappings.empty());
    ASSERT_FALSE(cni::parse_net_conf(conf_with(R"({"portMappings":[]})"), none));
    EXPECT_TRUE(none.port_mappings.empty());
}

TEST(CniPortMappings, BadEntriesNameTheField) {
    struct tc {
        const char* runtime_config;
        const char* msg;
    } cases[] = {
        {R"([])", "network configuration: \"runtimeConfig\" must be an object"},
        {R"({"portMappings":{}})", "network configuration: runtimeConfig.portMappings: must be an array"},
        {R"({"portMappings":[7]})", "runtimeConfig.portMappings[0]: must be an object"},
        {R"({"portMappings":[{"containerPort":80}]})", "runtimeConfig.portMappings[0].hostPort: is required"},
        {R"({"portMappings":[{"hostPort":8080,"containerPort":80},{"hostPort":0,"containerPort":80}]})",
         "runtimeConfig.portMappings[1].hostPort: 0 is not a port number (1-65535)"},
        {R"({"portMappings":[{"hostPort":8080,"containerPort":65536}]})",
         "runtimeConfig.portMappings[0].containerPort: 65536 is not a port number (1-65535)"},
        {R"({"portMappings":[{"hostPort":"8080","containerPort":80}]})",
         "runtimeConfig.portMappings[0].hostPort: must be an integer"},
        {R"({"portMappings":[{"hostPort":8080.5,"containerPort":80}]})",
         "runtimeConfig.portMappings[0].hostPort: must be an integer"},
        {R"({"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"icmp"}]})",
         "runtimeConfig.portMappings[0].protocol: \"icmp\" is not tcp, udp or sctp"},
        {R"({"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":6}]})",
         "runtimeConfig.portMappings[0].protocol: must be a string"},
        {R"({"portMappings":[{"hostPort":8080,"containerPort":80,"hostIP":"node-a"}]})",
         "runtimeConfig.portMappings[0].hostIP: \"node-a\" is not an IPv4 or IPv6 address"},
        {R"({"portMappings":[{"hostPort":8080,"containerPort":80,"hostIP":"10.0.0.0/8"}]})",
         "runtimeConfig.portMappings[0].hostIP: \"10.0.0.0/8\" is not an IPv4 or IPv6 address"},
        {R"({"portMappings":[{"hostPort":8080,"containerPort":80},{"hostPort":8080,"containerPort":81,"protocol":"TCP"}]})",
         "runtimeConfig.portMappings[1]: hostPort 8080/tcp -> 81 is also mapped to containerPort 80"},
    };
    for (const auto& t : cases) {
        cni::net_conf c;
        auto f = cni::parse_net_conf(conf_with(t.runtime_config), c);
        ASSERT_TRUE(f) << t.runtime_config;
        EXPECT_EQ(f->code, cni::k_err_invalid_config) << t.runtime_config;
        EXPECT_NE(f->msg.find(t.msg), std::string::npos) << t.runtime_config << ": " << f->msg;
    }
    cni::net_conf ok;
    EXPECT_FALSE(cni::parse_net_conf(
        conf_with(R"({"portMappings":[{"hostPort":8080,"containerPort":80},{"hostPort":8080,"containerPort":80,"protocol":"udp"},
                                      {"hostPort":8080,"containerPort":81,"hostIP":"192.168.1.10"}]})"),
        ok))
        << "another protocol or hostIP is another claim";
}

// What the plugin forwards and vxrouted saves reads back the same.
TEST(CniPortMappings, JsonRoundTripAndComparison) {
    cni::net_conf c;
    ASSERT_FALSE(cni::parse_net_conf(
        conf_with(R"({"portMappings":[{"hostPort":8080,"containerPort":80},
                                      {"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"fd00::1"}]})"),
        c));
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    cni::write_port_mappings(w, c.port_mappings);
    EXPECT_STREQ(sb.GetString(), R"([{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""},)"
                                 R"({"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"fd00::1"}])");
    auto d = parse(sb.GetString());
    std::vector<vxr::control::k8s::pod_port> back;
    ASSERT_FALSE(cni::parse_port_mappings(d, "port_mappings", back));
    EXPECT_TRUE(cni::same_port_mappings(back, c.port_mappings));
    std::reverse(back.begin(), back.end());
    EXPECT_TRUE(cni::same_port_mappings(back, c.port_mappings)) << "order does not matter";
    back[0].container_port = 54;
    EXPECT_FALSE(cni::same_port_mappings(back, c.port_mappings));
    back.pop_back();
    EXPECT_FALSE(cni::same_port_mappings(back, c.port_mappings));
}

TEST(CniPortMappings, KubernetesPodFromArgs) {
    cni::env e;
    EXPECT_EQ(cni::k8s_pod_of(e), "");
    e.args["K8S_POD_NAME"] = "web-0";
    EXPECT_EQ(cni::k8s_pod_of(e), "") << "a name without namespace";
    e.args["K8S_POD_NAMESPACE"] = "shop";
    EXPECT_EQ(cni::k8s_pod_of(e), "shop/web-0");
}
