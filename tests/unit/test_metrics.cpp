// The metrics endpoint without DPDK: the Prometheus text renderer (format
// rules, escaping, _total suffixes, bounded families), the /healthz and
// /readyz rules, and the HTTP server over a real TCP socket on loopback with
// its poll loop driven the way vxrouted's control loop drives it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "control/ops/health.hpp"
#include "control/ops/http_server.hpp"
#include "control/ops/metrics.hpp"

namespace vxr::control {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

TEST(exposition, help_type_and_samples) {
    exposition e;
    e.counter("vxroute_x_total", "Things.");
    e.sample(3);
    e.sample(4, {{"port", "pod-a"}, {"queue", "0"}});
    e.gauge("vxroute_y", "A level.");
    e.sample_double(1.5);
    EXPECT_EQ(e.text(),
              "# HELP vxroute_x_total Things.\n"
              "# TYPE vxroute_x_total counter\n"
              "vxroute_x_total 3\n"
              "vxroute_x_total{port=\"pod-a\",queue=\"0\"} 4\n"
              "# HELP vxroute_y A level.\n"
              "# TYPE vxroute_y gauge\n"
              "vxroute_y 1.5\n");
}

TEST(exposition, escaping) {
    // Label values escape backslash, double quote and newline; HELP escapes
    // backslash and newline only (the text format's rules).
    EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    EXPECT_EQ(escape_help("a\\b\"c\nd"), "a\\\\b\"c\\nd");
    exposition e;
    e.gauge("vxroute_g", "line one\nline \\ two");
    e.sample(1, {{"port", "we\"ird\\name\n"}});
    EXPECT_EQ(e.text(),
              "# HELP vxroute_g line one\\nline \\\\ two\n"
              "# TYPE vxroute_g gauge\n"
              "vxroute_g{port=\"we\\\"ird\\\\name\\n\"} 1\n");
}

TEST(exposition, special_and_large_values) {
    exposition e;
    e.gauge("vxroute_v", "v");
    e.sample(UINT64_MAX);
    e.sample_double(std::numeric_limits<double>::quiet_NaN());
    e.sample_double(std::numeric_limits<double>::infinity());
    e.sample_double(-std::numeric_limits<double>::infinity());
    e.sample_double(1700000000.25);
    auto l = lines_of(e.text());
    ASSERT_EQ(l.size(), 7u);
    EXPECT_EQ(l[2], "vxroute_v 18446744073709551615");
    EXPECT_EQ(l[3], "vxroute_v NaN");
    EXPECT_EQ(l[4], "vxroute_v +Inf");
    EXPECT_EQ(l[5], "vxroute_v -Inf");
    EXPECT_EQ(l[6], "vxroute_v 1700000000.25");
}

metrics_input sample_input(bool with_k8s) {
    metrics_input in;
    in.version = "0.1.0";
    in.dpdk_version = "DPDK 22.11.11";
    in.node_name = "node-a";
    in.start_time_seconds = 1700000000.5;
    in.tsc_hz = 2300000000;
    port_stats up;
    up.id = 0;
    up.name = "net_af_packet0";
    up.kind = "uplink";
    up.link_up = true;
    up.rx_packets = 10;
    up.rx_bytes = 1000;
    up.queues = {{0, 10, 1000, 9, 900}};
    port_stats pod;
    pod.id = 2;
    pod.name = "pod-v";
    pod.kind = "pod";
    pod.pod_kind = "vhost-user";
    pod.link_up = false;
    pod.link_changes = 3;
    pod.queues = {{0, 1, 2, 3, 4}, {1, 5, 6, 7, 8}};
    port_stats kpod = pod;
    kpod.id = 3;
    kpod.name = "pod-k";
    kpod.pod_kind = "kernel";
    kpod.link_up = true;
    in.ports = {up, pod, kpod};
    for (unsigned w = 0; w < 2; ++w) {
        worker_stats ws;
        ws.id = w;
        ws.lcore = w + 1;
        ws.counters.encapsulated = 100 + w;
        ws.counters.busy_cycles = 5;
        ws.counters.total_cycles = 50;
        ws.counters.polls = 7;
        ws.counters.drops[static_cast<size_t>(fastpath::drop_reason::no_route)] = 2 + w;
        in.workers.push_back(ws);
    }
    in.control.arp_learned = 4;
    in.routes = 5;
    in.peers = 1;
    in.pods = 2;
    in.neighbors = {{"incomplete", 0}, {"reachable", 1}, {"probing", 0}, {"failed", 0}, {"permanent", 0}};
    if (with_k8s) {
        k8s_stats k;
        k.running = k.sync.synced = k.routes_programmed = k.sync.watch_connected = true;
        k.sync.last_sync = std::chrono::system_clock::time_point(std::chrono::seconds(1700000100));
        k.sync.watches = 2;
        k.peers_added = 1;
        // One cached resource: 3 lists (2 relists), 2 changes at 0.3 ms and 40 ms.
        vxr::control::k8s::reflector_stats w;
        w.synced = true;
        w.lists = 3;
        w.malformed = 1;
        k.sync.caches.push_back({"services", w});
        vxr::control::k8s::store_stats st;
        st.objects = 7;
        st.latency.add(std::chrono::microseconds(300));
        st.latency.add(std::chrono::milliseconds(40));
        k.caches.push_back({"services", st});
        in.k8s = k;
    }
    in.ready = true;
    in.healthy = true;
    return in;
}

// A minimal reading of the exposition: families by TYPE, samples by series.
struct parsed {
    std::map<std::string, std::string> type;        // family -> counter/gauge
    std::map<std::string, std::string> help;        // family -> help
    std::map<std::string, std::string> samples;     // "name{labels}" -> value
    std::vector<std::string> order;                 // families in order of TYPE
    std::vector<std::string> errors;
};

parsed parse(const std::string& text) {
    parsed p;
    std::string family;
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n') << "the body ends with a newline";
    for (const std::string& l : lines_of(text)) {
        if (l.rfind("# HELP ", 0) == 0) {
            auto sp = l.find(' ', 7);
            p.help[l.substr(7, sp - 7)] = l.substr(sp + 1);
        } else if (l.rfind("# TYPE ", 0) == 0) {
            auto sp = l.find(' ', 7);
            family = l.substr(7, sp - 7);
            if (p.type.count(family)) p.errors.push_back("family twice: " + family);
            if (!p.help.count(family)) p.errors.push_back("TYPE without HELP before it: " + family);
            p.type[family] = l.substr(sp + 1);
            p.order.push_back(family);
        } else {
            const auto end = l.find_first_of("{ ");
            std::string name = l.substr(0, end);
            // A histogram's series are <family>_bucket, _sum and _count.
            if (p.type[family] == "histogram")
                for (const char* suffix : {"_bucket", "_sum", "_count"})
                    if (name == family + suffix) name = family;
            if (name != family) p.errors.push_back("sample " + name + " outside its family (" + family + ")");
            const auto value_at = l.rfind(' ');
            const std::string series = l.substr(0, value_at);
            if (p.samples.count(series)) p.errors.push_back("series twice: " + series);
            p.samples[series] = l.substr(value_at + 1);
        }
    }
    return p;
}

TEST(render_metrics, format_rules) {
    const parsed p = parse(render_metrics(sample_input(true)));
    EXPECT_TRUE(p.errors.empty()) << ::testing::PrintToString(p.errors);
    ASSERT_FALSE(p.type.empty());
    for (const auto& [name, type] : p.type) {
        EXPECT_EQ(name.rfind("vxroute_", 0), 0u) << name;
        ASSERT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << name << " " << type;
        const bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
        EXPECT_EQ(type == "counter", total) << name << ": counters and only counters end in _total";
        EXPECT_FALSE(p.help.at(name).empty()) << name;
    }
}

TEST(render_metrics, families_and_values) {
    const parsed p = parse(render_metrics(sample_input(true)));
    auto v = [&](const std::string& series) {
        auto it = p.samples.find(series);
        return it == p.samples.end() ? std::string("<missing " + series + ">") : it->second;
    };
    EXPECT_EQ(v("vxroute_build_info{version=\"0.1.0\",dpdk_version=\"DPDK 22.11.11\"}"), "1");
    EXPECT_EQ(v("vxroute_start_time_seconds"), "1700000000.5");
    EXPECT_EQ(v("vxroute_port_rx_packets_total{port=\"net_af_packet0\",kind=\"uplink\"}"), "10");
    EXPECT_EQ(v("vxroute_port_rx_bytes_total{port=\"net_af_packet0\",kind=\"uplink\"}"), "1000");
    EXPECT_EQ(v("vxroute_port_queue_tx_bytes_total{port=\"pod-v\",queue=\"1\"}"), "8");
    EXPECT_EQ(v("vxroute_port_link_changes_total{port=\"pod-v\",kind=\"pod\"}"), "3");
    EXPECT_EQ(v("vxroute_port_link_up{port=\"pod-v\",kind=\"pod\"}"), "0");
    // vhost-user connection state only for vhost-user pods.
    EXPECT_EQ(v("vxroute_vhost_connected{port=\"pod-v\"}"), "0");
    EXPECT_EQ(p.samples.count("vxroute_vhost_connected{port=\"pod-k\"}"), 0u);
    EXPECT_EQ(v("vxroute_worker_busy_cycles_total{worker=\"1\"}"), "5");
    EXPECT_EQ(v("vxroute_worker_cycles_total{worker=\"0\"}"), "50");
    EXPECT_EQ(v("vxroute_worker_polls_total{worker=\"0\"}"), "7");
    EXPECT_EQ(v("vxroute_worker_info{worker=\"1\",lcore=\"2\"}"), "1");
    EXPECT_EQ(v("vxroute_encapsulated_total{worker=\"1\"}"), "101");
    // Drops: summed over workers, one series per reason of drop_reasons.def.
    EXPECT_EQ(v("vxroute_drops_total{reason=\"no_route\"}"), "5");
    size_t reasons = 0;
    for (const auto& [series, value] : p.samples) reasons += series.rfind("vxroute_drops_total{", 0) == 0;
    EXPECT_EQ(reasons, fastpath::k_drop_reasons);
    for (auto name : fastpath::k_drop_names)
        EXPECT_EQ(v("vxroute_drops_total{reason=\"" + std::string(name) + "\"}"), name == "no_route" ? "5" : "0");
    EXPECT_EQ(v("vxroute_arp_learned_total"), "4");
    EXPECT_EQ(v("vxroute_routes"), "5");
    EXPECT_EQ(v("vxroute_peers"), "1");
    EXPECT_EQ(v("vxroute_pods"), "2");
    EXPECT_EQ(v("vxroute_neighbors{state=\"reachable\"}"), "1");
    EXPECT_EQ(v("vxroute_ready"), "1");
    EXPECT_EQ(v("vxroute_k8s_configured"), "1");
    EXPECT_EQ(v("vxroute_k8s_synced"), "1");
    EXPECT_EQ(v("vxroute_k8s_last_sync_timestamp_seconds"), "1700000100");
    EXPECT_EQ(v("vxroute_k8s_watches_total"), "2");
    EXPECT_EQ(v("vxroute_k8s_peer_changes_total{change=\"added\"}"), "1");
    // The watch cache, per resource.
    EXPECT_EQ(v("vxroute_k8s_cache_synced{resource=\"services\"}"), "1");
    EXPECT_EQ(v("vxroute_k8s_cache_objects{resource=\"services\"}"), "7");
    EXPECT_EQ(v("vxroute_k8s_cache_relists_total{resource=\"services\"}"), "2");
    EXPECT_EQ(v("vxroute_k8s_cache_decode_errors_total{resource=\"services\"}"), "1");
    // Buckets are cumulative: 0.3 ms is in le=0.0005, 40 ms from le=0.05 on.
    EXPECT_EQ(p.type.at("vxroute_k8s_cache_event_latency_seconds"), "histogram");
    EXPECT_EQ(v("vxroute_k8s_cache_event_latency_seconds_bucket{resource=\"services\",le=\"0.0005\"}"), "1");
    EXPECT_EQ(v("vxroute_k8s_cache_event_latency_seconds_bucket{resource=\"services\",le=\"0.025\"}"), "1");
    EXPECT_EQ(v("vxroute_k8s_cache_event_latency_seconds_bucket{resource=\"services\",le=\"0.05\"}"), "2");
    EXPECT_EQ(v("vxroute_k8s_cache_event_latency_seconds_bucket{resource=\"services\",le=\"+Inf\"}"), "2");
    EXPECT_EQ(v("vxroute_k8s_cache_event_latency_seconds_count{resource=\"services\"}"), "2");
    EXPECT_EQ(v("vxroute_k8s_cache_event_latency_seconds_sum{resource=\"services\"}"), "0.0403");
}

TEST(render_metrics, without_kubernetes) {
    const parsed p = parse(render_metrics(sample_input(false)));
    EXPECT_TRUE(p.errors.empty()) << ::testing::PrintToString(p.errors);
    EXPECT_EQ(p.samples.at("vxroute_k8s_configured"), "0");
    for (const auto& [name, type] : p.type) {
        if (name != "vxroute_k8s_configured") {
            EXPECT_EQ(name.rfind("vxroute_k8s_", 0), std::string::npos) << name;
        }
    }
}

TEST(render_metrics, services_per_frontend_and_conntrack) {
    metrics_input in = sample_input(true);
    EXPECT_EQ(parse(render_metrics(in)).samples.at("vxroute_services_enabled"), "0");
    services_metrics s;
    s.frontends.push_back({"default/web", "http", "10.96.0.10:80/TCP", 3, 30, 3000, 0, 4});
    s.frontends.push_back({"default/empty", "", "10.96.0.20:80/TCP", 0, 0, 0, 2});
    s.ct_entries = 3;
    s.ct_capacity = 1024;
    s.ct_full = 1;
    s.health_listeners = 2;
    s.health_listen_failures = 1;
    s.host_nat_rules = 5;
    s.host_nat_failures = 2;
    in.services = s;
    const parsed p = parse(render_metrics(in));
    EXPECT_TRUE(p.errors.empty()) << ::testing::PrintToString(p.errors);
    const std::string web = "{service=\"default/web\",port=\"http\",frontend=\"10.96.0.10:80/TCP\"}";
    EXPECT_EQ(p.samples.at("vxroute_services_enabled"), "1");
    EXPECT_EQ(p.samples.at("vxroute_service_new_flows_total" + web), "3");
    EXPECT_EQ(p.samples.at("vxroute_service_bytes_total" + web), "3000");
    EXPECT_EQ(p.samples.at("vxroute_service_source_denied_total" + web), "4");
    EXPECT_EQ(p.samples.at("vxroute_service_rejects_total{service=\"default/empty\",port=\"\",frontend=\"10.96.0.20:80/TCP\"}"),
              "2");
    EXPECT_EQ(p.samples.at("vxroute_conntrack_entries"), "3");
    EXPECT_EQ(p.samples.at("vxroute_conntrack_full_total"), "1");
    EXPECT_EQ(p.samples.at("vxroute_service_health_listeners"), "2");
    EXPECT_EQ(p.samples.at("vxroute_service_health_listen_failures_total"), "1");
    EXPECT_EQ(p.samples.at("vxroute_service_host_nat_rules"), "5");
    EXPECT_EQ(p.samples.at("vxroute_service_host_nat_failures_total"), "2");
}

TEST(render_metrics, bounded_by_ports_and_workers) {
    // The label sets grow only with ports, queues and workers: twice the
    // ports give (about) twice the port series, nothing else changes.
    metrics_input in = sample_input(true);
    const size_t base = parse(render_metrics(in)).samples.size();
    const size_t port_series = [&] {
        size_t n = 0;
        for (const auto& [s, v] : parse(render_metrics(in)).samples) n += s.find("port=\"") != std::string::npos;
        return n;
    }();
    const auto ports = in.ports;
    for (auto p : ports) {
        p.name += "-2";
        in.ports.push_back(p);
    }
    EXPECT_EQ(parse(render_metrics(in)).samples.size(), base + port_series);
}

TEST(health, worker_watch_detects_a_stuck_worker) {
    worker_watch w;
    const auto t0 = worker_watch::clock::time_point{} + 100s;
    const std::vector<unsigned> lcores = {1, 2};
    w.observe({10, 20}, t0);
    EXPECT_EQ(w.stalled(lcores, t0), "");
    w.observe({11, 21}, t0 + 500ms);
    EXPECT_EQ(w.stalled(lcores, t0 + 1400ms), "") << "both moved 0.9 s ago";
    w.observe({12, 21}, t0 + 1400ms);  // worker 1 stops
    EXPECT_EQ(w.stalled(lcores, t0 + 1500ms), "") << "1.0 s is within the limit";
    EXPECT_EQ(w.stalled(lcores, t0 + 2000ms), "worker 1 (lcore 2): no progress for 1.5 s");
    w.observe({13, 22}, t0 + 2100ms);  // it moves again
    EXPECT_EQ(w.stalled(lcores, t0 + 2200ms), "");
}

TEST(health, readiness_reasons) {
    readiness_input in;
    in.uplink_name = "net_af_packet0";
    EXPECT_EQ(not_ready_reason(in), "uplink net_af_packet0: link down");
    in.uplink_up = true;
    EXPECT_EQ(not_ready_reason(in), "");
    in.missing_pods = {"pod-a", "pod-b"};
    EXPECT_EQ(not_ready_reason(in), "configured pod without a port: pod-a pod-b");
    in.missing_pods.clear();
    in.kubernetes = true;
    EXPECT_EQ(not_ready_reason(in), "kubernetes: sync not running");
    k8s_stats k;
    k.running = true;
    k.source = "kubeconfig /x -> https://10.0.0.1:6443";
    k.sync.last_error = "connect: refused\nretrying";
    k.sync.consecutive_errors = 1;
    in.k8s = k;
    EXPECT_EQ(not_ready_reason(in),
              "kubernetes: initial Node list not synced yet (kubeconfig /x -> https://10.0.0.1:6443); last error: "
              "connect: refused retrying");
    in.k8s->sync.consecutive_errors = 0;  // a success since: the old error is history
    EXPECT_EQ(not_ready_reason(in),
              "kubernetes: initial Node list not synced yet (kubeconfig /x -> https://10.0.0.1:6443)");
    in.k8s->sync.synced = true;
    EXPECT_NE(not_ready_reason(in), "") << "listed but its peers not yet applied";
    in.k8s->routes_programmed = true;
    EXPECT_EQ(not_ready_reason(in), "");
}

// --- the HTTP server on loopback -------------------------------------------

struct http_result {
    int status = 0;
    std::string head;
    std::string body;
};

// One request over a fresh connection (HTTP/1.0: the server closes after it).
http_result fetch(uint16_t port, const std::string& request) {
    http_result r;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        ::close(fd);
        return r;
    }
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    [[maybe_unused]] auto sent = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string all;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) all.append(buf, static_cast<size_t>(n));
    ::close(fd);
    auto split = all.find("\r\n\r\n");
    r.head = all.substr(0, split);
    r.body = split == std::string::npos ? "" : all.substr(split + 4);
    if (all.rfind("HTTP/1.", 0) == 0) r.status = std::stoi(all.substr(9, 3));
    return r;
}

