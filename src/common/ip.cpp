#include "common/ip.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <cstring>

namespace vxr {

std::optional<ip_addr> ip_addr::parse(std::string_view text) {
    // inet_pton wants a NUL-terminated string; the longest IPv6 text
    // (with an embedded dotted quad) fits in INET6_ADDRSTRLEN.
    char buf[INET6_ADDRSTRLEN];
    if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    ip_addr a;
    if (text.find(':') == std::string_view::npos) {
        if (inet_pton(AF_INET, buf, a.bytes.data()) != 1) return std::nullopt;
        a.family = ip_family::v4;
    } else {
        if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
        a.family = ip_family::v6;
    }
    return a;
}

std::string ip_addr::str() const {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
    return buf;
}

std::optional<ip_prefix> ip_prefix::parse(std::string_view text, bool allow_host_bits) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto addr = ip_addr::parse(text.substr(0, slash));
    if (!addr) return std::nullopt;
    auto len_text = text.substr(slash + 1);
    unsigned len = 0;
    const char* end = len_text.data() + len_text.size();
    auto [p, ec] = std::from_chars(len_text.data(), end, len);
    if (len_text.empty() || ec != std::errc{} || p != end || len > addr->bits()) return std::nullopt;
    ip_prefix pfx{*addr, static_cast<uint8_t>(len)};
    if (!allow_host_bits && pfx.network() != pfx) return std::nullopt;
    return pfx;
}

std::string ip_prefix::str() const { return addr.str() + "/" + std::to_string(len); }

}  // namespace vxr
