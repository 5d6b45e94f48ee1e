// The watch cache: one object_store per resource the configuration names
// (kubernetes.watch), each fed by its own reflector on the k8s sync thread.
// The control thread calls poll() once per loop turn: every store's changes
// since the last turn go, coalesced per object, to the handlers registered
// for that resource (the Services and policy compilers), and view() is the
// cache as of that turn (vxroutectl show, handlers that need the whole set).
// Thread: control thread, except attach() (before the sync thread starts).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "control/k8s/cluster_sync.hpp"
#include "control/k8s/objects.hpp"
#include "control/k8s/resource.hpp"
#include "control/k8s/store.hpp"

namespace vxr::control::k8s {

template <typename T>
using changes = std::vector<typename object_store<T>::change>;

class watch_cache {
public:
    // names: a subset of k_cached_resource_names (validated by the config).
    static result<std::unique_ptr<watch_cache>> create(const std::vector<std::string>& names);

    ~watch_cache();
    // Registers a reflector for every enabled store; the stores outlive `s`.
    void attach(cluster_sync& s);
    // Control thread, once per turn: hand every store's changes to its handlers.
    void poll();
    // An eventfd, readable while a store has changes that poll() has not
    // taken: the control loop waits on it next to its other sources.
    int notify_fd() const { return event_fd_; }

#define VXR_K8S_STORE(id, type, decode, plural, kind, path)                                                 \
    object_store<type>* id() const { return id##_.get(); } /* null when not watched */                    \
    void on_##id(std::function<void(const changes<type>&)> h) { id##_handlers_.push_back(std::move(h)); }
    VXR_K8S_CACHED_RESOURCES(VXR_K8S_STORE)
#undef VXR_K8S_STORE

    // The names watched, in k_cached_resource_names order.
    std::vector<std::string> names() const;
    struct resource_stats {
        std::string name;
        store_stats store;
    };
    std::vector<resource_stats> stats() const;
    // JSON array of one resource's cached objects (vxroutectl show <name>);
    // an error names the resource when it is unknown or not watched.
    result<std::string> show(std::string_view name) const;

private:
    int event_fd_ = -1;
#define VXR_K8S_STORE(id, type, decode, plural, kind, path)  \
    std::unique_ptr<object_store<type>> id##_;            \
    std::vector<std::function<void(const changes<type>&)>> id##_handlers_;
    VXR_K8S_CACHED_RESOURCES(VXR_K8S_STORE)
#undef VXR_K8S_STORE
};

}  // namespace vxr::control::k8s
