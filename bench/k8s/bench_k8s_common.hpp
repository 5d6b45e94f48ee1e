// What the control-plane benchmarks measure with: a /proc/self/status field
// (VmRSS, VmHWM) and wall-clock nanoseconds comparable with the fixture's
// write_log stamps (time.time_ns() in apiserver.py).
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>

namespace vxr::bench {

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
