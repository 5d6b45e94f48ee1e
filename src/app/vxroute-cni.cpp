// vxroute-cni: the CNI plugin (CNI 1.0.0; configs declaring 0.3.x and 0.4.0
// are answered in their own result format). A thin client: it checks the
// environment and the network configuration, sends one admin request to
// vxrouted (which allocates the address, creates the pod's port and keeps
// the state) and prints the CNI result or error. It holds no state, so
// concurrent invocations for different pods are safe; vxrouted serializes.
//
// Network configuration (stdin): {"cniVersion":..,"name":..,"type":"vxroute-cni",
//   "socket":"/run/vxroute/vxrouted.sock", "kind":"kernel"|"vhost",
//   "sharedDir":"/var/lib/cni/usrspcni", "timeoutMs":30000}
// Per pod, CNI_ARGS "VXROUTE_KIND=vhost" overrides "kind". With
// "capabilities": {"portMappings": true} in the conflist, the runtime adds
// "runtimeConfig": {"portMappings": [...]}: checked here, mapped by vxrouted
// (hostPort frontends; refused when its Services are off).
// Exit status 0 on success; 1 with a CNI error object on stdout otherwise.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "control/admin/admin.hpp"
#include "control/cni/cni.hpp"

namespace cni = vxr::control::cni;

namespace {

int emit_error(const std::string& version, const cni::failure& f) {
    std::printf("%s\n", cni::render_error(version, f).c_str());
    return 1;
}

// The version to answer errors in, before the configuration is validated.
std::string sniff_version(const std::string& text) {
    rapidjson::Document d;
    d.Parse(text.c_str(), text.size());
    if (d.HasParseError() || !d.IsObject()) return "1.0.0";
    auto it = d.FindMember("cniVersion");
    return it != d.MemberEnd() && it->value.IsString() ? it->value.GetString() : "1.0.0";
}

std::string request(const char* cmd, const cni::env& e, const std::string& kind, const cni::net_conf& c) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    auto kv = [&](const char* k, const std::string& v) {
        w.Key(k);
        w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    };
    w.StartObject();
    w.Key("v");
    w.Int(1);
    kv("cmd", cmd);
    kv("container_id", e.container_id);
    kv("netns", e.netns);
    kv("ifname", e.ifname);
    kv("kind", kind);
    // The pod's own directory, named by the short container ID: the full
    // 64-character ID would push the socket past sun_path's 108 bytes.
    kv("shared_dir", c.shared_dir + "/" + e.container_id.substr(0, 12));
    if (c.prev_ip) kv("ip", c.prev_ip->str());
    if (!c.port_mappings.empty()) {
        w.Key("port_mappings");
        cni::write_port_mappings(w, c.port_mappings);
    }
    if (const std::string pod = cni::k8s_pod_of(e); !pod.empty()) kv("k8s_pod", pod);
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace

int main() {
    std::string input(std::istreambuf_iterator<char>(std::cin), {});
    const std::string version = sniff_version(input);
    cni::env e;
    if (auto f = cni::parse_env([](const char* k) { return std::getenv(k); }, e)) return emit_error(version, *f);
    if (e.command == "VERSION") {
        std::printf("%s\n", cni::render_version(version).c_str());
        return 0;
    }
    cni::net_conf conf;
    if (auto f = cni::parse_net_conf(input, conf)) return emit_error(version, *f);
    std::string kind;
    if (auto f = cni::pod_kind(e, conf, kind)) return emit_error(version, *f);
    if (e.command == "CHECK" && (conf.cni_version == "0.3.0" || conf.cni_version == "0.3.1"))
        return emit_error(version, {cni::k_err_incompatible_version, "CHECK needs cniVersion 0.4.0 or later", {}});

    const char* cmd = e.command == "ADD" ? "cni-add" : e.command == "DEL" ? "cni-del" : "cni-check";
    auto reply = vxr::control::admin_call(conf.socket, request(cmd, e, kind, conf), conf.timeout_ms);
    if (!reply)
        return emit_error(version, {cni::k_err_try_again, "vxrouted is not reachable: " + reply.err(),
                                    "admin socket " + conf.socket});
    rapidjson::Document d;
    d.Parse(reply->c_str(), reply->size());
    if (d.HasParseError() || !d.IsObject())
        return emit_error(version, {cni::k_err_daemon, "vxrouted's reply is not a JSON object", *reply});
    auto ok = d.FindMember("ok");
    if (ok == d.MemberEnd() || !ok->value.IsBool() || !ok->value.GetBool()) {
        auto err = d.FindMember("error");
        auto code = d.FindMember("cni_code");
        std::string msg = err != d.MemberEnd() && err->value.IsString() ? err->value.GetString() : *reply;
        int c = code != d.MemberEnd() && code->value.IsInt() ? code->value.GetInt() : cni::k_err_daemon;
        return emit_error(version, {c, "vxrouted: " + msg, {}});
    }
    if (e.command != "ADD") return 0;  // DEL and CHECK print nothing on success
    auto res = d.FindMember("result");
    if (res == d.MemberEnd() || !res->value.IsObject())
        return emit_error(version, {cni::k_err_daemon, "vxrouted's reply has no result", *reply});
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    res->value.Accept(w);
    cni::pod_result pr;
    if (auto f = cni::parse_pod_result(sb.GetString(), pr)) return emit_error(version, *f);
    std::printf("%s\n", cni::render_result(conf.cni_version, pr, e).c_str());
    return 0;
}
