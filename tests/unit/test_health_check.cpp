// The Services' healthCheckNodePort listeners as kube-proxy serves them:
// real HTTP (libcurl) to real sockets on 127.0.0.1, ports chosen free at
// run time, driven through service_proxy's commits on a real dataplane's
// conntrack (nothing mocked; no worker runs). Every update is synchronous
// (a listener is bound before update() returns, and closed when it
// returns), so nothing here waits.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <string>

#include "control/services/service_proxy.hpp"
#include "eal_env.hpp"
#include "fastpath/dataplane.hpp"
#include "services_objects.hpp"

namespace vxr::control::services {
namespace {

[[maybe_unused]] auto* const g_eal = vxr::test::eal_env::install({"-l", "0-1"});

constexpr ipv4_addr k_loopback{0x7f000001};

// A TCP socket bound to 127.0.0.1 on a port the kernel picked: it holds the
// port (busy) or gives it back at once (free_port).
struct held_port {
    int fd = -1;
    uint16_t port = 0;
    explicit held_port(bool listening) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
            (!listening || ::listen(fd, 4) == 0) && ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0)
            port = ntohs(sa.sin_port);
    }
    ~held_port() { release(); }
    void release() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

uint16_t free_port() { return held_port(false).port; }

struct http_answer {
    CURLcode code = CURLE_OK;
    long status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
};

size_t on_body(char* p, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(p, size * n);
    return size * n;
}

size_t on_header(char* p, size_t size, size_t n, void* out) {
    std::string line(p, size * n);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        value.erase(value.find_last_not_of("\r\n") + 1);
        (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
    }
    return size * n;
}

http_answer request(uint16_t port, const std::string& path = "/", const char* method = nullptr) {
    http_answer a;
    CURL* c = curl_easy_init();
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a.headers);
    if (method && std::string(method) == "HEAD")
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);  // a custom HEAD would wait for the body Content-Length announces
    else if (method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    a.code = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_easy_cleanup(c);
    return a;
}

// Status, headers and every field of kube-proxy's body.
void expect_answer(const http_answer& a, long status, const char* ns, const char* name, int local, bool healthy) {
    ASSERT_EQ(a.code, CURLE_OK) << curl_easy_strerror(a.code);
    EXPECT_EQ(a.status, status);
    EXPECT_EQ(a.headers.count("content-type") ? a.headers.at("content-type") : "", "application/json");
    EXPECT_EQ(a.headers.count("x-content-type-options") ? a.headers.at("x-content-type-options") : "", "nosniff");
    rapidjson::Document d;
    ASSERT_FALSE(d.Parse(a.body.c_str()).HasParseError()) << a.body;
    ASSERT_TRUE(d.IsObject()) << a.body;
    EXPECT_EQ(d.MemberCount(), 3u) << a.body;
    ASSERT_TRUE(d.HasMember("service") && d["service"].IsObject()) << a.body;
    const auto& svc = d["service"];
    EXPECT_EQ(svc.MemberCount(), 2u) << a.body;
    ASSERT_TRUE(svc.HasMember("namespace") && svc["namespace"].IsString()) << a.body;
    ASSERT_TRUE(svc.HasMember("name") && svc["name"].IsString()) << a.body;
    EXPECT_STREQ(svc["namespace"].GetString(), ns);
    EXPECT_STREQ(svc["name"].GetString(), name);
    ASSERT_TRUE(d.HasMember("localEndpoints") && d["localEndpoints"].IsInt()) << a.body;
    EXPECT_EQ(d["localEndpoints"].GetInt(), local);
    ASSERT_TRUE(d.HasMember("serviceProxyHealthy") && d["serviceProxyHealthy"].IsBool()) << a.body;
    EXPECT_EQ(d["serviceProxyHealthy"].GetBool(), healthy);
}

service lb_local(const std::string& name, uint16_t hc_port, const char* cip) {
    service s = make_service(name, {cip});
    s.type = service_type::load_balancer;
    s.external_traffic_policy = traffic_policy::local;
    s.health_check_node_port = hc_port;
    return s;
}

