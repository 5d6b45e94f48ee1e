// JSON views of the router's state for the admin socket and telemetry.
// Thread: control (main) lcore; reads worker counters with relaxed loads.
#include <net/if.h>

#include <rte_eal.h>
#include <rte_ethdev.h>

#include <algorithm>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "control/node/json_out.hpp"
#include "control/node/netns.hpp"
#include "control/node/router.hpp"
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

// The per-worker counter block as JSON members (used for each worker and the sum).
void write_sums(writer& w, const counter_sums& c) {
    kv(w, "rx_packets", c.rx_packets);
    kv(w, "tx_packets", c.tx_packets);
    kv(w, "tx_dropped", c.tx_dropped);
#define VXR_EVENT(name) kv(w, #name, c.name);
    VXR_EVENTS(VXR_EVENT)
#undef VXR_EVENT
    kv(w, "busy_cycles", c.busy_cycles);
    kv(w, "total_cycles", c.total_cycles);
    kv(w, "polls", c.polls);
    kv(w, "idle_polls", c.idle_polls);
    kv(w, "dropped", c.dropped());
    w.Key("drops");
    w.StartObject();
    for (size_t i = 0; i < c.drops.size(); ++i) kv(w, std::string(fastpath::k_drop_names[i]).c_str(), c.drops[i]);
    w.EndObject();
}
}  // namespace

std::string router::show(const std::string& what) const {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    if (what == "ports") {
        w.Key("ports");
        w.StartArray();
        for (const port_stats& p : collect_ports()) {
            w.StartObject();
            kv(w, "id", p.id);
            kv(w, "name", p.name);
            kv(w, "dpdk_name", p.dpdk_name);  // what dpdk-dumpcap -i takes
            kv(w, "kind", p.kind);
            kv(w, "mac", p.mac);
            kv(w, "link", p.link_up ? "up" : "down");
            kv(w, "link_changes", p.link_changes);
            kv(w, "queue_state_changes", p.queue_state_changes);
            kv(w, "rx_packets", p.rx_packets);
            kv(w, "tx_packets", p.tx_packets);
            kv(w, "tx_dropped", p.tx_dropped);
            kv(w, "rx_missed", p.rx_missed);
            kv(w, "rx_nombuf", p.rx_nombuf);
            kv(w, "devargs", p.devargs);
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
            kv(w, "state", neighbor_state_name(n.state));
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
            kv(w, "state", neighbor_state_name(n.state));
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
            write_sums(w, one);
            w.EndObject();
        }
        w.EndArray();
        w.Key("total");
        w.StartObject();
        write_sums(w, total);
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

const char* neighbor_state_name(neighbor_state s) {
    switch (s) {
        case neighbor_state::incomplete: return "incomplete";
        case neighbor_state::reachable: return "reachable";
        case neighbor_state::probing: return "probing";
        case neighbor_state::failed: return "failed";
        case neighbor_state::permanent: return "permanent";
    }
    return "?";
}

std::vector<port_stats> router::collect_ports() const {
    std::vector<port_stats> out;
    for (const fastpath::port_info* p : dp_.ports()) {
        port_stats ps;
        ps.id = p->id;
        ps.name = p->name;
        ps.dpdk_name = p->name;
        ps.kind = role_name(p->role);
        const pod_state* kernel_pod = nullptr;
        for (const auto& [pn, pod] : pods_) {
            if (pod.port != p->id) continue;
            ps.name = pn;
            ps.pod_kind = !pod.cfg.netns.empty() ? "kernel" : !pod.vhost_path.empty() ? "vhost-user" : "dpdk";
            if (!pod.cfg.netns.empty()) kernel_pod = &pod;
        }
        if (kernel_pod != nullptr) {
            // net_tap would ask for its tap in our namespace; it is in the pod's.
            auto f = link_flags_in(kernel_pod->cfg.netns, kernel_pod->cfg.ifname);
            ps.link_up = f && (*f & IFF_UP) && (*f & IFF_RUNNING);
        } else {
            rte_eth_link link{};
            rte_eth_link_get_nowait(p->id, &link);
            ps.link_up = link.link_status != 0;
        }
        ps.mac = encap::from_rte(p->mac).str();
        ps.devargs = p->devargs;
        ps.link_changes = p->link_changes.load(std::memory_order_relaxed);
        ps.queue_state_changes = p->queue_state_changes.load(std::memory_order_relaxed);
        for (unsigned i = 0; i < dp_.workers(); ++i) {
            const auto& c = dp_.counters(i).ports[p->id];
            ps.rx_packets += c.rx_packets.get();
            ps.rx_bytes += c.rx_bytes.get();
            ps.tx_packets += c.tx_packets.get();
            ps.tx_bytes += c.tx_bytes.get();
            ps.tx_dropped += c.tx_dropped.get();
        }
        // The device's own counters; per queue only for the queues in use
        // (one RX and one TX queue per worker) that the device reports.
        rte_eth_stats st{};
        if (rte_eth_stats_get(p->id, &st) == 0) {
            ps.rx_missed = st.imissed;
            ps.rx_nombuf = st.rx_nombuf;
            ps.rx_errors = st.ierrors;
            ps.tx_errors = st.oerrors;
            rte_eth_dev_info info{};
            if (rte_eth_dev_info_get(p->id, &info) == 0) {
                const unsigned n = std::min<unsigned>(std::max(info.nb_rx_queues, info.nb_tx_queues),
                                                      RTE_ETHDEV_QUEUE_STAT_CNTRS);
                for (unsigned q = 0; q < n; ++q) {
                    queue_stats qs;
                    qs.id = static_cast<uint16_t>(q);
                    if (q < info.nb_rx_queues) {
                        qs.rx_packets = st.q_ipackets[q];
                        qs.rx_bytes = st.q_ibytes[q];
                    }
                    if (q < info.nb_tx_queues) {
                        qs.tx_packets = st.q_opackets[q];
                        qs.tx_bytes = st.q_obytes[q];
                    }
                    ps.queues.push_back(qs);
                }
            }
        }
        out.push_back(std::move(ps));
    }
    return out;
}

std::array<size_t, k_neighbor_states> router::neighbor_counts() const {
    std::array<size_t, k_neighbor_states> n{};
    for (const auto& nb : neighbors_)
        if (nb.users != 0 || nb.state == neighbor_state::permanent) ++n[static_cast<size_t>(nb.state)];
    return n;
}

}  // namespace vxr::control
