// Thread: control (main) lcore.
#include "control/node/router.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <unistd.h>

#include "common/log.hpp"
#include "control/node/netns.hpp"
#include "encap/arp.hpp"
#include "encap/vxlan.hpp"

namespace vxr::control {

namespace {
constexpr size_t k_pending_per_neighbor = 64;   // bounded queue per unresolved next hop
constexpr uint64_t k_probe_interval_ms = 1000;
constexpr uint64_t k_failed_retry_ms = 5000;
constexpr uint64_t k_reachable_ms = 30000;      // then re-confirm by unicast ARP, as the kernel does
constexpr uint32_t k_max_probes = 3;
constexpr unsigned k_punts_per_poll = 256;       // keeps one poll short under an ARP storm

bool resolved(neighbor_state s) {
    return s == neighbor_state::reachable || s == neighbor_state::probing || s == neighbor_state::permanent;
}
}  // namespace

router::router(const config& cfg, fastpath::dataplane& dp) : cfg_(cfg), dp_(dp), tsc_hz_(rte_get_tsc_hz()) {}

router::~router() {
    for (auto& n : neighbors_) drop_pending(n);
}

uint32_t router::alloc_nh(const fastpath::nexthop& nh) {
    uint32_t idx;
    if (!free_nh_.empty()) {
        idx = free_nh_.back();
        free_nh_.pop_back();
        nexthops_[idx] = nh;
    } else {
        idx = static_cast<uint32_t>(nexthops_.size());
        nexthops_.push_back(nh);
    }
    return idx;
}

void router::free_nh(uint32_t idx) {
    nexthops_[idx].reset();
    free_nh_.push_back(idx);
}

ipv4_addr router::next_hop_for(ipv4_addr peer_ip) const {
    if (cfg_.node_ip.contains(peer_ip) || !cfg_.underlay_gateway) return peer_ip;
    return *cfg_.underlay_gateway;
}

uint32_t router::neighbor_for(ipv4_addr ip) {
    for (uint32_t i = 0; i < neighbors_.size(); ++i) {
        if (neighbors_[i].ip == ip && (neighbors_[i].users > 0 || neighbors_[i].state == neighbor_state::permanent)) {
            ++neighbors_[i].users;
            return i;
        }
    }
    uint32_t idx = static_cast<uint32_t>(neighbors_.size());
    for (uint32_t i = 0; i < neighbors_.size(); ++i) {
        if (neighbors_[i].users == 0 && neighbors_[i].state != neighbor_state::permanent) {
            idx = i;
            break;
        }
    }
    if (idx == neighbors_.size()) neighbors_.emplace_back();
    neighbor& n = neighbors_[idx];
    n = neighbor{};
    n.ip = ip;
    n.users = 1;
    n.next_probe_tsc = 0;  // probe on the next poll
    return idx;
}

void router::release_neighbor(uint32_t idx) {
    neighbor& n = neighbors_[idx];
    if (n.users > 0) --n.users;
    if (n.users == 0 && n.state != neighbor_state::permanent) drop_pending(n);
}

result<void> router::route_add(ipv4_prefix p, uint32_t nh) {
    auto r = dp_.route_add(p, nh);
    if (!r) return r;
    routes_[p] = nh;
    ++counters_.route_changes;
    return {};
}

void router::route_del(ipv4_prefix p) {
    if (auto r = dp_.route_del(p); !r) VXR_LOG_WARN("%s", r.err().c_str());
    routes_.erase(p);
    ++counters_.route_changes;
}

std::unique_ptr<fastpath::snapshot> router::build() const {
    auto s = std::make_unique<fastpath::snapshot>();
    s->generation = generation_;
    s->node_ip_be = rte_cpu_to_be_32(cfg_.node_ip.addr.value);
    s->gateway_ip_be = rte_cpu_to_be_32(cfg_.gateway_ip().value);
    s->udp_port_be = rte_cpu_to_be_16(cfg_.udp_port);
    s->vni_be = encap::vni_to_be(cfg_.vni);
    s->vtep_mac = encap::to_rte(cfg_.vtep_mac);
    s->gateway_mac = s->vtep_mac;
    s->pod_mtu = cfg_.effective_pod_mtu();
    s->uplink_port = uplink_;
    s->host_port = host_;
    for (const fastpath::port_info* p : dp_.ports()) {
        if (p->id == retiring_port_) continue;
        s->ports[p->id] = dp_.entry_for(p->id);
        for (unsigned w = 0; w < dp_.workers(); ++w)
            s->rx[w].push_back({p->id, static_cast<uint16_t>(w), p->role});
    }
    for (const auto& [name, pod] : pods_) s->ports[pod.port].pod_ip_be = rte_cpu_to_be_32(pod.cfg.ip.value);
    s->nexthops.resize(nexthops_.size());
    for (size_t i = 0; i < nexthops_.size(); ++i)
        if (nexthops_[i]) s->nexthops[i] = *nexthops_[i];
    s->services_owner = services_;
    s->services = services_.get();
    s->peers.resize(peer_slots_);
    for (const auto& [ip, peer] : peers_) {
        const neighbor& n = neighbors_[peer.neighbor];
        encap::template_params tp;
        tp.outer_src_mac = uplink_mac_;
        tp.outer_dst_mac = n.mac;
        tp.src_ip = cfg_.node_ip.addr;
        tp.dst_ip = peer.cfg.node_ip;
        tp.udp_port = cfg_.udp_port;
        tp.vni = cfg_.vni;
        tp.inner_src_mac = cfg_.vtep_mac;
        tp.inner_dst_mac = peer.cfg.vtep_mac;
        auto& pe = s->peers[peer.index];
        pe.tmpl = encap::build_template(tp);
        pe.neighbor = peer.neighbor;
        pe.resolved = resolved(n.state);
    }
    return s;
}

void router::set_services(std::shared_ptr<const fastpath::service_table> t) {
    services_ = std::move(t);
    publish();
}

void router::publish() {
    if (batching_) {
        publish_pending_ = true;
        return;
    }
    ++generation_;
    dp_.publish(build());
    ++counters_.snapshots_published;
}

result<void> router::start() {
    auto up = dp_.attach_port(cfg_.uplink, fastpath::port_role::uplink, cfg_.mtu);
    if (!up) return make_error("uplink: " + up.err());
    uplink_ = *up;
    uplink_mac_ = encap::from_rte(dp_.port(uplink_)->mac);
    {
        rte_eth_conf conf{};
        const bool ip_csum = rte_eth_dev_conf_get(uplink_, &conf) == 0 &&
                             (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM);
        const auto vx = dp_.register_vxlan_port(uplink_, cfg_.udp_port);
        VXR_LOG_INFO("uplink: IPv4 checksums verified by %s; VXLAN on UDP %u parsed by %s",
                     ip_csum ? "the NIC" : "the workers", static_cast<unsigned>(cfg_.udp_port),
                     vx ? "the NIC" : ("the workers: " + vx.err()).c_str());
    }
    if (!cfg_.host_iface.empty()) {
        // The host tap carries the uplink's MAC: the node kernel and vxrouted
        // share one identity on the wire, as they share one NIC.
        auto h = dp_.attach_port("net_tap_vxrhost,iface=" + cfg_.host_iface + ",mac=" + uplink_mac_.str(),
                                 fastpath::port_role::host, cfg_.mtu);
        if (!h) return make_error("host port: " + h.err());
        host_ = *h;
        auto r = plumb_host({cfg_.host_iface, cfg_.node_ip, cfg_.mtu, cfg_.pod_cidr, cfg_.gateway_ip(), cfg_.cluster_cidr,
                             cfg_.services.enabled ? cfg_.services.cluster_ip_ranges : std::vector<ipv4_prefix>{}});
        if (!r) return make_error("host port: " + r.err());
    }
    for (const auto& n : cfg_.neighbors) {
        neighbor nb;
        nb.ip = n.ip;
        nb.mac = n.mac;
        nb.state = neighbor_state::permanent;
        neighbors_.push_back(std::move(nb));
    }
    const uint32_t self_nh = alloc_nh({fastpath::nh_kind::self, 0, 0, {}});
    const uint32_t host_nh = alloc_nh({fastpath::nh_kind::host, host_, 0, encap::to_rte(uplink_mac_)});
    publish();
    if (auto r = route_add({cfg_.gateway_ip(), 32}, self_nh); !r) return r;
    if (auto r = route_add({cfg_.node_ip.addr, 32}, host_nh); !r) return r;
    // The node's overlay address (flannel's <subnet>.0): replies to what the
    // node itself sent to remote pods.
    if (auto r = route_add({cfg_.pod_cidr.addr, 32}, host_nh); !r) return r;
    // Unassigned addresses of our pod subnet (and of the cluster, when we know
    // it) are nobody's: dropped as no_route, never handed to the node kernel,
    // which would route them back to us.
    const uint32_t none_nh = alloc_nh({fastpath::nh_kind::drop, 0, 0, {}});
    publish();
    if (auto r = route_add(cfg_.pod_cidr, none_nh); !r) return r;
    if (cfg_.cluster_cidr)
        if (auto r = route_add(*cfg_.cluster_cidr, none_nh); !r) return r;
    // Everything else leaves through the node kernel, as it does on a flannel
    // node: the node's own addresses, the underlay, the outside world.
    if (host_ != RTE_MAX_ETHPORTS)
        if (auto r = route_add({ipv4_addr{0}, 0}, host_nh); !r) return r;
    begin_batch();
    for (const auto& p : cfg_.peers) {
        if (auto r = add_peer(p); !r) {
            end_batch();
            return r;
        }
    }
    end_batch();
    for (const auto& p : cfg_.pods)
        if (auto r = add_pod(p); !r) return r;
    restore_state();
    return {};
}

std::string router::state_file() const { return cfg_.state_dir + "/" + cfg_.node_name + "-pods.jsonl"; }

// One pod object per line, written whole and renamed into place so that a
// crash never leaves half a file.
void router::save_state() const {
    if (auto r = run_command({"mkdir", "-p", cfg_.state_dir}); !r) {
        VXR_LOG_WARN("state_dir: %s; pods added at run time will not survive a restart", r.err().c_str());
        return;
    }
    const std::string tmp = state_file() + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) {
        VXR_LOG_WARN("cannot write %s: %s", tmp.c_str(), std::strerror(errno));
        return;
    }
    for (const auto& [name, pod] : pods_)
        if (pod.runtime) std::fprintf(f, "%s\n", to_json(pod.cfg).c_str());
    const bool ok = std::fflush(f) == 0 && fsync(fileno(f)) == 0;
    std::fclose(f);
    if (!ok || std::rename(tmp.c_str(), state_file().c_str()) != 0)
        VXR_LOG_WARN("cannot save %s: %s", state_file().c_str(), std::strerror(errno));
}

