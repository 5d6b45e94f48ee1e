// Services + EndpointSlices -> frontends, incrementally. Thread: the
// control thread.
#include "control/services/service_compiler.hpp"

#include <algorithm>
#include <utility>

#include "common/log.hpp"

namespace vxr::control::services {

namespace {

const std::string k_pod_key_prefix = "pod:";
const std::string k_cni_key_prefix = "cni:";

// One hostPort mapping given twice (the Pod spec through the watch cache,
// and the CNI portMappings kubelet made from that spec): same address,
// protocol and port to the same pod address and port. Names may differ
// (portMappings carry no port names).
bool same_mapping(const frontend& a, const frontend& b) {
    if (a.kind != frontend_kind::host_port || b.kind != frontend_kind::host_port || a.key != b.key) return false;
    return std::equal(a.backends.begin(), a.backends.end(), b.backends.begin(), b.backends.end(),
                      [](const backend& x, const backend& y) { return x.addr == y.addr && x.port == y.port; });
}

std::string port_label(const k8s::service_port& p) {
    return "port \"" + p.name + "\"/" + std::string(k8s::api_name(p.protocol));
}

using k8s::endpoint_address_type;
using k8s::endpoint_slice;
using k8s::service;
using k8s::service_port;

bool slice_family_is(const endpoint_slice& s, ip_family f) {
    // FQDN slices carry host names: nothing the dataplane can forward to.
    return (s.address_type == endpoint_address_type::ipv4 && f == ip_family::v4) ||
           (s.address_type == endpoint_address_type::ipv6 && f == ip_family::v6);
}

// The slice's port for a Service port: same name (a single unnamed Service
// port matches the slice's unnamed one) and protocol. The endpoint port
// number, not the Service's targetPort, is the backend port: a named
// targetPort is resolved per pod, and the slice controller groups pods by
// the numbers their names resolved to.
const k8s::endpoint_port* slice_port_for(const endpoint_slice& s, const service_port& p) {
    for (const auto& sp : s.ports)
        if (sp.name == p.name && sp.protocol == p.protocol) return &sp;
    return nullptr;
}

bool node_ports_apply(const service& s) {
    return s.type == k8s::service_type::node_port || s.type == k8s::service_type::load_balancer;
}

// The backends of one Service port in one family, deduplicated by
// address:port across slices (during a slice update an endpoint can sit in
// two slices for a moment); of two copies the local one wins, as in
// kube-proxy. Keyed (and so sorted) by backend::key().
std::map<std::string, backend> collect_backends(const std::vector<const endpoint_slice*>& slices,
                                                const service_port& p, ip_family f, const std::string& node) {
    std::map<std::string, backend> out;
    for (const endpoint_slice* s : slices) {
        if (!slice_family_is(*s, f)) continue;
        const k8s::endpoint_port* sp = slice_port_for(*s, p);
        if (!sp || !sp->port || *sp->port == 0) continue;  // counted by validate_slice
        for (const auto& ep : s->endpoints) {
            // EndpointSlice API: no semantics are defined for addresses
            // beyond the first (and the controller writes exactly one).
            if (ep.addresses.empty()) continue;
            backend b;
            b.addr = ep.addresses.front();
            b.port = *sp->port;
            b.node_name = ep.node_name;
            b.local = !node.empty() && ep.node_name == node;
            b.ready = ep.conditions.is_ready();
            b.serving = ep.conditions.is_serving();
            b.terminating = ep.conditions.is_terminating();
            auto [it, fresh] = out.try_emplace(b.key(), b);
            if (!fresh && b.local && !it->second.local) it->second = std::move(b);
        }
    }
    return out;
}

// Ready ones; when none is, the serving-and-terminating ones.
std::vector<backend> usable(const std::map<std::string, backend>& all, bool local_only) {
    std::vector<backend> ready;
    std::vector<backend> draining;
    for (const auto& [key, b] : all) {
        if (local_only && !b.local) continue;
        if (b.ready) ready.push_back(b);
        else if (b.serving && b.terminating) draining.push_back(b);
    }
    return ready.empty() ? draining : ready;
}

}  // namespace

namespace {

result<void> check_maglev_table_size(uint32_t m) {
    if (!is_prime(m) || m > k_maglev_max_table_size)
        return make_error("maglev table size " + std::to_string(m) + " is not a prime up to " +
                          std::to_string(k_maglev_max_table_size) + " (e.g. 251, 1021, 4093, 16381, 65521, 131071)");
    return {};
}

}  // namespace

result<compiler_config> compiler_config_from(const control::config& cfg) {
    const services_config& s = cfg.services;
    compiler_config cc;
    cc.node_name = cfg.node_name;
    auto range = parse_node_port_range(s.node_port_range);
    if (!range) return make_error("services.node_port_range: " + range.err());
    cc.node_ports = *range;
    if (auto r = check_maglev_table_size(s.maglev_table_size); !r)
        return make_error("services.maglev.table_size: " + r.err());
    cc.maglev = {s.maglev_table_size, s.maglev_seed};
    for (const auto& a : s.node_port_addresses) cc.node_ips.push_back(ip_addr::from(a));
    if (cc.node_ips.empty()) cc.node_ips.push_back(ip_addr::from(cfg.node_ip.addr));
    return cc;
}

result<service_compiler> service_compiler::create(compiler_config cfg) {
    auto range = make_node_port_range(cfg.node_ports.first, cfg.node_ports.last);
    if (!range) return make_error(range.err());
    if (auto r = check_maglev_table_size(cfg.maglev.table_size); !r) return make_error(r.err());
    std::sort(cfg.node_ips.begin(), cfg.node_ips.end());
    cfg.node_ips.erase(std::unique(cfg.node_ips.begin(), cfg.node_ips.end()), cfg.node_ips.end());
    return service_compiler(std::move(cfg));
}

void service_compiler::apply(const std::vector<k8s::object_store<k8s::service>::change>& changes) {
    for (const auto& c : changes) {
        if (c.after) upsert(c.after);
        else remove_service(c.key);
    }
}

void service_compiler::apply(const std::vector<k8s::object_store<k8s::endpoint_slice>::change>& changes) {
    for (const auto& c : changes) {
        if (c.after) upsert(c.after);
        else remove_endpoint_slice(c.key);
    }
}

void service_compiler::apply(const std::vector<k8s::object_store<k8s::pod>::change>& changes) {
    for (const auto& c : changes) {
        if (c.after) upsert(c.after);
        else remove_pod(c.key);
    }
}

void service_compiler::upsert(pod_ptr p) {
    const bool has_host_port =
        std::any_of(p->ports.begin(), p->ports.end(), [](const k8s::pod_port& pp) { return pp.host_port != 0; });
    std::string key = p->meta.key();
    if (!has_host_port) return remove_pod(key);
    dirty_.insert(k_pod_key_prefix + key);
    pods_[std::move(key)] = std::move(p);
}

void service_compiler::remove_pod(const std::string& key) {
    if (pods_.erase(key)) dirty_.insert(k_pod_key_prefix + key);
}

void service_compiler::upsert_cni_pod(const std::string& name, const std::string& label, ip_addr pod_ip,
                                      std::vector<k8s::pod_port> mappings) {
    if (mappings.empty()) return remove_cni_pod(name);
    auto p = std::make_shared<k8s::pod>();
    p->meta.name = label.empty() ? name : label;
    p->pod_ips = {pod_ip};
    p->ports = std::move(mappings);
    dirty_.insert(k_cni_key_prefix + name);
    cni_pods_[name] = std::move(p);
}

void service_compiler::remove_cni_pod(const std::string& name) {
    if (cni_pods_.erase(name)) dirty_.insert(k_cni_key_prefix + name);
}

void service_compiler::upsert(service_ptr s) {
    std::string key = s->meta.key();
    auto& slot = services_[key];
    if (slot == s) return;
    slot = std::move(s);
    dirty_.insert(std::move(key));
}

void service_compiler::remove_service(const std::string& key) {
    if (services_.erase(key)) dirty_.insert(key);
}

void service_compiler::upsert(slice_ptr s) {
    std::string key = s->meta.key();
    remove_endpoint_slice(key);  // its Service may have changed with the label
    if (!s->service_name.empty()) {
        std::string svc = s->meta.ns + "/" + s->service_name;
        slices_by_service_[svc].insert(key);
        dirty_.insert(std::move(svc));
    }
    slices_[std::move(key)] = std::move(s);
}

void service_compiler::remove_endpoint_slice(const std::string& key) {
    auto it = slices_.find(key);
    if (it == slices_.end()) return;
    if (!it->second->service_name.empty()) {
        std::string svc = it->second->meta.ns + "/" + it->second->service_name;
        if (auto by = slices_by_service_.find(svc); by != slices_by_service_.end()) {
            by->second.erase(key);
            if (by->second.empty()) slices_by_service_.erase(by);
        }
        dirty_.insert(std::move(svc));
    }
    slices_.erase(it);
}

void service_compiler::set_node(std::string node_name, std::vector<ip_addr> node_ips) {
    std::sort(node_ips.begin(), node_ips.end());
    node_ips.erase(std::unique(node_ips.begin(), node_ips.end()), node_ips.end());
    if (node_name == cfg_.node_name && node_ips == cfg_.node_ips) return;
    cfg_.node_name = std::move(node_name);
    cfg_.node_ips = std::move(node_ips);
    for (const auto& [key, s] : services_) dirty_.insert(key);
    for (const auto& [key, p] : pods_) dirty_.insert(k_pod_key_prefix + key);
    for (const auto& [name, p] : cni_pods_) dirty_.insert(k_cni_key_prefix + name);
}

std::shared_ptr<const maglev_table> service_compiler::maglev_for(const std::vector<backend>& list,
                                                                 const std::string& key) const {
    if (list.empty()) return nullptr;
    std::vector<std::string> keys;
    for (const auto& b : list) keys.push_back(b.key());
    auto t = build_maglev(keys, cfg_.maglev);
    if (!t) {
        ++stats_.maglev_errors;
        VXR_LOG_WARN("services: %s: maglev table: %s", key.c_str(), t.err().c_str());
        return nullptr;
    }
    return std::make_shared<const maglev_table>(std::move(*t));
}

// A Pod's hostPorts, as the CNI portmap plugin maps them: on this node,
// not for hostNetwork pods (their port is the host's own), not for pods
// that have ended; hostIP (unset or 0.0.0.0/::: every node address of the
// pod IP's family) and protocol as given; the one backend is the pod's IP
// of that family and the containerPort. The client's address is kept
// (portmap translates the source only for hairpin traffic, which the
// service stage does alike).
std::vector<frontend_ptr> service_compiler::compile_host_ports(const std::string& key) const {
    if (key.starts_with(k_cni_key_prefix)) {
        // Attached here by the CNI plugin: of this node, running.
        auto it = cni_pods_.find(key.substr(k_cni_key_prefix.size()));
        return it == cni_pods_.end() ? std::vector<frontend_ptr>{}
                                     : host_port_frontends(key, it->second->meta.name, *it->second);
    }
    const std::string pod_key = key.substr(k_pod_key_prefix.size());
    auto it = pods_.find(pod_key);
    if (it == pods_.end()) return {};
    const k8s::pod& p = *it->second;
    if (p.node_name != cfg_.node_name || p.host_network || p.phase == k8s::pod_phase::succeeded ||
        p.phase == k8s::pod_phase::failed)
        return {};
    return host_port_frontends(key, pod_key, p);
}

std::vector<frontend_ptr> service_compiler::host_port_frontends(const std::string& key, const std::string& label,
                                                                const k8s::pod& p) const {
    std::vector<frontend_ptr> out;
    std::set<frontend_key> seen;
    for (const auto& pp : p.ports) {
        if (pp.host_port == 0) continue;
        if (pp.container_port == 0) {
            ++stats_.invalid_fields;
            VXR_LOG_WARN("services: pod %s: hostPort %u has no containerPort: skipped", label.c_str(), pp.host_port);
            continue;
        }
        for (const ip_addr& pod_ip : p.pod_ips) {
            backend b;
            b.addr = pod_ip;
            b.port = pp.container_port;
            b.node_name = cfg_.node_name;
            b.local = b.ready = b.serving = true;
            frontend base;
            base.kind = frontend_kind::host_port;
            base.service = label;
            base.port_name = pp.name;
            base.backends = base.local_backends = {b};
            base.maglev = base.local_maglev = maglev_for(base.backends, key);
            base.external_local = true;
            std::vector<ip_addr> addrs;
            if (pp.host_ip && !pp.host_ip->is_unspecified()) {
                if (pp.host_ip->family == pod_ip.family) addrs.push_back(*pp.host_ip);
            } else {
                for (const auto& a : cfg_.node_ips)
                    if (a.family == pod_ip.family) addrs.push_back(a);
            }
            for (const auto& a : addrs) {
                frontend f = base;
                f.key = {a, pp.protocol, pp.host_port};
                if (seen.insert(f.key).second) out.push_back(std::make_shared<const frontend>(std::move(f)));
            }
        }
    }
    return out;
}

std::vector<frontend_ptr> service_compiler::frontends_of(const std::string& service_key) const {
    auto it = compiled_.find(service_key);
    return it == compiled_.end() ? std::vector<frontend_ptr>{} : it->second;
}

// The rules, as kube-proxy applies them:
//  - no frontends for a Service another proxy owns (service-proxy-name
//    label), a headless one or an ExternalName one;
//  - per family of its cluster IPs: a cluster-IP frontend per cluster IP
//    and port; for NodePort and LoadBalancer types a node-port frontend on
//    each node IP of that family; one per externalIP and per load-balancer
//    ingress IP (ipMode VIP: with Proxy the load balancer does not deliver
//    to the IP itself) of that family. A family without a cluster IP gets
//    nothing, its externalIPs included (kube-proxy's per-family proxiers);
//  - backends from the Service's slices of that family (see
//    collect_backends and usable above); none usable: reject;
//  - invalid parts (port 0, a port no slice has, a node port outside the
//    range, a slice port without number) are logged, counted and skipped.
std::vector<frontend_ptr> service_compiler::compile_service(const std::string& key) const {
    auto sit = services_.find(key);
    if (sit == services_.end()) return {};
    const service& s = *sit->second;
    if (!s.ours() || s.headless || s.type == k8s::service_type::external_name) return {};

    std::vector<const endpoint_slice*> slices;
    if (auto by = slices_by_service_.find(key); by != slices_by_service_.end())
        for (const auto& sk : by->second) slices.push_back(slices_.at(sk).get());

    auto invalid = [&](const std::string& what) {
        ++stats_.invalid_fields;
        VXR_LOG_WARN("services: %s: %s", key.c_str(), what.c_str());
    };
    for (const endpoint_slice* sl : slices)
        for (const auto& sp : sl->ports)
            if (!sp.port || *sp.port == 0)
                invalid("endpointslice " + sl->meta.key() + " port \"" + sp.name + "\" has no port number: ignored");

    std::vector<const service_port*> ports;
    for (const auto& p : s.ports) {
        const std::string label = port_label(p);
        if (p.port == 0) {
            invalid(label + " has port 0: skipped");
            continue;
        }
        const bool in_some_slice = std::any_of(slices.begin(), slices.end(),
                                               [&](const endpoint_slice* sl) { return slice_port_for(*sl, p); });
        if (!slices.empty() && !in_some_slice) invalid(label + " is in none of the Service's EndpointSlices: rejects");
        if (node_ports_apply(s) && p.node_port != 0 && !node_port_in_range(cfg_.node_ports, p.node_port))
            invalid(label + " nodePort " + std::to_string(p.node_port) + " is outside the node-port range: not opened");
        ports.push_back(&p);
    }

    const bool client_ip = s.session_affinity == k8s::affinity::client_ip;
    const uint32_t timeout =
        !client_ip ? 0 : s.session_affinity_timeout_s ? s.session_affinity_timeout_s : k8s::k_default_affinity_timeout_s;
    const bool etp_local = s.external_traffic_policy == k8s::traffic_policy::local;
    const bool itp_local = s.internal_traffic_policy == k8s::traffic_policy::local;
    const uint16_t hc_port = s.type == k8s::service_type::load_balancer && etp_local ? s.health_check_node_port : 0;

    auto table = [&](const std::vector<backend>& list) { return maglev_for(list, key); };

    std::vector<frontend_ptr> out;
    std::set<frontend_key> seen;
    for (ip_family fam : {ip_family::v4, ip_family::v6}) {
        std::vector<ip_addr> cips;
        for (const auto& a : s.cluster_ips)
            if (a.family == fam) cips.push_back(a);
        if (cips.empty()) continue;
        for (const service_port* p : ports) {
            frontend base;
            base.service = key;
            base.port_name = p->name;
            const auto all = collect_backends(slices, *p, fam, cfg_.node_name);
            base.backends = usable(all, false);
            base.local_backends = usable(all, true);
            for (auto* list : {&base.backends, &base.local_backends}) {
                if (list->size() <= cfg_.max_backends) continue;
                invalid(port_label(*p) + ": " + std::to_string(list->size()) + " backends, only the first " +
                        std::to_string(cfg_.max_backends) + " used");
                list->resize(cfg_.max_backends);
            }
            base.maglev = table(base.backends);
            base.local_maglev = table(base.local_backends);
            base.session_affinity = s.session_affinity;
            base.affinity_timeout_s = timeout;
            base.health_check_node_port = hc_port;
            if (hc_port)
                base.health_check_local_ready = static_cast<uint32_t>(std::count_if(
                    all.begin(), all.end(), [](const auto& kv) { return kv.second.local && kv.second.ready; }));
            base.reject = base.backends.empty();

            auto emit = [&](const ip_addr& a, uint16_t port, frontend_kind kind) {
                frontend f = base;
                f.key = {a, p->protocol, port};
                f.kind = kind;
                f.internal_local = kind == frontend_kind::cluster_ip && itp_local;
                f.external_local = kind != frontend_kind::cluster_ip && etp_local;
                if (kind == frontend_kind::load_balancer)
                    for (const auto& r : s.load_balancer_source_ranges)
                        if (r.addr.family == fam) f.source_ranges.push_back(r);
                if (!seen.insert(f.key).second) {
                    // Same address twice (an externalIP that is also the
                    // cluster IP...): the first, more internal, kind wins.
                    ++stats_.conflicts;
                    VXR_LOG_WARN("services: %s: %s claimed twice: the %s claim is dropped", key.c_str(),
                                 f.key.str().c_str(), kind_name(kind).data());
                    return;
                }
                out.push_back(std::make_shared<const frontend>(std::move(f)));
            };
            for (const auto& a : cips) emit(a, p->port, frontend_kind::cluster_ip);
            if (node_ports_apply(s) && p->node_port != 0 && node_port_in_range(cfg_.node_ports, p->node_port))
                for (const auto& a : cfg_.node_ips)
                    if (a.family == fam) emit(a, p->node_port, frontend_kind::node_port);
            for (const auto& a : s.external_ips)
                if (a.family == fam) emit(a, p->port, frontend_kind::external_ip);
            for (const auto& in : s.load_balancer_ingress)
                if (in.ip && in.ip->family == fam && in.ip_mode == k8s::lb_ip_mode::vip)
                    emit(*in.ip, p->port, frontend_kind::load_balancer);
        }
    }
    return out;
}

frontend_delta service_compiler::commit() {
    ++stats_.commits;
    std::set<frontend_key> touched;
    for (const auto& key : dirty_) {
        auto fresh = key.starts_with(k_pod_key_prefix) || key.starts_with(k_cni_key_prefix) ? compile_host_ports(key)
                                                                                             : compile_service(key);
        ++stats_.services_compiled;
        if (auto old = compiled_.find(key); old != compiled_.end()) {
            for (const auto& f : old->second) {
                touched.insert(f->key);
                auto c = claims_.find(f->key);
                c->second.erase(key);
                if (c->second.empty()) claims_.erase(c);
            }
            compiled_.erase(old);
        }
        for (const auto& f : fresh) {
            touched.insert(f->key);
            claims_[f->key][key] = f;
        }
        if (!fresh.empty()) compiled_[key] = std::move(fresh);
    }
    dirty_.clear();

    frontend_delta d;
    for (const auto& k : touched) {
        frontend_ptr winner;
        if (auto c = claims_.find(k); c != claims_.end()) {
            winner = c->second.begin()->second;
            // A claim repeating an earlier one's mapping is that claim again.
            std::vector<const frontend*> distinct;
            for (const auto& [claimant, f] : c->second)
                if (std::none_of(distinct.begin(), distinct.end(), [&](const frontend* d) { return same_mapping(*d, *f); }))
                    distinct.push_back(f.get());
            if (distinct.size() > 1) {
                stats_.conflicts += distinct.size() - 1;
                VXR_LOG_WARN("services: %s is claimed by %zu Services: %s wins", k.str().c_str(), distinct.size(),
                             winner->service.c_str());
            }
        }
        auto p = published_.find(k);
        if (!winner) {
            if (p != published_.end()) {
                d.removed.push_back(k);
                published_.erase(p);
            }
        } else if (p == published_.end()) {
            d.added.push_back(winner);
            published_.emplace(k, winner);
        } else {
            if (!p->second->same_as(*winner)) d.changed.push_back(winner);
            p->second = winner;
        }
    }
    stats_.services = services_.size();
    stats_.endpoint_slices = slices_.size();
    stats_.frontends = published_.size();
    return d;
}

}  // namespace vxr::control::services
