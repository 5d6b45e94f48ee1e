// JSON views of the router's state for the admin socket and telemetry.
// Thread: control (main) lcore; reads worker counters with relaxed loads.
#include <rte_eal.h>
#include <rte_ethdev.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "control/json_out.hpp"
#include "control/router.hpp"
#include "encap/wire.hpp"

namespace vxr::control {

namespace {
using writer = rapidjson::Writer<rapidjson::StringBuffer>;

const char* role_name(fastpath::port_role r) {
    switch (r) {
        case fastpath::port_role::uplink: return "uplink";
        case fastpath::port_role::pod: return "pod";
        case fastpath::port_role::host: return "host";
        default: return "none";
    }
}

const char* state_name(neighbor_state s) {
    switch (s) {
        case neighbor_state::incomplete: return "incomplete";
        case neighbor_state::reachable: return "reachable";
        case neighbor_state::probing: return "probing";
        case neighbor_state::failed: return "failed";
        case neighbor_state::permanent: return "permanent";
    }
    return "?";
}


// The per-worker counter block as JSON members (used for each worker and the sum).
struct counter_sums {
#define VXR_EVENT(name) uint64_t name = 0;
    VXR_EVENTS(VXR_EVENT)
#undef VXR_EVENT
    uint64_t busy_cycles = 0, total_cycles = 0, polls = 0, idle_polls = 0, rx_packets = 0, tx_packets = 0,
             tx_dropped = 0;
    std::array<uint64_t, fastpath::k_drop_reasons> drops{};