void router::restore_state() {
    std::ifstream in(state_file());
    if (!in) return;
    std::string line;
    size_t restored = 0, dropped = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        auto p = parse_pod(line);
        if (!p) {
            VXR_LOG_WARN("%s: skipping a saved pod: %s", state_file().c_str(), p.err().c_str());
            ++dropped;
            continue;
        }
        if (pods_.count(p->name)) continue;  // the config file names it now
        if (auto r = add_pod(*p, true); !r) {
            VXR_LOG_WARN("saved pod %s not restored: %s", p->name.c_str(), r.err().c_str());
            ++dropped;
            continue;
        }
        ++restored;
    }
    if (restored || dropped) VXR_LOG_INFO("restored %zu pods from %s (%zu dropped)", restored, state_file().c_str(), dropped);
    save_state();
}

void router::shutdown() {
    shutting_down_ = true;  // the pods go with the process, not from the saved state
    std::vector<std::string> names;
    for (const auto& [name, pod] : pods_) names.push_back(name);
    for (const auto& n : names) (void)remove_pod(n);
}

result<void> router::add_pod(const pod_config& p, bool runtime) {
    if (pods_.count(p.name)) return make_error("pod " + p.name + " already exists");
    for (const auto& [name, pod] : pods_)
        if (pod.cfg.ip == p.ip) return make_error("pod " + p.name + ": IP " + p.ip.str() + " is used by pod " + name);
    if (!cfg_.pod_cidr.contains(p.ip) || p.ip == cfg_.gateway_ip() || p.ip == cfg_.pod_cidr.addr ||
        p.ip.value == (cfg_.pod_cidr.addr.value | ~cfg_.pod_cidr.mask()))
        return make_error("pod " + p.name + ": IP " + p.ip.str() + " is not a host address of " + cfg_.pod_cidr.str() +
                          " other than the gateway");
    pod_state st;
    st.cfg = p;
    if (!p.netns.empty()) {
        const uint32_t seq = tap_seq_++;
        st.tap = "vxt" + std::to_string(seq);
        auto port = dp_.attach_port("net_tap_p" + std::to_string(seq) + ",iface=" + st.tap, fastpath::port_role::pod,
                                    cfg_.effective_pod_mtu());
        if (!port) return make_error("pod " + p.name + ": " + port.err());
        st.port = *port;
        st.mac = encap::from_rte(dp_.port(st.port)->mac);
        auto r = plumb_pod({st.tap, p.netns, p.ifname, p.ip, cfg_.pod_cidr.len, cfg_.effective_pod_mtu(),
                            cfg_.gateway_ip()});
        if (!r) {
            dp_.detach_port(st.port);
            unplumb_pod(p.netns, p.ifname);
            return make_error("pod " + p.name + ": " + r.err());
        }
    } else if (!p.vhost_socket.empty()) {
        st.vhost_path = p.vhost_socket == "auto" ? cfg_.socket_dir + "/" + p.name + "-" + p.ifname + ".sock"
                                                 : p.vhost_socket;
        if (auto r = run_command({"mkdir", "-p", st.vhost_path.substr(0, st.vhost_path.rfind('/'))}); !r)
            return make_error("pod " + p.name + ": " + r.err());
        // We are the reconnecting client, the pod's virtio-user the server:
        // either side may restart. One queue pair per worker.
        auto port = dp_.attach_port("net_vhost_p" + std::to_string(tap_seq_++) + ",iface=" + st.vhost_path +
                                        ",client=1,queues=" + std::to_string(dp_.workers()),
                                    fastpath::port_role::pod, cfg_.effective_pod_mtu());
        if (!port) return make_error("pod " + p.name + ": " + port.err());
        st.port = *port;
        st.mac = *p.mac;
    } else {
        if (!p.mac) return make_error("pod " + p.name + ": a devargs pod needs its mac");
        auto port = dp_.attach_port(p.devargs, fastpath::port_role::pod, cfg_.effective_pod_mtu());
        if (!port) return make_error("pod " + p.name + ": " + port.err());
        st.port = *port;
        st.mac = *p.mac;
    }
    st.nh = alloc_nh({fastpath::nh_kind::pod, st.port, 0, encap::to_rte(st.mac)});
    st.runtime = runtime;
    auto& pod = pods_[p.name] = std::move(st);
    publish();
    if (auto r = route_add({p.ip, 32}, pod.nh); !r) return r;
    if (runtime) save_state();
    VXR_LOG_INFO("pod %s: %s on port %u (%s)", p.name.c_str(), p.ip.str().c_str(), pod.port, pod.mac.str().c_str());
    return {};
}

