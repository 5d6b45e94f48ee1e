// Maglev consistent hashing (Eisenbud et al., NSDI'16, section 3.4): the
// lookup table that maps a flow hash to one of a Service's backends.
// Every node builds the same table from the same backend set, so a flow that
// ECMP or a client moves to another node still picks the same backend, and a
// backend change moves few flows. Built on the control thread; the slot
// vector is flat so that it can be copied as is into a fast-path snapshot.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace vxr::control::services {

// Cilium's default: prime (so that every skip walks all slots) and over 100x
// a typical Service's backend count (the paper's bound for 1% balance).
inline constexpr uint32_t k_maglev_default_table_size = 16381;
// A mistyped size must not allocate gigabytes per Service: 2^24 slots is
// 64 MiB, far above what any balance target needs.
inline constexpr uint32_t k_maglev_max_table_size = 1u << 24;

struct maglev_params {
    uint32_t table_size = k_maglev_default_table_size;  // M: a prime >= the backend count
    uint32_t seed = 0;  // cluster-wide: every node must use the same one
};

class maglev_table {
public:
    maglev_table() = default;  // no backends: every lookup says none

    // The backend index for a flow hash, into keys(); -1 when there are none.
    int32_t lookup(uint32_t hash) const {
        if (size_ == 0) return -1;
        return static_cast<int32_t>(slots_[hash % size_]);
    }
    // Slots held by backend i (its share of flows is share(i) / table_size()).
    uint32_t share(size_t i) const { return i < shares_.size() ? shares_[i] : 0; }

    const std::vector<std::string>& keys() const { return keys_; }  // sorted
    const std::vector<uint32_t>& slots() const { return slots_; }   // indexes into keys()
    uint32_t table_size() const { return size_; }                    // 0 when empty
    bool empty() const { return size_ == 0; }

private:
    friend result<maglev_table> build_maglev(std::span<const std::string>, const maglev_params&);

    std::vector<std::string> keys_;
    std::vector<uint32_t> slots_;
    std::vector<uint32_t> shares_;
    uint32_t size_ = 0;
};

// backend_keys: node-independent names of the backends (e.g. "10.244.1.5:8080"),
// in any order: they are sorted first, so the table depends only on the set.
// Fails on a table size that is not prime, is above k_maglev_max_table_size or
// is smaller than the backend count, and on empty or duplicate keys.
result<maglev_table> build_maglev(std::span<const std::string> backend_keys, const maglev_params& params);

// Trial division; table sizes are at most 2^24, so at most 2^12 divisions.
bool is_prime(uint32_t n);

}  // namespace vxr::control::services
