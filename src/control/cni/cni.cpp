// The CNI protocol as the plugin speaks it: environment and network config
// parsed, results and errors rendered, pod names, MACs and addresses derived
// (also used by vxrouted's side, cni_daemon.cpp). No DPDK: the plugin binary
// runs on the host from /opt/cni/bin.
// Thread: the plugin's main thread, or vxrouted's control thread.
#include "control/cni/cni.hpp"
#include "control/cni/cni_json.hpp"
#include "control/node/json_out.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vxr::control::cni {

namespace {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(writer& w, const std::string& s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

std::optional<failure> fail(int code, std::string msg, std::string details = {}) {
    return failure{code, std::move(msg), std::move(details)};
}

uint64_t fnv1a(const std::string& s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

// Both identify the pod; the separator keeps ("ab","c") apart from ("a","bc").
uint64_t pod_hash(const std::string& container_id, const std::string& ifname) {
    return fnv1a(container_id + '\0' + ifname);
}


}  // namespace

const std::vector<std::string>& supported_versions() {
    static const std::vector<std::string> v{"0.3.0", "0.3.1", "0.4.0", "1.0.0"};
    return v;
}

bool supported_version(const std::string& v) {
    const auto& all = supported_versions();
    return std::find(all.begin(), all.end(), v) != all.end();
}

bool valid_container_id(const std::string& id) {
    // SPEC.md: alphanumeric first, then alphanumerics, '_', '.', '-'.
    if (id.empty() || id.size() > 1024 || !std::isalnum(static_cast<unsigned char>(id[0]))) return false;
    return std::all_of(id.begin(), id.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '_' || c == '.' || c == '-';
    });
}

bool valid_ifname(const std::string& n) {
    if (n.empty() || n.size() > 15 || n == "." || n == "..") return false;
    return std::all_of(n.begin(), n.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f && c != '/' && c != ':'; });
}

std::string pod_name(const std::string& container_id, const std::string& ifname) {
    auto clean = [](const std::string& s, size_t max) {
        std::string out;
        for (unsigned char c : s.substr(0, max))
            out += (std::isalnum(c) || c == '.' || c == '_' || c == '-') ? static_cast<char>(c) : '_';
        return out;
    };
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(pod_hash(container_id, ifname)));
    // 4 + 16 + 1 + 15 + 1 + 12 = 49 <= 63
    return "cni-" + clean(container_id, 16) + "-" + clean(ifname, 15) + "-" + std::string(hex, 12);
}

mac_addr pod_mac(const std::string& container_id, const std::string& ifname) {
    const uint64_t h = pod_hash(container_id, ifname) * 0x9e3779b97f4a7c15ull;  // spread the bits
    mac_addr m;
    for (int i = 0; i < 6; ++i) m.bytes[i] = static_cast<uint8_t>(h >> (56 - 8 * i));
    m.bytes[0] = static_cast<uint8_t>((m.bytes[0] & 0xfc) | 0x02);  // locally administered, unicast
    return m;
}

std::string socket_base(const std::string& container_id, const std::string& ifname) {
    return container_id.substr(0, 12) + "-" + ifname;
}

std::optional<ipv4_addr> allocate_ip(ipv4_prefix cidr, const std::vector<ipv4_addr>& used) {
    if (cidr.len > 30) return std::nullopt;
    const uint32_t net = cidr.addr.value & cidr.mask();
    const uint32_t bcast = net | ~cidr.mask();
    std::vector<uint32_t> taken;
    for (auto a : used)
        if (cidr.contains(a)) taken.push_back(a.value);
    std::sort(taken.begin(), taken.end());
    for (uint32_t a = net + 2; a < bcast; ++a)  // net + 1 is the gateway
        if (!std::binary_search(taken.begin(), taken.end(), a)) return ipv4_addr{a};
    return std::nullopt;
}

