// Services + EndpointSlices -> frontends (the control side of the
// kube-proxy replacement). Fed with the watch cache's coalesced changes, or
// plain upserts and removals; commit() recompiles only the Services whose
// Service object or EndpointSlices changed since the last commit and
// returns the frontends added, changed and removed, so that the snapshot
// publication after it can be incremental.
//
// Semantics are kube-proxy's (pkg/proxy: servicechangetracker,
// endpointslicecache, topology), summed up on compile_service() in the .cpp.
//
// Two Services may claim the same (address, protocol, port), e.g. one
// externalIP in both: the claim of the lowest "ns/name" wins, the others
// are counted as conflicts and take over when it goes away. A pod's
// hostPort given both by its Pod spec and by the CNI portMappings is one
// mapping, not a conflict (same_mapping in the .cpp).
//
// Thread: the control thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "control/k8s/objects.hpp"
#include "control/k8s/store.hpp"
#include "control/node/config.hpp"
#include "control/services/frontends.hpp"
#include "control/services/maglev.hpp"
#include "fastpath/service_table.hpp"

namespace vxr::control::services {

struct compiler_config {
    std::string node_name;          // endpoints with this nodeName are local
    std::vector<ip_addr> node_ips;  // where node ports are answered (both families)
    node_port_range node_ports;
    maglev_params maglev;
    // Backends per frontend: beyond it the set is cut (sorted, so every node
    // cuts the same), logged and counted: the workers' slots are 16 bits.
    uint32_t max_backends = fastpath::k_max_pool_backends;
};

// The node config's `services` section as compiler settings, checked the way
// service_compiler::create checks them, with errors that name the field
// ("services.node_port_range: ...", "services.maglev.table_size: ..."), so
// that vxrouted --check-config rejects what start-up would. Node ports are
// answered on services.node_port_addresses, or on node_ip when it is empty.
result<compiler_config> compiler_config_from(const control::config& cfg);

struct compiler_stats {
    uint64_t commits = 0;
    uint64_t services_compiled = 0;  // recompilations, summed over commits
    uint64_t invalid_fields = 0;     // ports skipped as invalid, summed over compilations
    uint64_t conflicts = 0;          // claims that lost to another Service's, summed over commits
    uint64_t maglev_errors = 0;      // tables that could not be built (frontend kept, no table)
    size_t services = 0;             // held now
    size_t endpoint_slices = 0;
    size_t frontends = 0;
};

using frontend_ptr = std::shared_ptr<const frontend>;

struct frontend_delta {
    std::vector<frontend_ptr> added;
    std::vector<frontend_ptr> changed;  // the new version
    std::vector<frontend_key> removed;
    bool empty() const { return added.empty() && changed.empty() && removed.empty(); }
};

class service_compiler {
public:
    using service_ptr = std::shared_ptr<const k8s::service>;
    using slice_ptr = std::shared_ptr<const k8s::endpoint_slice>;
    using pod_ptr = std::shared_ptr<const k8s::pod>;

    // Fails on an invalid node-port range or Maglev table size.
    static result<service_compiler> create(compiler_config cfg);

    // The watch cache's change vectors (the `after` side is what counts:
    // the compiler remembers what it had for each key itself).
    void apply(const std::vector<k8s::object_store<k8s::service>::change>& changes);
    void apply(const std::vector<k8s::object_store<k8s::endpoint_slice>::change>& changes);
    // Pods: only their hostPorts matter here (the portmap plugin's job, as
    // the Pod spec has them): node address:hostPort -> pod:containerPort
    // for the pods of this node.
    void apply(const std::vector<k8s::object_store<k8s::pod>::change>& changes);

    void upsert(service_ptr s);
    void upsert(slice_ptr s);
    void remove_service(const std::string& key);         // "ns/name"
    void remove_endpoint_slice(const std::string& key);  // "ns/name" of the slice
    void upsert(pod_ptr p);
    void remove_pod(const std::string& key);             // "ns/name"
    // A pod attached by the CNI plugin with portMappings (the runtimeConfig
    // capability: kubelet passes the Pod spec's hostPorts this way, and
    // runtimes without Kubernetes their own): the same frontends as a Pod's
    // hostPorts, keyed "cni:" + `name` (vxrouted's pod name). `label` is
    // what the frontends name as their service (the Kubernetes "ns/name"
    // when the runtime said, else `name`). No mappings: removed.
    void upsert_cni_pod(const std::string& name, const std::string& label, ip_addr pod_ip,
                        std::vector<k8s::pod_port> mappings);
    void remove_cni_pod(const std::string& name);

    // A new node name or set of node IPs: everything is recompiled at the
    // next commit (locality and node-port frontends depend on them).
    void set_node(std::string node_name, std::vector<ip_addr> node_ips);

    // Recompiles what changed since the last commit.
    frontend_delta commit();

    // Every frontend now published (winning claims), by key.
    const std::map<frontend_key, frontend_ptr>& frontends() const { return published_; }
    // The frontends one Service produced (including claims that lost).
    std::vector<frontend_ptr> frontends_of(const std::string& service_key) const;
    const compiler_stats& stats() const { return stats_; }
    const compiler_config& config() const { return cfg_; }

private:
    explicit service_compiler(compiler_config cfg) : cfg_(std::move(cfg)) {}

    // The Service's frontends, from its object and slices; invalid parts are
    // logged and counted, and the rest still compiles.
    std::vector<frontend_ptr> compile_service(const std::string& key) const;
    // A Pod's host-port frontends (key: k_pod_key_prefix + "ns/name", or
    // k_cni_key_prefix + the CNI pod's name).
    std::vector<frontend_ptr> compile_host_ports(const std::string& key) const;
    // p's hostPorts on this node, for p's IPs; the frontends name `label`.
    std::vector<frontend_ptr> host_port_frontends(const std::string& key, const std::string& label,
                                                  const k8s::pod& p) const;
    // The Maglev table over `list` (null when empty or on an error, counted
    // and logged with `key`).
    std::shared_ptr<const maglev_table> maglev_for(const std::vector<backend>& list, const std::string& key) const;

    compiler_config cfg_;
    std::map<std::string, service_ptr> services_;
    std::map<std::string, slice_ptr> slices_;  // by slice key
    // Service key -> its slices' keys (label kubernetes.io/service-name,
    // same namespace); kept for Services that do not exist (yet).
    std::map<std::string, std::set<std::string>> slices_by_service_;
    // Pods with a hostPort, any node's (a node rename recompiles them), by
    // "ns/name". In dirty_, compiled_ and claims_ their key is prefixed
    // "pod:", which no Service key ("ns/name") can be.
    std::map<std::string, pod_ptr> pods_;
    // CNI pods with portMappings, by vxrouted's pod name (key prefix "cni:"):
    // meta.name is the label, pod_ips the one address, ports the mappings.
    std::map<std::string, pod_ptr> cni_pods_;
    std::set<std::string> dirty_;
    // What each Service produced at its last compilation, and per key the
    // claims on it (Service key -> frontend), lowest Service key first.
    std::map<std::string, std::vector<frontend_ptr>> compiled_;
    std::map<frontend_key, std::map<std::string, frontend_ptr>> claims_;
    std::map<frontend_key, frontend_ptr> published_;
    mutable compiler_stats stats_;
};

}  // namespace vxr::control::services
