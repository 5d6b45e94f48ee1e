// Watch cache end to end against the fixture API server (issue 14; HTTPS on
// loopback, tests/k8s/fixture/apiserver.py serving all six resources):
//  1. initial sync: the fixture generates a cluster (scale 1 = 5,000 Nodes,
//     10,000 Services, 10,000 EndpointSlices of 5 endpoints, 100,000 Pods,
//     1,000 Namespaces, 2,000 NetworkPolicies); from cluster_sync creation
//     (run by sync_thread, as vxrouted does) to every watch_cache store synced
//     and its objects handed to the control thread: wall time, peak RSS
//     growth, and the CPU time of our process and of the Python fixture over
//     that interval (what bounds the wall time);
//  2. event -> handler latency: mixed upserts of Services, Pods and
//     EndpointSlices at a target rate, driven from several threads; the delay
//     from the fixture writing each stamped event (write_log, label
//     vxroute.bench/seq) to the watch_cache handler on a separate control
//     thread that calls poll() every ~1 ms: p50, p99, max, rate reached.
// Usage: bench_k8s_cache [scale=1] [rate=1000] [seconds=5] [threads=4]
// Prints figures and exits 0 (a benchmark, not a test).
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <curl/curl.h>
#include <rapidjson/document.h>

#include "common/log.hpp"
#include "control/k8s/cluster_sync.hpp"
#include "control/k8s/sync_thread.hpp"
#include "control/k8s/watch_cache.hpp"
#include "bench_k8s_common.hpp"
#include "fixture_server.hpp"

namespace k8s = vxr::control::k8s;
using clk = std::chrono::steady_clock;

namespace {

using vxr::bench::k_seq_label;
using vxr::bench::now_ns;
using vxr::bench::seq_of;
using vxr::bench::to_json;
using vxr::bench::vm_kb;

double secs(clk::duration d) { return std::chrono::duration<double>(d).count(); }

// CPU seconds (user + system) of this process, all threads.
double self_cpu() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// CPU seconds of our child processes still running (the Python fixture),
// from /proc/<pid>/stat: RUSAGE_CHILDREN only counts children reaped.
double children_cpu() {
    double total = 0;
    const long hz = sysconf(_SC_CLK_TCK);
    const pid_t self = getpid();
    DIR* d = opendir("/proc");
    if (!d) return -1;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
        std::string s;
        std::getline(f, s);
        auto rp = s.rfind(')');
        if (rp == std::string::npos) continue;
        std::istringstream in(s.substr(rp + 2));
        std::string state;
        long ppid = 0;
        in >> state >> ppid;
        if (ppid != self) continue;
        unsigned long long v = 0, ut = 0, st = 0;
        for (int field = 5; field <= 15; ++field) {  // fields 14, 15: utime, stime
            in >> v;
            if (field == 14) ut = v;
            if (field == 15) st = v;
        }
        total += static_cast<double>(ut + st) / hz;
    }
    closedir(d);
    return total;
}

size_t sink(char* p, size_t sz, size_t n, void* out) {
    static_cast<std::string*>(out)->append(p, sz * n);
    return sz * n;
}

// The fixture's cost alone: every page (limit=500, as the reflector asks) of
// a collection read by plain libcurl, bodies discarded unparsed. Returns
// {pages, bytes}; {0, 0} on an error.
std::pair<size_t, size_t> plain_list(const vxr::control::k8s::client_config& cfg, const std::string& path) {
    CURL* c = curl_easy_init();
    curl_slist* h = curl_slist_append(nullptr, "Authorization: Bearer token-1");
    std::string cont, body;
    size_t pages = 0, bytes = 0;
    for (;;) {
        std::string url = cfg.server + path + "?limit=500";
        if (!cont.empty()) {
            char* e = curl_easy_escape(c, cont.c_str(), static_cast<int>(cont.size()));
            url += std::string("&continue=") + e;
            curl_free(e);
        }
        body.clear();
        curl_easy_setopt(c, CURLOPT_URL, url.c_str());
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_CAINFO, cfg.ca_file.c_str());
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &sink);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        if (curl_easy_perform(c) != CURLE_OK) {
            pages = bytes = 0;
            break;
        }
        ++pages;
        bytes += body.size();
        // The list metadata comes first: {"kind":..,"metadata":{..,"continue":"..."
        auto head = body.substr(0, std::min<size_t>(body.size(), 1024));
        auto at = head.find("\"continue\":\"");
        if (at == std::string::npos || head.find("\"items\"") < at) break;
        at += 12;
        cont = head.substr(at, head.find('"', at) - at);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return {pages, bytes};
}

