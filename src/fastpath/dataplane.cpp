// Thread: control (main) lcore. Sets up what the workers use and tears it
// down; never runs on a worker.
#include "fastpath/dataplane.hpp"

#include <algorithm>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include <cstring>
#include <new>

namespace vxr::fastpath {

namespace {
constexpr uint16_t k_rx_desc = 1024;  // enough to ride out a control-thread hiccup at 10+ Mpps
constexpr uint16_t k_tx_desc = 1024;
constexpr unsigned k_mbuf_cache = 256;
constexpr unsigned k_punt_ring = 4096;   // ARP bursts and packets waiting for a neighbour
constexpr unsigned k_inject_ring = 1024;

std::string errstr(int rc) { return rte_strerror(rc < 0 ? -rc : rc); }

// DPDK's interrupt thread (vhost-user connect/disconnect, vring state).
int on_port_event(uint16_t, rte_eth_event_type type, void* arg, void*) {
    auto* p = static_cast<port_info*>(arg);
    (type == RTE_ETH_EVENT_INTR_LSC ? p->link_changes : p->queue_state_changes).fetch_add(1, std::memory_order_relaxed);
    return 0;
}
}  // namespace

void dataplane::close_ports() {
    if (!stop()) return;  // a stuck worker may still touch them
    for (auto& p : ports_)
        if (p) detach_port(p->id);
}

dataplane::~dataplane() {
    if (running_ && !stop()) {  // leave everything to process exit
        routes_.abandon();
        return;
    }
    close_ports();
    delete shared_.published.exchange(nullptr);
    ct_.reset();
    affinity_.reset();
    for (auto* c : svc_) rte_free(c);
    for (auto* r : inject_) rte_ring_free(r);
    rte_ring_free(shared_.punt);
    rte_free(shared_.qsbr);
    if (counters_ != nullptr) {
        for (unsigned w = 0; w < params_.workers; ++w) counters_[w].~worker_counters();
        rte_free(counters_);
    }
    rte_mempool_free(pool_);
}

result<void> dataplane::init(const dataplane_params& p) {
    params_ = p;
    if (p.workers == 0 || p.workers > k_max_workers)
        return make_error("workers: must be 1.." + std::to_string(k_max_workers));
    unsigned w = 0;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) {
        if (w < p.workers) lcores_[w++] = lcore;
    }
    if (w < p.workers)
        return make_error("workers: " + std::to_string(p.workers) + " configured but EAL gave only " +
                          std::to_string(w) + " worker lcores (extend -l in eal_args)");
    const int socket = static_cast<int>(rte_socket_id());
    pool_ = rte_pktmbuf_pool_create("vxr_mbufs", p.mbufs, k_mbuf_cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (pool_ == nullptr) return make_error("cannot create mbuf pool: " + errstr(rte_errno) + " (too few hugepages?)");

    void* mem = rte_zmalloc_socket("vxr_counters", sizeof(worker_counters) * p.workers, RTE_CACHE_LINE_SIZE, socket);
    if (mem == nullptr) return make_error("cannot allocate counters");
    counters_ = static_cast<worker_counters*>(mem);
    for (unsigned i = 0; i < p.workers; ++i) new (&counters_[i]) worker_counters();

    const size_t qsz = rte_rcu_qsbr_get_memsize(p.workers);
    shared_.qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc_socket("vxr_qsbr", qsz, RTE_CACHE_LINE_SIZE, socket));
    if (shared_.qsbr == nullptr || rte_rcu_qsbr_init(shared_.qsbr, p.workers) != 0)
        return make_error("cannot create RCU state");

    if (auto r = routes_.init(p.max_routes, socket, shared_.qsbr); !r) return r;
    shared_.routes = &routes_;

