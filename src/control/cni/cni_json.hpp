// RapidJSON helpers shared by the plugin's and vxrouted's halves of the CNI
// protocol (cni.cpp, cni_daemon.cpp, port_mappings.cpp).
#pragma once

#include <string>

#include <rapidjson/document.h>

namespace vxr::control::cni {

// d[key] as a string; empty when d is not an object or the member is absent
// or not a string.
inline std::string str_member(const rapidjson::Value& d, const char* key) {
    if (!d.IsObject()) return {};
    auto it = d.FindMember(key);
    return it != d.MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string();
}

}  // namespace vxr::control::cni
