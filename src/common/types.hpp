// Strong value types shared by every module: IPv4 address, MAC, prefix, VNI.
// Plain values, no allocation; usable on worker lcores.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vxr {

// IPv4 address in host byte order (tables and LPM use host order; packets
// carry network order, converted at the edge with rte_be_to_cpu_32).
struct ipv4_addr {
    uint32_t value = 0;
    constexpr auto operator<=>(const ipv4_addr&) const = default;
    static std::optional<ipv4_addr> parse(std::string_view text);
    std::string str() const;
};

struct mac_addr {
    std::array<uint8_t, 6> bytes{};
    constexpr auto operator<=>(const mac_addr&) const = default;
    static std::optional<mac_addr> parse(std::string_view text);
    std::string str() const;
    constexpr bool is_zero() const {
        for (auto b : bytes) if (b) return false;
        return true;
    }
};

struct ipv4_prefix {
    ipv4_addr addr;
    uint8_t len = 32;
    constexpr auto operator<=>(const ipv4_prefix&) const = default;
    // "a.b.c.d/len"; host bits must be zero unless allow_host_bits.
    static std::optional<ipv4_prefix> parse(std::string_view text, bool allow_host_bits = false);
    std::string str() const;
    constexpr uint32_t mask() const { return len == 0 ? 0 : ~uint32_t{0} << (32 - len); }
    constexpr bool contains(ipv4_addr a) const { return (a.value & mask()) == (addr.value & mask()); }
    constexpr ipv4_prefix network() const { return {ipv4_addr{addr.value & mask()}, len}; }
};

// 24-bit VXLAN network identifier.
struct vni {
    uint32_t value = 1;
    constexpr auto operator<=>(const vni&) const = default;
    static constexpr uint32_t k_max = 0xffffff;
};

}  // namespace vxr
