// EndpointSlice change -> the workers' service table, with 10,000 Services
// (issue 17), through the fixture API server (tests/k8s/fixture/apiserver.py,
// HTTPS on loopback, real HTTP/JSON):
//  - the fixture generates the Services (ClusterIP; the first half with one
//    port, the second half with two) and one EndpointSlice of 10 ready
//    endpoints each (100,000 endpoints), spread over 10 Nodes none of which
//    is this node;
//  - a control thread runs what vxrouted's loop runs for it: wait on the
//    watch cache's eventfd (10 ms at most), watch_cache::poll() (the
//    service_proxy is attached to it), sync_thread::drain(),
//    service_proxy::poll() (compile, Maglev, service_table::build, the
//    publish callback, ending removed backends' flows, conntrack sweep), on
//    a dataplane with the default 1 Mi-entry conntrack;
//  - then, one at a time, N changes to one Service's slice (even: one ready
//    backend added, odd: one removed), each stamped with the label
//    vxroute.bench/seq, posted to the fixture (upsert, a MODIFIED event),
//    waited for in the publish callback: the table it is given must hold
//    the Service's port-80 frontend with that backend present (or absent),
//    and every frontend.
// Figures: post -> published and event written -> published (p50, p99,
// max), split into event written -> watch cache handler and handler ->
// published; and the control side's compute: service_proxy::poll() start ->
// publish callback (compile + Maglev + table build) and the whole poll()
// (also the conntrack scan for a removed backend's flows).
// Usage: bench_svc_latency [services=10000] [changes=200] [endpoints=10]
// Exits 1 when the initial table or a change is not seen, or a table
// misses frontends (it did not measure what it says).
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "common/log.hpp"
#include "control/k8s/cluster_sync.hpp"
#include "control/k8s/sync_thread.hpp"
#include "control/k8s/watch_cache.hpp"
#include "control/services/service_proxy.hpp"
#include "fastpath/dataplane.hpp"
#include "bench_k8s_common.hpp"
#include "fixture_server.hpp"

namespace k8s = vxr::control::k8s;
namespace svc = vxr::control::services;
namespace fp = vxr::fastpath;
using clk = std::chrono::steady_clock;
using vxr::bench::k_seq_label;
using vxr::bench::now_ns;
using vxr::bench::seq_of;
using vxr::bench::to_json;

namespace {

constexpr int k_nodes = 10;
constexpr int k_namespaces = 100;
constexpr int k_poll_ms = 10;  // vxrouted's control loop period (its wait's timeout)

// What the publish callback waits for.
struct expectation {
    uint32_t seq = 0;  // 0: none
    fp::svc_key key{};
    rte_be32_t backend = 0;
    bool present = true;
};

struct sample {
    int64_t posted = 0, handled = 0, published = 0;  // system clock ns
    double poll_to_publish_ms = 0;                   // service_proxy::poll() start -> publish callback
    double poll_ms = 0;                              // the whole poll()
    double build_ms = 0;                             // proxy_stats::last_build_ms
};

bool holds(const fp::service_table& t, const expectation& e) {
    const fp::svc_frontend* f = t.find(e.key);
    if (f == nullptr || f->all == nullptr) return false;
    bool found = false;
    for (const auto& b : f->all->backends) {
        rte_be32_t a;
        std::memcpy(&a, b.addr, 4);
        found = found || a == e.backend;
    }
    return found == e.present;
}

bool eal_up() {
    std::vector<std::string> args = {"bench", "-l", "0-1", "--no-pci", "--no-huge", "-m", "2048", "--no-shconf",
                                     "--file-prefix=vxrsvclat" + std::to_string(getpid()),
                                     "--log-level=lib.eal:error", "--no-telemetry"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        std::fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
        return false;
    }
    return true;
}

double pct(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

void print_dist(const char* what, const std::vector<double>& v) {
    std::printf("  %-58s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms\n", what, pct(v, 0.5), pct(v, 0.99),
                v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()));
}

}  // namespace

