// CNI: the vxroute-cni plugin's pure parts (config/env parsing, result and
// error rendering, names, MACs, IPAM) and vxrouted's handling of the CNI
// admin commands. The plugin holds no state: vxrouted owns the pod table,
// allocates addresses and persists CNI pods in state_dir (runtime pods), so
// allocations survive a restart and are never handed out twice; it serves
// one admin request at a time, so concurrent plugin calls are serialized.
//
// Admin protocol (version 1, see admin.hpp), sent by vxroute-cni:
//   {"v":1,"cmd":"cni-add","container_id":ID,"netns":PATH,"ifname":IF,
//    "kind":"kernel"|"vhost","shared_dir":DIR,
//    "port_mappings":[{"hostPort":N,"containerPort":N,"protocol":P,"hostIP":A}] (optional),
//    "k8s_pod":"ns/name" (optional, from CNI_ARGS K8S_POD_NAMESPACE/K8S_POD_NAME)}
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
//     port_mappings (runtimeConfig.portMappings, the portmap plugin's
//     capability) become hostPort frontends of the Services fast path on
//     the pod's IP, as a Pod spec's hostPorts do; with Services off an ADD
//     that has any is refused (code 100): the runtime expects them mapped.
//   {"v":1,"cmd":"cni-del","container_id":ID,"ifname":IF,"kind":KIND,"shared_dir":DIR}
//     -> {"ok":true,"result":{"removed":true|false}}; absent pod is ok (idempotent).
//     Removes the pod, its port mappings, and (vhost) its .sock/.json files
//     and DIR if empty.
//   {"v":1,"cmd":"cni-check","container_id":ID,"netns":PATH,"ifname":IF,"ip":"10.244.1.2"(optional),
//    "port_mappings":[...] (optional)}
//     -> ok with the same result as cni-add if the pod exists (with that IP)
//        and its interface is up with its address (kernel) or its vhost-user
//        port's link is up (vhost), and it has exactly these port mappings,
//        mapped (Services on).
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
#include "control/k8s/objects.hpp"

namespace vxr::control {

class router;
struct config;

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
    // runtimeConfig.portMappings (the "portMappings" capability); a port
    // mapping is a Pod's port without its name and container.
    std::vector<k8s::pod_port> port_mappings;
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

// Port mappings (port_mappings.cpp), as CONVENTIONS.md's portMappings has
// them: {"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""}.
// Ports 1-65535; protocol tcp, udp or sctp in any case, tcp when absent or
// empty; hostIP absent, empty or an IPv4/IPv6 address (empty and 0.0.0.0/::
// mean every node address of the pod IP's family). An entry repeating an
// earlier one is dropped; one giving the same hostIP, hostPort and protocol
// another containerPort is refused. Errors are code 7 and name the field
// by `field` ("runtimeConfig.portMappings[1].hostPort: ...").
std::optional<failure> parse_port_mappings(const rapidjson::Value& v, const std::string& field,
                                           std::vector<k8s::pod_port>& out);
void write_port_mappings(rapidjson::Writer<rapidjson::StringBuffer>& w, const std::vector<k8s::pod_port>& m);
// The same mappings, in any order.
bool same_port_mappings(std::vector<k8s::pod_port> a, std::vector<k8s::pod_port> b);
// "8080/tcp -> 80", "192.168.1.10:53/udp -> 5353", comma-separated.
std::string describe_port_mappings(const std::vector<k8s::pod_port>& m);
// The Kubernetes "ns/name" of the pod from CNI_ARGS (kubelet's
// K8S_POD_NAMESPACE and K8S_POD_NAME), or empty.
std::string k8s_pod_of(const env& e);

// vxrouted's port mappings by pod name: handed to the Services' compiler
// (`apply`, wired in vxrouted.cpp; null when Services are off) and saved in
// state_dir beside the runtime pods (one JSON object a line, written whole
// and renamed into place), so that a restart maps them again.
// Thread: control (main) lcore, as the admin socket's handlers.
class port_mapping_table {
public:
    struct entry {
        ipv4_addr ip;
        std::string label;  // the Kubernetes "ns/name", or empty
        std::vector<k8s::pod_port> mappings;
        bool operator==(const entry& o) const {
            return ip == o.ip && label == o.label && same_port_mappings(mappings, o.mappings);
        }
    };
    // e.mappings empty: the pod's mappings are gone.
    using apply_fn = std::function<void(const std::string& pod, const entry& e)>;

    port_mapping_table(std::string state_file, apply_fn apply)
        : file_(std::move(state_file)), apply_(std::move(apply)) {}
    // "<state_dir>/<node_name>-port-mappings.jsonl"
    static std::string file_for(const config& cfg);

    bool enabled() const { return static_cast<bool>(apply_); }
    // Records the pod's mappings (none: forgets them), applies and saves.
    void set(const std::string& pod, entry e);
    void remove(const std::string& pod) { set(pod, {}); }
    const entry* find(const std::string& pod) const;
    size_t size() const { return entries_.size(); }
    // At start-up, once the router has restored its pods: the saved
    // mappings of the pods it has again with the same IP are applied, the
    // others dropped (logged).
    void restore(const router& r);
    void restore(const std::function<bool(const std::string& pod, ipv4_addr ip)>& has_pod);

private:
    void save() const;
    std::string file_;
    apply_fn apply_;
    std::map<std::string, entry> entries_;
};

// Daemon side, for an ADD: a failure (code 100) when there are mappings
// and nothing to map them (Services off: the runtime would believe a
// hostPort works that does not).
std::optional<failure> refuse_unmapped(const port_mapping_table* maps, const std::vector<k8s::pod_port>& m);
// For a CHECK: a failure (code 102) unless the pod has exactly `want`, mapped.
std::optional<failure> check_port_mappings(const port_mapping_table* maps, const std::string& pod,
                                           const std::vector<k8s::pod_port>& want);

// Daemon side: handles "cni-add", "cni-del", "cni-check"; returns the full
// reply line's JSON object text. `maps` null: port mappings are refused.
std::string handle(router& r, port_mapping_table* maps, const std::string& request_json);

}  // namespace cni
}  // namespace vxr::control