    shared_.punt = rte_ring_create("vxr_punt", k_punt_ring, socket, RING_F_SC_DEQ);
    if (shared_.punt == nullptr) return make_error("cannot create punt ring: " + errstr(rte_errno));
    for (unsigned i = 0; i < p.workers; ++i) {
        const std::string name = "vxr_inject" + std::to_string(i);
        inject_[i] = rte_ring_create(name.c_str(), k_inject_ring, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (inject_[i] == nullptr) return make_error("cannot create inject ring: " + errstr(rte_errno));
        wparams_[i] = worker_params{i, &shared_, &counters_[i], nullptr, inject_[i], p.idle_backoff_us};
    }
    return {};
}

worker_params dataplane::params_for(unsigned w) { return wparams_[w]; }

result<void> dataplane::enable_services(ct_params p) {
    if (ct_) return make_error("services: already enabled");
    if (running_) return make_error("services: enable before the workers start");
    p.qsbr = shared_.qsbr;
    auto ct = conntrack::create(p);
    if (!ct) return make_error(ct.err());
    ct_ = std::move(*ct);
    const int socket = static_cast<int>(rte_socket_id());
    // One client address per entry, far fewer than flows: a sixteenth of
    // the flow table, at least 1024.
    auto aff = affinity_table::create(std::max<uint32_t>(1024, p.max_entries / 16), shared_.qsbr, socket);
    if (!aff) return make_error(aff.err());
    affinity_ = std::move(*aff);
    for (unsigned w = 0; w < params_.workers; ++w) {
        void* mem = rte_zmalloc_socket("vxr_svc_counters", sizeof(svc_counters) * k_max_frontends,
                                       RTE_CACHE_LINE_SIZE, socket);
        if (mem == nullptr) return make_error("services: cannot allocate per-frontend counters");
        svc_[w] = static_cast<svc_counters*>(mem);  // zeroed atomics: trivially valid
        wparams_[w].svc = svc_[w];
    }
    shared_.ct = ct_.get();
    shared_.affinity = affinity_.get();
    return {};
}

result<uint16_t> dataplane::attach_port(const std::string& devargs, port_role role, uint16_t mtu) {
    const std::string name = devargs.substr(0, devargs.find(','));
    uint16_t id;
    int rc = 0;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &id) == 0) {
        // EAL probed it already (a PCI NIC on the allow list): adopt it.
        if (ports_[id]) return make_error("device '" + name + "' is already in use");
    } else if ((rc = rte_dev_probe(devargs.c_str())) != 0) {
        // EAL answers an unknown bus or driver name with EFAULT/ENODEV/ENOENT.
        const bool unknown = rc == -EFAULT || rc == -ENODEV || rc == -ENOENT;
        return make_error("cannot attach device '" + devargs + "': " +
                          (unknown ? std::string("no DPDK bus or driver knows it (expected e.g. "
                                                 "net_af_packet0,iface=eth1, net_tap0,iface=x or a PCI address)")
                                   : errstr(rc)));
    }
    if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0)
        return make_error("device '" + devargs + "' attached but has no ethdev port");
    auto fail = [&](const std::string& what, int err) -> result<uint16_t> {
        rte_eth_dev_close(id);
        rte_eth_dev_info info{};
        if (rte_eth_dev_info_get(id, &info) == 0 && info.device != nullptr) rte_dev_remove(info.device);
        return make_error(what + " on '" + devargs + "': " + errstr(err));
    };
    rte_eth_dev_info info{};
    if ((rc = rte_eth_dev_info_get(id, &info)) != 0) return fail("cannot read device info", rc);
    const uint16_t q = static_cast<uint16_t>(params_.workers);
    if (info.max_rx_queues < q || info.max_tx_queues < q)
        return fail("device has too few queues for " + std::to_string(q) + " workers", EINVAL);
    rte_eth_conf conf{};
    if (*info.dev_flags & RTE_ETH_DEV_INTR_LSC) conf.intr_conf.lsc = 1;
    if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
        conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
    // A NIC spreads flows over the workers' RX queues only with RSS on: the
    // outer 5-tuple hash, whose UDP source port VXLAN senders derive from the
    // inner flow. af_packet (PACKET_FANOUT_HASH) and tap (the kernel's flow
    // hash) spread by themselves and report no RSS types.
    const uint64_t rss = info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP);
    if (role == port_role::uplink && q > 1 && rss != 0) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = rss;
    }
    // Where the uplink's NIC verifies IPv4 header checksums, the workers
    // trust its verdict instead of summing the headers (RFC 1812 5.2.2).
    if (role == port_role::uplink)
        conf.rxmode.offloads |=
            info.rx_offload_capa & (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_OUTER_IPV4_CKSUM);
    if ((rc = rte_eth_dev_configure(id, q, q, &conf)) != 0) return fail("cannot configure", rc);
    uint16_t nrx = k_rx_desc, ntx = k_tx_desc;
    rte_eth_dev_adjust_nb_rx_tx_desc(id, &nrx, &ntx);
    const int socket = rte_eth_dev_socket_id(id) < 0 ? static_cast<int>(rte_socket_id()) : rte_eth_dev_socket_id(id);
    for (uint16_t i = 0; i < q; ++i) {
        if ((rc = rte_eth_rx_queue_setup(id, i, nrx, socket, nullptr, pool_)) != 0) return fail("RX queue setup", rc);
        if ((rc = rte_eth_tx_queue_setup(id, i, ntx, socket, nullptr)) != 0) return fail("TX queue setup", rc);
    }
    // Not every virtual device can change its MTU; the frames we send fit anyway.
    rte_eth_dev_set_mtu(id, mtu);
    if ((rc = rte_eth_dev_start(id)) != 0) return fail("cannot start", rc);
    auto pi = std::make_unique<port_info>();
    pi->id = id;
    pi->role = role;
    pi->devargs = devargs;
    pi->name = name;
    pi->mtu = mtu;
    rte_eth_macaddr_get(id, &pi->mac);
    for (unsigned w = 0; w < params_.workers; ++w) {
        pi->txb[w] = make_tx_buffer(socket, &counters_[w].ports[id].tx_dropped);
        if (pi->txb[w] == nullptr) {
            for (auto* b : pi->txb) rte_free(b);
            rte_eth_dev_stop(id);
            return fail("cannot allocate TX buffers", ENOMEM);
        }
    }
    rte_eth_dev_callback_register(id, RTE_ETH_EVENT_INTR_LSC, on_port_event, pi.get());
    rte_eth_dev_callback_register(id, RTE_ETH_EVENT_QUEUE_STATE, on_port_event, pi.get());
    ports_[id] = std::move(pi);
    return id;
}

