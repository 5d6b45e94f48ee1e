// Hand-built Service and EndpointSlice objects for the Services tests
// (the compiler's and the proxy's), as the watch cache's decoders make them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "control/k8s/objects.hpp"
#include "control/services/service_compiler.hpp"

namespace vxr::control::services {
namespace {

using namespace vxr::control::k8s;

ip_addr ip(const char* s) { return *ip_addr::parse(s); }

constexpr const char* k_node = "node-a";

// This node (k_node, 192.168.1.10) with a small Maglev table.
[[maybe_unused]] compiler_config test_compiler_config() {
    compiler_config c;
    c.node_name = k_node;
    c.node_ips = {ip("192.168.1.10")};
    c.maglev.table_size = 251;
    return c;
}

service make_service(const std::string& name, std::vector<const char*> cips = {"10.96.0.10"}) {
    service s;
    s.meta.ns = "default";
    s.meta.name = name;
    for (auto* c : cips) s.cluster_ips.push_back(ip(c));
    s.ports.push_back({"http", l4_protocol::tcp, 80, port_ref{8080, {}}, 0});
    return s;
}

endpoint ep(const char* addr, const char* node = "node-b", std::optional<bool> ready = true,
            std::optional<bool> serving = std::nullopt, std::optional<bool> terminating = std::nullopt) {
    endpoint e;
    e.addresses.push_back(ip(addr));
    e.node_name = node;
    e.conditions = {ready, serving, terminating};
    return e;
}

endpoint_slice make_slice(const std::string& name, const std::string& svc, std::vector<endpoint> eps,
                          uint16_t port = 8080, const std::string& port_name = "http",
                          endpoint_address_type type = endpoint_address_type::ipv4) {
    endpoint_slice s;
    s.meta.ns = "default";
    s.meta.name = name;
    s.service_name = svc;
    s.address_type = type;
    s.ports.push_back({port_name, l4_protocol::tcp, port});
    s.endpoints = std::move(eps);
    return s;
}

}  // namespace
}  // namespace vxr::control::services
