#include "common/types.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <cstdio>

namespace vxr {

std::optional<ipv4_addr> ipv4_addr::parse(std::string_view text) {
    std::string s(text);
    in_addr a{};
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
    return ipv4_addr{ntohl(a.s_addr)};
}

std::string ipv4_addr::str() const {
    char buf[INET_ADDRSTRLEN];
    in_addr a{htonl(value)};
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
}

std::optional<mac_addr> mac_addr::parse(std::string_view text) {
    if (text.size() != 17) return std::nullopt;
    mac_addr m;
    for (size_t i = 0; i < 6; ++i) {
        if (i > 0 && text[i * 3 - 1] != ':') return std::nullopt;
        auto part = text.substr(i * 3, 2);
        unsigned v = 0;
        auto [p, ec] = std::from_chars(part.data(), part.data() + 2, v, 16);
        if (ec != std::errc{} || p != part.data() + 2) return std::nullopt;
        m.bytes[i] = static_cast<uint8_t>(v);
    }
    return m;
}

std::string mac_addr::str() const {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                  bytes[3], bytes[4], bytes[5]);
    return buf;
}

std::optional<ipv4_prefix> ipv4_prefix::parse(std::string_view text, bool allow_host_bits) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto addr = ipv4_addr::parse(text.substr(0, slash));
    if (!addr) return std::nullopt;
    auto len_text = text.substr(slash + 1);
    unsigned len = 0;
    auto [p, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (ec != std::errc{} || p != len_text.data() + len_text.size() || len > 32) return std::nullopt;
    ipv4_prefix pfx{*addr, static_cast<uint8_t>(len)};
    if (!allow_host_bits && pfx.network() != pfx) return std::nullopt;
    return pfx;
}

std::string ipv4_prefix::str() const { return addr.str() + "/" + std::to_string(len); }

}  // namespace vxr
