// Loading and editing the recorded objects in tests/k8s/data for the
// decoder tests (test_k8s_decode*.cpp).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include "common/ip.hpp"
#include "control/k8s/objects.hpp"

namespace decode_test {

namespace k8s = vxr::control::k8s;
using vxr::ip_addr;
using vxr::ip_prefix;

inline rapidjson::Document load(const std::string& file) {
    std::ifstream f(VXR_K8S_TEST_DATA "/" + file);
    std::stringstream ss;
    ss << f.rdbuf();
    rapidjson::Document d;
    d.Parse(ss.str().c_str());
    EXPECT_FALSE(d.HasParseError()) << file;
    return d;
}

// One item of a List file, copied out so a test can change it.
inline rapidjson::Document load_item(const std::string& file, const std::string& name) {
    auto list = load(file);
    rapidjson::Document d;
    for (const auto& i : list["items"].GetArray())
        if (name == i["metadata"]["name"].GetString()) d.CopyFrom(i, d.GetAllocator());
    EXPECT_TRUE(d.IsObject()) << name << " not in " << file;
    return d;
}

inline rapidjson::Document parse(const std::string& json) {
    rapidjson::Document d;
    d.Parse(json.c_str());
    EXPECT_FALSE(d.HasParseError()) << json;
    return d;
}

// Replaces the value at a JSON pointer with a JSON fragment.
inline void set(rapidjson::Document& d, const char* pointer, const std::string& json) {
    rapidjson::Document frag = parse(json);
    rapidjson::Pointer(pointer).Set(d, rapidjson::Value(frag, d.GetAllocator()));
}

inline void erase(rapidjson::Document& d, const char* pointer) {
    ASSERT_TRUE(rapidjson::Pointer(pointer).Erase(d)) << pointer;
}

inline ip_addr ip(const char* s) { return ip_addr::parse(s).value(); }
inline ip_prefix pfx(const char* s) { return ip_prefix::parse(s).value(); }
inline std::vector<ip_addr> ips(std::initializer_list<const char*> l) {
    std::vector<ip_addr> v;
    for (auto s : l) v.push_back(ip(s));
    return v;
}

template <typename T>
T must(vxr::result<T> r) {
    if (!r.ok()) ADD_FAILURE() << r.err();
    return r.ok() ? std::move(*r) : T{};
}

inline k8s::port_ref num(uint16_t n) { return {n, {}}; }
inline k8s::port_ref named(const char* s) { return {0, s}; }

inline k8s::network_policy policy(const char* name) {
    return must(k8s::decode_network_policy(load_item("networkpolicies.json", name)));
}

inline k8s::label_map labels(std::initializer_list<std::pair<const std::string, std::string>> l) { return l; }

}  // namespace decode_test
