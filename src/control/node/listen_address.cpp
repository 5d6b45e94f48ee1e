#include "control/node/listen_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "common/log.hpp"

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

result<listen_socket> open_listen_socket(const listen_address& addr, int backlog) {
    const std::string where = addr.str();
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error("cannot listen on " + where + ": socket: " + std::strerror(errno));
    auto fail = [&](const char* step) {
        std::string msg = "cannot listen on " + where + ": " + step + std::strerror(errno);
        ::close(fd);
        return make_error(msg);
    };
    int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) return fail("SO_REUSEADDR: ");
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(addr.port);
    sa.sin_addr.s_addr = htonl(addr.ip.value);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return fail("");
    if (::listen(fd, backlog) != 0) return fail("listen: ");
    socklen_t len = sizeof sa;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return fail("getsockname: ");
    return listen_socket{fd, ntohs(sa.sin_port)};
}

void log_mhd(void* cls, const char* fmt, va_list ap) {
    char buf[512];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = std::strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    VXR_LOG_WARN("%s: %s", static_cast<const char*>(cls), buf);
}

}  // namespace vxr::control