struct cluster_size {
    int nodes, services, slices, endpoints_per_slice, pods, namespaces, policies;
};

}  // namespace

int main(int argc, char** argv) {
    double scale = argc > 1 ? std::atof(argv[1]) : 1.0;
    int rate = argc > 2 ? std::atoi(argv[2]) : 1000;
    int seconds = argc > 3 ? std::atoi(argv[3]) : 5;
    int threads = argc > 4 ? std::atoi(argv[4]) : 4;
    vxr::log::set_level(vxr::log::level::warn);
    auto sc = [&](int n) { return std::max(1, static_cast<int>(n * scale + 0.5)); };
    cluster_size cs{sc(5000), sc(10000), sc(10000), 5, sc(100000), sc(1000), sc(2000)};

    auto& fx = vxr::test::shared_fixture();
    if (!fx.control("state").HasMember("counts")) {
        std::printf("this fixture serves Nodes only; bench_k8s_cache needs the one serving all six resources\n");
        return 0;
    }
    fx.control("config", R"({"max_chunk": 1})");  // the real API server writes whole events
    auto g0 = clk::now();
    // In steps: one control call must finish within the client's 20 s timeout.
    auto generate = [&](const char* res, int count, const std::string& extra) {
        for (int start = 0; start < count; start += 5000)
            fx.control("generate", std::string("{\"resource\": \"") + res + "\", \"start\": " +
                                       std::to_string(start) + ", \"count\": " +
                                       std::to_string(std::min(5000, count - start)) + extra + "}");
    };
    std::string ns = ", \"namespaces\": " + std::to_string(cs.namespaces);
    generate("nodes", cs.nodes, "");
    generate("namespaces", cs.namespaces, "");
    generate("services", cs.services, ns);
    generate("endpointslices", cs.slices, ns + ", \"n_endpoints\": " + std::to_string(cs.endpoints_per_slice));
    generate("pods", cs.pods, ns);
    generate("networkpolicies", cs.policies, ns);
    double gen_s = secs(clk::now() - g0);
    auto counts = fx.control("state");
    std::printf("cluster (scale %.3g): %d nodes, %d namespaces, %d services, %d endpointslices x %d endpoints, "
                "%d pods, %d networkpolicies; fixture generated it in %.1f s\n",
                scale, cs.nodes, cs.namespaces, cs.services, cs.slices, cs.endpoints_per_slice, cs.pods, cs.policies,
                gen_s);
    for (auto& m : counts["counts"].GetObject())
        std::printf("  fixture holds %-16s %d\n", m.name.GetString(), m.value.GetInt());

    // ---- 1. initial sync -------------------------------------------------------
    const std::vector<std::string> names{"services", "endpointslices", "pods", "namespaces", "networkpolicies"};
    long rss_before = vm_kb("VmRSS:");
    std::ofstream("/proc/self/clear_refs") << "5";  // reset VmHWM: fixture start-up must not hide our peak
    double cpu0 = self_cpu(), py0 = children_cpu();
    auto t0 = clk::now();
    k8s::sync_options opt;
    opt.node.self_name = "bench-self";
    auto created = k8s::cluster_sync::create(fx.client(), opt);
    if (!created) {
        std::fprintf(stderr, "%s\n", created.err().c_str());
        return 1;
    }
    auto cache_r = k8s::watch_cache::create(names);
    if (!cache_r) {
        std::fprintf(stderr, "%s\n", cache_r.err().c_str());
        return 1;
    }
    auto& cache = *cache_r;
    cache->attach(**created);

    // Handlers: count the changes, stamp the latency events.
    std::mutex mu;
    std::unordered_map<uint32_t, int64_t> received;  // seq -> handler time
    std::atomic<uint64_t> handled{0};
    auto stamp = [&](uint32_t seq) {
        if (!seq) return;
        int64_t t = now_ns();
        std::lock_guard lk(mu);
        received.emplace(seq, t);
    };
    cache->on_services([&](const auto& ch) {
        handled += ch.size();
        for (const auto& c : ch)
            if (c.after) stamp(seq_of(*c.after));
    });
    cache->on_pods([&](const auto& ch) {
        handled += ch.size();
        for (const auto& c : ch)
            if (c.after) stamp(seq_of(*c.after));
    });
    cache->on_endpointslices([&](const auto& ch) {
        handled += ch.size();
        for (const auto& c : ch)
            if (c.after) stamp(seq_of(*c.after));
    });
    cache->on_namespaces([&](const auto& ch) { handled += ch.size(); });
    cache->on_networkpolicies([&](const auto& ch) { handled += ch.size(); });

    k8s::sync_thread st(std::move(*created));
    st.start();

    // The control thread: poll() every ~1 ms, as vxrouted's loop does.
    std::atomic<bool> stop{false};
    std::atomic<int64_t> all_synced_at{0}, all_handed_at{0};
    const uint64_t expected = static_cast<uint64_t>(cs.services) + cs.slices + cs.pods + cs.namespaces + cs.policies;
    std::thread control([&] {
        auto next_status = clk::now();
        while (!stop) {
            cache->poll();
            st.drain();
            if (!all_synced_at && clk::now() >= next_status) {
                next_status = clk::now() + std::chrono::milliseconds(5);
                auto s = st.status();
                bool all = s.synced && s.caches.size() == names.size();
                for (const auto& c : s.caches) all = all && c.watch.synced;
                if (all) all_synced_at = (clk::now() - t0).count();
            }
            if (all_synced_at && !all_handed_at && handled >= expected) all_handed_at = (clk::now() - t0).count();
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    auto sync_deadline = clk::now() + std::chrono::minutes(10);
    while (!all_handed_at && clk::now() < sync_deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    double wall = secs(clk::now() - t0);
    double cpu = self_cpu() - cpu0, py = children_cpu() - py0;
    long hwm = vm_kb("VmHWM:");
    if (!all_handed_at) {
        std::printf("initial sync: NOT complete after %.0f s (%llu of %llu objects handed over)\n", wall,
                    static_cast<unsigned long long>(handled.load()), static_cast<unsigned long long>(expected));
    } else {
        std::printf("initial sync: all 6 watches synced in %.2f s, %llu objects handed to the control thread "
                    "at %.2f s\n",
                    std::chrono::duration<double>(clk::duration(all_synced_at.load())).count(),
                    static_cast<unsigned long long>(handled.load()),
                    std::chrono::duration<double>(clk::duration(all_handed_at.load())).count());
    }
    std::printf("  CPU over those %.2f s: vxroute (all threads) %.2f s, python fixture %.2f s\n", wall, cpu, py);
    std::printf("  memory: RSS before %ld KB, peak during sync %ld KB (+%.1f MB), after %ld KB\n", rss_before, hwm,
                (hwm - rss_before) / 1024.0, vm_kb("VmRSS:"));
    for (const auto& s : cache->stats())
        std::printf("  %-16s %7zu objects, %llu decode errors\n", s.name.c_str(), s.store.objects,
                    static_cast<unsigned long long>(s.store.decode_errors));

    // ---- 1b. what the fixture alone takes to serve those lists ------------------------
    {
        const char* paths[] = {"/api/v1/nodes", "/api/v1/namespaces", "/api/v1/services",
                               "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/pods",
                               "/apis/networking.k8s.io/v1/networkpolicies"};
        double py1 = children_cpu();
        auto p0 = clk::now();
        size_t pages = 0, bytes = 0;
        for (const char* p : paths) {
            auto [n, b] = plain_list(fx.client(), p);
            pages += n;
            bytes += b;
        }
        double plain = secs(clk::now() - p0);
        std::printf("  plain libcurl read of the same lists (one after another, unparsed): %zu pages, %.1f MB in "
                    "%.2f s; python fixture CPU %.2f s\n",
                    pages, bytes / 1e6, plain, children_cpu() - py1);
    }

    // ---- 2. event -> handler latency ------------------------------------------------
    // Templates: one generated object of each kind, restamped and renamed to
    // an existing object per event (a MODIFIED, as a rollout would send).
    struct kind {
        const char* res;
        int count;
        rapidjson::Document tmpl;
    };
    std::vector<kind> kinds;
    kinds.push_back({"services", cs.services, {}});
    kinds.push_back({"pods", cs.pods, {}});
    kinds.push_back({"endpointslices", cs.slices, {}});
    for (auto& k : kinds) {
        std::string key = std::string(k.res) == "services" ? "svc-0" : std::string(k.res) == "pods" ? "pod-0" : "";
        if (key.empty()) {  // the slice of svc-0 (objects.py names it <service>-<idx hex>)
            key = "svc-0-00000";
        }
        auto obj = fx.control("object", std::string("{\"resource\": \"") + k.res +
                                            "\", \"namespace\": \"ns-0\", \"name\": \"" + key + "\"}");
        if (!obj.IsObject()) {
            std::fprintf(stderr, "fixture has no %s ns-0/%s\n", k.res, key.c_str());
            return 0;
        }
        k.tmpl.CopyFrom(obj, k.tmpl.GetAllocator());
        k.tmpl["metadata"].RemoveMember("managedFields");  // keeps bodies small; decode ignores it
    }
    auto body_for = [&](int seq) {
        auto& k = kinds[seq % kinds.size()];
        // Objects named <prefix><j> live in ns-<j % namespaces>.
        int j = static_cast<int>((static_cast<int64_t>(seq) * 7919) % std::min(k.count, 5000));
        rapidjson::Document d;
        d.CopyFrom(k.tmpl, d.GetAllocator());
        auto& a = d.GetAllocator();
        auto& meta = d["metadata"];
        std::string nsname = "ns-" + std::to_string(j % cs.namespaces);
        std::string name = std::string(k.res) == "services" ? "svc-" + std::to_string(j)
                           : std::string(k.res) == "pods"   ? "pod-" + std::to_string(j)
                                                            : [&] {
                                                                  char b[64];
                                                                  std::snprintf(b, sizeof b, "svc-%d-%05x", j, j);
                                                                  return std::string(b);
                                                              }();
        meta["namespace"].SetString(nsname.c_str(), a);
        meta["name"].SetString(name.c_str(), a);
        if (!meta.HasMember("labels")) meta.AddMember("labels", rapidjson::Value(rapidjson::kObjectType), a);
        if (std::string(k.res) == "endpointslices")
            meta["labels"]["kubernetes.io/service-name"].SetString(("svc-" + std::to_string(j)).c_str(), a);
        std::string sv = std::to_string(seq);
        meta["labels"].RemoveMember(k_seq_label);
        meta["labels"].AddMember(rapidjson::Value(k_seq_label, a), rapidjson::Value(sv.c_str(), a), a);
        return std::string("{\"resource\": \"") + k.res + "\", \"object\": " + to_json(d) + "}";
    };

    {
        std::lock_guard lk(mu);
        received.clear();
    }
    fx.control("write_log");  // (only reads; the log holds nothing yet: no stamped events so far)
    const int events = rate * seconds;
    std::atomic<int> next_seq{1};
    std::atomic<int> sent{0}, failed{0};
    const auto start = clk::now() + std::chrono::milliseconds(50);
    const auto period = std::chrono::nanoseconds(1'000'000'000LL / std::max(1, rate));
    std::vector<std::thread> drivers;
    for (int t = 0; t < threads; ++t)
        drivers.emplace_back([&] {
            for (;;) {
                int seq = next_seq++;
                if (seq > events) return;
                std::this_thread::sleep_until(start + period * (seq - 1));  // open loop: the schedule, not the replies
                try {
                    fx.control("upsert", body_for(seq));
                    ++sent;
                } catch (const std::exception&) {
                    ++failed;
                }
            }
        });
    for (auto& d : drivers) d.join();
    double drive_s = secs(clk::now() - start);
    auto deadline = clk::now() + std::chrono::seconds(10);
    while (clk::now() < deadline) {
        {
            std::lock_guard lk(mu);
            if (received.size() >= static_cast<size_t>(sent)) break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop = true;
    control.join();
    st.stop();
    auto log = fx.control("write_log");
    std::vector<double> lat_ms;
    size_t logged = 0;
    for (const auto& e : log.GetArray()) {
        ++logged;
        auto it = received.find(static_cast<uint32_t>(e[0].GetInt()));
        if (it != received.end()) lat_ms.push_back(static_cast<double>(it->second - e[1].GetInt64()) / 1e6);
    }
    std::sort(lat_ms.begin(), lat_ms.end());
    auto pct = [&](double p) {
        return lat_ms.empty() ? 0.0 : lat_ms[std::min(lat_ms.size() - 1, static_cast<size_t>(p * lat_ms.size()))];
    };
    std::printf("watch: %d upserts (services/pods/endpointslices round robin) scheduled at %d/s from %d threads; "
                "%d sent in %.2f s = %.0f/s reached (%d failed); %zu events written, %zu matched to a handler call\n",
                events, rate, threads, sent.load(), drive_s, sent / drive_s, failed.load(), logged, lat_ms.size());
    std::printf("  event write -> watch_cache handler: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", pct(0.5), pct(0.99),
                lat_ms.empty() ? 0.0 : lat_ms.back());
    return 0;
}