    void add(const fastpath::worker_counters& c) {
#define VXR_EVENT(name) name += c.name.get();
        VXR_EVENTS(VXR_EVENT)
#undef VXR_EVENT
        busy_cycles += c.busy_cycles.get();
        total_cycles += c.total_cycles.get();
        polls += c.polls.get();
        idle_polls += c.idle_polls.get();
        for (auto& p : c.ports) {
            rx_packets += p.rx_packets.get();
            tx_packets += p.tx_packets.get();
            tx_dropped += p.tx_dropped.get();
        }
        for (size_t i = 0; i < drops.size(); ++i) drops[i] += c.drops[i].get();
    }
    void write(writer& w) const {
        kv(w, "rx_packets", rx_packets);
        kv(w, "tx_packets", tx_packets);
        kv(w, "tx_dropped", tx_dropped);
#define VXR_EVENT(name) kv(w, #name, name);
        VXR_EVENTS(VXR_EVENT)
#undef VXR_EVENT
        kv(w, "busy_cycles", busy_cycles);
        kv(w, "total_cycles", total_cycles);
        kv(w, "polls", polls);
        kv(w, "idle_polls", idle_polls);
        uint64_t dropped = 0;
        for (auto d : drops) dropped += d;
        kv(w, "dropped", dropped);
        w.Key("drops");
        w.StartObject();
        for (size_t i = 0; i < drops.size(); ++i) kv(w, std::string(fastpath::k_drop_names[i]).c_str(), drops[i]);
        w.EndObject();
    }
};
}  // namespace

std::string router::show(const std::string& what) const {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    if (what == "ports") {
        w.Key("ports");
        w.StartArray();
        for (const fastpath::port_info* p : dp_.ports()) {
            w.StartObject();
            kv(w, "id", p->id);
            std::string name = p->name;
            for (const auto& [pn, pod] : pods_)
                if (pod.port == p->id) name = pn;
            kv(w, "name", name);
            kv(w, "dpdk_name", p->name);  // what dpdk-dumpcap -i takes
            kv(w, "kind", role_name(p->role));
            kv(w, "mac", encap::from_rte(p->mac).str());
            rte_eth_link link{};
            rte_eth_link_get_nowait(p->id, &link);
            kv(w, "link", link.link_status ? "up" : "down");
            kv(w, "link_changes", p->link_changes.load(std::memory_order_relaxed));
            kv(w, "queue_state_changes", p->queue_state_changes.load(std::memory_order_relaxed));
            uint64_t rx = 0, tx = 0, txd = 0;
            for (unsigned i = 0; i < dp_.workers(); ++i) {
                rx += dp_.counters(i).ports[p->id].rx_packets.get();
                tx += dp_.counters(i).ports[p->id].tx_packets.get();
                txd += dp_.counters(i).ports[p->id].tx_dropped.get();
            }
            rte_eth_stats st{};
            rte_eth_stats_get(p->id, &st);
            kv(w, "rx_packets", rx);
            kv(w, "tx_packets", tx);
            kv(w, "tx_dropped", txd);
            kv(w, "rx_missed", st.imissed);
            kv(w, "rx_nombuf", st.rx_nombuf);
            kv(w, "devargs", p->devargs);
            w.EndObject();
        }
        w.EndArray();
        // The operator's capture command: dpdk-dumpcap attaches as a
        // secondary process, so it needs our EAL file prefix (the last part
        // of EAL's runtime directory). -p: no promiscuous mode, so that the
        // capture shows what vxrouted receives and changes nothing.
        std::string prefix = rte_eal_get_runtime_dir();
        prefix = prefix.substr(prefix.rfind('/') + 1);
        kv(w, "capture", "dpdk-dumpcap --file-prefix=" + prefix + " -p -i <dpdk_name> -w FILE.pcapng");
    } else if (what == "routes") {
        w.Key("routes");
        w.StartArray();
        for (const auto& [pfx, nh] : routes_) {
            w.StartObject();
            kv(w, "prefix", pfx.str());
            const auto& n = nexthops_[nh];
            std::string kind = "drop", via = "-";
            if (n) {
                switch (n->kind) {
                    case fastpath::nh_kind::pod: kind = "pod"; via = "port " + std::to_string(n->port); break;
                    case fastpath::nh_kind::host: kind = "host"; via = "host port"; break;
                    case fastpath::nh_kind::self: kind = "gateway"; via = "local"; break;
                    case fastpath::nh_kind::peer:
                        kind = "peer";
                        for (const auto& [ip, p] : peers_)
                            if (p.index == n->peer) via = "vxlan " + ip.str();
                        break;
                    default: break;
                }
            }
            kv(w, "kind", kind);
            kv(w, "via", via);
            kv(w, "nexthop", nh);
            w.EndObject();
        }
        w.EndArray();
        kv(w, "count", routes_.size());
    } else if (what == "peers") {
        w.Key("peers");
        w.StartArray();
        for (const auto& [ip, p] : peers_) {
            const neighbor& n = neighbors_[p.neighbor];
            w.StartObject();
            kv(w, "name", p.cfg.name.empty() ? "-" : p.cfg.name);
            kv(w, "node_ip", ip.str());
            kv(w, "vtep_mac", p.cfg.vtep_mac.str());
            kv(w, "pod_cidr", p.cfg.pod_cidr.str());
            kv(w, "next_hop", p.next_hop.str());
            kv(w, "next_hop_mac", n.mac.str());
            kv(w, "state", state_name(n.state));
            auto st = stale_.find(ip);
            kv(w, "stale_mac_drops", st == stale_.end() ? 0 : st->second.frames);
            w.EndObject();
        }
        w.EndArray();
        // Senders with a stale VTEP MAC for us, peers or not.
        w.Key("stale_mac_senders");
        w.StartArray();
        for (const auto& [ip, st] : stale_) {
            w.StartObject();
            kv(w, "node_ip", ip.str());
            kv(w, "frames", st.frames);
            kv(w, "their_mac_for_us", st.last_mac.str());
            kv(w, "our_vtep_mac", cfg_.vtep_mac.str());
            w.EndObject();
        }
        w.EndArray();
        kv(w, "stale_mac_other_frames", stale_others_);
    } else if (what == "neighbors") {
        w.Key("neighbors");
        w.StartArray();
        const uint64_t now = rte_rdtsc();
        for (const auto& n : neighbors_) {
            if (n.users == 0 && n.state != neighbor_state::permanent) continue;
            w.StartObject();
            kv(w, "ip", n.ip.str());
            kv(w, "mac", n.mac.str());
            kv(w, "state", state_name(n.state));
            kv(w, "age_s", n.confirmed_tsc ? (now - n.confirmed_tsc) / tsc_hz_ : 0);
            kv(w, "queued", n.pending.size());
            kv(w, "users", n.users);
            w.EndObject();
        }
        w.EndArray();
    } else if (what == "pods") {
        w.Key("pods");
        w.StartArray();
        for (const auto& [name, p] : pods_) {
            w.StartObject();
            kv(w, "name", name);
            kv(w, "ip", p.cfg.ip.str());
            kv(w, "mac", p.mac.str());
            kv(w, "port", p.port);
            kv(w, "kind", !p.cfg.netns.empty() ? "kernel" : !p.vhost_path.empty() ? "vhost-user" : "dpdk");
            kv(w, "attach", !p.cfg.netns.empty() ? p.cfg.netns + ":" + p.cfg.ifname
                            : !p.vhost_path.empty() ? p.vhost_path
                                                    : p.cfg.devargs);
            kv(w, "runtime", p.runtime ? "yes" : "no");
            w.EndObject();
        }
        w.EndArray();
    } else if (what == "counters") {
        counter_sums total;
        w.Key("workers");
        w.StartArray();
        for (unsigned i = 0; i < dp_.workers(); ++i) {
            counter_sums one;
            one.add(dp_.counters(i));
            total.add(dp_.counters(i));
            w.StartObject();
            kv(w, "worker", i);
            kv(w, "lcore", dp_.worker_lcore(i));
            one.write(w);
            w.EndObject();
        }
        w.EndArray();
        w.Key("total");
        w.StartObject();
        total.write(w);
        w.EndObject();
        w.Key("control");
        w.StartObject();
        kv(w, "arp_requests_sent", counters_.arp_requests_sent);
        kv(w, "arp_replies_sent", counters_.arp_replies_sent);
        kv(w, "arp_learned", counters_.arp_learned);
        kv(w, "arp_to_host", counters_.arp_to_host);
        kv(w, "pending_sent", counters_.pending_sent);
        kv(w, "pending_dropped", counters_.pending_dropped);
        kv(w, "inject_dropped", dp_.inject_dropped());
        kv(w, "snapshots_published", counters_.snapshots_published);
        kv(w, "route_changes", counters_.route_changes);
        kv(w, "mbufs_in_use", rte_mempool_in_use_count(dp_.pool()));
        w.EndObject();
    } else {
        w.EndObject();
        return {};
    }
    w.EndObject();
    return sb.GetString();
}

}  // namespace vxr::control