class http : public testing::Test {
protected:
    void SetUp() override {
        auto r = server_.open({ipv4_addr{0x7f000001}, 0}, [this](std::string_view m, std::string_view p) {
            ++calls_;
            if (p == "/throw") throw std::runtime_error("boom");
            if (p != "/hello") return http_reply{404, "nope\n"};
            if (m != "GET" && m != "HEAD") return http_reply{405, "GET only\n"};
            return http_reply{200, "hello\n", "text/x-test"};
        });
        ASSERT_TRUE(r.ok()) << r.err();
        ASSERT_NE(server_.port(), 0);
        ASSERT_GE(server_.poll_fd(), 0) << "epoll mode gives one fd to wait on";
        loop_ = std::thread([this] {
            // The control loop's way: wait on the fd for at most the
            // server's timeout, then run it.
            while (!stop_) {
                pollfd p{server_.poll_fd(), POLLIN, 0};
                ::poll(&p, 1, server_.timeout_ms(10));
                server_.run();
            }
        });
    }
    void TearDown() override {
        stop_ = true;
        if (loop_.joinable()) loop_.join();
        server_.close();
    }
    http_server server_;
    std::thread loop_;
    std::atomic<bool> stop_{false};
    std::atomic<int> calls_{0};
};

TEST_F(http, serves_get_head_404_405_500) {
    auto r = fetch(server_.port(), "GET /hello?x=1 HTTP/1.0\r\n\r\n");
    EXPECT_EQ(r.status, 200) << r.head;
    EXPECT_EQ(r.body, "hello\n");
    EXPECT_NE(r.head.find("Content-Type: text/x-test"), std::string::npos) << r.head;
    r = fetch(server_.port(), "HEAD /hello HTTP/1.0\r\n\r\n");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "") << "HEAD has no body";
    r = fetch(server_.port(), "GET /other HTTP/1.0\r\n\r\n");
    EXPECT_EQ(r.status, 404);
    r = fetch(server_.port(), "POST /hello HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
    EXPECT_EQ(r.status, 405);
    EXPECT_NE(r.head.find("Allow: GET, HEAD"), std::string::npos) << r.head;
    r = fetch(server_.port(), "GET /throw HTTP/1.0\r\n\r\n");
    EXPECT_EQ(r.status, 500);
    EXPECT_NE(r.body.find("boom"), std::string::npos);
    // HTTP/1.1 keeps the connection: two requests on one connection (as a
    // scraper reuses its connection), both answered.
    r = fetch(server_.port(),
              "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.head.find("Connection: close"), std::string::npos) << "the first answer keeps the connection";
    EXPECT_NE(r.body.find("hello\nHTTP/1.1 200 OK\r\n"), std::string::npos) << r.body;
    EXPECT_EQ(calls_.load(), 7);
}

TEST_F(http, port_in_use_is_a_clear_error) {
    http_server other;
    const listen_address same{ipv4_addr{0x7f000001}, server_.port()};
    auto r = other.open(same, [](std::string_view, std::string_view) { return http_reply{}; });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err(), "cannot listen on " + same.str() + ": Address already in use");
}

TEST(http_server_open, closes_its_socket) {
    // After close() the port is free again (MHD closed the listen socket).
    http_server s;
    ASSERT_TRUE(s.open({ipv4_addr{0x7f000001}, 0}, [](std::string_view, std::string_view) { return http_reply{}; }));
    const uint16_t port = s.port();
    s.close();
    EXPECT_EQ(s.poll_fd(), -1);
    http_server again;
    auto r = again.open({ipv4_addr{0x7f000001}, port}, [](std::string_view, std::string_view) { return http_reply{}; });
    EXPECT_TRUE(r.ok()) << r.err();
}

}  // namespace
}  // namespace vxr::control
