// What the reflector needs to know about a resource, and what it feeds.
// Thread: the k8s sync thread.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

namespace vxr::control::k8s {

// Where a resource lives on the API server. The reflector lists and watches
// `path` (all namespaces) with the optional selectors.
struct resource_spec {
    std::string name;  // plural, as in the URL and in RBAC: "nodes", "endpointslices"
    std::string kind;  // "Node", for messages
    std::string path;  // "/api/v1/nodes", "/apis/discovery.k8s.io/v1/endpointslices"
    std::string label_selector;
    std::string field_selector;
};

// The resources the watch cache holds besides Nodes (which feed the peer
// table): X(id, type, decoder, plural, kind, collection path).
#define VXR_K8S_CACHED_RESOURCES(X)                                                                      \
    X(services, service, decode_service, "services", "Service", "/api/v1/services")                       \
    X(endpointslices, endpoint_slice, decode_endpoint_slice, "endpointslices", "EndpointSlice",          \
      "/apis/discovery.k8s.io/v1/endpointslices")                                                         \
    X(pods, pod, decode_pod, "pods", "Pod", "/api/v1/pods")                                               \
    X(namespaces, namespace_info, decode_namespace, "namespaces", "Namespace", "/api/v1/namespaces")      \
    X(networkpolicies, network_policy, decode_network_policy, "networkpolicies", "NetworkPolicy",        \
      "/apis/networking.k8s.io/v1/networkpolicies")

// The names a configuration may list under kubernetes.watch.
#define VXR_K8S_NAME(id, type, decode, plural, kind, path) std::string_view(plural),
inline constexpr std::array k_cached_resource_names{VXR_K8S_CACHED_RESOURCES(VXR_K8S_NAME)};
#undef VXR_K8S_NAME

// Receives what a reflector reads, in order. Decoding is the sink's job; a
// false return means the object was malformed, already logged with its
// namespace/name, and skipped (the reflector counts it and goes on).
class reflector_sink {
public:
    virtual ~reflector_sink() = default;
    // A full list starts (again: a failed list's pages are forgotten).
    virtual void list_begin() = 0;
    virtual bool list_item(const rapidjson::Value& obj) = 0;
    // The list is complete: the items since list_begin are the whole set.
    // Replace by diff: objects that did not change must not be reported.
    virtual void list_end() = 0;
    virtual bool upsert(const rapidjson::Value& obj) = 0;  // ADDED or MODIFIED
    virtual bool remove(const rapidjson::Value& obj) = 0;  // DELETED, with the object's last state
};

// "namespace/name", or "name" for a cluster-scoped object; "" without a name.
std::string object_key(const rapidjson::Value& obj);

}  // namespace vxr::control::k8s
