// Writing JSON members with RapidJSON writers: one key and value per call,
// for the config serializer and the admin views.
#pragma once

#include <cstdint>
#include <string>

#include <rapidjson/rapidjson.h>

namespace vxr::control {

template <typename W>
void kv(W& w, const char* key, const std::string& value) {
    w.Key(key);
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

template <typename W>
void kv(W& w, const char* key, const char* value) {
    kv(w, key, std::string(value));
}

template <typename W>
void kv(W& w, const char* key, uint64_t value) {
    w.Key(key);
    w.Uint64(value);
}

}  // namespace vxr::control