struct health : ::testing::Test {
    static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }
    void SetUp() override {
        ASSERT_TRUE(vxr::test::eal_env::ready());
        ASSERT_TRUE(dp.init({1, 1024, 1024, 0}));
        ASSERT_TRUE(dp.enable_services(fastpath::ct_params{.max_entries = 1024}));
        auto r = service_proxy::create(test_compiler_config(), dp, [](auto) {});
        ASSERT_TRUE(r) << r.err();
        sp = std::move(*r);
        sp->serve_health_checks(k_loopback);
        ASSERT_NE(sp->health_checks(), nullptr);
    }
    void add(service s) { sp->compiler().upsert(std::make_shared<const service>(std::move(s))); }
    void add(endpoint_slice s) { sp->compiler().upsert(std::make_shared<const endpoint_slice>(std::move(s))); }
    void commit() {
        sp->mark_changed();
        sp->poll();
    }
    const health_check_server& hc() const { return *sp->health_checks(); }

    fastpath::dataplane dp;
    std::unique_ptr<service_proxy> sp;
};

bool refused(uint16_t port) { return request(port).code == CURLE_COULDNT_CONNECT; }

TEST_F(health, ready_local_endpoints_200_then_503_then_closed) {
    const uint16_t port = free_port();
    ASSERT_NE(port, 0);
    EXPECT_TRUE(refused(port)) << "nothing listens before the Service exists";
    add(lb_local("web", port, "10.96.0.10"));
    add(make_slice("web-1", "web", {ep("10.244.1.5", k_node), ep("10.244.1.6", k_node), ep("10.244.2.5")}));
    commit();
    EXPECT_EQ(hc().listeners(), 1u);
    // Any path, any method: the same answer (kube-proxy's handler does not
    // look at either); the remote endpoint does not count.
    expect_answer(request(port), 200, "default", "web", 2, true);
    expect_answer(request(port, "/healthz?x=1"), 200, "default", "web", 2, true);
    expect_answer(request(port, "/", "POST"), 200, "default", "web", 2, true);
    const auto head = request(port, "/", "HEAD");
    EXPECT_EQ(head.code, CURLE_OK) << curl_easy_strerror(head.code);
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.body, "") << "HEAD has no body";
    EXPECT_EQ(head.headers.count("content-type") ? head.headers.at("content-type") : "", "application/json");
    EXPECT_EQ(hc().requests(), 4u);

    // One not ready, one terminating (still serving): neither counts, so
    // the load balancer drains the node.
    add(make_slice("web-1", "web",
                   {ep("10.244.1.5", k_node, false), ep("10.244.1.6", k_node, false, true, true), ep("10.244.2.5")}));
    commit();
    expect_answer(request(port), 503, "default", "web", 0, true);
    add(make_slice("web-1", "web", {ep("10.244.1.5", k_node)}));
    commit();
    expect_answer(request(port), 200, "default", "web", 1, true);

    // The Service goes: its port closes with the commit.
    sp->compiler().remove_service("default/web");
    commit();
    EXPECT_EQ(hc().listeners(), 0u);
    EXPECT_TRUE(refused(port));
}

TEST_F(health, a_service_that_stops_qualifying_closes_and_a_port_change_moves) {
    const uint16_t first = free_port(), second = free_port();
    ASSERT_NE(first, second);
    add(lb_local("web", first, "10.96.0.10"));
    add(make_slice("web-1", "web", {ep("10.244.1.5", k_node)}));
    commit();
    expect_answer(request(first), 200, "default", "web", 1, true);

    add(lb_local("web", second, "10.96.0.10"));
    commit();
    EXPECT_TRUE(refused(first)) << "the old port closes";
    expect_answer(request(second), 200, "default", "web", 1, true);

    // externalTrafficPolicy Cluster: no health check (even if the object
    // still carries the port, as it may while the API server clears it).
    service cluster = lb_local("web", second, "10.96.0.10");
    cluster.external_traffic_policy = traffic_policy::cluster;
    add(cluster);
    commit();
    EXPECT_TRUE(refused(second));
    EXPECT_EQ(hc().listeners(), 0u);
}

