// CNI: the vxroute-cni plugin's pure parts (config/env parsing, result and
// error rendering, names, MACs, IPAM) and vxrouted's handling of the CNI
// admin commands. The plugin holds no state: vxrouted owns the pod table,
// allocates addresses and persists CNI pods in state_dir (runtime pods), so
// allocations survive a restart and are never handed out twice; it serves
// one admin request at a time, so concurrent plugin calls are serialized.
//
// Admin protocol (version 1, see admin.hpp), sent by vxroute-cni:
//   {"v":1,"cmd":"cni-add","container_id":ID,"netns":PATH,"ifname":IF,
//    "kind":"kernel"|"vhost","shared_dir":DIR}
//     -> {"ok":true,"result":{"name":POD,"ip":"10.244.1.2","prefix_len":24,
//         "gateway":"10.244.1.1","mac":MAC,"mtu":1450,"kind":KIND,
//         "socket_path":PATH (vhost only),"config_path":PATH (vhost only)}}
//     kernel: vxrouted creates a tap and moves it into netns as IF.
//     vhost:  vxrouted creates DIR (mode 0777: the pod's virtio-user server
//             creates the socket there), connects as vhost-user client to
//             DIR/<ID[:12]>-<IF>.sock and writes the pod's ip/prefix_len/
//             gateway/gateway_mac/mac/mtu/socket_path to DIR/<ID[:12]>-<IF>.json.
//             The plugin sends DIR = <sharedDir>/<ID[:12]>; a socket path
//             longer than sun_path allows (107 bytes) is refused (code 7).
//     The address is the lowest free host address of the node's pod CIDR
//     (never network, gateway = first host, or broadcast). An ADD for a pod
//     that already exists with the same kind and netns answers its result.
//   {"v":1,"cmd":"cni-del","container_id":ID,"ifname":IF,"kind":KIND,"shared_dir":DIR}
//     -> {"ok":true,"result":{"removed":true|false}}; absent pod is ok (idempotent).
//     Removes the pod, and (vhost) its .sock/.json files and DIR if empty.
//   {"v":1,"cmd":"cni-check","container_id":ID,"netns":PATH,"ifname":IF,"ip":"10.244.1.2"(optional)}
//     -> ok with the same result as cni-add if the pod exists (with that IP)
//        and its interface is up with its address (kernel) or its vhost-user
//        port's link is up (vhost).
// Errors: {"ok":false,"error":MSG,"cni_code":N}, N a CNI error code:
//   3 no such pod (CHECK), 4 bad container id/ifname, 101 pod CIDR exhausted,
//   102 CHECK found the pod broken, 100 anything else vxrouted refused.
//
// Pod names: "cni-" + first 16 chars of the container ID + "-" + ifname +
// "-" + 12 hex digits of a hash of both: deterministic, so DEL and CHECK
// need no plugin-side state; valid ([A-Za-z0-9._-], <= 63 chars).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/types.hpp"

namespace vxr::control {

class router;

namespace cni {

// CNI spec error codes (SPEC.md "Error"), plus ours from 100.
constexpr int k_err_incompatible_version = 1;
constexpr int k_err_unsupported_field = 2;
constexpr int k_err_unknown_container = 3;
constexpr int k_err_invalid_env = 4;
constexpr int k_err_io = 5;
constexpr int k_err_decode = 6;
constexpr int k_err_invalid_config = 7;
constexpr int k_err_try_again = 11;
constexpr int k_err_daemon = 100;
constexpr int k_err_exhausted = 101;
constexpr int k_err_check_failed = 102;

constexpr const char* k_default_socket = "/run/vxroute/vxrouted.sock";
constexpr const char* k_default_shared_dir = "/var/lib/cni/usrspcni";  // Userspace CNI's default
constexpr int k_default_timeout_ms = 30000;  // 50 pods queued behind each other take seconds

struct failure {
    int code = 0;
    std::string msg;
    std::string details;
};

struct net_conf {
    std::string cni_version;
    std::string name;
    std::string socket = k_default_socket;
    std::string kind = "kernel";       // default for pods that do not say (CNI_ARGS VXROUTE_KIND)
    std::string shared_dir = k_default_shared_dir;  // vhost pods: <shared_dir>/<container id[:12]>
    int timeout_ms = k_default_timeout_ms;
    std::optional<ipv4_addr> prev_ip;  // prevResult's first IPv4 address (CHECK)
};

struct env {
    std::string command;
    std::string container_id;
    std::string netns;
    std::string ifname;
    std::string path;
    std::map<std::string, std::string> args;  // CNI_ARGS
};

// What vxrouted answers for a pod.
struct pod_result {
    std::string name;
    ipv4_addr ip;
    uint8_t prefix_len = 24;
    ipv4_addr gateway;
    std::string mac;
    uint16_t mtu = 0;
    std::string kind;
    std::string socket_path;
    std::string config_path;
};

bool supported_version(const std::string& v);
const std::vector<std::string>& supported_versions();

// `getenv` is injectable for tests. Validates what `command` needs.
std::optional<failure> parse_env(const std::function<const char*(const char*)>& getenv, env& out);
// The network configuration from stdin.
std::optional<failure> parse_net_conf(const std::string& text, net_conf& out);
// The pod's kind: CNI_ARGS VXROUTE_KIND, else the config's kind.
std::optional<failure> pod_kind(const env& e, const net_conf& c, std::string& kind);

bool valid_container_id(const std::string& id);
bool valid_ifname(const std::string& ifname);
std::string pod_name(const std::string& container_id, const std::string& ifname);
// Stable, locally administered, unicast.
mac_addr pod_mac(const std::string& container_id, const std::string& ifname);
// "<container id[:12]>-<ifname>" (Userspace CNI's socket naming), without extension.
std::string socket_base(const std::string& container_id, const std::string& ifname);

// Lowest free host address of cidr: never the network, the gateway (first
// host) or the broadcast address, nor any of `used`.
std::optional<ipv4_addr> allocate_ip(ipv4_prefix cidr, const std::vector<ipv4_addr>& used);

// Plugin output.
std::string render_result(const std::string& cni_version, const pod_result& r, const env& e);
std::string render_error(const std::string& cni_version, const failure& f);
std::string render_version(const std::string& cni_version);
// Parses a cni-add/cni-check reply's "result" object.
std::optional<failure> parse_pod_result(const std::string& result_json, pod_result& out);

// Daemon side: handles "cni-add", "cni-del", "cni-check"; returns the full
// reply line's JSON object text.
std::string handle(router& r, const std::string& request_json);

}  // namespace cni
}  // namespace vxr::control
