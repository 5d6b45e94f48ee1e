// The compiled form of Services that the fast path will get: one frontend per
// (address, protocol, port) this node must answer, with the backends it may
// pick from and the knobs (affinity, traffic policies) that change the pick.
// Built on the control thread by service_compiler; plain values, so a
// snapshot builder can flatten them without knowing about Kubernetes.
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "control/k8s/objects.hpp"
#include "control/services/maglev.hpp"

namespace vxr::control::services {

// host_port: a Pod's hostPort on this node (its one backend is the pod).
enum class frontend_kind : uint8_t { cluster_ip, node_port, external_ip, load_balancer, host_port };
std::string_view kind_name(frontend_kind k);  // "ClusterIP", "NodePort", "ExternalIP", "LoadBalancer", "HostPort"

// What a packet's destination is matched against.
struct frontend_key {
    ip_addr addr;
    k8s::l4_protocol protocol = k8s::l4_protocol::tcp;
    uint16_t port = 0;
    constexpr auto operator<=>(const frontend_key&) const = default;
    std::string str() const;  // "10.96.0.10:53/UDP", "[fd00::a]:443/TCP"
};

struct backend {
    ip_addr addr;
    uint16_t port = 0;      // the resolved target port (from the EndpointSlice)
    std::string node_name;  // empty when the slice does not say
    bool local = false;     // node_name is this node
    bool ready = false;
    bool serving = false;
    bool terminating = false;
    bool operator==(const backend&) const = default;
    // Node-independent name, also the Maglev key: "10.244.1.5:8080",
    // "[fd00::5]:8080". Backend lists are sorted by it, so a Maglev slot
    // (an index into the sorted keys) indexes the list directly.
    std::string key() const;
};

struct frontend {
    frontend_key key;
    frontend_kind kind = frontend_kind::cluster_ip;
    std::string service;    // "ns/name" (host_port: the Pod's)
    std::string port_name;  // the Service port's name ("" for a single unnamed port)

    // Usable cluster-wide: the ready endpoints, or when none is ready the
    // serving-and-terminating ones (kube-proxy since 1.26: better a
    // draining backend than a refused connection). Sorted by key().
    std::vector<backend> backends;
    // Usable on this node, chosen the same way among the local endpoints
    // only (ready local ones, else serving-and-terminating local ones).
    std::vector<backend> local_backends;
    // Over backends / local_backends, in the same order. Shared by every
    // frontend of one Service port and family (same backend set).
    std::shared_ptr<const maglev_table> maglev;
    std::shared_ptr<const maglev_table> local_maglev;

    k8s::affinity session_affinity = k8s::affinity::none;
    uint32_t affinity_timeout_s = 0;  // only with client_ip

    // externalTrafficPolicy Local on a node-port/external/LB frontend:
    // traffic from outside goes to local_backends only (client source IP
    // kept, no second hop); traffic from this node's own pods may still use
    // backends, as kube-proxy's short-circuit does.
    bool external_local = false;
    // internalTrafficPolicy Local on a cluster-IP frontend: traffic from
    // this node's pods goes to local_backends only.
    bool internal_local = false;
    // The Service's healthCheckNodePort (type LoadBalancer with
    // externalTrafficPolicy Local), and what it answers: the local ready
    // endpoints. Terminating ones are not counted, so that a load balancer
    // drains a node whose pods are going away.
    uint16_t health_check_node_port = 0;
    uint32_t health_check_local_ready = 0;
    // loadBalancerSourceRanges of the frontend's family (load_balancer
    // frontends only); empty: any source.
    std::vector<ip_prefix> source_ranges;

    // No usable backend anywhere: answer with ICMP port unreachable (as
    // kube-proxy's REJECT), never a silent drop.
    bool reject = false;

    // Local policy applies and no local backend exists while some remote
    // one does: the restricted traffic is dropped, not sent elsewhere.
    bool drops_when_local_only() const {
        return !reject && (external_local || internal_local) && local_backends.empty();
    }

    // kube-proxy's allowFromNode: one of source_ranges holds a node
    // address, so the node may reach the frontend (from that address, or
    // from the frontend's own, which the host has as a local address).
    bool ranges_hold_node(const std::vector<ip_addr>& node_ips) const;

    // Everything but the Maglev pointers, whose tables are a function of
    // the backend keys and the (compiler-wide) Maglev parameters.
    bool same_as(const frontend& o) const;
};

// Where node ports may be allocated (kube-apiserver's
// --service-node-port-range, which the node config must mirror).
struct node_port_range {
    uint16_t first = 30000;
    uint16_t last = 32767;
};

bool node_port_in_range(const node_port_range& r, uint16_t port);
// Fails on an empty range (first > last) or one reaching outside 1-65535,
// naming the values.
result<node_port_range> make_node_port_range(int64_t first, int64_t last);
// "30000-32767" as the API server's flag spells it; a single port "N" is N-N.
result<node_port_range> parse_node_port_range(std::string_view text);

// One JSON object, snake_case keys, addresses and backends as strings
// (`vxroutectl show services --json` and the conformance driver print this).
void write_json(k8s::json_writer& w, const frontend& f);

}  // namespace vxr::control::services
