// End-to-end control-plane figures against the fixture API server (HTTPS on
// loopback, tests/k8s/fixture/apiserver.py):
//  1. initial sync: 5,000 real-sized Nodes (~4 KB each, 10 pages of 500)
//     from cluster_sync creation to the full peer set; wall time and peak RSS;
//  2. watch latency: 100 Node changes per second; the delay from the server
//     writing each event to the socket to our diff callback (p50/p99).
// Usage: bench_k8s_sync [nodes=5000] [seconds=5]
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/log.hpp"
#include "control/k8s/cluster_sync.hpp"
#include "bench_k8s_common.hpp"
#include "fixture_server.hpp"

namespace k8s = vxr::control::k8s;
using clk = std::chrono::steady_clock;

using vxr::bench::now_ns;
using vxr::bench::vm_kb;

int main(int argc, char** argv) {
    int nodes = argc > 1 ? std::atoi(argv[1]) : 5000;
    int seconds = argc > 2 ? std::atoi(argv[2]) : 5;
    vxr::log::set_level(vxr::log::level::warn);
    auto& fx = vxr::test::shared_fixture();
    fx.control("config", R"({"max_chunk": 1})");  // the real API server writes whole events
    fx.control("generate", "{\"count\": " + std::to_string(nodes) + "}");

    k8s::sync_options opt;
    opt.node.self_name = "bench-self";
    long rss_before = vm_kb("VmRSS:");
    // The peak so far (fixture start-up) must not hide ours: reset VmHWM.
    std::ofstream("/proc/self/clear_refs") << "5";
    auto t0 = clk::now();
    auto created = k8s::cluster_sync::create(fx.client(), opt);
    if (!created) {
        std::fprintf(stderr, "%s\n", created.err().c_str());
        return 1;
    }
    auto& sync = *created;
    std::mutex mu;
    std::unordered_map<uint32_t, int64_t> received;  // seq -> callback time
    size_t peers_added = 0;
    sync->set_diff_callback([&](const k8s::peer_diff& d) {
        peers_added += d.added.size();
        if (d.updated.empty()) return;
        int64_t t = now_ns();
        std::lock_guard lk(mu);
        for (const auto& u : d.updated) received.emplace(u.after.node_ip.value & 0xffffu, t);
    });
    while (!(sync->status().synced && sync->status().watch_connected)) sync->poll(10);
    double sync_ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count();
    long hwm = vm_kb("VmHWM:");
    std::printf("initial sync: %d nodes -> %zu peers in %.1f ms (%llu list pages)\n", nodes, sync->peers().size(),
                sync_ms, static_cast<unsigned long long>(fx.control("state")["pages"].GetInt()));
    std::printf("memory: RSS before %ld KB, peak during sync %ld KB (+%ld KB), after %ld KB\n", rss_before, hwm,
                hwm - rss_before, vm_kb("VmRSS:"));

    // Watch latency: the k8s side polls on its own thread, as in vxrouted.
    std::atomic<bool> stop{false};
    std::thread poller([&] {
        while (!stop) sync->poll(50);
    });
    int events = 100 * seconds;
    auto next = clk::now();
    for (int seq = 1; seq <= events; ++seq) {
        next += std::chrono::milliseconds(10);
        std::this_thread::sleep_until(next);
        int idx = (seq * 7919) % nodes;
        char body[256];
        std::snprintf(body, sizeof body,
                      R"({"name": "node-%d", "idx": %d, "public_ip": "100.64.%d.%d", )"
                      R"("extra_annotations": {"vxroute.bench/seq": "%d"}})",
                      idx, idx, seq >> 8, seq & 255, seq);
        fx.control("upsert", body);
    }
    auto deadline = clk::now() + std::chrono::seconds(5);
    while (clk::now() < deadline) {
        {
            std::lock_guard lk(mu);
            if (received.size() >= static_cast<size_t>(events)) break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop = true;
    sync->wakeup();
    poller.join();
    auto log = fx.control("write_log");
    std::vector<double> lat_ms;
    for (const auto& e : log.GetArray()) {
        auto it = received.find(static_cast<uint32_t>(e[0].GetInt()));
        if (it != received.end()) lat_ms.push_back(static_cast<double>(it->second - e[1].GetInt64()) / 1e6);
    }
    std::sort(lat_ms.begin(), lat_ms.end());
    auto pct = [&](double p) { return lat_ms.empty() ? 0.0 : lat_ms[std::min(lat_ms.size() - 1, size_t(p * lat_ms.size()))]; };
    std::printf("watch: %d changes at 100/s, %zu matched; event write -> diff callback: p50 %.2f ms, p99 %.2f ms, "
                "max %.2f ms\n",
                events, lat_ms.size(), pct(0.5), pct(0.99), lat_ms.empty() ? 0.0 : lat_ms.back());
    bool ok = sync_ms < 1000 && pct(0.99) < 10 && lat_ms.size() == static_cast<size_t>(events);
    std::printf("targets (sync < 1000 ms, p99 < 10 ms): %s\n", ok ? "met" : "NOT met");
    return 0;
}