std::optional<failure> parse_env(const std::function<const char*(const char*)>& getenv, env& out) {
    auto get = [&](const char* k) {
        const char* v = getenv(k);
        return v ? std::string(v) : std::string();
    };
    out.command = get("CNI_COMMAND");
    if (out.command.empty()) return fail(k_err_invalid_env, "CNI_COMMAND is not set");
    if (out.command == "VERSION") return std::nullopt;
    if (out.command != "ADD" && out.command != "DEL" && out.command != "CHECK")
        return fail(k_err_invalid_env, "unsupported CNI_COMMAND \"" + out.command + "\" (ADD, DEL, CHECK, VERSION)");
    out.container_id = get("CNI_CONTAINERID");
    out.netns = get("CNI_NETNS");
    out.ifname = get("CNI_IFNAME");
    out.path = get("CNI_PATH");
    if (out.container_id.empty()) return fail(k_err_invalid_env, "CNI_CONTAINERID is not set");
    if (!valid_container_id(out.container_id))
        return fail(k_err_invalid_env, "CNI_CONTAINERID is not a valid container ID",
                    "must start with a letter or digit, then letters, digits, '_', '.', '-': \"" + out.container_id + "\"");
    if (out.ifname.empty()) return fail(k_err_invalid_env, "CNI_IFNAME is not set");
    if (!valid_ifname(out.ifname))
        return fail(k_err_invalid_env, "CNI_IFNAME is not a valid interface name: \"" + out.ifname + "\"");
    if (out.netns.empty() && out.command != "DEL") return fail(k_err_invalid_env, "CNI_NETNS is not set");
    if (!out.netns.empty() && out.netns[0] != '/')
        return fail(k_err_invalid_env, "CNI_NETNS must be an absolute path: \"" + out.netns + "\"");
    if (out.path.empty()) return fail(k_err_invalid_env, "CNI_PATH is not set");
    const std::string args = get("CNI_ARGS");
    size_t pos = 0;
    while (pos <= args.size()) {
        size_t end = args.find(';', pos);
        if (end == std::string::npos) end = args.size();
        const std::string item = args.substr(pos, end - pos);
        if (!item.empty()) {
            const size_t eq = item.find('=');
            if (eq == std::string::npos || eq == 0)
                return fail(k_err_invalid_env, "CNI_ARGS: expected KEY=VALUE pairs separated by ';', got \"" + item + "\"");
            out.args[item.substr(0, eq)] = item.substr(eq + 1);
        }
        pos = end + 1;
    }
    return std::nullopt;
}

std::optional<failure> parse_net_conf(const std::string& text, net_conf& out) {
    rapidjson::Document d;
    d.Parse(text.c_str(), text.size());
    if (d.HasParseError()) return fail(k_err_decode, "network configuration on stdin is not valid JSON");
    if (!d.IsObject()) return fail(k_err_decode, "network configuration on stdin is not a JSON object");
    auto it = d.FindMember("cniVersion");
    if (it == d.MemberEnd() || !it->value.IsString())
        return fail(k_err_invalid_config, "network configuration: \"cniVersion\" (string) is required");
    out.cni_version = it->value.GetString();
    if (!supported_version(out.cni_version))
        return fail(k_err_incompatible_version, "incompatible CNI version \"" + out.cni_version + "\"",
                    "vxroute-cni supports 0.3.0, 0.3.1, 0.4.0, 1.0.0");
    out.name = str_member(d, "name");
    if (out.name.empty()) return fail(k_err_invalid_config, "network configuration: \"name\" (string) is required");
    if (str_member(d, "type") != "vxroute-cni")
        return fail(k_err_invalid_config, "network configuration: \"type\" must be \"vxroute-cni\"");
    auto opt_string = [&](const char* key, std::string& dst) -> std::optional<failure> {
        auto m = d.FindMember(key);
        if (m == d.MemberEnd()) return std::nullopt;
        if (!m->value.IsString() || m->value.GetStringLength() == 0)
            return fail(k_err_invalid_config, std::string("network configuration: \"") + key + "\" must be a non-empty string");
        dst = m->value.GetString();
        return std::nullopt;
    };
    if (auto f = opt_string("socket", out.socket)) return f;
    if (auto f = opt_string("kind", out.kind)) return f;
    if (auto f = opt_string("sharedDir", out.shared_dir)) return f;
    if (out.socket[0] != '/') return fail(k_err_invalid_config, "network configuration: \"socket\" must be an absolute path");
    if (out.kind != "kernel" && out.kind != "vhost")
        return fail(k_err_invalid_config, "network configuration: \"kind\" must be \"kernel\" or \"vhost\", got \"" + out.kind + "\"");
    if (out.shared_dir[0] != '/')
        return fail(k_err_invalid_config, "network configuration: \"sharedDir\" must be an absolute path");
    if (auto m = d.FindMember("timeoutMs"); m != d.MemberEnd()) {
        if (!m->value.IsInt() || m->value.GetInt() <= 0)
            return fail(k_err_invalid_config, "network configuration: \"timeoutMs\" must be a positive integer");
        out.timeout_ms = m->value.GetInt();
    }
    if (auto rc = d.FindMember("runtimeConfig"); rc != d.MemberEnd()) {
        if (!rc->value.IsObject())
            return fail(k_err_invalid_config, "network configuration: \"runtimeConfig\" must be an object");
        if (auto pm = rc->value.FindMember("portMappings"); pm != rc->value.MemberEnd())
            if (auto f = parse_port_mappings(pm->value, "network configuration: runtimeConfig.portMappings",
                                             out.port_mappings))
                return f;
    }
    if (auto m = d.FindMember("prevResult"); m != d.MemberEnd() && m->value.IsObject()) {
        auto ips = m->value.FindMember("ips");
        if (ips != m->value.MemberEnd() && ips->value.IsArray())
            for (const auto& ip : ips->value.GetArray()) {
                auto p = ipv4_prefix::parse(str_member(ip, "address"), true);
                if (p) {
                    out.prev_ip = p->addr;
                    break;
                }
            }
    }
    return std::nullopt;
}