std::optional<router::pod_view> router::find_pod(const std::string& name) const {
    auto it = pods_.find(name);
    if (it == pods_.end()) return std::nullopt;
    const pod_state& st = it->second;
    return pod_view{st.cfg, st.mac, st.port, st.vhost_path, st.runtime};
}

std::vector<ipv4_addr> router::pod_ips() const {
    std::vector<ipv4_addr> out;
    out.reserve(pods_.size());
    for (const auto& [name, pod] : pods_) out.push_back(pod.cfg.ip);
    return out;
}

result<void> router::remove_pod(const std::string& name) {
    auto it = pods_.find(name);
    if (it == pods_.end()) return make_error("no pod named " + name);
    pod_state st = std::move(it->second);
    route_del({st.cfg.ip, 32});
    pods_.erase(it);
    nexthops_[st.nh].reset();
    // Unpublish the port (its RX queue and TX buffers) before closing it.
    retiring_port_ = st.port;
    publish();
    retiring_port_ = RTE_MAX_ETHPORTS;
    dp_.detach_port(st.port);
    if (!st.cfg.netns.empty()) unplumb_pod(st.cfg.netns, st.cfg.ifname);
    free_nh(st.nh);
    if (st.runtime && !shutting_down_) save_state();
    VXR_LOG_INFO("pod %s removed", name.c_str());
    return {};
}

