#include "common/log.hpp"

#include <cstdarg>
#include <ctime>

namespace vxr::log {
namespace {
level g_level = level::info;
const char* g_program = "vxroute";
const char* name(level l) {
    switch (l) {
        case level::debug: return "debug";
        case level::info: return "info";
        case level::warn: return "warn";
        case level::error: return "error";
    }
    return "?";
}
}  // namespace

void set_level(level l) { g_level = l; }
void set_program(const char* n) { g_program = n; }

void write(level l, const char* fmt, ...) {
    if (l < g_level) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    std::fprintf(stderr, "%s: %s: %s\n", g_program, name(l), msg);
}

}  // namespace vxr::log
