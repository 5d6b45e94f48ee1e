// Family-tagged IP addresses and prefixes for the parts of the control plane
// that must not assume IPv4 (Services, EndpointSlices, NetworkPolicy): dual
// stack is on the way, and an IPv6 ClusterIP has to survive decoding today.
// Plain values, no allocation; the fast path keeps its own IPv4 types.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/types.hpp"

namespace vxr {

enum class ip_family : uint8_t { v4 = 4, v6 = 6 };

// Bytes in network order. An IPv4 address uses bytes[0..3] and leaves the
// rest zero, so the defaulted comparisons are exact and v4 sorts before v6.
struct ip_addr {
    ip_family family = ip_family::v4;
    std::array<uint8_t, 16> bytes{};

    constexpr auto operator<=>(const ip_addr&) const = default;

    // Dotted quad, or any IPv6 text inet_pton accepts (no zone index: a
    // zone has no meaning in a cluster-wide address).
    static std::optional<ip_addr> parse(std::string_view text);
    // Canonical text: dotted quad, or RFC 5952 compressed lowercase IPv6.
    std::string str() const;

    constexpr bool is_v4() const { return family == ip_family::v4; }
    constexpr bool is_v6() const { return family == ip_family::v6; }
    constexpr unsigned bits() const { return is_v4() ? 32 : 128; }
    // 0.0.0.0 or :: ("any address" in a hostIP or a bind address).
    constexpr bool is_unspecified() const { return bytes == std::array<uint8_t, 16>{}; }

    static constexpr ip_addr from(ipv4_addr a) {
        ip_addr r;
        r.bytes[0] = static_cast<uint8_t>(a.value >> 24);
        r.bytes[1] = static_cast<uint8_t>(a.value >> 16);
        r.bytes[2] = static_cast<uint8_t>(a.value >> 8);
        r.bytes[3] = static_cast<uint8_t>(a.value);
        return r;
    }
    // Only for IPv4: an IPv4-mapped IPv6 address stays IPv6, as it does on
    // the wire.
    constexpr std::optional<ipv4_addr> as_v4() const {
        if (!is_v4()) return std::nullopt;
        return ipv4_addr{uint32_t{bytes[0]} << 24 | uint32_t{bytes[1]} << 16 | uint32_t{bytes[2]} << 8 | bytes[3]};
    }
};

struct ip_prefix {
    ip_addr addr;
    uint8_t len = 32;

    constexpr auto operator<=>(const ip_prefix&) const = default;

    // "10.0.0.0/8", "fd00::/64". Host bits must be zero unless
    // allow_host_bits; then they are kept (network() drops them).
    static std::optional<ip_prefix> parse(std::string_view text, bool allow_host_bits = false);
    std::string str() const;

    constexpr bool is_v4() const { return addr.is_v4(); }
    // An address of the other family is never inside.
    constexpr bool contains(const ip_addr& a) const {
        if (a.family != addr.family) return false;
        unsigned full = len / 8u;
        for (unsigned i = 0; i < full; ++i)
            if (a.bytes[i] != addr.bytes[i]) return false;
        unsigned rest = len % 8u;
        if (rest == 0) return true;
        auto m = static_cast<uint8_t>(0xffu << (8 - rest));
        return (a.bytes[full] & m) == (addr.bytes[full] & m);
    }
    constexpr bool contains(const ip_prefix& p) const { return p.len >= len && contains(p.addr); }
    constexpr ip_prefix network() const {
        ip_prefix r{ip_addr{addr.family, {}}, len};
        unsigned full = len / 8u;
        for (unsigned i = 0; i < full; ++i) r.addr.bytes[i] = addr.bytes[i];
        if (unsigned rest = len % 8u; rest != 0)
            r.addr.bytes[full] = static_cast<uint8_t>(addr.bytes[full] & (0xffu << (8 - rest)));
        return r;
    }
    static constexpr ip_prefix from(ipv4_prefix p) { return {ip_addr::from(p.addr), p.len}; }
};

}  // namespace vxr
