// The YAML subset that kubeconfig files use (what kubectl, kubeadm, kind,
// k3s and cloud CLIs write): block mappings and sequences, plain / quoted /
// block scalars, comments, and flow collections ({}, [a, b], JSON). Anchors,
// aliases, tags and multi-document streams are rejected with an error rather
// than misread: a kubeconfig that needs them is not one we can trust to parse.
// Runs on the control thread at start-up only.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace vxr::control::k8s {

struct yaml_node {
    enum class kind { null, scalar, map, seq };
    kind type = kind::null;
    std::string scalar;
    std::vector<std::pair<std::string, yaml_node>> map;
    std::vector<yaml_node> seq;

    bool is_null() const { return type == kind::null; }
    bool is_map() const { return type == kind::map; }
    bool is_seq() const { return type == kind::seq; }
    bool is_scalar() const { return type == kind::scalar; }
    // nullptr when absent or when this is not a map.
    const yaml_node* get(std::string_view key) const;
    // Scalar value of a key, or "" when absent / not a scalar.
    std::string str(std::string_view key) const;
};

result<yaml_node> parse_yaml(std::string_view text);

}  // namespace vxr::control::k8s
