#include "control/node/listen_address.hpp"

#include <charconv>

namespace vxr::control {

result<listen_address> parse_listen_address(std::string_view text) {
    const std::string shown = "\"" + std::string(text) + "\"";
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
        return make_error("not ADDR:PORT (an IPv4 address and a port, e.g. \"127.0.0.1:9464\"): " + shown);
    auto ip = ipv4_addr::parse(text.substr(0, colon));
    if (!ip) return make_error("not an IPv4 address before the ':' (host names are not resolved): " + shown);
    const std::string_view port = text.substr(colon + 1);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value < 1 || value > 65535)
        return make_error("port must be 1..65535: " + shown);
    return listen_address{*ip, static_cast<uint16_t>(value)};
}

}  // namespace vxr::control
