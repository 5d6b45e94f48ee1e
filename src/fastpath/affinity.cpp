// sessionAffinity: ClientIP (affinity.hpp).
#include "fastpath/affinity.hpp"

#include <atomic>
#include <string>
#include <vector>

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_rcu_qsbr.h>

namespace vxr::fastpath {

namespace {
std::atomic<uint64_t> g_seq{0};  // rte_hash names are global

inline void* pack(uint32_t backend_id, uint32_t now_s) {
    return reinterpret_cast<void*>(static_cast<uintptr_t>(backend_id) << 32 | now_s);
}
inline uint32_t backend_of(void* d) { return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(d) >> 32); }
inline uint32_t seen_of(void* d) { return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(d)); }
}  // namespace

result<std::unique_ptr<affinity_table>> affinity_table::create(uint32_t max_entries, rte_rcu_qsbr* qsbr, int socket) {
    if (max_entries < 8 || max_entries > (1u << 26))
        return make_error("affinity: max entries must be in 8..67108864, got " + std::to_string(max_entries));
    if (qsbr == nullptr) return make_error("affinity: needs the workers' RCU QSBR variable");
    std::unique_ptr<affinity_table> t(new affinity_table());
    const std::string name = "vxr_aff" + std::to_string(g_seq.fetch_add(1));
    rte_hash_parameters hp{};
    hp.name = name.c_str();
    hp.entries = max_entries;
    hp.key_len = sizeof(affinity_key);
    hp.hash_func = rte_hash_crc;
    hp.socket_id = socket;
    hp.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD;
    t->hash_ = rte_hash_create(&hp);
    if (t->hash_ == nullptr) return make_error("affinity: cannot create the table: " + std::string(rte_strerror(rte_errno)));
    t->qsbr_ = qsbr;
    t->max_ = max_entries;
    return t;
}

affinity_table::~affinity_table() { rte_hash_free(hash_); }

uint32_t affinity_table::lookup(const affinity_key& k, uint32_t now_s, uint32_t timeout_s) const {
    void* d = nullptr;
    if (rte_hash_lookup_data(hash_, &k, &d) < 0) return 0;
    return now_s - seen_of(d) <= timeout_s ? backend_of(d) : 0;
}

bool affinity_table::record(const affinity_key& k, uint32_t backend_id, uint32_t now_s) {
    if (rte_hash_add_key_data(hash_, &k, pack(backend_id, now_s)) == 0) return true;
    __atomic_fetch_add(&full_, 1, __ATOMIC_RELAXED);
    return false;
}

uint32_t affinity_table::expire(uint32_t now_s, uint32_t max_timeout_s) {
    std::vector<int32_t> freed;
    const void* key = nullptr;
    void* d = nullptr;
    uint32_t it = 0;
    std::vector<affinity_key> stale;
    while (rte_hash_iterate(hash_, &key, &d, &it) >= 0)
        if (now_s - seen_of(d) > max_timeout_s) stale.push_back(*static_cast<const affinity_key*>(key));
    for (const auto& k : stale) {
        const int32_t pos = rte_hash_del_key(hash_, &k);
        if (pos >= 0) freed.push_back(pos);
    }
    if (freed.empty()) return 0;
    // Readers may still hold the keys: their slots return once every
    // worker has passed a quiescent state.
    rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
    for (int32_t pos : freed) rte_hash_free_key_with_position(hash_, pos);
    return static_cast<uint32_t>(freed.size());
}

uint32_t affinity_table::entries() const { return static_cast<uint32_t>(rte_hash_count(hash_)); }
uint64_t affinity_table::full() const { return __atomic_load_n(&full_, __ATOMIC_RELAXED); }

}  // namespace vxr::fastpath
