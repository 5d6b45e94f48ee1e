// The kube-proxy replacement's control side (service_proxy.hpp).
#include "control/services/service_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>

#include <rte_cycles.h>

#include "common/log.hpp"

namespace vxr::control::services {

namespace {

uint8_t ip_proto(k8s::l4_protocol p) {
    switch (p) {
        case k8s::l4_protocol::udp: return IPPROTO_UDP;
        case k8s::l4_protocol::sctp: return IPPROTO_SCTP;
        default: return IPPROTO_TCP;
    }
}

const char* proto_name(uint8_t p) {
    switch (p) {
        case IPPROTO_UDP: return "UDP";
        case IPPROTO_SCTP: return "SCTP";
        case IPPROTO_TCP: return "TCP";
        default: return "other";
    }
}

rte_be32_t be32_of(const ip_addr& a) {
    rte_be32_t v;
    std::memcpy(&v, a.bytes.data(), 4);  // bytes are in network order
    return v;
}

std::string v4_str(const uint8_t* a) {
    char buf[INET_ADDRSTRLEN];
    return inet_ntop(AF_INET, a, buf, sizeof buf) ? buf : "?";
}

std::string tuple_str(const fastpath::ct_key& k) {
    return v4_str(k.src) + ":" + std::to_string(ntohs(k.sport)) + "->" + v4_str(k.dst) + ":" +
           std::to_string(ntohs(k.dport)) + "/" + proto_name(k.proto);
}

void kv(k8s::json_writer& w, const char* k, const std::string& v) {
    w.Key(k);
    w.String(v.c_str());
}
void kv(k8s::json_writer& w, const char* k, uint64_t v) {
    w.Key(k);
    w.Uint64(v);
}

// One full conntrack sweep per second: a flow leaves the table within a
// second of its timeout, a tenth of the shortest one (tcp_close, 10 s).
constexpr uint64_t k_sweeps_per_second = 1;
constexpr uint32_t k_min_sweep_budget = 256;

}  // namespace

result<std::unique_ptr<service_proxy>> service_proxy::create(compiler_config cfg, const fastpath::dataplane& dp,
                                                             publish_fn publish) {
    if (dp.ct() == nullptr) return make_error("services: the dataplane has no conntrack (enable_services first)");
    auto c = service_compiler::create(std::move(cfg));
    if (!c) return make_error("services: " + c.err());
    return std::unique_ptr<service_proxy>(new service_proxy(std::move(*c), dp, std::move(publish)));
}

std::array<uint64_t, 5> service_proxy::sums(uint32_t id) const {
    std::array<uint64_t, 5> s{};
    for (unsigned w = 0; w < dp_.workers(); ++w) {
        const fastpath::svc_counters& c = dp_.frontend_counters(w)[id];
        s[0] += c.new_flows.get();
        s[1] += c.packets.get();
        s[2] += c.bytes.get();
        s[3] += c.rejects.get();
        s[4] += c.source_denied.get();
    }
    return s;
}

uint32_t service_proxy::assign_id(const frontend_key& key) {
    uint32_t id;
    if (auto it = frontend_ids_.find(key); it != frontend_ids_.end()) return it->second;
    if (!free_frontend_ids_.empty()) {
        id = free_frontend_ids_.back();
        free_frontend_ids_.pop_back();
    } else if (next_frontend_id_ < fastpath::k_max_frontends) {
        id = next_frontend_id_++;
    } else {
        return fastpath::k_max_frontends;
    }
    frontend_ids_[key] = id;
    baselines_[id] = sums(id);  // a reused id starts from zero for its new frontend
    return id;
}

std::vector<service_proxy::frontend_counts> service_proxy::frontend_counters() const {
    std::vector<frontend_counts> out;
    for (const auto& [key, id] : frontend_ids_) {
        auto it = compiler_.frontends().find(key);
        if (it == compiler_.frontends().end()) continue;
        const auto now = sums(id);
        const auto base = baselines_.count(id) ? baselines_.at(id) : std::array<uint64_t, 5>{};
        out.push_back({it->second->service, it->second->port_name, key.str(), now[0] - base[0], now[1] - base[1],
                       now[2] - base[2], now[3] - base[3], now[4] - base[4]});
    }
    return out;
}

void service_proxy::attach(k8s::watch_cache& cache) {
    cache.on_services([this](const k8s::changes<k8s::service>& ch) {
        compiler_.apply(ch);
        dirty_ = true;
    });
    cache.on_endpointslices([this](const k8s::changes<k8s::endpoint_slice>& ch) {
        compiler_.apply(ch);
        dirty_ = true;
    });
    cache.on_pods([this](const k8s::changes<k8s::pod>& ch) {  // their hostPorts
        compiler_.apply(ch);
        dirty_ = true;
    });
}

void service_proxy::poll() {
    if (dirty_) {
        dirty_ = false;
        rebuild();
    }
    housekeeping();
    if (health_) health_->retry_failed();
    if (host_nat_) host_nat_->retry_failed();
}

void service_proxy::serve_host_nat(host_nat_params p, host_nat::runner run) {
    host_nat_ = std::make_unique<host_nat>(std::move(p), std::move(run));
    host_nat_->start();
    // The rules follow the published table: the first one, or the next commit.
    if (table_) host_nat_->update(compiler_.frontends(), compiler_.config().node_ips);
}

void service_proxy::stop_host_nat() {
    if (host_nat_) host_nat_->stop();
}

void service_proxy::serve_health_checks(ipv4_addr bind) {
    health_ = std::make_unique<health_check_server>(bind);
    health_->update(health_checks_of(compiler_.frontends()));
}

uint32_t service_proxy::backend_id(const frontend& f, const backend& b) {
    std::string key = f.service + "|" + f.port_name + "|" + b.key();
    auto [it, added] = backend_ids_.try_emplace(key, next_backend_id_);
    if (added) backend_refs_[next_backend_id_++].key = std::move(key);
    return it->second;
}

std::shared_ptr<const fastpath::svc_pool> service_proxy::pool_for(const frontend& f, bool local) {
    const auto& mt = local ? f.local_maglev : f.maglev;
    const auto& list = local ? f.local_backends : f.backends;
    if (!mt || mt->empty() || list.empty()) return empty_pool_;
    if (auto it = pending_pools_.find(mt.get()); it != pending_pools_.end()) return it->second.pool;
    auto p = std::make_shared<fastpath::svc_pool>();
    p->backends.reserve(list.size());
    for (const backend& b : list) {
        fastpath::svc_backend sb{};
        std::memcpy(sb.addr, b.addr.bytes.data(), b.addr.is_v4() ? 4 : 16);
        sb.port = htons(b.port);
        sb.family = b.addr.is_v4() ? 2 : 10;
        sb.local = b.local;
        sb.id = backend_id(f, b);
        p->backends.push_back(sb);
    }
    p->slots.assign(mt->slots().begin(), mt->slots().end());
    std::shared_ptr<const fastpath::svc_pool> pool = std::move(p);
    pending_pools_.emplace(mt.get(), pool_entry{mt, pool});
    return pool;
}

std::vector<fastpath::svc_source_range> service_proxy::source_ranges_of(const frontend& f) const {
    std::vector<fastpath::svc_source_range> out;
    auto add = [&](const ip_prefix& p) {
        const uint8_t fam = p.addr.is_v4() ? 2 : 10;
        auto r = fastpath::make_svc_source_range(p.addr.bytes.data(), fam, p.len);
        if (r)
            out.push_back(*r);
        else  // the decoder checked the prefix already
            VXR_LOG_WARN("services: %s: source range %s: %s", f.key.str().c_str(), p.str().c_str(), r.err().c_str());
    };
    for (const auto& p : f.source_ranges) add(p);
    // kube-proxy's allowFromNode: when a range holds the node, the node may
    // also reach the address with the address itself as source (a VIP the
    // host has as a local address answers the host from it).
    if (f.ranges_hold_node(compiler_.config().node_ips)) add(ip_prefix{f.key.addr, static_cast<uint8_t>(f.key.addr.is_v4() ? 32 : 128)});
    return out;
}

fastpath::svc_frontend_spec service_proxy::spec_of(const frontend& f, uint32_t id) {
    const frontend_key& key = f.key;
    fastpath::svc_frontend_spec s;
    s.key = fastpath::svc_key_v4(be32_of(key.addr), htons(key.port), ip_proto(key.protocol));
    s.id = id;
    s.kind = static_cast<uint8_t>(f.kind);
    if (f.reject) s.flags |= fastpath::k_svc_reject;
    if (f.internal_local) s.flags |= fastpath::k_svc_local_only;
    if (f.external_local) s.flags |= fastpath::k_svc_external_local;
    if (f.session_affinity == k8s::affinity::client_ip) {
        s.flags |= fastpath::k_svc_affinity;
        s.affinity_timeout_s = f.affinity_timeout_s;
    }
    s.source_ranges = source_ranges_of(f);
    s.all = pool_for(f, false);
    s.local = pool_for(f, true);
    s.name = f.service + ":" + (f.port_name.empty() ? std::to_string(key.port) : f.port_name) + " " + key.str();
    return s;
}

void service_proxy::hold(const fastpath::svc_frontend_spec& s, int delta) {
    for (const auto* p : {s.all.get(), s.local.get()}) {
        if (p == nullptr) continue;
        for (const auto& b : p->backends) {
            auto& r = backend_refs_[b.id];
            r.refs += static_cast<uint32_t>(delta);
            if (r.refs == 0) unreferenced_.insert(b.id);
        }
    }
}

void service_proxy::drop_spec(const frontend_key& key) {
    auto n = spec_names_.find(key);
    if (n == spec_names_.end()) return;
    auto it = specs_.find(n->second);
    hold(*it->second, -1);
    specs_.erase(it);
    spec_names_.erase(n);
}

void service_proxy::respec(const frontend_key& key) {
    auto it = compiler_.frontends().find(key);
    if (it == compiler_.frontends().end() || !key.addr.is_v4()) return drop_spec(key);
    const frontend& f = *it->second;
    const uint32_t id = assign_id(key);
    if (id >= fastpath::k_max_frontends) {
        ++stats_.frontend_ids_exhausted;
        VXR_LOG_ERROR("services: %s of %s skipped: more than %u frontends", key.str().c_str(), f.service.c_str(),
                      fastpath::k_max_frontends);
        unplaced_.insert(key);
        return drop_spec(key);
    }
    unplaced_.erase(key);
    auto s = std::make_shared<const fastpath::svc_frontend_spec>(spec_of(f, id));
    hold(*s, +1);  // before the old entry lets go: a backend in both is not ended
    drop_spec(key);
    spec_names_[key] = s->name;
    specs_.insert_or_assign(s->name, std::move(s));
    ++stats_.last_frontends_rebuilt;
}

void service_proxy::rebuild() {
    const auto t0 = std::chrono::steady_clock::now();
    const frontend_delta d = compiler_.commit();
    pending_pools_.clear();
    stats_.last_frontends_rebuilt = 0;
    // Node addresses decide source ranges (allowFromNode): new ones remake
    // every entry; otherwise only what the delta names, and frontends still
    // waiting for an id.
    std::vector<frontend_key> todo(unplaced_.begin(), unplaced_.end());
    if (specced_node_ips_ != compiler_.config().node_ips) {
        specced_node_ips_ = compiler_.config().node_ips;
        for (const auto& [key, f] : compiler_.frontends()) todo.push_back(key);
    }
    for (const auto* list : {&d.added, &d.changed})
        for (const auto& f : *list) todo.push_back(f->key);
    std::sort(todo.begin(), todo.end());
    todo.erase(std::unique(todo.begin(), todo.end()), todo.end());
    for (const auto& f : d.added) v6_frontends_ += f->key.addr.is_v4() ? 0 : 1;
    for (const auto& k : d.removed) v6_frontends_ -= k.addr.is_v4() ? 0 : 1;
    for (const auto& key : todo) respec(key);
    // After the assignments: an id freed now is reused from the next commit.
    for (const auto& key : d.removed) {
        drop_spec(key);
        unplaced_.erase(key);
        if (auto it = frontend_ids_.find(key); it != frontend_ids_.end()) {
            free_frontend_ids_.push_back(it->second);
            frontend_ids_.erase(it);
        }
    }
    stats_.frontends_skipped += v6_frontends_;
    std::vector<fastpath::svc_spec_ref> specs;
    specs.reserve(specs_.size());
    max_affinity_timeout_s_ = 0;
    for (const auto& [name, s] : specs_) {
        if (s->flags & fastpath::k_svc_affinity)
            max_affinity_timeout_s_ = std::max(max_affinity_timeout_s_, s->affinity_timeout_s);
        specs.push_back(s);
    }
    auto t = fastpath::service_table::build(std::move(specs), SOCKET_ID_ANY, table_.get());
    if (!t) {
        ++stats_.build_errors;
        VXR_LOG_ERROR("services: the workers keep the previous table: %s", t.err().c_str());
        if (health_) health_->set_proxy_healthy(false);  // kube-proxy's serviceProxyHealthy: rules behind
        return;
    }
    table_ = std::shared_ptr<const fastpath::service_table>(std::move(*t));
    pending_pools_.clear();
    publish_(table_);
    ++stats_.tables_published;
    if (health_) {
        health_->update(health_checks_of(compiler_.frontends()));
        health_->set_proxy_healthy(true);
    }
    // After the workers have the frontends the kernel will send there. A
    // failure is logged and counted inside; the table is published anyway.
    if (host_nat_) host_nat_->update(compiler_.frontends(), compiler_.config().node_ips);
    // Backends no table entry holds any more: their flows end, now that
    // the workers no longer pick them.
    for (uint32_t id : unreferenced_) {
        auto it = backend_refs_.find(id);
        if (it == backend_refs_.end() || it->second.refs != 0) continue;
        if (ct_ != nullptr) stats_.flows_ended += ct_->end_backend(id);
        ++stats_.backends_ended;
        backend_ids_.erase(it->second.key);
        backend_refs_.erase(it);
    }
    unreferenced_.clear();
    stats_.last_build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void service_proxy::housekeeping() {
    const uint64_t now = rte_rdtsc();
    const uint64_t hz = rte_get_tsc_hz();
    if (ct_ != nullptr) {
        if (last_sweep_tsc_ == 0) last_sweep_tsc_ = now;
        const uint64_t elapsed = now - last_sweep_tsc_;
        if (elapsed >= hz / 1000) {
            uint64_t budget = ct_->capacity() * k_sweeps_per_second * elapsed / hz;
            budget = std::clamp<uint64_t>(budget, k_min_sweep_budget, ct_->capacity());
            stats_.ct_expired += ct_->expire_some(now, static_cast<uint32_t>(budget));
            last_sweep_tsc_ = now;
        }
    }
    if (affinity_ != nullptr && now - last_affinity_tsc_ >= hz) {
        stats_.affinity_expired += affinity_->expire(fastpath::affinity_table::now_s(now, hz), max_affinity_timeout_s_);
        last_affinity_tsc_ = now;
    }
}

std::string service_proxy::show_services() const {
    rapidjson::StringBuffer sb;
    k8s::json_writer w(sb);
    w.StartObject();
    kv(w, "tables_published", stats_.tables_published);
    kv(w, "build_errors", stats_.build_errors);
    w.Key("last_build_ms");
    w.Double(stats_.last_build_ms);
    w.Key("frontends");
    w.StartArray();
    for (const auto& [key, f] : compiler_.frontends()) {
        w.StartObject();
        auto id = frontend_ids_.find(key);
        w.Key("id");
        if (id != frontend_ids_.end())
            w.Uint(id->second);
        else
            w.Null();  // not in the fast path (IPv6, or over the limit)
        w.Key("frontend");
        write_json(w, *f);
        w.Key("maglev_share");  // of the cluster-wide backends, in their order
        w.StartArray();
        for (size_t i = 0; f->maglev && i < f->backends.size(); ++i) {
            w.StartObject();
            kv(w, "backend", f->backends[i].key());
            w.Key("share");
            w.Double(f->maglev->table_size() ? static_cast<double>(f->maglev->share(i)) / f->maglev->table_size() : 0);
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
    }
    w.EndArray();
    if (health_) {
        w.Key("health_checks");
        write_json(w, *health_);
    }
    if (host_nat_) {
        w.Key("host_nat");
        write_json(w, *host_nat_);
    }
    w.EndObject();
    return sb.GetString();
}

std::string service_proxy::show_conntrack(const std::string& filter, size_t limit) const {
    rapidjson::StringBuffer sb;
    k8s::json_writer w(sb);
    w.StartObject();
    if (ct_ == nullptr) {
        kv(w, "error", std::string("Services are off"));
        w.EndObject();
        return sb.GetString();
    }
    const fastpath::ct_counters c = ct_->counters();
    kv(w, "entries", c.entries);
    kv(w, "capacity", ct_->capacity());
    kv(w, "inserts", c.inserts);
    kv(w, "expiries", c.expiries);
    kv(w, "full", c.full);
    const uint64_t now = rte_rdtsc(), hz = rte_get_tsc_hz();
    size_t shown = 0, matched = 0;
    w.Key("flows");
    w.StartArray();
    ct_->for_each([&](const fastpath::ct_entry& e) {
        const std::string orig = tuple_str(e.key(fastpath::ct_orig)), reply = tuple_str(e.key(fastpath::ct_reply));
        const char* state = fastpath::ct_state_name(e.state());
        if (!filter.empty() && orig.find(filter) == std::string::npos && reply.find(filter) == std::string::npos &&
            filter != state)
            return;
        if (++matched > limit) return;
        ++shown;
        w.StartObject();
        kv(w, "orig", orig);
        kv(w, "reply", reply);
        kv(w, "state", std::string(state));
        if (e.ended()) {
            w.Key("ended");
            w.Bool(true);
        }
        kv(w, "frontend_id", e.frontend_id());
        kv(w, "backend_id", e.backend_id());
        kv(w, "packets_orig", e.packets(fastpath::ct_orig));
        kv(w, "packets_reply", e.packets(fastpath::ct_reply));
        kv(w, "bytes_orig", e.bytes(fastpath::ct_orig));
        kv(w, "bytes_reply", e.bytes(fastpath::ct_reply));
        kv(w, "idle_ms", (now - e.last_seen()) * 1000 / hz);
        w.EndObject();
    });
    w.EndArray();
    kv(w, "shown", shown);
    kv(w, "left_out", matched - shown);
    w.EndObject();
    return sb.GetString();
}

result<std::string> service_proxy::lookup(const std::string& proto, const std::string& dst_ip, uint16_t dst_port,
                                          const std::string& src_ip, uint16_t src_port) const {
    uint8_t p;
    if (proto == "tcp" || proto == "TCP") p = IPPROTO_TCP;
    else if (proto == "udp" || proto == "UDP") p = IPPROTO_UDP;
    else if (proto == "sctp" || proto == "SCTP") p = IPPROTO_SCTP;
    else return make_error("service lookup: protocol must be tcp, udp or sctp, got \"" + proto + "\"");
    in_addr dst{}, src{};
    if (inet_pton(AF_INET, dst_ip.c_str(), &dst) != 1)
        return make_error("service lookup: not an IPv4 address: \"" + dst_ip + "\"");
    if (inet_pton(AF_INET, src_ip.c_str(), &src) != 1)
        return make_error("service lookup: not an IPv4 address: \"" + src_ip + "\"");
    rapidjson::StringBuffer sb;
    k8s::json_writer w(sb);
    w.StartObject();
    const fastpath::svc_frontend* f =
        table_ ? table_->find(fastpath::svc_key_v4(dst.s_addr, htons(dst_port), p)) : nullptr;
    if (f == nullptr) {
        kv(w, "result", std::string("no frontend: routed as it is"));
        w.EndObject();
        return std::string(sb.GetString());
    }
    for (const auto& s : table_->specs())
        if (s->id == f->id) kv(w, "frontend", s->name);
    kv(w, "frontend_id", f->id);
    const fastpath::ct_key k = fastpath::ct_key_v4(src.s_addr, dst.s_addr, htons(src_port), htons(dst_port), p);
    if (ct_ != nullptr) {
        const fastpath::ct_key* kp = &k;
        fastpath::ct_entry* e = nullptr;
        fastpath::ct_dir d;
        if (ct_->lookup_bulk(&kp, 1, &e, &d) != 0) {
            kv(w, "conntrack", "tracked: " + tuple_str(e->translated(d)));
            kv(w, "backend_id", e->backend_id());
        }
    }
    if (f->flags & fastpath::k_svc_reject) {
        kv(w, "result", std::string("reject: no usable endpoint, ICMP port unreachable"));
        w.EndObject();
        return std::string(sb.GetString());
    }
    if ((f->flags & fastpath::k_svc_source_ranges) && !fastpath::service_table::source_allowed_v4(*f, src.s_addr)) {
        kv(w, "result", std::string("dropped: source outside the loadBalancerSourceRanges (svc_source_denied)"));
        w.EndObject();
        return std::string(sb.GetString());
    }
    const uint32_t h = fastpath::svc_flow_hash(src.s_addr, dst.s_addr, htons(src_port), htons(dst_port), p);
    kv(w, "flow_hash", h);
    for (const bool local : {false, true}) {
        const fastpath::svc_pool& pool = local ? *f->local : *f->all;
        w.Key(local ? "local" : "cluster");
        w.StartObject();
        const fastpath::svc_backend* b = fastpath::service_table::pick(pool, h);
        if (b == nullptr) {
            kv(w, "backend", std::string("none"));
        } else {
            kv(w, "slot", h % pool.slots.size());
            kv(w, "backend", v4_str(b->addr) + ":" + std::to_string(ntohs(b->port)));
            kv(w, "backend_id", b->id);
        }
        w.EndObject();
    }
    std::string why = "Maglev slot of the flow hash among the cluster backends";
    if (f->flags & fastpath::k_svc_local_only) why = "internalTrafficPolicy Local: this node's pods use the local backends";
    if (f->flags & fastpath::k_svc_external_local)
        why = "externalTrafficPolicy Local: clients outside use the local backends, this node's pods the cluster ones";
    if (f->flags & fastpath::k_svc_affinity) why += "; sessionAffinity ClientIP may keep the client's last backend";
    kv(w, "why", why);
    w.EndObject();
    return std::string(sb.GetString());
}

}  // namespace vxr::control::services
