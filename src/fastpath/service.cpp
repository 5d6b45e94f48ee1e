// The conntrack and service stages (service.hpp).
// Thread: worker lcores only. Must not: lock, allocate, make syscalls, log, or throw.
#include "fastpath/service.hpp"

#include <rte_cycles.h>

#include "encap/icmp.hpp"
#include "encap/ipv4.hpp"
#include "encap/nat.hpp"

namespace vxr::fastpath {

namespace {

// Source ports for outside clients translated to the gateway address, picked
// by flow hash; a reply tuple another flow holds (a conntrack clash) is
// retried with another port.
constexpr uint32_t k_snat_first = 1024;
constexpr uint32_t k_snat_ports = 65536 - k_snat_first;

inline rte_be32_t addr4(const uint8_t* a) {
    rte_be32_t v;
    std::memcpy(&v, a, 4);
    return v;
}

inline uint8_t tcp_flags_of(const encap::ipv4_tuple& t, rte_ipv4_hdr* ip) {
    return t.proto == IPPROTO_TCP ? reinterpret_cast<const rte_tcp_hdr*>(encap::l4_of(ip))->tcp_flags : 0;
}

// Rewrites the packet from the tuple it carries (`have`) to the tuple
// conntrack says it must carry (`want`); returns the new destination.
inline rte_be32_t translate(rte_mbuf* m, rte_ipv4_hdr* ip, const ct_key& have, const ct_key& want) {
    uint8_t* l4 = encap::l4_of(ip);
    if (std::memcmp(have.dst, want.dst, 4) != 0 || have.dport != want.dport)
        encap::rewrite_dst(ip, l4, addr4(want.dst), want.dport, m->ol_flags);
    if (std::memcmp(have.src, want.src, 4) != 0 || have.sport != want.sport)
        encap::rewrite_src(ip, l4, addr4(want.src), want.sport, m->ol_flags);
    return addr4(want.dst);
}

}  // namespace

service_stage::service_stage(const stage_ctx& ctx, conntrack* ct, affinity_table* affinity, svc_counters* svc)
    : ctx_(ctx), ct_(ct), affinity_(affinity), svc_(svc), tsc_hz_(rte_get_tsc_hz()) {}

const svc_backend* service_stage::affine(const svc_frontend& f, const svc_pool& pool, rte_be32_t client,
                                         uint32_t now_s) const {
    if (affinity_ == nullptr) return nullptr;
    const uint32_t id = affinity_->lookup(affinity_key_v4(f.id, client), now_s, f.affinity_timeout_s);
    if (id == 0) return nullptr;
    for (const svc_backend& b : pool.backends)  // new flows only; a pool is one Service's backends
        if (b.id == id) return &b;
    return nullptr;  // that backend is gone: pick again
}

bool service_stage::untranslate_icmp_error(const snapshot& s, rte_mbuf* m) {
    if (s.services == nullptr || ct_ == nullptr) return false;
    rte_ipv4_hdr* ip = ip_of(m);
    encap::icmp_error_ref ref;
    if (encap::icmp_error_inner(ip, rte_pktmbuf_data_len(m) - sizeof(rte_ether_hdr), ref) != encap::icmp_error_status::ok)
        return false;
    // The quote is a packet as it left translation: its tuple reversed is
    // the other direction's key; the quote must become this direction's.
    const encap::ipv4_tuple& q = ref.inner;
    const ct_key k = ct_key_v4(q.dst_addr, q.src_addr, q.dst_port, q.src_port, q.proto);
    const ct_key* kp = &k;
    ct_entry* e = nullptr;
    ct_dir d = ct_orig;
    if (ct_->lookup_bulk(&kp, 1, &e, &d) == 0) return false;
    const ct_key& want = e->key(static_cast<ct_dir>(d ^ 1));
    const encap::l4_endpoint ns{addr4(want.src), want.sport};
    const encap::l4_endpoint nd{addr4(want.dst), want.dport};
    const bool src_changes = ns.addr != q.src_addr || ns.port != q.src_port;
    const bool dst_changes = nd.addr != q.dst_addr || nd.port != q.dst_port;
    if (!src_changes && !dst_changes) return false;
    encap::translate_icmp_error(ip, ref, src_changes ? &ns : nullptr, dst_changes ? &nd : nullptr);
    ctx_.counters().svc_icmp_translated.add();
    return true;
}

template <port_role R>
void service_stage::run_tables(const snapshot& s, const service_table& t, burst& b, route_stage& route) {
    // New flows start from this node's pods and host, and on the uplink only
    // at the node's own address (node ports).
    constexpr bool k_from_outside = R == port_role::uplink;
    const auto may_start = [&](uint16_t i) { return !k_from_outside || (b.flags[i] & k_pkt_local); };
    auto& c = ctx_.counters();
    // The candidates: positions in the burst, their tuples and keys.
    uint16_t cand[k_burst];
    encap::ipv4_tuple tup[k_burst];
    ct_key keys[k_burst];
    const ct_key* kp[k_burst];
    uint16_t nc = 0;
    for (uint16_t i = 0; i < b.n; ++i) {
        rte_ipv4_hdr* ip = ip_of(b.pkts[i]);
        // ICMP errors about a translated flow come from anywhere (a router
        // on the path): every ICMP packet is looked at, the rest pre-filtered.
        const bool icmp = ip->next_proto_id == IPPROTO_ICMP;
        if (!icmp && !t.may_be_frontend(ip->dst_addr) && !t.may_be_backend(ip->src_addr)) continue;
        encap::ipv4_tuple& u = tup[nc];
        const auto st = encap::extract_ipv4_tuple(ip, rte_pktmbuf_data_len(b.pkts[i]) - sizeof(rte_ether_hdr), u);
        if (st == encap::tuple_status::icmp_error) {
            if (untranslate_icmp_error(s, b.pkts[i])) b.dst[i] = rte_be_to_cpu_32(ip->dst_addr);
            continue;
        }
        if (st != encap::tuple_status::ok || icmp) continue;  // fragments, echo and the rest: routed as they are
        keys[nc] = ct_key_v4(u.src_addr, u.dst_addr, u.src_port, u.dst_port, u.proto);
        kp[nc] = &keys[nc];
        cand[nc++] = i;
    }
    if (nc == 0) return;

    ct_entry* hit[k_burst];
    ct_dir dir[k_burst];
    const uint64_t hits = ct_->lookup_bulk(kp, nc, hit, dir);
    const uint64_t now = rte_rdtsc();
    bool gone[k_burst] = {};  // by burst position: answered or dropped here
    bool any_gone = false;

    // Misses to a frontend address: one bulk frontend lookup.
    const svc_frontend* fe[k_burst];
    uint64_t fe_hits = 0;
    {
        svc_key sk[k_burst];
        const svc_key* skp[k_burst];
        uint16_t at[k_burst];
        uint16_t ns = 0;
        for (uint16_t j = 0; j < nc; ++j) {
            if ((hits >> j) & 1) continue;
            if (!may_start(cand[j]) || !t.may_be_frontend(tup[j].dst_addr)) continue;
            sk[ns] = svc_key_v4(tup[j].dst_addr, tup[j].dst_port, tup[j].proto);
            skp[ns] = &sk[ns];
            at[ns++] = j;
        }
        if (ns != 0) {
            const svc_frontend* found[k_burst];
            const uint64_t h = t.lookup_bulk(skp, ns, found);
            for (uint64_t mk = h; mk != 0; mk &= mk - 1) {
                const unsigned k = static_cast<unsigned>(__builtin_ctzll(mk));
                fe[at[k]] = found[k];
                fe_hits |= uint64_t{1} << at[k];
            }
        }
    }

    for (uint16_t j = 0; j < nc; ++j) {
        const uint16_t i = cand[j];
        rte_mbuf* m = b.pkts[i];
        rte_ipv4_hdr* ip = ip_of(m);
        const uint32_t bytes = rte_pktmbuf_pkt_len(m);
        const auto drop_here = [&](drop_reason r) {
            ctx_.drop(m, r);
            gone[i] = any_gone = true;
        };
        ct_entry* e = nullptr;
        ct_dir d = ct_orig;
        if ((hits >> j) & 1) {
            e = hit[j];
            d = dir[j];
            c.ct_hits.add();
            if (unlikely(e->ended()) && tup[j].proto == IPPROTO_TCP) {
                drop_here(drop_reason::ct_ended);
                continue;
            }
            ct_->update(*e, d, tcp_flags_of(tup[j], ip), bytes, now);
        } else if ((fe_hits >> j) & 1) {
            const svc_frontend& f = *fe[j];
            svc_counters& fc = svc_[f.id];
            if (f.flags & k_svc_reject) {
                fc.rejects.add();
                c.svc_rejected.add();
                route.icmp_error(s, m, encap::k_icmp_dest_unreach, encap::k_icmp_code_port_unreach, 0, b.in_port,
                                 false);
                gone[i] = any_gone = true;
                continue;
            }
            // loadBalancerSourceRanges, as kube-proxy's KUBE-PROXY-FIREWALL:
            // new flows only (an established one keeps going when the ranges
            // change), from anywhere (pods and the host too), after the
            // reject above (kube-proxy firewalls only Services with endpoints).
            if (unlikely(f.flags & k_svc_source_ranges) && !service_table::source_allowed_v4(f, tup[j].src_addr)) {
                fc.source_denied.add();
                drop_here(drop_reason::svc_source_denied);
                continue;
            }
            // Local traffic policies: internal for this node's pods, external
            // for clients outside; each restricts its side to local backends.
            const bool local_only = k_from_outside ? (f.flags & k_svc_external_local) != 0
                                                   : (f.flags & k_svc_local_only) != 0;
            const svc_pool& pool = local_only ? *f.local : *f.all;
            const encap::ipv4_tuple& u = tup[j];
            const bool sticky = (f.flags & k_svc_affinity) != 0;
            const uint32_t now_s = sticky ? affinity_table::now_s(now, tsc_hz_) : 0;
            const svc_backend* be = sticky ? affine(f, pool, u.src_addr, now_s) : nullptr;
            if (be == nullptr)
                be = service_table::pick(pool, svc_flow_hash(u.src_addr, u.dst_addr, u.src_port, u.dst_port, u.proto));
            if (be == nullptr) {
                drop_here(drop_reason::svc_no_local_backend);
                continue;
            }
            ct_init in;
            in.orig = keys[j];
            // Source translation to our gateway address, so that the reply
            // comes back through us: a backend reaching its own Service
            // (it would answer itself), and clients outside under the
            // Cluster policy (the backend's node routes the gateway address
            // back to us over the overlay; kube-proxy masquerades alike).
            // Outside clients get a port of their own per backend; a taken
            // one is retried a few times.
            const bool snat_outside = k_from_outside && !local_only;
            const rte_be32_t client =
                snat_outside || addr4(be->addr) == u.src_addr ? s.gateway_ip_be : u.src_addr;
            in.frontend_id = f.id;
            in.backend_id = be->id;
            if constexpr (k_from_outside) in.uplink_mac = &rte_pktmbuf_mtod(m, rte_ether_hdr*)->src_addr;
            in.tcp_flags = tcp_flags_of(u, ip);
            in.bytes = bytes;
            in.now_tsc = now;
            ct_insert_result r{};
            const uint32_t h = snat_outside ? svc_flow_hash(u.src_addr, u.dst_addr, u.src_port, u.dst_port, u.proto) : 0;
            for (uint32_t attempt = 0; attempt < (snat_outside ? 4u : 1u); ++attempt) {
                const rte_be16_t cport =
                    snat_outside ? rte_cpu_to_be_16(static_cast<uint16_t>(k_snat_first + (h + attempt * 7919) % k_snat_ports))
                                 : u.src_port;
                in.reply = ct_key_v4(addr4(be->addr), client, be->port, cport, u.proto);
                r = ct_->insert(in);
                if (r.status != ct_insert_status::clash) break;
            }
            switch (r.status) {
                case ct_insert_status::inserted:
                    fc.new_flows.add();
                    c.svc_new_flows.add();
                    if (sticky && affinity_ != nullptr) affinity_->record(affinity_key_v4(f.id, u.src_addr), be->id, now_s);
                    break;
                case ct_insert_status::existed:  // another worker's first packet of this flow won
                    ct_->update(*r.entry, r.dir, in.tcp_flags, bytes, now);
                    break;
                case ct_insert_status::full: drop_here(drop_reason::ct_full); continue;
                case ct_insert_status::busy: drop_here(drop_reason::ct_busy); continue;
                default: drop_here(drop_reason::ct_clash); continue;
            }
            e = r.entry;
            d = r.dir;
        } else {
            c.svc_untranslated.add();
            continue;
        }
        if (d == ct_orig) {
            svc_counters& fc = svc_[e->frontend_id()];
            fc.packets.add();
            fc.bytes.add(bytes);
        }
        const ct_key want = e->translated(d);
        if (want == keys[j]) continue;
        b.dst[i] = rte_be_to_cpu_32(translate(m, ip, keys[j], want));
        if constexpr (k_from_outside) b.flags[i] &= static_cast<uint8_t>(~k_pkt_local);  // ours to route now
        c.svc_translated.add();
        // A reply to a client outside the cluster leaves where its flow came
        // in, to the next hop it came from: the node kernel has no route for
        // it that would not bounce it back to us. TTL 1 is left to the route
        // stage, which answers time exceeded to the backend. No MTU check:
        // what a pod sends fits the pod MTU, below the uplink's.
        if (d == ct_reply && e->replies_by_uplink() && ip->time_to_live > 1) {
            encap::ipv4_dec_ttl(ip);
            auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
            eth->dst_addr = e->uplink_mac();
            eth->src_addr = s.ports[s.uplink_port].mac;
            c.svc_to_uplink.add();
            ctx_.tx(s, s.uplink_port, m);
            gone[i] = any_gone = true;
        }
    }

    if (!any_gone) return;
    uint16_t k = 0;
    for (uint16_t i = 0; i < b.n; ++i) {
        if (gone[i]) continue;
        b.pkts[k] = b.pkts[i];
        b.dst[k] = b.dst[i];
        b.flags[k++] = b.flags[i];
    }
    b.n = k;
}

template void service_stage::run_tables<port_role::uplink>(const snapshot&, const service_table&, burst&,
                                                           route_stage&);
template void service_stage::run_tables<port_role::pod>(const snapshot&, const service_table&, burst&,
                                                        route_stage&);
template void service_stage::run_tables<port_role::host>(const snapshot&, const service_table&, burst&,
                                                         route_stage&);

}  // namespace vxr::fastpath
