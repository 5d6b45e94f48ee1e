// "ADDR:PORT" for the daemon's TCP listeners (the metrics endpoint, the
// Services' health-check ports): an IPv4 address and a port, no host names
// (nothing resolves at start-up), and the listening socket itself.
#pragma once

#include <cstdarg>
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

// A non-blocking TCP socket bound to addr (port 0: any free port) and
// listening, with SO_REUSEADDR (a restart must not wait for the previous
// process's TIME_WAIT sockets; a live listener on the port still fails).
// Errors name the address: "cannot listen on 127.0.0.1:9464: Address already in use".
struct listen_socket {
    int fd = -1;
    uint16_t port = 0;  // the bound port
};
result<listen_socket> open_listen_socket(const listen_address& addr, int backlog);

// libmicrohttpd's external logger for the listeners above
// (MHD_OPTION_EXTERNAL_LOGGER, &log_mhd, "what listens"): each message one
// warning, prefixed with `cls` (a const char*), its trailing newline cut.
void log_mhd(void* cls, const char* fmt, va_list ap);

}  // namespace vxr::control