result<void> router::add_peer(const peer_config& p) {
    if (peers_.count(p.node_ip)) return make_error("peer " + p.node_ip.str() + " already exists");
    if (p.node_ip == cfg_.node_ip.addr) return make_error("peer " + p.node_ip.str() + " is this node");
    auto overlaps = [](ipv4_prefix a, ipv4_prefix b) {
        const uint8_t len = std::min(a.len, b.len);
        return ipv4_prefix{a.addr, len}.network() == ipv4_prefix{b.addr, len}.network();
    };
    if (overlaps(p.pod_cidr, cfg_.pod_cidr))
        return make_error("peer " + p.node_ip.str() + ": pod CIDR " + p.pod_cidr.str() + " overlaps ours");
    for (const auto& [ip, other] : peers_)
        if (overlaps(p.pod_cidr, other.cfg.pod_cidr))
            return make_error("peer " + p.node_ip.str() + ": pod CIDR " + p.pod_cidr.str() + " overlaps peer " +
                              ip.str() + "'s " + other.cfg.pod_cidr.str());
    peer_state st;
    st.cfg = p;
    st.next_hop = next_hop_for(p.node_ip);
    st.neighbor = neighbor_for(st.next_hop);
    if (!peer_slots_free_.empty()) {
        st.index = peer_slots_free_.back();
        peer_slots_free_.pop_back();
    } else {
        st.index = peer_slots_++;
    }
    st.nh = alloc_nh({fastpath::nh_kind::peer, 0, st.index, {}});
    const uint32_t nh = st.nh;
    peers_[p.node_ip] = std::move(st);
    publish();  // the next hop is visible before any route points at it
    if (batching_) {
        pending_routes_.push_back({p.node_ip, p.pod_cidr, nh});
        return {};
    }
    if (auto r = route_add(p.pod_cidr, nh); !r) {
        (void)remove_peer(p.node_ip);
        return r;
    }
    VXR_LOG_INFO("peer %s: %s via %s", p.node_ip.str().c_str(), p.pod_cidr.str().c_str(),
                 next_hop_for(p.node_ip).str().c_str());
    return {};
}

