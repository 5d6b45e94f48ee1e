// The control thread's view of forwarding: pods, peers, underlay neighbours,
// routes and next hops. Every change is applied by building a new snapshot
// off to the side and publishing it (DESIGN.md 3), plus in-place LPM updates
// ordered so that a worker never sees a route whose next hop it cannot read.
// Thread: control (main) lcore only.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "control/node/config.hpp"
#include "control/node/stats.hpp"
#include "fastpath/dataplane.hpp"

namespace vxr::control {

enum class neighbor_state : uint8_t { incomplete, reachable, probing, failed, permanent };
inline constexpr size_t k_neighbor_states = 5;
const char* neighbor_state_name(neighbor_state s);

struct neighbor {
    ipv4_addr ip;
    mac_addr mac;
    neighbor_state state = neighbor_state::incomplete;
    uint64_t confirmed_tsc = 0;   // last time we heard from it
    uint64_t next_probe_tsc = 0;
    uint32_t probes = 0;
    uint32_t users = 0;           // peers whose next hop it is
    std::deque<rte_mbuf*> pending;  // encapsulated packets waiting for its MAC
};

class router {
public:
    router(const config& cfg, fastpath::dataplane& dp);
    ~router();

    // Uplink, host port, static neighbours, then the configured peers and pods.
    result<void> start();
    // Remove pods' ports and interfaces (SIGTERM).
    void shutdown();

    // `runtime`: added through the admin socket (or the CNI plugin), so it is
    // kept in state_dir and re-created when vxrouted restarts.
    result<void> add_pod(const pod_config& p, bool runtime = false);
    result<void> remove_pod(const std::string& name);
    result<void> add_peer(const peer_config& p);
    result<void> remove_peer(ipv4_addr node_ip);
    // Peer changes between these two share one snapshot publication (an
    // initial sync of thousands of nodes would otherwise publish once per
    // node). Added peers get their routes at end_batch; a route add that
    // fails there removes the peer and is logged.
    void begin_batch();
    void end_batch();

    // The Services table the workers translate with (null: none); published
    // at once with the rest of the forwarding state.
    void set_services(std::shared_ptr<const fastpath::service_table> t);

    // Called from the control loop: handle punted packets and neighbour timers.
    void poll();

    // JSON views for the admin socket and telemetry.
    std::string show(const std::string& what) const;

    // Read-only view of one pod (the CNI handler: repeated ADD, CHECK).
    struct pod_view {
        pod_config cfg;
        mac_addr mac;
        uint16_t port = 0;
        std::string vhost_path;
        bool runtime = false;
    };
    std::optional<pod_view> find_pod(const std::string& name) const;
    // Every pod's IP, configured and runtime (IPAM).
    std::vector<ipv4_addr> pod_ips() const;

    const config& cfg() const { return cfg_; }
    // After a reload (reload.cpp) applied them: the static peers and
    // configured pods the next reload compares against.
    void set_configured(std::vector<peer_config> peers, std::vector<pod_config> pods) {
        cfg_.peers = std::move(peers);
        cfg_.pods = std::move(pods);
    }
    size_t pod_count() const { return pods_.size(); }
    size_t peer_count() const { return peers_.size(); }
    size_t route_count() const { return routes_.size(); }
    const control_counters& control_stats() const { return counters_; }
    uint16_t uplink_port() const { return uplink_; }
    // Every attached port, named and counted as `show ports` shows it.
    std::vector<port_stats> collect_ports() const;
    // Neighbours in use (or permanent), by neighbor_state.
    std::array<size_t, k_neighbor_states> neighbor_counts() const;

private:
    struct pod_state {
        pod_config cfg;
        uint16_t port = 0;
        mac_addr mac;
        uint32_t nh = 0;
        std::string tap;  // our-side tap name for kernel pods
        std::string vhost_path;  // vhost-user pods: the socket we connect to
        bool runtime = false;
    };
    std::string state_file() const;
    void save_state() const;
    void restore_state();
    struct peer_state {
        peer_config cfg;
        uint32_t nh = 0;
        uint32_t index = 0;     // slot in snapshot::peers
        ipv4_addr next_hop;
        uint32_t neighbor = 0;
    };
    void release_peer_slots(const peer_state& st);

    uint32_t alloc_nh(const fastpath::nexthop& nh);
    void free_nh(uint32_t idx);
    uint32_t neighbor_for(ipv4_addr ip);
    void release_neighbor(uint32_t idx);
    std::unique_ptr<fastpath::snapshot> build() const;
    void publish();
    result<void> route_add(ipv4_prefix p, uint32_t nh);
    void route_del(ipv4_prefix p);
    void handle_arp(rte_mbuf* m);
    void handle_waiting(rte_mbuf* m, uint32_t neighbor);
    void handle_stale_mac(rte_mbuf* m);
    void learn(ipv4_addr ip, const mac_addr& mac);
    void send_probe(neighbor& n, bool unicast);
    void flush_pending(neighbor& n);
    void drop_pending(neighbor& n);
    ipv4_addr next_hop_for(ipv4_addr peer_ip) const;

    config cfg_;
    fastpath::dataplane& dp_;
    uint16_t uplink_ = RTE_MAX_ETHPORTS;
    uint16_t host_ = RTE_MAX_ETHPORTS;
    uint16_t retiring_port_ = RTE_MAX_ETHPORTS;  // attached, but left out of the next snapshot
    mac_addr uplink_mac_;
    uint32_t tap_seq_ = 0;
    bool shutting_down_ = false;
    // Between begin_batch and end_batch, peer changes share one snapshot.
    struct pending_route {
        ipv4_addr node_ip;
        ipv4_prefix prefix;
        uint32_t nh;
    };
    bool batching_ = false;
    bool publish_pending_ = false;
    std::vector<pending_route> pending_routes_;
    std::vector<peer_state> pending_releases_;
    std::map<std::string, pod_state> pods_;
    std::map<ipv4_addr, peer_state> peers_;
    std::vector<std::optional<fastpath::nexthop>> nexthops_;  // by LPM next-hop index
    std::vector<uint32_t> free_nh_;
    std::vector<uint32_t> peer_slots_free_;
    uint32_t peer_slots_ = 0;
    std::vector<neighbor> neighbors_;
    std::shared_ptr<const fastpath::service_table> services_;
    std::map<ipv4_prefix, uint32_t> routes_;  // what we put in the LPM
    // VXLAN senders whose inner destination MAC is not our VTEP MAC: a peer
    // that cached an old MAC for us blackholes its traffic; this names it.
    struct stale_sender {
        uint64_t frames = 0;
        mac_addr last_mac;
        uint64_t logged_tsc = 0;
    };
    static constexpr size_t k_max_stale_senders = 256;
    std::map<ipv4_addr, stale_sender> stale_;
    uint64_t stale_others_ = 0;  // frames from senders beyond the list's bound
    control_counters counters_;
    uint64_t generation_ = 0;
    uint64_t tsc_hz_ = 0;
};

}  // namespace vxr::control
