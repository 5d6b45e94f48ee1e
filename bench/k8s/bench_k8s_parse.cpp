// In-memory cost of the Node pipeline (no network): 5,000 real-sized Nodes
// as 10 NodeList pages of 500 -> parse -> classify -> peer set by diff.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/log.hpp"
#include "control/k8s/line_splitter.hpp"
#include "control/k8s/node_parse.hpp"
#include "control/k8s/peer_table.hpp"

namespace k8s = vxr::control::k8s;

namespace {

constexpr int k_nodes = 5000;
constexpr int k_page = 500;

std::string node_json(int i) {
    static const std::string tmpl = [] {
        std::ifstream f(VXR_K8S_TEST_DATA "/node_flannel.json");
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }();
    rapidjson::Document d;
    d.Parse(tmpl.c_str());
    auto& a = d.GetAllocator();
    char buf[128];
    std::snprintf(buf, sizeof buf, "node-%d", i);
    d["metadata"]["name"].SetString(buf, a);
    auto& ann = d["metadata"]["annotations"];
    std::snprintf(buf, sizeof buf, R"({"VNI":1,"VtepMAC":"0a:58:00:00:%02x:%02x"})", (i >> 8) & 255, i & 255);
    ann["flannel.alpha.coreos.com/backend-data"].SetString(buf, a);
    std::snprintf(buf, sizeof buf, "10.200.%d.%d", i >> 8, i & 255);
    ann["flannel.alpha.coreos.com/public-ip"].SetString(buf, a);
    std::snprintf(buf, sizeof buf, "10.%d.%d.0/24", 64 + (i >> 8), i & 255);
    d["spec"]["podCIDR"].SetString(buf, a);
    d["spec"]["podCIDRs"][0].SetString(buf, a);
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    d.Accept(w);
    return sb.GetString();
}

const std::vector<std::string>& pages() {
    static const std::vector<std::string> p = [] {
        std::vector<std::string> out;
        for (int start = 0; start < k_nodes; start += k_page) {
            std::string s = R"({"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[)";
            for (int i = start; i < start + k_page; ++i) {
                if (i > start) s += ',';
                s += node_json(i);
            }
            out.push_back(s + "]}");
        }
        return out;
    }();
    return p;
}

std::vector<k8s::node_info> parse_all(const k8s::node_options& o) {
    std::vector<k8s::node_info> infos;
    infos.reserve(k_nodes);
    for (const auto& page : pages()) {
        rapidjson::Document d;
        d.Parse(page.data(), page.size());
        for (const auto& item : d["items"].GetArray()) infos.push_back(std::move(*k8s::classify_node(item, o)));
    }
    return infos;
}

void bm_initial_list(benchmark::State& st) {
    vxr::log::set_level(vxr::log::level::warn);
    k8s::node_options o;
    o.self_name = "self";
    size_t bytes = 0;
    for (const auto& p : pages()) bytes += p.size();
    for (auto _ : st) {
        k8s::peer_table t;
        auto diff = t.replace_all(parse_all(o));
        if (diff.added.size() != k_nodes) st.SkipWithError("wrong peer count");
        benchmark::DoNotOptimize(diff);
    }
    st.SetBytesProcessed(static_cast<int64_t>(bytes * st.iterations()));
    st.counters["nodes"] = k_nodes;
}
BENCHMARK(bm_initial_list)->Unit(benchmark::kMillisecond);

void bm_relist_unchanged(benchmark::State& st) {
    k8s::node_options o;
    o.self_name = "self";
    k8s::peer_table t;
    t.replace_all(parse_all(o));
    for (auto _ : st) {
        auto diff = t.replace_all(parse_all(o));
        if (!diff.empty()) st.SkipWithError("relist of the same set produced a diff");
    }
}
BENCHMARK(bm_relist_unchanged)->Unit(benchmark::kMillisecond);

// One MODIFIED event through the splitter, the parser and the table.
void bm_watch_event(benchmark::State& st) {
    k8s::node_options o;
    o.self_name = "self";
    k8s::peer_table t;
    t.replace_all(parse_all(o));
    std::string ev = R"({"type":"MODIFIED","object":)" + node_json(17) + "}\n";
    k8s::line_splitter s;
    for (auto _ : st) {
        s.feed(ev, [&](std::string_view line) {
            rapidjson::Document d;
            d.Parse(line.data(), line.size());
            k8s::peer_diff diff;
            t.upsert(*k8s::classify_node(d["object"], o), diff);
            benchmark::DoNotOptimize(diff);
        });
    }
}
BENCHMARK(bm_watch_event)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