result<void> router::remove_peer(ipv4_addr node_ip) {
    auto it = peers_.find(node_ip);
    if (it == peers_.end()) return make_error("no peer " + node_ip.str());
    peer_state st = std::move(it->second);
    if (routes_.count(st.cfg.pod_cidr)) route_del(st.cfg.pod_cidr);
    peers_.erase(it);
    nexthops_[st.nh].reset();
    publish();  // after this no worker holds the peer's slot
    if (batching_) {
        pending_releases_.push_back(st);
    } else {
        release_peer_slots(st);
    }
    VXR_LOG_INFO("peer %s removed", node_ip.str().c_str());
    return {};
}

void router::release_peer_slots(const peer_state& st) {
    free_nh(st.nh);
    peer_slots_free_.push_back(st.index);
    release_neighbor(st.neighbor);
}

void router::begin_batch() {
    batching_ = true;
    dp_.routes_begin();
}

// The routes the batch deleted, in one route table swap; one snapshot for
// everything the batch changed; then the routes of the peers it added (their
// next hops are visible now) in a second swap, and the slots of the peers it
// removed (no worker holds them now).
void router::end_batch() {
    batching_ = false;
    dp_.routes_commit();
    if (publish_pending_) publish();
    publish_pending_ = false;
    for (const auto& st : pending_releases_) release_peer_slots(st);
    pending_releases_.clear();
    auto routes = std::move(pending_routes_);
    pending_routes_.clear();
    dp_.routes_begin();
    for (const auto& pr : routes) {
        if (!peers_.count(pr.node_ip)) continue;  // removed again within the batch
        if (auto r = route_add(pr.prefix, pr.nh); !r) {
            VXR_LOG_ERROR("peer %s: %s", pr.node_ip.str().c_str(), r.err().c_str());
            (void)remove_peer(pr.node_ip);
        }
    }
    dp_.routes_commit();
}

