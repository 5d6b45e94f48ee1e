// Per-worker counters. Each worker writes only its own block (cache-line
// aligned, so workers never share a line); any thread may read them. Relaxed
// atomics compile to plain loads and stores on x86, so counting costs what a
// plain increment costs, and readers never see torn values.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include <rte_config.h>
#include <rte_common.h>

namespace vxr::fastpath {

enum class drop_reason : uint16_t {
#define VXR_DROP(name, desc) name,
#include "fastpath/drop_reasons.def"
#undef VXR_DROP
    count_
};
inline constexpr size_t k_drop_reasons = static_cast<size_t>(drop_reason::count_);

inline constexpr std::array<std::string_view, k_drop_reasons> k_drop_names = {
#define VXR_DROP(name, desc) #name,
#include "fastpath/drop_reasons.def"
#undef VXR_DROP
};
inline constexpr std::array<std::string_view, k_drop_reasons> k_drop_descriptions = {
#define VXR_DROP(name, desc) desc,
#include "fastpath/drop_reasons.def"
#undef VXR_DROP
};

class counter {
public:
    void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    uint64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

struct alignas(RTE_CACHE_LINE_SIZE) port_counters {
    counter rx_packets, rx_bytes, tx_packets, tx_bytes, tx_dropped;
};

// The per-event counters besides drops. VXR_EVENT(name)
#define VXR_EVENTS(VXR_EVENT)                                                                       \
    VXR_EVENT(encapsulated) VXR_EVENT(decapsulated) VXR_EVENT(routed_local) VXR_EVENT(to_host)      \
    VXR_EVENT(from_host) VXR_EVENT(arp_replied) VXR_EVENT(icmp_sent) VXR_EVENT(punted)              \
    VXR_EVENT(injected) VXR_EVENT(snapshots_seen) VXR_EVENT(ct_hits) VXR_EVENT(svc_new_flows)          \
    VXR_EVENT(svc_translated) VXR_EVENT(svc_untranslated) VXR_EVENT(svc_rejected)  \
    VXR_EVENT(svc_icmp_translated) VXR_EVENT(svc_to_uplink)

// Per frontend (service_table.hpp's svc_frontend::id), per worker.
struct svc_counters {
    counter new_flows, packets, bytes, rejects;
    counter source_denied;  // new flows dropped by loadBalancerSourceRanges
};

struct alignas(RTE_CACHE_LINE_SIZE) worker_counters {
#define VXR_EVENT(name) counter name;
    VXR_EVENTS(VXR_EVENT)
#undef VXR_EVENT
    counter busy_cycles;   // TSC cycles of loop iterations that received packets
    counter total_cycles;  // TSC cycles since the worker started
    counter polls, idle_polls;
    std::array<counter, k_drop_reasons> drops;
    std::array<port_counters, RTE_MAX_ETHPORTS> ports;

    void drop(drop_reason r, uint64_t n = 1) { drops[static_cast<size_t>(r)].add(n); }
};

}  // namespace vxr::fastpath
