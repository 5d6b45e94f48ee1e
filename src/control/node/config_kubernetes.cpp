// Validation of the config's "kubernetes" object (kept apart from config.cpp
// to keep that file readable). Errors carry the field path, like the rest.
#include <string>
#include <string_view>

#include "control/k8s/resource.hpp"
#include "control/node/config.hpp"

namespace vxr::control {
namespace {

// An annotation key prefix is a DNS subdomain (Kubernetes' own rule):
// lowercase alphanumerics, '-' and '.', at most 253 characters, each label
// starting and ending with an alphanumeric.
constexpr size_t k_max_prefix = 253;

bool dns_subdomain(std::string_view s) {
    if (s.empty() || s.size() > k_max_prefix) return false;
    size_t label = 0;
    char prev = '.';
    for (char ch : s) {
        const bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (ch == '.') {
            if (label == 0 || prev == '-') return false;
            label = 0;
        } else if (alnum || ch == '-') {
            if (label == 0 && ch == '-') return false;
            if (++label > 63) return false;
        } else {
            return false;
        }
        prev = ch;
    }
    return label != 0 && prev != '-';
}

}  // namespace

result<void> validate_kubernetes(const kubernetes_config& k) {
    if (k.in_cluster && !k.kubeconfig.empty())
        return make_error("kubernetes: set either kubeconfig or in_cluster, not both");
    if (!k.in_cluster && k.kubeconfig.empty())
        return make_error("kubernetes: one of kubeconfig (a path) or \"in_cluster\": true is required");
    if (k.kubeconfig.find('\0') != std::string::npos)
        return make_error("kubernetes.kubeconfig: must not contain NUL characters");
    if (!dns_subdomain(k.annotation_prefix))
        return make_error("kubernetes.annotation_prefix: not a DNS subdomain (lowercase letters, digits, '-', '.'; "
                          "at most 253 characters): \"" + k.annotation_prefix + "\"");
    for (size_t i = 0; i < k.watch.size(); ++i) {
        const std::string path = "kubernetes.watch[" + std::to_string(i) + "]";
        bool known = false;
        std::string names;
        for (auto n : k8s::k_cached_resource_names) {
            known |= n == k.watch[i];
            names += (names.empty() ? "" : ", ") + std::string(n);
        }
        if (!known) return make_error(path + ": unknown resource \"" + k.watch[i] + "\" (one of " + names + ")");
        for (size_t j = 0; j < i; ++j)
            if (k.watch[j] == k.watch[i]) return make_error(path + ": \"" + k.watch[i] + "\" is listed twice");
    }
    return {};
}

}  // namespace vxr::control
