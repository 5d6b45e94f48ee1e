// sessionAffinity: ClientIP. Per (frontend, client address), the backend the
// client's last new connection took and when; a new connection within the
// frontend's timeout takes the same backend while it is still one of the
// frontend's (kube-proxy's `recent` match, IPVS persistence: refreshed by
// new connections, not by packets of established ones, which conntrack
// already keeps on their backend).
//
// One rte_hash shared by the workers (RW_CONCURRENCY_LF: lookups take no
// lock; MULTI_WRITER_ADD: any worker records). The value is packed into the
// hash's data word (backend id, last use in seconds), so that recording is
// one atomic store of an existing key's data and there is no entry memory to
// reclaim. Deleted keys' slots are returned only after every worker has
// reported quiescence (expire()).
//
// Threads: lookup() and record() on workers; create() and expire() on the
// control thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

#include <rte_byteorder.h>

#include "common/result.hpp"

struct rte_hash;
struct rte_rcu_qsbr;

namespace vxr::fastpath {

struct affinity_key {
    uint32_t frontend_id;
    uint8_t client[16];  // network order, IPv4 in the first 4 bytes
    uint8_t family;
    uint8_t pad[3];
};
static_assert(sizeof(affinity_key) == 24, "the rte_hash key: no implicit padding");

inline affinity_key affinity_key_v4(uint32_t frontend_id, rte_be32_t client_be) {
    affinity_key k{};
    k.frontend_id = frontend_id;
    std::memcpy(k.client, &client_be, 4);
    k.family = 2;
    return k;
}

class affinity_table {
public:
    static result<std::unique_ptr<affinity_table>> create(uint32_t max_entries, rte_rcu_qsbr* qsbr, int socket);
    ~affinity_table();
    affinity_table(const affinity_table&) = delete;
    affinity_table& operator=(const affinity_table&) = delete;

    // The backend id recorded for `k` if it was used within `timeout_s`
    // seconds of `now_s`; 0 otherwise (backend ids are never 0).
    uint32_t lookup(const affinity_key& k, uint32_t now_s, uint32_t timeout_s) const;
    // Records a new connection's backend; false when the table is full (the
    // connection still goes where Maglev sent it: affinity is best effort).
    bool record(const affinity_key& k, uint32_t backend_id, uint32_t now_s);

    // Control thread: removes entries idle longer than `max_timeout_s` (the
    // largest timeout of any frontend), waits for the workers' quiescence,
    // then frees their slots. Returns how many it removed.
    uint32_t expire(uint32_t now_s, uint32_t max_timeout_s);
    uint32_t entries() const;
    uint64_t full() const;

    // Seconds from the TSC, the clock both sides use.
    static uint32_t now_s(uint64_t tsc, uint64_t tsc_hz) { return static_cast<uint32_t>(tsc / tsc_hz); }

private:
    affinity_table() = default;
    rte_hash* hash_ = nullptr;
    rte_rcu_qsbr* qsbr_ = nullptr;
    uint32_t max_ = 0;
    uint64_t full_ = 0;  // relaxed atomic adds: rare
};

}  // namespace vxr::fastpath