TEST_F(health, a_port_in_use_is_reported_by_name_and_the_others_are_served) {
    held_port busy(true);
    ASSERT_NE(busy.port, 0);
    const uint16_t good = free_port();
    add(lb_local("blocked", busy.port, "10.96.0.10"));
    add(make_slice("blocked-1", "blocked", {ep("10.244.1.5", k_node)}));
    add(lb_local("web", good, "10.96.0.11"));
    add(make_slice("web-1", "web", {ep("10.244.1.6", k_node), ep("10.244.1.7", k_node)}));
    testing::internal::CaptureStderr();
    commit();
    const std::string log = testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("health check of default/blocked (healthCheckNodePort " + std::to_string(busy.port) +
                       ") not served: cannot listen on 127.0.0.1:" + std::to_string(busy.port) +
                       ": Address already in use"),
              std::string::npos)
        << log;
    EXPECT_EQ(hc().listen_failures(), 1u);
    EXPECT_EQ(hc().listeners(), 1u);
    expect_answer(request(good), 200, "default", "web", 2, true);

    // The view names it too.
    rapidjson::Document d;
    d.Parse(sp->show_services().c_str());
    ASSERT_TRUE(d.HasMember("health_checks")) << sp->show_services();
    const auto& list = d["health_checks"]["services"];
    ASSERT_EQ(list.Size(), 2u);
    EXPECT_STREQ(list[0]["service"].GetString(), "default/blocked");
    EXPECT_FALSE(list[0]["listening"].GetBool());
    EXPECT_NE(std::string(list[0]["error"].GetString()).find("Address already in use"), std::string::npos);
    EXPECT_STREQ(list[1]["service"].GetString(), "default/web");
    EXPECT_TRUE(list[1]["listening"].GetBool());
    EXPECT_EQ(list[1]["local_endpoints"].GetUint(), 2u);

    // The next update tries again; once the port is free it is served.
    busy.release();
    commit();
    EXPECT_EQ(hc().listeners(), 2u);
    expect_answer(request(busy.port), 200, "default", "blocked", 1, true);
    expect_answer(request(good), 200, "default", "web", 2, true);
}

TEST_F(health, no_local_endpoint_answers_503) {
    const uint16_t port = free_port();
    add(lb_local("remote", port, "10.96.0.10"));
    add(make_slice("remote-1", "remote", {ep("10.244.2.5")}));
    commit();
    expect_answer(request(port), 503, "default", "remote", 0, true);
}

TEST(health_check_server, proxy_unhealthy_answers_503_in_kube_proxys_layout) {
    // The server alone, as the proxy drives it: after a table that failed
    // to build the proxy is behind, and every Service answers 503.
    health_check_server server(k_loopback);
    const uint16_t port = free_port();
    server.update({{"kube-system/dns", port, 2}});
    auto a = request(port);
    expect_answer(a, 200, "kube-system", "dns", 2, true);
    EXPECT_EQ(a.body,
              "{\n\t\"service\": {\n\t\t\"namespace\": \"kube-system\",\n\t\t\"name\": \"dns\"\n\t},\n"
              "\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}");
    server.set_proxy_healthy(false);
    expect_answer(request(port), 503, "kube-system", "dns", 2, false);
    server.set_proxy_healthy(true);
    server.update({{"kube-system/dns", port, 0}});
    expect_answer(request(port), 503, "kube-system", "dns", 0, true);
    server.update({});
    EXPECT_TRUE(refused(port));
}

TEST(health_checks_of, counts_distinct_local_ready_addresses_over_ports) {
    // kube-proxy counts endpoints by address: a pod serving two ports of the
    // Service is one endpoint; a pod in only one port's slice counts too.
    auto sc = service_compiler::create(test_compiler_config());
    ASSERT_TRUE(sc) << sc.err();
    service s = lb_local("web", 31000, "10.96.0.10");
    s.ports.push_back({"https", l4_protocol::tcp, 443, port_ref{8443, {}}, 0});
    sc->upsert(std::make_shared<const service>(s));
    sc->upsert(std::make_shared<const endpoint_slice>(
        make_slice("web-http", "web", {ep("10.244.1.5", k_node), ep("10.244.1.6", k_node), ep("10.244.2.5")})));
    sc->upsert(std::make_shared<const endpoint_slice>(make_slice(
        "web-https", "web", {ep("10.244.1.5", k_node), ep("10.244.1.7", k_node), ep("10.244.1.8", k_node, false)},
        8443, "https")));
    service other = make_service("plain", {"10.96.0.20"});  // ClusterIP: no health check
    sc->upsert(std::make_shared<const service>(other));
    sc->commit();
    const auto want = health_checks_of(sc->frontends());
    ASSERT_EQ(want.size(), 1u);
    EXPECT_EQ(want[0], (health_check_want{"default/web", 31000, 3}));
}

}  // namespace
}  // namespace vxr::control::services
