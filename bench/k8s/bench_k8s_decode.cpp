// Decode throughput of the watch cache's five decoders (issue 14), no network:
//  - parse_decode/<kind>: rapidjson parse of one object's compact JSON +
//    decode_<kind>, as object_store does for every listed or watched object
//    (the reflector parses a whole page or event; per object it is the same);
//  - decode/<kind>: decode alone, on an already parsed document.
// Inputs: the recorded objects of tests/k8s/data (real API server output,
// managedFields included), one benchmark per kind cycling over all of that
// kind's files; pod_generated is the ~4.7 KB Pod of tests/k8s/fixture/objects.py
// (the one the fixture serves in bulk). Reported per object (items/s) and
// per JSON byte (bytes/s).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/log.hpp"
#include "control/k8s/objects.hpp"

namespace k8s = vxr::control::k8s;

namespace {

std::string compact(const rapidjson::Value& v) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    v.Accept(w);
    return sb.GetString();
}

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    if (!f) {
        std::fprintf(stderr, "cannot read %s\n", path.c_str());
        std::exit(1);
    }
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Compact JSON of each object in the files (a List contributes its items).
std::vector<std::string> recorded(const std::vector<std::string>& files) {
    std::vector<std::string> out;
    for (const auto& f : files) {
        rapidjson::Document d;
        std::string text = slurp(std::string(VXR_K8S_TEST_DATA) + "/" + f);
        d.Parse(text.c_str());
        if (d.HasMember("items"))
            for (const auto& it : d["items"].GetArray()) out.push_back(compact(it));
        else
            out.push_back(compact(d));
    }
    return out;
}

// The fixture generator's sample Pods (`python3 objects.py`, one object a line).
std::vector<std::string> generated_pods() {
    std::string cmd = std::string(VXR_PYTHON) + " " + VXR_K8S_FIXTURE_DIR "/objects.py";
    std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
    std::vector<std::string> out;
    if (!p) return out;
    std::string line;
    char buf[65536];
    while (std::fgets(buf, sizeof buf, p.get())) {
        line += buf;
        if (line.empty() || line.back() != '\n') continue;
        line.pop_back();
        rapidjson::Document d;
        d.Parse(line.c_str());
        if (!d.HasParseError() && d.IsObject() && d.HasMember("kind") && std::string(d["kind"].GetString()) == "Pod")
            out.push_back(compact(d));
        line.clear();
    }
    return out;
}

template <typename Decode>
void register_kind(const std::string& name, std::vector<std::string> objs, Decode decode) {
    if (objs.empty()) {
        std::fprintf(stderr, "no input for %s\n", name.c_str());
        std::exit(1);
    }
    auto shared = std::make_shared<std::vector<std::string>>(std::move(objs));
    size_t total = 0;
    for (const auto& s : *shared) total += s.size();
    std::fprintf(stderr, "%-22s %zu object(s), %zu bytes on average\n", name.c_str(), shared->size(),
                 total / shared->size());
    // Every input must decode: a benchmark of the error path would flatter.
    for (const auto& s : *shared) {
        rapidjson::Document d;
        d.Parse(s.data(), s.size());
        auto r = decode(d);
        if (!r) {
            std::fprintf(stderr, "%s: input does not decode: %s\n", name.c_str(), r.err().c_str());
            std::exit(1);
        }
    }

    benchmark::RegisterBenchmark(("parse_decode/" + name).c_str(), [shared, decode](benchmark::State& st) {
        size_t bytes = 0, i = 0;
        for (auto _ : st) {
            const auto& s = (*shared)[i++ % shared->size()];
            rapidjson::Document d;
            d.Parse(s.data(), s.size());
            auto r = decode(d);
            benchmark::DoNotOptimize(r);
            bytes += s.size();
        }
        st.SetItemsProcessed(st.iterations());
        st.SetBytesProcessed(static_cast<int64_t>(bytes));
    });

    benchmark::RegisterBenchmark(("decode/" + name).c_str(), [shared, decode](benchmark::State& st) {
        std::vector<rapidjson::Document> docs(shared->size());
        for (size_t k = 0; k < docs.size(); ++k) docs[k].Parse((*shared)[k].data(), (*shared)[k].size());
        size_t bytes = 0, i = 0;
        for (auto _ : st) {
            size_t k = i++ % docs.size();
            auto r = decode(docs[k]);
            benchmark::DoNotOptimize(r);
            bytes += (*shared)[k].size();
        }
        st.SetItemsProcessed(st.iterations());
        st.SetBytesProcessed(static_cast<int64_t>(bytes));
    });

    benchmark::RegisterBenchmark(("parse_only/" + name).c_str(), [shared](benchmark::State& st) {
        size_t bytes = 0, i = 0;
        for (auto _ : st) {
            const auto& s = (*shared)[i++ % shared->size()];
            rapidjson::Document d;
            d.Parse(s.data(), s.size());
            benchmark::DoNotOptimize(d.IsObject());
            bytes += s.size();
        }
        st.SetItemsProcessed(st.iterations());
        st.SetBytesProcessed(static_cast<int64_t>(bytes));
    });
}

}  // namespace

int main(int argc, char** argv) {
    vxr::log::set_level(vxr::log::level::warn);
    register_kind("service",
                  recorded({"service_clusterip.json", "service_dualstack.json", "service_externalname.json",
                            "service_headless.json", "service_loadbalancer.json", "service_nodeport_local.json",
                            "service_proxy_name.json"}),
                  [](const rapidjson::Value& v) { return k8s::decode_service(v); });
    register_kind("endpointslice", recorded({"endpointslice_web.json", "endpointslice_ipv6.json"}),
                  [](const rapidjson::Value& v) { return k8s::decode_endpoint_slice(v); });
    register_kind("pod_recorded", recorded({"pod_web.json", "pod_host_network.json"}),
                  [](const rapidjson::Value& v) { return k8s::decode_pod(v); });
    register_kind("pod_generated", generated_pods(), [](const rapidjson::Value& v) { return k8s::decode_pod(v); });
    register_kind("namespace", recorded({"namespace_shop.json"}),
                  [](const rapidjson::Value& v) { return k8s::decode_namespace(v); });
    register_kind("networkpolicy", recorded({"networkpolicies.json"}),
                  [](const rapidjson::Value& v) { return k8s::decode_network_policy(v); });
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
