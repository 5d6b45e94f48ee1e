// The host's node-port rules (control/services/host_nat.hpp) applied by a
// real nft, in two network namespaces this test makes and removes (never the
// machine's own ruleset): "node" has a local address with a node port and a
// veth, vxr-host, standing in for the host port; "far" is what the workers
// would be, holding the ClusterIP and a pod address. A TCP connection from
// the node to its own address and node port (and hostPort) must reach far,
// DNATed there and sourced from the overlay address. Root, ip, nft and socat
// are needed: without them the test fails, saying which is missing.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "control/node/netns.hpp"
#include "control/services/host_nat.hpp"
#include "control/services/service_compiler.hpp"

namespace vxr::control::services {
namespace {

using namespace vxr::control::k8s;

ip_addr ip(const char* s) { return *ip_addr::parse(s); }

// Its standard output, and whether it exited 0.
std::pair<std::string, bool> sh(const std::string& cmd) {
    std::string out;
    FILE* f = popen(cmd.c_str(), "r");
    if (f == nullptr) return {"", false};
    char buf[512];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    const int st = pclose(f);
    return {out, st == 0};
}

struct nft_netns : ::testing::Test {
    const std::string pid = std::to_string(getpid());
    const std::string node = "vxr-nfttest-" + pid + "-node";
    const std::string far = "vxr-nfttest-" + pid + "-far";
    const host_nat_params params{"vxroute", "vxr-host", *ipv4_addr::parse("10.244.1.0")};

    std::string in(const std::string& ns, const std::string& cmd) { return "ip netns exec " + ns + " " + cmd; }
    host_nat::runner runner() {
        return [this](const std::string& input) { return run_command({"ip", "netns", "exec", node, "nft", "-f", "-"}, input); };
    }

    void SetUp() override {
        ASSERT_EQ(geteuid(), 0u) << "needs root (network namespaces, nft)";
        for (const char* tool : {"ip", "nft", "socat", "timeout"})
            ASSERT_TRUE(sh(std::string("command -v ") + tool + " >/dev/null").second) << tool << " is not installed";
        for (const std::string& c : {
                 "ip netns add " + node,
                 "ip netns add " + far,
                 "ip -n " + node + " link set lo up",
                 "ip -n " + far + " link set lo up",
                 "ip -n " + node + " link add vxr-host type veth peer name vxr-far netns " + far,
                 // The node's address, local (fib daddr type local), not on the host port.
                 "ip -n " + node + " addr add 192.168.1.10/32 dev lo",
                 "ip -n " + node + " addr add 10.244.1.0/32 dev vxr-host",
                 "ip -n " + node + " link set vxr-host up",
                 // As plumb_host routes them: ClusterIPs sourced from the overlay address, pods.
                 "ip -n " + node + " route add 10.96.0.0/12 dev vxr-host src 10.244.1.0",
                 "ip -n " + node + " route add 10.244.1.7/32 dev vxr-host",
                 "ip -n " + far + " addr add 10.96.0.10/32 dev vxr-far",
                 "ip -n " + far + " addr add 10.244.1.7/32 dev vxr-far",
                 "ip -n " + far + " link set vxr-far up",
                 "ip -n " + far + " route add 10.244.1.0/32 dev vxr-far",
             })
        {
            const auto r = sh(c + " 2>&1");
            ASSERT_TRUE(r.second) << c << ": " << r.first;
        }
    }
    void TearDown() override {
        sh("ip netns pids " + far + " 2>/dev/null | xargs -r kill 2>/dev/null");
        sh("ip netns del " + node + " 2>/dev/null");
        sh("ip netns del " + far + " 2>/dev/null");
    }

