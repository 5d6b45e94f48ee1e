// The fast-path Service table (service_table.hpp).
#include "fastpath/service_table.hpp"

#include <algorithm>
#include <atomic>

#include <rte_hash.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>

namespace vxr::fastpath {

namespace {
std::atomic<uint64_t> g_table_seq{0};  // rte_hash names are global
}

uint32_t svc_flow_hash(rte_be32_t src, rte_be32_t dst, rte_be16_t sport, rte_be16_t dport, uint8_t proto) {
    // CRC32c: one instruction per word on x86 with SSE4.2, and rte_hash_crc's
    // software fallback gives the same values, so every node agrees.
    uint32_t h = rte_hash_crc_4byte(src, 0x6d61676c);  // "magl"
    h = rte_hash_crc_4byte(dst, h);
    h = rte_hash_crc_4byte(static_cast<uint32_t>(sport) << 16 | dport, h);
    return rte_hash_crc_1byte(proto, h);
}

result<svc_source_range> make_svc_source_range(const uint8_t* addr, uint8_t family, uint8_t len) {
    const unsigned bits = family == 2 ? 32 : family == 10 ? 128 : 0;
    if (bits == 0) return make_error("source range: unknown address family " + std::to_string(family));
    if (len > bits)
        return make_error("source range: prefix length " + std::to_string(len) + " is past the family's bits");
    svc_source_range r{};
    r.family = family;
    r.len = len;
    for (unsigned i = 0; i < bits / 8; ++i) {
        const unsigned left = len > i * 8 ? len - i * 8 : 0;
        r.mask[i] = left >= 8 ? 0xff : static_cast<uint8_t>(0xff00u >> left);
        r.net[i] = addr[i] & r.mask[i];
    }
    return r;
}

result<std::unique_ptr<service_table>> service_table::build(std::vector<svc_frontend_spec> specs, int socket,
                                                           const service_table* prev) {
    std::vector<svc_spec_ref> refs;
    refs.reserve(specs.size());
    for (auto& s : specs) refs.push_back(std::make_shared<const svc_frontend_spec>(std::move(s)));
    return build(std::move(refs), socket, prev);
}

result<std::unique_ptr<service_table>> service_table::build(std::vector<svc_spec_ref> specs, int socket,
                                                           const service_table* prev) {
    std::unique_ptr<service_table> t(new service_table());
    for (const auto& ref : specs)
        if (ref == nullptr) return make_error("service table: a null frontend spec");
    const auto by_name = [](const svc_spec_ref& a, const svc_spec_ref& b) { return a->name < b->name; };
    if (!std::is_sorted(specs.begin(), specs.end(), by_name)) std::sort(specs.begin(), specs.end(), by_name);
    // prev's specs are sorted by name too: one walk along them finds the
    // frontend of the same name and whether it had the same pools.
    size_t at = 0;
    const size_t n_prev = prev != nullptr ? prev->specs_.size() : 0;
    for (const auto& ref : specs) {
        const svc_frontend_spec& s = *ref;
        while (at < n_prev && prev->specs_[at]->name < s.name) ++at;
        const svc_frontend_spec* old = at < n_prev && prev->specs_[at]->name == s.name ? prev->specs_[at].get() : nullptr;
        if (old == &s) continue;  // the very spec prev was built from (immutable): checked then
        if (s.id >= k_max_frontends)
            return make_error("service table: frontend " + s.name + " has id " + std::to_string(s.id) + ", above the limit");
        for (const auto* p : {s.all.get(), s.local.get()}) {
            if (p == nullptr) return make_error("service table: frontend " + s.name + " has no backend pool");
            if (old != nullptr && (p == old->all.get() || p == old->local.get())) continue;  // checked then
            if (p->backends.size() > 65535)
                return make_error("service table: frontend " + s.name + " has more than 65535 backends");
            for (uint16_t slot : p->slots)
                if (slot >= p->backends.size())
                    return make_error("service table: frontend " + s.name + ": a Maglev slot names a missing backend");
        }
        for (const auto& r : s.source_ranges)
            if (r.family != s.key.family)
                return make_error("service table: frontend " + s.name + " has a source range of another family");
    }
    // From here the specs stay where they are: frontends point into their ranges.
    t->specs_ = std::move(specs);
    const auto& built = t->specs_;
    const std::string name = "vxr_svc" + std::to_string(g_table_seq.fetch_add(1));
    rte_hash_parameters hp{};
    hp.name = name.c_str();
    hp.entries = std::max<uint32_t>(64, static_cast<uint32_t>(built.size() * 2));
    hp.key_len = sizeof(svc_key);
    hp.hash_func = rte_hash_crc;
    hp.socket_id = socket;
    t->hash_ = rte_hash_create(&hp);
    if (t->hash_ == nullptr)
        return make_error("service table: rte_hash_create failed for " + std::to_string(built.size()) +
                          " frontends: " + rte_strerror(rte_errno));
    t->frontends_.reserve(built.size());
    for (size_t i = 0; i < built.size(); ++i) {
        const svc_frontend_spec& s = *built[i];
        svc_frontend f;
        f.id = s.id;
        f.flags = s.flags;
        f.kind = s.kind;
        f.affinity_timeout_s = s.affinity_timeout_s;
        f.all = s.all.get();
        f.local = s.local.get();
        f.flags &= static_cast<uint8_t>(~k_svc_source_ranges);
        if (!s.source_ranges.empty()) {
            f.flags |= k_svc_source_ranges;
            f.ranges = s.source_ranges.data();
            f.n_ranges = static_cast<uint32_t>(s.source_ranges.size());
        }
        t->frontends_.push_back(f);
        const int r = rte_hash_add_key_data(t->hash_, &s.key, reinterpret_cast<void*>(i));
        if (r < 0) return make_error("service table: cannot add frontend " + s.name + ": " + rte_strerror(-r));
        if (s.key.family == 2) {
            rte_be32_t a;
            std::memcpy(&a, s.key.addr, 4);
            set(t->frontend_bits_, a);
            for (const auto* p : {f.all, f.local})
                for (const auto& b : p->backends) {
                    std::memcpy(&a, b.addr, 4);
                    set(t->backend_bits_, a);
                }
        }
    }
    if (rte_hash_count(t->hash_) != static_cast<int32_t>(built.size()))
        return make_error("service table: two frontends share one address, protocol and port");
    return t;
}

service_table::~service_table() { rte_hash_free(hash_); }

uint64_t service_table::lookup_bulk(const svc_key* const* keys, unsigned n, const svc_frontend** out) const {
    void* data[RTE_HASH_LOOKUP_BULK_MAX];
    uint64_t hits = 0;
    rte_hash_lookup_bulk_data(hash_, const_cast<const void**>(reinterpret_cast<const void* const*>(keys)), n, &hits,
                              data);
    for (uint64_t m = hits; m != 0; m &= m - 1) {
        const unsigned i = static_cast<unsigned>(__builtin_ctzll(m));
        out[i] = &frontends_[reinterpret_cast<uintptr_t>(data[i])];
    }
    return hits;
}

const svc_frontend* service_table::find(const svc_key& k) const {
    void* d = nullptr;
    if (rte_hash_lookup_data(hash_, &k, &d) < 0) return nullptr;
    return &frontends_[reinterpret_cast<uintptr_t>(d)];
}

}  // namespace vxr::fastpath
