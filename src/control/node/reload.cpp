// Thread: control.
#include "control/node/reload.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <map>

#include "control/node/router.hpp"

namespace vxr::control {

namespace {

constexpr const char* k_reloadable[] = {"peers", "pods"};

bool reloadable(const std::string& key) {
    return std::find(std::begin(k_reloadable), std::end(k_reloadable), key) != std::end(k_reloadable);
}

bool same_peer(const peer_config& a, const peer_config& b) {
    return a.node_ip == b.node_ip && a.vtep_mac == b.vtep_mac && a.pod_cidr == b.pod_cidr && a.name == b.name;
}

}  // namespace

// Compared through the serialised form, so a key added to the config later
// needs a restart until someone makes it reloadable on purpose.
std::vector<std::string> restart_fields(const config& running, const config& next) {
    rapidjson::Document a, b;
    a.Parse(to_json(running).c_str());
    b.Parse(to_json(next).c_str());
    std::vector<std::string> out;
    auto note = [&](const std::string& k) {
        if (!reloadable(k) && std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
    };
    for (auto it = a.MemberBegin(); it != a.MemberEnd(); ++it) {
        const std::string k = it->name.GetString();
        if (!b.HasMember(it->name) || b[it->name] != it->value) note(k);
    }
    for (auto it = b.MemberBegin(); it != b.MemberEnd(); ++it)
        if (!a.HasMember(it->name)) note(it->name.GetString());
    return out;
}

result<std::string> reload(router& r, const config& next) {
    const config& cur = r.cfg();
    if (auto fields = restart_fields(cur, next); !fields.empty()) {
        std::string list;
        for (const auto& f : fields) list += (list.empty() ? "" : ", ") + f;
        return make_error("changes need a restart: " + list + " (only peers and pods reload)");
    }
    if (auto v = validate(next); !v) return make_error(v.err());

    std::map<ipv4_addr, const peer_config*> old_peers, new_peers;
    for (const auto& p : cur.peers) old_peers[p.node_ip] = &p;
    for (const auto& p : next.peers) new_peers[p.node_ip] = &p;
    std::map<std::string, const pod_config*> old_pods, new_pods;
    for (const auto& p : cur.pods) old_pods[p.name] = &p;
    for (const auto& p : next.pods) new_pods[p.name] = &p;

    // Removals first (a changed entry is removed and added again), so a pod
    // or peer can take over an address another one gave up.
    unsigned peers_added = 0, peers_removed = 0, pods_added = 0, pods_removed = 0;
    std::vector<std::string> errors;
    std::vector<peer_config> kept_peers;
    std::vector<pod_config> kept_pods;
    for (const auto& [name, p] : old_pods) {
        auto it = new_pods.find(name);
        if (it != new_pods.end() && to_json(*it->second) == to_json(*p)) {
            kept_pods.push_back(*p);
            continue;
        }
        if (auto e = r.remove_pod(name); !e) errors.push_back(e.err());
        else ++pods_removed;
    }
    r.begin_batch();
    for (const auto& [ip, p] : old_peers) {
        auto it = new_peers.find(ip);
        if (it != new_peers.end() && same_peer(*it->second, *p)) {
            kept_peers.push_back(*p);
            continue;
        }
        if (auto e = r.remove_peer(ip); !e) errors.push_back(e.err());
        else ++peers_removed;
    }
    for (const auto& [ip, p] : new_peers) {
        auto it = old_peers.find(ip);
        if (it != old_peers.end() && same_peer(*it->second, *p)) continue;
        if (auto e = r.add_peer(*p); !e) errors.push_back(e.err());
        else {
            kept_peers.push_back(*p);
            ++peers_added;
        }
    }
    r.end_batch();
    for (const auto& [name, p] : new_pods) {
        auto it = old_pods.find(name);
        if (it != old_pods.end() && to_json(*it->second) == to_json(*p)) continue;
        if (auto e = r.add_pod(*p); !e) errors.push_back(e.err());
        else {
            kept_pods.push_back(*p);
            ++pods_added;
        }
    }
    // What the router runs now is the reference for the next reload.
    r.set_configured(std::move(kept_peers), std::move(kept_pods));
    std::string summary = std::to_string(peers_added) + " peers added, " + std::to_string(peers_removed) +
                          " removed; " + std::to_string(pods_added) + " pods added, " +
                          std::to_string(pods_removed) + " removed";
    if (!errors.empty()) {
        summary += "; " + std::to_string(errors.size()) + " failed:";
        for (const auto& e : errors) summary += " [" + e + "]";
    }
    return summary;
}

}  // namespace vxr::control