    // One TCP connection from the node to addr:port; what far's listener on
    // listen_addr:listen_port says: the connection's source address.
    std::string connect_seen_from_far(const std::string& listen_addr, int listen_port, const std::string& addr,
                                      int port) {
        const std::string l = in(far, "timeout 10 socat TCP-LISTEN:" + std::to_string(listen_port) + ",bind=" +
                                          listen_addr + ",reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' >/dev/null 2>&1 &");
        sh(l);
        for (int i = 0; i < 50; ++i) {  // until it listens
            if (sh(in(far, "ss -Htln 'sport = :" + std::to_string(listen_port) + "'")).first.find("LISTEN") !=
                std::string::npos)
                break;
            usleep(100 * 1000);
        }
        return sh(in(node, "timeout 5 socat -T 3 - TCP:" + addr + ":" + std::to_string(port) + " </dev/null 2>&1"))
            .first;
    }
};

TEST_F(nft_netns, node_port_and_host_port_from_the_node_reach_the_host_port) {
    auto sc = std::move(*service_compiler::create([] {
        compiler_config c;
        c.node_name = "node-a";
        c.node_ips = {ip("192.168.1.10")};
        c.maglev.table_size = 251;
        return c;
    }()));
    service s;
    s.meta.ns = "default";
    s.meta.name = "web";
    s.type = service_type::node_port;
    s.cluster_ips = {ip("10.96.0.10")};
    s.ports.push_back({"http", l4_protocol::tcp, 80, port_ref{8080, {}}, 30080});
    s.ports.push_back({"dns", l4_protocol::udp, 53, port_ref{5353, {}}, 30053});
    sc.upsert(std::make_shared<const service>(s));
    pod p;
    p.meta.ns = "default";
    p.meta.name = "hp";
    p.node_name = "node-a";
    p.phase = pod_phase::running;
    p.pod_ips = {ip("10.244.1.7")};
    pod_port pp;
    pp.container_port = 8080;
    pp.host_port = 8053;
    p.ports = {pp};
    sc.upsert(std::make_shared<const pod>(p));
    sc.commit();

    host_nat h(params, runner());
    h.start();
    ASSERT_TRUE(h.stats().installed) << h.stats().last_error;
    h.update(sc.frontends(), sc.config().node_ips);
    ASSERT_EQ(h.stats().failures, 0u) << h.stats().last_error;
    EXPECT_EQ(h.stats().rules, 3u);
    const auto listed = sh(in(node, "nft list table ip vxroute"));
    ASSERT_TRUE(listed.second);
    EXPECT_NE(listed.first.find("192.168.1.10 . tcp . 30080 : 10.96.0.10 . 80"), std::string::npos) << listed.first;
    EXPECT_NE(listed.first.find("192.168.1.10 . udp . 30053 : 10.96.0.10 . 53"), std::string::npos) << listed.first;
    EXPECT_NE(listed.first.find("192.168.1.10 . tcp . 8053 : 10.244.1.7 . 8080"), std::string::npos) << listed.first;

    // The node port: to the ClusterIP, from the overlay address.
    EXPECT_EQ(connect_seen_from_far("10.96.0.10", 80, "192.168.1.10", 30080), "10.244.1.0\n");
    // The hostPort: to the pod's containerPort.
    EXPECT_EQ(connect_seen_from_far("10.244.1.7", 8080, "192.168.1.10", 8053), "10.244.1.0\n");

    // A restart after a crash: the table left behind is replaced, empty.
    host_nat again(params, runner());
    again.start();
    ASSERT_TRUE(again.stats().installed) << again.stats().last_error;
    EXPECT_EQ(sh(in(node, "nft list map ip vxroute frontends")).first.find("30080"), std::string::npos);
    again.update({}, {});  // no Services: empty map and set
    EXPECT_EQ(again.stats().failures, 0u) << again.stats().last_error;

    again.stop();
    EXPECT_FALSE(again.stats().installed) << again.stats().last_error;
    EXPECT_EQ(sh(in(node, "nft list tables")).first.find("vxroute"), std::string::npos);
}

}  // namespace
}  // namespace vxr::control::services