void router::send_probe(neighbor& n, bool unicast) {
    const rte_ether_addr src = encap::to_rte(uplink_mac_);
    const rte_ether_addr dst = encap::to_rte(n.mac);
    rte_mbuf* m = encap::arp_build_request(dp_.pool(), src, cfg_.node_ip.addr, n.ip, unicast ? &dst : nullptr);
    if (m == nullptr) return;
    dp_.inject(m, uplink_);
    ++counters_.arp_requests_sent;
}

void router::drop_pending(neighbor& n) {
    counters_.pending_dropped += n.pending.size();
    for (rte_mbuf* m : n.pending) rte_pktmbuf_free(m);
    n.pending.clear();
}

void router::flush_pending(neighbor& n) {
    const rte_ether_addr mac = encap::to_rte(n.mac);
    for (rte_mbuf* m : n.pending) {
        rte_pktmbuf_mtod(m, rte_ether_hdr*)->dst_addr = mac;
        dp_.inject(m, uplink_);
        ++counters_.pending_sent;
    }
    n.pending.clear();
}

void router::learn(ipv4_addr ip, const mac_addr& mac) {
    for (auto& n : neighbors_) {
        if (n.ip != ip || n.state == neighbor_state::permanent || n.users == 0) continue;
        const bool changed = !resolved(n.state) || n.mac != mac;
        n.mac = mac;
        n.state = neighbor_state::reachable;
        n.confirmed_tsc = rte_rdtsc();
        n.probes = 0;
        ++counters_.arp_learned;
        if (changed) {
            publish();
            flush_pending(n);
        }
        return;
    }
}

void router::handle_arp(rte_mbuf* m) {
    rte_arp_hdr* arp = encap::arp_parse(m);
    if (arp == nullptr) {
        rte_pktmbuf_free(m);
        return;
    }
    const ipv4_addr sip{rte_be_to_cpu_32(arp->arp_data.arp_sip)};
    const ipv4_addr tip{rte_be_to_cpu_32(arp->arp_data.arp_tip)};
    if (sip.value != 0) learn(sip, encap::from_rte(arp->arp_data.arp_sha));
    if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) && tip == cfg_.node_ip.addr) {
        encap::arp_reply_in_place(m, arp, encap::to_rte(uplink_mac_));
        dp_.inject(m, uplink_);
        ++counters_.arp_replies_sent;
        return;
    }
    // Everything else may matter to the node kernel (replies to its own
    // requests, gratuitous ARP): it shares our MAC on the wire.
    if (host_ != RTE_MAX_ETHPORTS) {
        dp_.inject(m, host_);
        ++counters_.arp_to_host;
    } else {
        rte_pktmbuf_free(m);
    }
}

void router::handle_waiting(rte_mbuf* m, uint32_t idx) {
    if (idx >= neighbors_.size() || neighbors_[idx].users == 0) {
        ++counters_.pending_dropped;
        rte_pktmbuf_free(m);
        return;
    }
    neighbor& n = neighbors_[idx];
    if (resolved(n.state)) {
        // Resolved after the worker punted it.
        rte_pktmbuf_mtod(m, rte_ether_hdr*)->dst_addr = encap::to_rte(n.mac);
        dp_.inject(m, uplink_);
        ++counters_.pending_sent;
        return;
    }
    if (n.pending.size() >= k_pending_per_neighbor) {
        ++counters_.pending_dropped;
        rte_pktmbuf_free(m);
        return;
    }
    n.pending.push_back(m);
}