std::optional<failure> pod_kind(const env& e, const net_conf& c, std::string& kind) {
    kind = c.kind;
    if (auto it = e.args.find("VXROUTE_KIND"); it != e.args.end()) {
        if (it->second != "kernel" && it->second != "vhost")
            return fail(k_err_invalid_env, "CNI_ARGS: VXROUTE_KIND must be kernel or vhost, got \"" + it->second + "\"");
        kind = it->second;
    }
    return std::nullopt;
}

std::string render_result(const std::string& v, const pod_result& r, const env& e) {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    kv(w, "cniVersion", v);
    w.Key("interfaces");
    w.StartArray();
    w.StartObject();
    kv(w, "name", e.ifname);
    kv(w, "mac", r.mac);
    kv(w, "sandbox", e.netns);
    if (!r.socket_path.empty()) kv(w, "socketPath", r.socket_path);
    w.EndObject();
    w.EndArray();
    w.Key("ips");
    w.StartArray();
    w.StartObject();
    if (v != "1.0.0") kv(w, "version", "4");  // gone in 1.0.0
    kv(w, "address", r.ip.str() + "/" + std::to_string(r.prefix_len));
    kv(w, "gateway", r.gateway.str());
    w.Key("interface");
    w.Int(0);
    w.EndObject();
    w.EndArray();
    w.Key("routes");
    w.StartArray();
    w.StartObject();
    kv(w, "dst", "0.0.0.0/0");
    kv(w, "gw", r.gateway.str());
    w.EndObject();
    w.EndArray();
    w.Key("dns");
    w.StartObject();
    w.EndObject();
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

std::string render_error(const std::string& v, const failure& f) {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    kv(w, "cniVersion", supported_version(v) ? v : "1.0.0");
    w.Key("code");
    w.Int(f.code);
    kv(w, "msg", f.msg);
    if (!f.details.empty()) kv(w, "details", f.details);
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

std::string render_version(const std::string& v) {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    kv(w, "cniVersion", supported_version(v) ? v : "1.0.0");
    w.Key("supportedVersions");
    w.StartArray();
    for (const auto& s : supported_versions()) put(w, s);
    w.EndArray();
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

std::optional<failure> parse_pod_result(const std::string& text, pod_result& out) {
    rapidjson::Document d;
    d.Parse(text.c_str(), text.size());
    if (d.HasParseError() || !d.IsObject()) return fail(k_err_daemon, "vxrouted's result is not a JSON object");
    auto ip = ipv4_addr::parse(str_member(d, "ip"));
    auto gw = ipv4_addr::parse(str_member(d, "gateway"));
    auto pl = d.FindMember("prefix_len");
    auto mtu = d.FindMember("mtu");
    if (!ip || !gw || pl == d.MemberEnd() || !pl->value.IsUint() || pl->value.GetUint() > 32)
        return fail(k_err_daemon, "vxrouted's result lacks ip, gateway or prefix_len", text);
    out.name = str_member(d, "name");
    out.ip = *ip;
    out.gateway = *gw;
    out.prefix_len = static_cast<uint8_t>(pl->value.GetUint());
    out.mac = str_member(d, "mac");
    out.mtu = mtu != d.MemberEnd() && mtu->value.IsUint() ? static_cast<uint16_t>(mtu->value.GetUint()) : 0;
    out.kind = str_member(d, "kind");
    out.socket_path = str_member(d, "socket_path");
    out.config_path = str_member(d, "config_path");
    return std::nullopt;
}

}  // namespace vxr::control::cni
