#include "control/k8s/watch_cache.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

namespace vxr::control::k8s {

watch_cache::~watch_cache() {
    if (event_fd_ >= 0) ::close(event_fd_);
}

result<std::unique_ptr<watch_cache>> watch_cache::create(const std::vector<std::string>& names) {
    auto c = std::make_unique<watch_cache>();
    c->event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->event_fd_ < 0) return make_error("k8s: eventfd for the watch cache failed");
    auto notify = [fd = c->event_fd_] {
        uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);
    };
    for (const auto& n : names) {
        bool known = false;
#define VXR_K8S_STORE(id, type, decode, plural, kind, path)                     \
    if (n == plural) {                                                          \
        known = true;                                                           \
        if (!c->id##_) c->id##_ = std::make_unique<object_store<type>>(kind, &decode); \
        c->id##_->set_notify(notify);                                           \
    }
        VXR_K8S_CACHED_RESOURCES(VXR_K8S_STORE)
#undef VXR_K8S_STORE
        if (!known) return make_error("k8s: cannot watch unknown resource \"" + n + "\"");
    }
    return c;
}

void watch_cache::attach(cluster_sync& s) {
#define VXR_K8S_STORE(id, type, decode, plural, kind, path) \
    if (id##_) s.add_watch(resource_spec{plural, kind, path, {}, {}}, *id##_);
    VXR_K8S_CACHED_RESOURCES(VXR_K8S_STORE)
#undef VXR_K8S_STORE
}

void watch_cache::poll() {
    // Cleared before taking: a change that arrives meanwhile sets it again.
    uint64_t v;
    [[maybe_unused]] auto n = ::read(event_fd_, &v, sizeof v);
#define VXR_K8S_STORE(id, type, decode, plural, kind, path) \
    if (id##_) {                                            \
        auto ch = id##_->take();                            \
        if (!ch.empty())                                    \
            for (auto& h : id##_handlers_) h(ch);           \
    }
    VXR_K8S_CACHED_RESOURCES(VXR_K8S_STORE)
#undef VXR_K8S_STORE
}

std::vector<std::string> watch_cache::names() const {
    std::vector<std::string> out;
#define VXR_K8S_STORE(id, type, decode, plural, kind, path) \
    if (id##_) out.emplace_back(plural);
    VXR_K8S_CACHED_RESOURCES(VXR_K8S_STORE)
#undef VXR_K8S_STORE
    return out;
}

std::vector<watch_cache::resource_stats> watch_cache::stats() const {
    std::vector<resource_stats> out;
#define VXR_K8S_STORE(id, type, decode, plural, kind, path) \
    if (id##_) out.push_back({plural, id##_->stats()});
    VXR_K8S_CACHED_RESOURCES(VXR_K8S_STORE)
#undef VXR_K8S_STORE
    return out;
}

namespace {

template <typename T>
std::string array_of(const object_store<T>& s) {
    rapidjson::StringBuffer sb;
    json_writer w(sb);
    w.StartArray();
    for (const auto& [key, obj] : s.view()) write_json(w, *obj);
    w.EndArray();
    return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace

result<std::string> watch_cache::show(std::string_view name) const {
#define VXR_K8S_STORE(id, type, decode, plural, kind, path)                                                 \
    if (name == plural) {                                                                                  \
        if (!id##_) return make_error(std::string(plural) + " are not watched (add \"" plural "\" to kubernetes.watch)"); \
        return array_of(*id##_);                                                                           \
    }
    VXR_K8S_CACHED_RESOURCES(VXR_K8S_STORE)
#undef VXR_K8S_STORE
    std::string names;
    for (auto n : k_cached_resource_names) names += (names.empty() ? "" : ", ") + std::string(n);
    return make_error("unknown resource \"" + std::string(name) + "\" (one of " + names + ")");
}

}  // namespace vxr::control::k8s
