// Kubernetes Node objects <-> flannel-compatible peers. We read and write the
// annotations exactly as flannel's kube subnet manager does, so flannel and
// vxroute nodes see each other as peers during a migration.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "common/result.hpp"
#include "common/types.hpp"
#include "common/peer.hpp"

namespace vxr::control::k8s {

inline constexpr const char* k_default_annotation_prefix = "flannel.alpha.coreos.com";

struct node_options {
    std::string prefix = k_default_annotation_prefix;
    uint32_t vni = 1;
    std::string self_name;  // our node: never a peer
};

enum class node_kind { peer, skipped, self };

struct node_info {
    std::string name;
    node_kind kind = node_kind::skipped;
    peer_config peer;             // when kind == peer
    std::string reason;           // when kind == skipped
    std::string resource_version;
};

// An error means the object is not a usable Node at all (no metadata.name);
// a Node that is simply not a peer comes back as kind == skipped with a reason.
result<node_info> classify_node(const rapidjson::Value& node, const node_options& opt);

// The VTEP MAC this node published earlier (its backend-data annotation), so
// a restarted vxrouted keeps its MAC and peers' neighbour entries stay valid.
std::optional<mac_addr> published_vtep_mac(const rapidjson::Value& node, std::string_view prefix);
result<std::optional<mac_addr>> published_vtep_mac(std::string_view node_json, std::string_view prefix);

// What we publish about ourselves.
struct self_publication {
    uint32_t vni = 1;
    mac_addr vtep_mac;
    ipv4_addr public_ip;
};

// Strategic-merge patch for PATCH /api/v1/nodes/<name>/status: flannel's
// annotations plus NetworkUnavailable=False (merged into status.conditions by
// its "type" key, so the kubelet's other conditions are untouched).
std::string build_status_patch(const self_publication& self, std::string_view prefix,
                               std::chrono::system_clock::time_point now);

// True when the node already carries exactly what we would publish.
bool self_annotations_match(const rapidjson::Value& node, const self_publication& self,
                            std::string_view prefix);

// The backend-data annotation value flannel writes: {"VNI":1,"VtepMAC":"aa:..."}.
std::string backend_data_json(uint32_t vni, const mac_addr& mac);

bool same_peer(const peer_config& a, const peer_config& b);

}  // namespace vxr::control::k8s
