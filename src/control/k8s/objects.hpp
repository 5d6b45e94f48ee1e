// Compact decoded forms of the Kubernetes objects the dataplane needs
// (Service, EndpointSlice, Pod, Namespace, NetworkPolicy), their RapidJSON
// decoders and the JSON `vxroutectl show ... --json` prints for them.
//
// The watch cache keeps only these structs, never the JSON: a real API
// server sends several KB per object (managedFields, last-applied
// annotations) of which we use a few hundred bytes.
//
// A decoder fails only where the API server itself would have rejected the
// object (unknown enum value, port out of range, bad address or CIDR); the
// message names the object and the field. Unknown fields are ignored.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/ip.hpp"
#include "common/result.hpp"

namespace vxr::control::k8s {

// A Service carrying this label belongs to another proxy implementation
// (KEP-2447's service-proxy-name); kube-proxy and we leave it alone.
inline constexpr std::string_view k_service_proxy_name_label = "service.kubernetes.io/service-proxy-name";
inline constexpr std::string_view k_service_name_label = "kubernetes.io/service-name";
inline constexpr std::string_view k_ingress_bandwidth_annotation = "kubernetes.io/ingress-bandwidth";
inline constexpr std::string_view k_egress_bandwidth_annotation = "kubernetes.io/egress-bandwidth";
// The API server's default when sessionAffinity is ClientIP and no timeout
// is given (3 hours).
inline constexpr uint32_t k_default_affinity_timeout_s = 10800;

// std::less<> so selectors can look labels up by string_view.
using label_map = std::map<std::string, std::string, std::less<>>;

struct object_meta {
    std::string ns;  // empty for cluster-scoped objects
    std::string name;
    std::string uid;
    std::string resource_version;  // opaque: compare for equality only
    label_map labels;
    std::string key() const { return ns.empty() ? name : ns + "/" + name; }
};

enum class l4_protocol : uint8_t { tcp, udp, sctp };

// An IntOrString port: a number, or the name of a container port that each
// backend pod resolves for itself.
struct port_ref {
    uint16_t number = 0;  // when name is empty
    std::string name;
    bool named() const { return !name.empty(); }
    bool operator==(const port_ref&) const = default;
};

// ---- Service (v1) ----

enum class service_type : uint8_t { cluster_ip, node_port, load_balancer, external_name };
enum class family_policy : uint8_t { single_stack, prefer_dual_stack, require_dual_stack };
enum class affinity : uint8_t { none, client_ip };
enum class traffic_policy : uint8_t { cluster, local };
// Proxy: the load balancer does not deliver to its IP, so traffic to it must
// not be short-circuited on the node (status.loadBalancer.ingress[].ipMode).
enum class lb_ip_mode : uint8_t { vip, proxy };

struct service_port {
    std::string name;
    l4_protocol protocol = l4_protocol::tcp;
    uint16_t port = 0;
    port_ref target_port;    // the API server defaults it to port
    uint16_t node_port = 0;  // 0: none allocated
};

// Entries with only a hostname (cloud load balancers that hand out a DNS
// name) are kept with ip unset: nothing to program, but `show` lists them.
struct lb_ingress {
    std::optional<ip_addr> ip;
    std::string hostname;
    lb_ip_mode ip_mode = lb_ip_mode::vip;
};

struct service {
    object_meta meta;
    service_type type = service_type::cluster_ip;
    bool headless = false;          // clusterIP "None": no address to program
    std::vector<ip_addr> cluster_ips;  // primary first, as the API orders them
    std::vector<ip_family> ip_families;
    std::optional<family_policy> ip_family_policy;
    std::vector<service_port> ports;
    std::vector<ip_addr> external_ips;
    std::vector<lb_ingress> load_balancer_ingress;
    std::vector<ip_prefix> load_balancer_source_ranges;  // empty: any source
    affinity session_affinity = affinity::none;
    uint32_t session_affinity_timeout_s = 0;  // k_default_affinity_timeout_s if ClientIP and unset
    traffic_policy external_traffic_policy = traffic_policy::cluster;
    traffic_policy internal_traffic_policy = traffic_policy::cluster;
    uint16_t health_check_node_port = 0;
    std::string external_name;  // type ExternalName: a DNS name, nothing for the dataplane
    std::string proxy_name;     // label k_service_proxy_name_label
    bool ours() const { return proxy_name.empty(); }
};

// ---- EndpointSlice (discovery.k8s.io/v1) ----

enum class endpoint_address_type : uint8_t { ipv4, ipv6, fqdn };

struct endpoint_port {
    std::string name;
    l4_protocol protocol = l4_protocol::tcp;
    std::optional<uint16_t> port;  // unset: the endpoints take every port
};

// Tri-state as sent; the is_* helpers apply EndpointConditions' documented
// meaning of an unset value (Kubernetes 1.28 reference): ready unknown ->
// ready, serving unknown -> defer to ready, terminating unknown -> not
// terminating.
struct endpoint_conditions {
    std::optional<bool> ready;
    std::optional<bool> serving;
    std::optional<bool> terminating;
    bool is_ready() const { return ready.value_or(true); }
    bool is_serving() const { return serving.value_or(is_ready()); }
    bool is_terminating() const { return terminating.value_or(false); }
};

struct endpoint {
    std::vector<ip_addr> addresses;  // empty in an FQDN slice (no address for us)
    endpoint_conditions conditions;
    std::string node_name;
    std::string zone;
    std::vector<std::string> zone_hints;  // hints.forZones (topology-aware routing)
    std::string pod_ns;                   // targetRef, only when its kind is Pod
    std::string pod_name;
};

struct endpoint_slice {
    object_meta meta;
    std::string service_name;  // label k_service_name_label; empty: not a Service's
    endpoint_address_type address_type = endpoint_address_type::ipv4;
    std::vector<endpoint_port> ports;
    std::vector<endpoint> endpoints;
};

// ---- Pod (v1) ----

enum class pod_phase : uint8_t { pending, running, succeeded, failed, unknown };

struct pod_port {
    std::string container;
    std::string name;  // what Services' and policies' named ports resolve against
    l4_protocol protocol = l4_protocol::tcp;
    uint16_t container_port = 0;
    uint16_t host_port = 0;  // 0: none
    std::optional<ip_addr> host_ip;
};

struct pod {
    object_meta meta;  // meta.uid identifies the pod across name reuse
    std::string node_name;
    bool host_network = false;
    std::vector<ip_addr> pod_ips;
    std::vector<pod_port> ports;
    pod_phase phase = pod_phase::pending;
    // Raw quantities ("10M"); parsed where the shaper is built.
    std::string ingress_bandwidth;
    std::string egress_bandwidth;
    bool deleting = false;  // metadata.deletionTimestamp is set
};

// ---- Namespace (v1) ----

// Labels as the object has them; the API server adds
// kubernetes.io/metadata.name itself, which policies often select on.
struct namespace_info {
    object_meta meta;
};

// ---- NetworkPolicy (networking.k8s.io/v1) ----

enum class selector_op : uint8_t { in, not_in, exists, does_not_exist };

struct selector_requirement {
    std::string key;
    selector_op op = selector_op::in;
    std::vector<std::string> values;  // empty for Exists / DoesNotExist
};

// An empty selector ({}) selects everything.
struct label_selector {
    label_map match_labels;
    std::vector<selector_requirement> match_expressions;
    bool selects_all() const { return match_labels.empty() && match_expressions.empty(); }
};

struct cidr_block {
    ip_prefix cidr;  // host bits dropped (the API server accepts "10.0.0.1/8")
    std::vector<ip_prefix> except;
};

// Exactly one of ip_block or the selectors. Unset and empty selectors differ:
// no namespace_selector means the policy's own namespace, {} means all; no
// pod_selector (with a namespace_selector) means all pods there.
struct policy_peer {
    std::optional<label_selector> pod_selector;
    std::optional<label_selector> namespace_selector;
    std::optional<cidr_block> ip_block;
};

struct policy_port {
    l4_protocol protocol = l4_protocol::tcp;
    std::optional<port_ref> port;     // unset: every port of the protocol
    std::optional<uint16_t> end_port;  // only with a numeric port
};

// The API gives an empty and an absent `from`/`to` (and `ports`) the same
// meaning, "everything", so one vector holds both. A rule list is what
// matters: no rules isolates, one rule with nothing in it allows all.
struct policy_rule {
    std::vector<policy_peer> peers;
    std::vector<policy_port> ports;
};

enum class policy_type : uint8_t { ingress, egress };

struct network_policy {
    object_meta meta;
    label_selector pod_selector;
    std::vector<policy_type> policy_types;  // as written; empty when omitted
    std::vector<policy_rule> ingress;
    std::vector<policy_rule> egress;
    // policyTypes with the API's default for an omitted list: Ingress
    // always, Egress when there are egress rules.
    bool applies_to(policy_type t) const;
};

result<service> decode_service(const rapidjson::Value& obj);
result<endpoint_slice> decode_endpoint_slice(const rapidjson::Value& obj);
result<pod> decode_pod(const rapidjson::Value& obj);
result<namespace_info> decode_namespace(const rapidjson::Value& obj);
result<network_policy> decode_network_policy(const rapidjson::Value& obj);

// The API's own spelling of each enum value ("ClusterIP", "TCP", "NotIn"...).
std::string_view api_name(l4_protocol v);
std::string_view api_name(service_type v);
std::string_view api_name(family_policy v);
std::string_view api_name(affinity v);
std::string_view api_name(traffic_policy v);
std::string_view api_name(lb_ip_mode v);
std::string_view api_name(ip_family v);
std::string_view api_name(endpoint_address_type v);
std::string_view api_name(pod_phase v);
std::string_view api_name(selector_op v);
std::string_view api_name(policy_type v);

// One JSON object per item, snake_case keys, addresses as strings, enums in
// the API's spelling.
using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;
void write_json(json_writer& w, const service& s);
void write_json(json_writer& w, const endpoint_slice& s);
void write_json(json_writer& w, const pod& p);
void write_json(json_writer& w, const namespace_info& n);
void write_json(json_writer& w, const network_policy& p);

}  // namespace vxr::control::k8s