int main(int argc, char** argv) {
    const int n_services = argc > 1 ? std::atoi(argv[1]) : 10000;
    const int n_changes = argc > 2 ? std::atoi(argv[2]) : 200;
    const int n_endpoints = argc > 3 ? std::atoi(argv[3]) : 10;
    vxr::log::set_level(vxr::log::level::warn);
    if (!eal_up()) return 1;

    fp::dataplane dp;
    if (auto r = dp.init({1, 1024, 1024, 0}); !r) {
        std::fprintf(stderr, "dataplane: %s\n", r.err().c_str());
        return 1;
    }
    if (auto r = dp.enable_services(fp::ct_params{}); !r) {  // vxrouted's default conntrack_max, 1 Mi
        std::fprintf(stderr, "%s\n", r.err().c_str());
        return 1;
    }

    // ---- the cluster ------------------------------------------------------------
    auto& fx = vxr::test::shared_fixture();
    fx.control("config", R"({"max_chunk": 1})");  // whole events per write, as the real API server
    auto g0 = clk::now();
    const int half = n_services / 2;
    auto generate = [&](const char* res, int start, int count, const std::string& extra) {
        for (int s = start; s < start + count; s += 1000)  // one control call stays within 20 s, loaded
            fx.control("generate", std::string("{\"resource\": \"") + res + "\", \"start\": " + std::to_string(s) +
                                       ", \"count\": " + std::to_string(std::min(1000, start + count - s)) +
                                       ", \"namespaces\": " + std::to_string(k_namespaces) + extra + "}");
    };
    fx.control("generate", R"({"resource": "nodes", "count": 10})");
    fx.control("generate", R"({"resource": "namespaces", "count": 100})");
    generate("services", 0, half, R"(, "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}])");
    generate("services", half, n_services - half, "");  // http 80 and metrics 9102
    generate("endpointslices", 0, n_services,
             ", \"n_endpoints\": " + std::to_string(n_endpoints) + ", \"nodes\": " + std::to_string(k_nodes));
    const size_t want_frontends = static_cast<size_t>(half) + 2u * static_cast<size_t>(n_services - half);
    std::printf("cluster: %d Services (ClusterIP; %d with 1 port, %d with 2: %zu frontends), %d EndpointSlices x %d "
                "ready endpoints on %d other nodes; fixture generated it in %.1f s\n",
                n_services, half, n_services - half, want_frontends, n_services, n_endpoints, k_nodes,
                std::chrono::duration<double>(clk::now() - g0).count());

    // ---- the control side -----------------------------------------------------
    std::mutex mu;
    std::condition_variable cv;
    expectation want;
    sample cur;
    bool seen = false;
    size_t short_tables = 0;  // published tables missing frontends once the initial one was whole
    bool whole = false;
    int64_t poll_started = 0;
    svc::compiler_config cc;
    cc.node_name = "bench-self";  // no endpoint is local: no local Maglev tables
    cc.node_ips = {*vxr::ip_addr::parse("192.168.0.1")};
    auto created_proxy = svc::service_proxy::create(cc, dp, [&](std::shared_ptr<const fp::service_table> t) {
        const int64_t now = now_ns();
        std::lock_guard lk(mu);
        if (t->size() == want_frontends) whole = true;
        else if (whole) ++short_tables;
        if (want.seq != 0 && !seen && holds(*t, want)) {
            seen = true;
            cur.published = now;
            cur.poll_to_publish_ms = static_cast<double>(now - poll_started) / 1e6;
        }
        cv.notify_all();
    });
    if (!created_proxy) {
        std::fprintf(stderr, "%s\n", created_proxy.err().c_str());
        return 1;
    }
    auto& proxy = *created_proxy;

    k8s::sync_options opt;
    opt.node.self_name = "bench-self";
    auto created = k8s::cluster_sync::create(fx.client(), opt);
    auto cache_r = k8s::watch_cache::create({"services", "endpointslices"});
    if (!created || !cache_r) {
        std::fprintf(stderr, "%s\n", !created ? created.err().c_str() : cache_r.err().c_str());
        return 1;
    }
    auto& cache = *cache_r;
    cache->attach(**created);
    proxy->attach(*cache);
    cache->on_endpointslices([&](const k8s::changes<k8s::endpoint_slice>& ch) {  // after the proxy's handler
        for (const auto& c : ch) {
            if (!c.after) continue;
            const uint32_t seq = seq_of(*c.after);
            std::lock_guard lk(mu);
            if (seq != 0 && seq == want.seq) cur.handled = now_ns();
        }
    });
    k8s::sync_thread st(std::move(*created));
    const auto t_sync = clk::now();
    st.start();

    std::atomic<bool> stop{false};
    std::thread control([&] {
        pollfd pfd{cache->notify_fd(), POLLIN, 0};
        uint64_t published = proxy->stats().tables_published;
        while (!stop) {
            ::poll(&pfd, 1, k_poll_ms);
            cache->poll();
            st.drain();
            const int64_t t0 = now_ns();
            {
                std::lock_guard lk(mu);
                poll_started = t0;
            }
            proxy->poll();
            if (proxy->stats().tables_published != published) {
                published = proxy->stats().tables_published;
                std::lock_guard lk(mu);
                if (seen && cur.poll_ms == 0) {
                    cur.poll_ms = static_cast<double>(now_ns() - t0) / 1e6;
                    cur.build_ms = proxy->stats().last_build_ms;
                    cv.notify_all();
                }
            }
        }
    });
    auto finish = [&](int rc) {
        stop = true;
        control.join();
        st.stop();
        return rc;
    };

    {
        std::unique_lock lk(mu);
        if (!cv.wait_for(lk, std::chrono::minutes(5), [&] { return whole; })) {
            std::printf("FAILED: no table with all %zu frontends within 5 minutes\n", want_frontends);
            lk.unlock();
            return finish(1);
        }
    }
    std::printf("initial sync: the first table with all %zu frontends published %.2f s after the sync thread "
                "started (%llu tables on the way; last build %.0f ms)\n",
                want_frontends, std::chrono::duration<double>(clk::now() - t_sync).count(),
                static_cast<unsigned long long>(proxy->stats().tables_published), proxy->stats().last_build_ms);
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the sync's tail settles

    // ---- the changes ------------------------------------------------------------------
    std::vector<sample> samples;
    for (int i = 1; i <= n_changes; ++i) {
        // A different Service each time (7919 is coprime with 10,000), both
        // halves (one and two ports).
        const int j = static_cast<int>((static_cast<int64_t>(i) * 7919) % n_services);
        const std::string ns = "ns-" + std::to_string(j % k_namespaces);
        char slice_name[64];
        std::snprintf(slice_name, sizeof slice_name, "svc-%d-%05x", j, j & 0xfffff);
        auto obj = fx.control("object", "{\"resource\": \"endpointslices\", \"namespace\": \"" + ns +
                                            "\", \"name\": \"" + slice_name + "\"}");
        auto svc_obj = fx.control("object", "{\"resource\": \"services\", \"namespace\": \"" + ns +
                                                "\", \"name\": \"svc-" + std::to_string(j) + "\"}");
        if (!obj.IsObject() || !svc_obj.IsObject()) {
            std::printf("FAILED: the fixture has no %s/%s or its Service\n", ns.c_str(), slice_name);
            return finish(1);
        }
        auto& a = obj.GetAllocator();
        obj["metadata"].RemoveMember("managedFields");
        auto& eps = obj["endpoints"];
        expectation e;
        e.seq = static_cast<uint32_t>(i);
        in_addr cip{};
        inet_pton(AF_INET, svc_obj["spec"]["clusterIP"].GetString(), &cip);
        e.key = fp::svc_key_v4(cip.s_addr, htons(80), IPPROTO_TCP);
        e.present = i % 2 == 1;
        std::string addr;
        if (e.present) {  // one more ready endpoint, in a range no generated one uses
            addr = "10.250." + std::to_string(j / 250) + "." + std::to_string(j % 250 + 1);
            rapidjson::Value ep;
            ep.CopyFrom(eps[0], a);
            ep["addresses"][0].SetString(addr.c_str(), a);
            ep["targetRef"]["name"].SetString(("added-" + std::to_string(j)).c_str(), a);
            eps.PushBack(ep, a);
        } else {
            addr = eps[eps.Size() - 1]["addresses"][0].GetString();
            eps.PopBack();
        }
        in_addr b{};
        inet_pton(AF_INET, addr.c_str(), &b);
        e.backend = b.s_addr;
        auto& labels = obj["metadata"]["labels"];
        labels.RemoveMember(k_seq_label);
        labels.AddMember(rapidjson::Value(k_seq_label, a), rapidjson::Value(std::to_string(i).c_str(), a), a);
        const std::string body = "{\"resource\": \"endpointslices\", \"object\": " + to_json(obj) + "}";
        {
            std::lock_guard lk(mu);
            want = e;
            cur = sample{};
            seen = false;
            cur.posted = now_ns();
        }
        fx.control("upsert", body);
        std::unique_lock lk(mu);
        if (!cv.wait_for(lk, std::chrono::seconds(10), [&] { return seen && cur.poll_ms != 0; })) {
            std::printf("FAILED: change %d (%s %s in %s/%s) not in a published table within 10 s\n", i,
                        e.present ? "add" : "remove", addr.c_str(), ns.c_str(), slice_name);
            lk.unlock();
            return finish(1);
        }
        samples.push_back(cur);
        want = expectation{};
        lk.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // one change at a time
    }
    const uint64_t tables = proxy->stats().tables_published;
    finish(0);

    auto log = fx.control("write_log");
    std::vector<int64_t> written(samples.size() + 1, 0);
    for (const auto& e : log.GetArray()) {
        const auto s = static_cast<size_t>(e[0].GetInt());
        if (s < written.size()) written[s] = e[1].GetInt64();
    }
    std::vector<double> post_pub, write_pub, write_handler, handler_pub, to_publish, whole_poll, build;
    size_t unmatched = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
        const sample& s = samples[i];
        const int64_t w = written[i + 1];
        auto ms = [](int64_t d) { return static_cast<double>(d) / 1e6; };
        post_pub.push_back(ms(s.published - s.posted));
        if (w == 0 || s.handled == 0) {
            ++unmatched;
            continue;
        }
        write_pub.push_back(ms(s.published - w));
        write_handler.push_back(ms(s.handled - w));
        handler_pub.push_back(ms(s.published - s.handled));
        to_publish.push_back(s.poll_to_publish_ms);
        whole_poll.push_back(s.poll_ms);
        build.push_back(s.build_ms);
    }
    std::printf("changes: %zu EndpointSlice changes (add / remove one backend, alternately), one at a time; "
                "%zu with a fixture write stamp and a handler stamp; %llu tables published in all; "
                "%zu tables short of frontends\n",
                samples.size(), samples.size() - unmatched, static_cast<unsigned long long>(tables), short_tables);
    print_dist("upsert posted to the fixture -> published table holds it", post_pub);
    print_dist("event written on the watch -> published table holds it", write_pub);
    print_dist("  event written -> watch_cache handler", write_handler);
    print_dist("  handler -> published", handler_pub);
    print_dist("control compute: proxy poll() start -> publish callback", to_publish);
    print_dist("  proxy_stats::last_build_ms (compile .. flows ended)", build);
    print_dist("  the whole proxy poll()", whole_poll);
    if (unmatched != 0 || short_tables != 0) {
        std::printf("FAILED: %zu changes without stamps, %zu short tables\n", unmatched, short_tables);
        return 1;
    }
    return 0;
}
