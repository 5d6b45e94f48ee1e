// Conformance driver for the Services compiler: reads cases as JSON lines on
// stdin ({"node": {"name", "ips"}, "node_port_range", "services": [v1
// Service...], "endpointslices": [v1 EndpointSlice...], "seed"}), decodes
// the objects with the real decoders, compiles them and prints one JSON line
// per case: {"frontends": [...], "invalid_fields": n, "incremental": "ok" |
// what went wrong}, or {"error": "..."} when an object does not decode.
//
// The objects are fed incrementally, in an order and with commits drawn from
// the case's seed, then a third of them removed and put back, and the
// deltas applied to a mirror: the mirror must equal frontends() at every
// commit, and the final frontends must be what one full compilation of
// the set gives (what run_model.py compares with the model).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include <rapidjson/document.h>

#include "common/log.hpp"
#include "control/k8s/objects.hpp"
#include "control/services/service_compiler.hpp"

namespace k8s = vxr::control::k8s;
namespace svc = vxr::control::services;

namespace {

using object = std::variant<std::shared_ptr<const k8s::service>, std::shared_ptr<const k8s::endpoint_slice>>;

struct runner {
    svc::service_compiler sc;
    std::map<svc::frontend_key, svc::frontend_ptr> mirror;
    std::string problem;

    void commit(const char* when) {
        auto d = sc.commit();
        for (const auto& k : d.removed)
            if (!mirror.erase(k) && problem.empty()) problem = std::string(when) + ": removed unknown " + k.str();
        for (const auto& f : d.added)
            if (!mirror.emplace(f->key, f).second && problem.empty())
                problem = std::string(when) + ": added twice " + f->key.str();
        for (const auto& f : d.changed) {
            auto it = mirror.find(f->key);
            if (it == mirror.end()) {
                if (problem.empty()) problem = std::string(when) + ": changed unknown " + f->key.str();
                continue;
            }
            it->second = f;
        }
        if (!problem.empty()) return;
        if (mirror.size() != sc.frontends().size()) {
            problem = std::string(when) + ": mirror has " + std::to_string(mirror.size()) + " frontends, view " +
                      std::to_string(sc.frontends().size());
            return;
        }
        for (const auto& [k, f] : sc.frontends()) {
            auto it = mirror.find(k);
            if (it == mirror.end() || !it->second->same_as(*f)) {
                problem = std::string(when) + ": a delta missed " + k.str();
                return;
            }
        }
    }
    void add(const object& o) {
        std::visit([&](const auto& p) { sc.upsert(p); }, o);
    }
    void remove(const object& o) {
        if (auto* s = std::get_if<0>(&o)) sc.remove_service((*s)->meta.key());
        else sc.remove_endpoint_slice(std::get<1>(o)->meta.key());
    }
};

std::string run_case(const rapidjson::Document& doc) {
    svc::compiler_config cfg;
    cfg.maglev.table_size = 251;  // many small tables: the model does not check slots
    const auto& node = doc["node"];
    cfg.node_name = node["name"].GetString();
    if (node.HasMember("ips"))
        for (const auto& v : node["ips"].GetArray()) cfg.node_ips.push_back(*vxr::ip_addr::parse(v.GetString()));
    if (doc.HasMember("node_port_range")) {
        auto r = svc::parse_node_port_range(doc["node_port_range"].GetString());
        if (!r) return "{\"error\":\"node_port_range\"}";
        cfg.node_ports = *r;
    }
    auto sc = svc::service_compiler::create(cfg);
    if (!sc) return "{\"error\":\"config\"}";
    runner r{std::move(*sc), {}, {}};

    std::vector<object> objs;
    auto fail = [](const std::string& e) {
        rapidjson::StringBuffer b;
        k8s::json_writer w(b);
        w.StartObject();
        w.Key("error");
        w.String(e.c_str());
        w.EndObject();
        return std::string(b.GetString());
    };
    if (doc.HasMember("services"))
        for (const auto& v : doc["services"].GetArray()) {
            auto s = k8s::decode_service(v);
            if (!s) return fail(s.err());
            objs.emplace_back(std::make_shared<const k8s::service>(std::move(*s)));
        }
    if (doc.HasMember("endpointslices"))
        for (const auto& v : doc["endpointslices"].GetArray()) {
            auto s = k8s::decode_endpoint_slice(v);
            if (!s) return fail(s.err());
            objs.emplace_back(std::make_shared<const k8s::endpoint_slice>(std::move(*s)));
        }

    std::mt19937 rng(doc.HasMember("seed") ? doc["seed"].GetUint() : 1);
    std::shuffle(objs.begin(), objs.end(), rng);
    for (const auto& o : objs) {
        r.add(o);
        if (rng() % 3 == 0) r.commit("adding");
    }
    r.commit("added");
    std::vector<object> gone;
    for (const auto& o : objs)
        if (rng() % 3 == 0) gone.push_back(o);
    for (const auto& o : gone) r.remove(o);
    r.commit("removed");
    std::shuffle(gone.begin(), gone.end(), rng);
    for (const auto& o : gone) r.add(o);
    r.commit("re-added");

    rapidjson::StringBuffer b;
    k8s::json_writer w(b);
    w.StartObject();
    w.Key("frontends");
    w.StartArray();
    for (const auto& [k, f] : r.sc.frontends()) {
        write_json(w, *f);
        if (!f->backends.empty() && (!f->maglev || f->maglev->keys().size() != f->backends.size()) &&
            r.problem.empty())
            r.problem = "maglev table does not match the backends of " + k.str();
    }
    w.EndArray();
    w.Key("invalid_fields");
    w.Uint64(r.sc.stats().invalid_fields);
    w.Key("incremental");
    w.String(r.problem.empty() ? "ok" : r.problem.c_str());
    w.EndObject();
    return b.GetString();
}

}  // namespace

int main() {
    // Warnings about invalid fields are expected in random cases: keep
    // stderr for real failures.
    vxr::log::set_level(vxr::log::level::error);
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line.empty()) continue;
        rapidjson::Document doc;
        doc.Parse(line.c_str());
        if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("node")) {
            std::cout << "{\"error\":\"bad case JSON\"}\n";
            continue;
        }
        std::cout << run_case(doc) << "\n";
    }
    return 0;
}
