// Config -> JSON: the embedded default configuration (the demo's) and the
// compact form the admin protocol, state files and reload comparison use.
// Parsing is in config.cpp.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "control/node/config.hpp"
#include "control/node/json_out.hpp"

namespace vxr::control {

const char* default_config_json() {
    return R"({
  "node_name": "node-a",
  "node_ip": "198.18.0.1/24",
  "uplink": "net_af_packet0,iface=vxr-ua",
  "vtep_mac": "02:76:78:00:00:01",
  "pod_cidr": "10.244.1.0/24",
  "vni": 1,
  "udp_port": 8472,
  "host_iface": "vxr-host",
  "workers": 1,
  "idle_backoff_us": 50,
  "admin_socket": "/run/vxroute/node-a.sock",
  "eal_args": ["-l", "0-1", "--file-prefix=vxr-node-a"],
  "peers": [
    {"name": "node-b", "node_ip": "198.18.0.2", "vtep_mac": "02:76:78:00:00:02", "pod_cidr": "10.244.2.0/24"}
  ],
  "pods": [
    {"name": "pod-a", "ip": "10.244.1.2", "netns": "vxr-pod-a"},
    {"name": "pod-a2", "ip": "10.244.1.3", "netns": "vxr-pod-a2"}
  ]
}
)";
}

namespace {
template <typename W>
void write_pod(W& w, const pod_config& p) {
    w.StartObject();
    kv(w, "name", p.name);
    kv(w, "ip", p.ip.str());
    // ifname is meaningful (and accepted) only for kernel and vhost-user pods.
    if (!p.netns.empty()) kv(w, "netns", p.netns);
    if (!p.vhost_socket.empty()) kv(w, "vhost_socket", p.vhost_socket);
    if (p.devargs.empty()) kv(w, "ifname", p.ifname);
    if (!p.devargs.empty()) kv(w, "devargs", p.devargs);
    if (p.mac) kv(w, "mac", p.mac->str());
    w.EndObject();
}
}  // namespace

std::string to_json(const pod_config& p) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    write_pod(w, p);
    return sb.GetString();
}

// Compact on purpose: the admin protocol is one JSON object per line.
std::string to_json(const config& c) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    kv(w, "node_name", c.node_name);
    kv(w, "node_ip", c.node_ip.str());
    if (c.underlay_gateway) kv(w, "underlay_gateway", c.underlay_gateway->str());
    kv(w, "uplink", c.uplink);
    kv(w, "vtep_mac", c.vtep_mac.str());
    kv(w, "pod_cidr", c.pod_cidr.str());
    if (c.cluster_cidr) kv(w, "cluster_cidr", c.cluster_cidr->str());
    kv(w, "vni", c.vni);
    kv(w, "udp_port", c.udp_port);
    kv(w, "mtu", c.mtu);
    kv(w, "pod_mtu", c.pod_mtu);
    kv(w, "host_iface", c.host_iface);
    kv(w, "workers", c.workers);
    kv(w, "idle_backoff_us", c.idle_backoff_us);
    kv(w, "max_routes", c.max_routes);
    kv(w, "mbufs", c.mbufs);
    kv(w, "admin_socket", c.admin_socket);
    kv(w, "metrics_listen", c.metrics_listen);
    kv(w, "state_dir", c.state_dir);
    kv(w, "socket_dir", c.socket_dir);
    w.Key("eal_args");
    w.StartArray();
    for (const auto& a : c.eal_args) w.String(a.data(), static_cast<rapidjson::SizeType>(a.size()));
    w.EndArray();
    w.Key("peers");
    w.StartArray();
    for (const auto& p : c.peers) {
        w.StartObject();
        if (!p.name.empty()) kv(w, "name", p.name);
        kv(w, "node_ip", p.node_ip.str());
        kv(w, "vtep_mac", p.vtep_mac.str());
        kv(w, "pod_cidr", p.pod_cidr.str());
        w.EndObject();
    }
    w.EndArray();
    w.Key("neighbors");
    w.StartArray();
    for (const auto& n : c.neighbors) {
        w.StartObject();
        kv(w, "ip", n.ip.str());
        kv(w, "mac", n.mac.str());
        w.EndObject();
    }
    w.EndArray();
    w.Key("pods");
    w.StartArray();
    for (const auto& p : c.pods) write_pod(w, p);
    w.EndArray();
    if (const auto& k = c.kubernetes) {
        w.Key("kubernetes");
        w.StartObject();
        if (!k->kubeconfig.empty()) kv(w, "kubeconfig", k->kubeconfig);
        if (k->in_cluster) {
            w.Key("in_cluster");
            w.Bool(true);
        }
        kv(w, "annotation_prefix", k->annotation_prefix);
        w.Key("publish");
        w.Bool(k->publish);
        w.Key("watch");
        w.StartArray();
        for (const auto& r : k->watch) w.String(r.data(), static_cast<rapidjson::SizeType>(r.size()));
        w.EndArray();
        w.EndObject();
    }
    const services_config& sv = c.services;
    w.Key("services");
    w.StartObject();
    w.Key("enabled");
    w.Bool(sv.enabled);
    w.Key("maglev");
    w.StartObject();
    kv(w, "table_size", sv.maglev_table_size);
    kv(w, "seed", sv.maglev_seed);
    w.EndObject();
    w.Key("conntrack");
    w.StartObject();
    kv(w, "max_entries", sv.conntrack_max);
    w.Key("timeouts");
    w.StartObject();
    const auto& t = sv.timeouts;
    kv(w, "tcp_syn_sent", t.tcp_syn_sent);
    kv(w, "tcp_syn_recv", t.tcp_syn_recv);
    kv(w, "tcp_established", t.tcp_established);
    kv(w, "tcp_fin_wait", t.tcp_fin_wait);
    kv(w, "tcp_time_wait", t.tcp_time_wait);
    kv(w, "tcp_close", t.tcp_close);
    kv(w, "udp_unreplied", t.udp_unreplied);
    kv(w, "udp_assured", t.udp_assured);
    w.EndObject();
    w.EndObject();
    kv(w, "node_port_range", sv.node_port_range);
    w.Key("node_port_addresses");
    w.StartArray();
    for (const auto& a : sv.node_port_addresses) w.String(a.str().c_str());
    w.EndArray();
    w.Key("cluster_ip_ranges");
    w.StartArray();
    for (const auto& r : sv.cluster_ip_ranges) w.String(r.str().c_str());
    w.EndArray();
    w.EndObject();
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace vxr::control
