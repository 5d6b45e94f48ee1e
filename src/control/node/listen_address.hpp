// "ADDR:PORT" for the daemon's TCP listeners (the metrics endpoint): an IPv4
// address and a port, no host names (nothing resolves at start-up).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/types.hpp"

namespace vxr::control {

struct listen_address {
    ipv4_addr ip;
    uint16_t port = 0;
    std::string str() const { return ip.str() + ":" + std::to_string(port); }
};

// "127.0.0.1:9464", "0.0.0.0:9464"; port 1..65535. The error says what is
// wrong without the field name (the caller adds it).
result<listen_address> parse_listen_address(std::string_view text);

}  // namespace vxr::control
