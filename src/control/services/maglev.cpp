// Maglev table population (the paper's Pseudocode 1). Thread: the control
// thread, off to the side of the published snapshot.
#include "control/services/maglev.hpp"

#include <rte_jhash.h>

#include <algorithm>
#include <limits>

namespace vxr::control::services {
namespace {

constexpr uint32_t k_empty = std::numeric_limits<uint32_t>::max();
// The skip hash needs an initval other than the offset's, or offset and skip
// would be the same number; any fixed odd constant does (this is 2^32/phi).
constexpr uint32_t k_skip_salt = 0x9e3779b9u;

// Where backend i is in its permutation, (offset + j * skip) mod M, kept as
// the next slot to try instead of j so that a step is an add, not a multiply.
struct cursor {
    uint32_t next;
    uint32_t skip;
};

// rte_jhash reads the key as host-order words: all nodes of a cluster share
// the byte order of the targets we build for (x86-64, arm64: little-endian).
// It reads the last word whole and masks it, so the key is hashed from a
// copy padded to a multiple of 4 bytes (the hash is that of the key's own
// length; ASan caught the read past a std::string's end).
uint32_t key_hash(const std::string& key, uint32_t initval) {
    std::string padded(key);
    padded.resize((key.size() + 3) & ~size_t{3}, '\0');
    return rte_jhash(padded.data(), static_cast<uint32_t>(key.size()), initval);
}

}  // namespace

bool is_prime(uint32_t n) {
    if (n < 2) return false;
    if (n % 2 == 0) return n == 2;
    for (uint32_t d = 3; d <= n / d; d += 2)
        if (n % d == 0) return false;
    return true;
}

result<maglev_table> build_maglev(std::span<const std::string> backend_keys, const maglev_params& params) {
    const uint32_t m = params.table_size;
    if (m > k_maglev_max_table_size)
        return make_error("maglev table size " + std::to_string(m) + " is above the limit of " +
                          std::to_string(k_maglev_max_table_size) + " slots");
    // A prime M makes every skip in [1, M-1] coprime with M, so each
    // permutation visits every slot once and the fill always finds a free one.
    if (!is_prime(m))
        return make_error("maglev table size " + std::to_string(m) +
                          " is not prime (use e.g. 251, 1021, 4093, 16381, 65521, 131071)");
    if (backend_keys.size() > m)
        return make_error("maglev table size " + std::to_string(m) + " is smaller than the " +
                          std::to_string(backend_keys.size()) + " backends: each needs at least one slot");

    maglev_table t;
    t.keys_.assign(backend_keys.begin(), backend_keys.end());
    // Input order is whatever the EndpointSlices listed: only the set may decide the table.
    std::sort(t.keys_.begin(), t.keys_.end());
    for (size_t i = 0; i < t.keys_.size(); ++i) {
        if (t.keys_[i].empty()) return make_error("maglev backend key is empty");
        if (i > 0 && t.keys_[i] == t.keys_[i - 1])
            return make_error("maglev backend key \"" + t.keys_[i] + "\" is listed twice");
    }
    const auto n = static_cast<uint32_t>(t.keys_.size());
    if (n == 0) return t;

    std::vector<cursor> cursors(n);
    for (uint32_t i = 0; i < n; ++i) {
        const uint32_t offset = key_hash(t.keys_[i], params.seed) % m;
        // M = 2 leaves one possible skip, 1; the formula gives it too.
        const uint32_t skip = key_hash(t.keys_[i], params.seed ^ k_skip_salt) % (m - 1) + 1;
        cursors[i] = {offset, skip};
    }

    // Round robin: each backend in turn takes the next slot of its
    // permutation that nobody holds yet, so shares differ by at most one slot.
    // The expected total of probes is O(M log M) (the paper, 3.4).
    t.slots_.assign(m, k_empty);
    t.shares_.assign(n, 0);
    uint32_t filled = 0;
    while (filled < m) {
        for (uint32_t i = 0; i < n && filled < m; ++i) {
            auto& c = cursors[i];
            uint32_t s = c.next;
            while (t.slots_[s] != k_empty) {
                s += c.skip;  // s, skip < M <= 2^24: no overflow
                if (s >= m) s -= m;
            }
            t.slots_[s] = i;
            ++t.shares_[i];
            ++filled;
            s += c.skip;
            if (s >= m) s -= m;
            c.next = s;
        }
    }
    t.size_ = m;
    return t;
}

}  // namespace vxr::control::services
