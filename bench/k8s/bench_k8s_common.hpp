// What the control-plane benchmarks measure with: a /proc/self/status field
// (VmRSS, VmHWM), wall-clock nanoseconds comparable with the fixture's
// write_log stamps (time.time_ns() in apiserver.py), and the label that
// stamps an object for write_log.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace vxr::bench {

// The fixture logs when it writes an event of an object with this label
// (its value: the benchmark's sequence number).
inline constexpr const char* k_seq_label = "vxroute.bench/seq";

template <typename T>
uint32_t seq_of(const T& obj) {
    auto it = obj.meta.labels.find(k_seq_label);
    return it == obj.meta.labels.end() ? 0 : static_cast<uint32_t>(std::strtoul(it->second.c_str(), nullptr, 10));
}

inline std::string to_json(const rapidjson::Value& v) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    v.Accept(w);
    return sb.GetString();
}

inline long vm_kb(const char* field) {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::string(field).size()));
    return -1;
}

inline int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace vxr::bench