result<void> dataplane::register_vxlan_port(uint16_t port, uint16_t udp_port) {
    rte_eth_udp_tunnel t{};
    t.udp_port = udp_port;
    t.prot_type = RTE_ETH_TUNNEL_TYPE_VXLAN;
    if (const int rc = rte_eth_dev_udp_tunnel_port_add(port, &t); rc != 0) return make_error(errstr(rc));
    return {};
}

void dataplane::detach_port(uint16_t id) {
    if (id >= RTE_MAX_ETHPORTS || !ports_[id]) return;
    rte_eth_dev_callback_unregister(id, RTE_ETH_EVENT_INTR_LSC, on_port_event, ports_[id].get());
    rte_eth_dev_callback_unregister(id, RTE_ETH_EVENT_QUEUE_STATE, on_port_event, ports_[id].get());
    rte_eth_dev_info info{};
    const bool have_info = rte_eth_dev_info_get(id, &info) == 0;
    rte_eth_dev_stop(id);
    rte_eth_dev_close(id);
    if (have_info && info.device != nullptr) rte_dev_remove(info.device);
    for (auto* b : ports_[id]->txb) rte_free(b);
    ports_[id].reset();
}

const port_info* dataplane::port(uint16_t id) const { return id < RTE_MAX_ETHPORTS ? ports_[id].get() : nullptr; }

std::vector<const port_info*> dataplane::ports() const {
    std::vector<const port_info*> v;
    for (auto& p : ports_)
        if (p) v.push_back(p.get());
    return v;
}

port_entry dataplane::entry_for(uint16_t id) const {
    port_entry e{};
    if (const port_info* p = port(id)) {
        e.role = p->role;
        e.mtu = p->mtu;
        e.mac = p->mac;
        e.txb = p->txb;
    }
    return e;
}

void dataplane::synchronize() { rte_rcu_qsbr_synchronize(shared_.qsbr, RTE_QSBR_THRID_INVALID); }

void dataplane::publish(std::unique_ptr<snapshot> s) {
    const snapshot* old = shared_.published.exchange(s.release(), std::memory_order_acq_rel);
    synchronize();
    delete old;
}

result<void> dataplane::launch() {
    shared_.stop.store(false);
    for (unsigned w = 0; w < params_.workers; ++w) {
        const int rc = rte_eal_remote_launch(worker_main, &wparams_[w], lcores_[w]);
        if (rc != 0) {
            stop();
            return make_error("cannot launch worker on lcore " + std::to_string(lcores_[w]) + ": " + errstr(rc));
        }
        running_ = true;
    }
    return {};
}

bool dataplane::stop() {
    if (!running_) return true;
    shared_.stop.store(true);
    // A worker checks the flag every loop; one that does not return within
    // the bound is blocked inside a driver call, and waiting longer would
    // outlast the pod's termination grace period.
    constexpr uint64_t k_stop_bound_ms = 2000;
    const uint64_t deadline = rte_get_timer_cycles() + rte_get_timer_hz() / 1000 * k_stop_bound_ms;
    for (unsigned w = 0; w < params_.workers; ++w) {
        while (rte_eal_get_lcore_state(lcores_[w]) == RUNNING) {
            if (rte_get_timer_cycles() > deadline) {
                stuck_lcore_ = lcores_[w];
                return false;
            }
            rte_delay_us_sleep(1000);
        }
        rte_eal_wait_lcore(lcores_[w]);
    }
    running_ = false;
    return true;
}

unsigned dataplane::punt_dequeue(rte_mbuf** pkts, unsigned n) {
    return rte_ring_sc_dequeue_burst(shared_.punt, reinterpret_cast<void**>(pkts), n, nullptr);
}

void dataplane::inject(rte_mbuf* m, uint16_t port) {
    m->port = port;
    if (rte_ring_sp_enqueue(inject_[0], m) != 0) {
        rte_pktmbuf_free(m);
        ++inject_dropped_;
    }
}

}  // namespace vxr::fastpath