void router::handle_stale_mac(rte_mbuf* m) {
    constexpr uint64_t k_log_every_s = 60;
    // The worker validated the outer headers: Ethernet, IPv4 (with options),
    // UDP, VXLAN, then the inner Ethernet header.
    const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
    const size_t inner = sizeof(rte_ether_hdr) + (ip->version_ihl & 0xf) * 4u + sizeof(rte_udp_hdr) +
                         sizeof(rte_vxlan_hdr);
    const auto* eth = rte_pktmbuf_mtod_offset(m, const rte_ether_hdr*, inner);
    const ipv4_addr src{rte_be_to_cpu_32(ip->src_addr)};
    // The outer source is whatever the sender wrote: keep a bounded list.
    auto it = stale_.find(src);
    if (it == stale_.end()) {
        if (stale_.size() >= k_max_stale_senders) {
            ++stale_others_;
            rte_pktmbuf_free(m);
            return;
        }
        it = stale_.emplace(src, stale_sender{}).first;
    }
    stale_sender& st = it->second;
    ++st.frames;
    st.last_mac = encap::from_rte(eth->dst_addr);
    const uint64_t now = rte_rdtsc();
    if (st.logged_tsc == 0 || now - st.logged_tsc > k_log_every_s * tsc_hz_) {
        st.logged_tsc = now;
        VXR_LOG_WARN("VXLAN from %s is addressed to VTEP MAC %s, ours is %s: that node has a stale MAC for us "
                     "(%llu frames dropped so far)",
                     src.str().c_str(), st.last_mac.str().c_str(), cfg_.vtep_mac.str().c_str(),
                     static_cast<unsigned long long>(st.frames));
    }
    rte_pktmbuf_free(m);
}

void router::poll() {
    rte_mbuf* pkts[32];
    unsigned handled = 0;
    while (handled < k_punts_per_poll) {
        const unsigned n = dp_.punt_dequeue(pkts, 32);
        if (n == 0) break;
        handled += n;
        for (unsigned i = 0; i < n; ++i) {
            const uint32_t tag = pkts[i]->hash.usr;
            switch (fastpath::punt_tag_kind(tag)) {
                case fastpath::punt_kind::arp: handle_arp(pkts[i]); break;
                case fastpath::punt_kind::stale_mac: handle_stale_mac(pkts[i]); break;
                default: handle_waiting(pkts[i], fastpath::punt_tag_index(tag));
            }
        }
    }
    const uint64_t now = rte_rdtsc();
    const uint64_t ms = tsc_hz_ / 1000;
    bool changed = false;
    for (auto& n : neighbors_) {
        if (n.users == 0 || n.state == neighbor_state::permanent || now < n.next_probe_tsc) continue;
        switch (n.state) {
            case neighbor_state::reachable:
                if (now - n.confirmed_tsc < k_reachable_ms * ms) {
                    n.next_probe_tsc = n.confirmed_tsc + k_reachable_ms * ms;
                    continue;
                }
                n.state = neighbor_state::probing;
                n.probes = 0;
                [[fallthrough]];
            case neighbor_state::probing:
                if (n.probes >= k_max_probes) {
                    VXR_LOG_WARN("neighbour %s stopped answering ARP", n.ip.str().c_str());
                    n.state = neighbor_state::failed;
                    n.probes = 0;
                    changed = true;
                    break;
                }
                send_probe(n, true);
                ++n.probes;
                n.next_probe_tsc = now + k_probe_interval_ms * ms;
                break;
            case neighbor_state::incomplete:
            case neighbor_state::failed:
                send_probe(n, false);
                if (++n.probes >= k_max_probes && n.state == neighbor_state::incomplete) {
                    VXR_LOG_WARN("neighbour %s does not answer ARP; retrying every %llu ms", n.ip.str().c_str(),
                                 static_cast<unsigned long long>(k_failed_retry_ms));
                    n.state = neighbor_state::failed;
                    drop_pending(n);
                }
                n.next_probe_tsc =
                    now + (n.state == neighbor_state::failed ? k_failed_retry_ms : k_probe_interval_ms) * ms;
                break;
            default:
                break;
        }
    }
    if (changed) publish();
}

}  // namespace vxr::control
