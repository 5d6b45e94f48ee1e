// Control-thread logging (never on a worker lcore): one line per event on
// stderr, prefixed with the program name and level.
#pragma once

#include <cstdio>

namespace vxr::log {

enum class level { debug, info, warn, error };
void set_level(level l);
void set_program(const char* name);
void write(level l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace vxr::log

#define VXR_LOG_DEBUG(...) ::vxr::log::write(::vxr::log::level::debug, __VA_ARGS__)
#define VXR_LOG_INFO(...) ::vxr::log::write(::vxr::log::level::info, __VA_ARGS__)
#define VXR_LOG_WARN(...) ::vxr::log::write(::vxr::log::level::warn, __VA_ARGS__)
#define VXR_LOG_ERROR(...) ::vxr::log::write(::vxr::log::level::error, __VA_ARGS__)
