// The pipeline's last stage: TX buffers drained per port, and what the
// control thread injects. Thread: worker lcores (make_tx_buffer: control
// thread). Must not on a worker: lock, allocate, make syscalls, log, or throw.
#include "fastpath/stage.hpp"

#include <rte_malloc.h>

namespace vxr::fastpath {

namespace {
void tx_error_cb(rte_mbuf** unsent, uint16_t count, void* userdata) {
    rte_pktmbuf_free_bulk(unsent, count);
    static_cast<counter*>(userdata)->add(count);
}
}  // namespace

rte_eth_dev_tx_buffer* make_tx_buffer(int socket, counter* dropped) {
    auto* b = static_cast<rte_eth_dev_tx_buffer*>(
        rte_zmalloc_socket("vxr_txb", RTE_ETH_TX_BUFFER_SIZE(k_burst), RTE_CACHE_LINE_SIZE, socket));
    if (b == nullptr) return nullptr;
    rte_eth_tx_buffer_init(b, k_burst);
    rte_eth_tx_buffer_set_err_callback(b, tx_error_cb, dropped);
    return b;
}

void stage_ctx::drop(rte_mbuf* m, drop_reason r) {
    c_.drop(r);
    rte_pktmbuf_free(m);
}

void stage_ctx::tx_host(const snapshot& s, rte_mbuf* m) {
    if (s.host_port == RTE_MAX_ETHPORTS) return drop(m, drop_reason::no_host_port);
    c_.to_host.add();
    tx(s, s.host_port, m);
}

bool stage_ctx::try_punt(rte_mbuf* m, punt_kind k, uint32_t idx, uint16_t in_port) {
    m->hash.usr = punt_tag(k, idx);
    m->port = in_port;
    if (unlikely(rte_ring_mp_enqueue(punt_, m) != 0)) return false;
    c_.punted.add();
    return true;
}

void stage_ctx::punt(rte_mbuf* m, punt_kind k, uint32_t idx, uint16_t in_port) {
    if (!try_punt(m, k, idx, in_port)) drop(m, drop_reason::punt_full);
}

void stage_ctx::flush_all(const snapshot& s) {
    for (uint16_t port = 0; port < RTE_MAX_ETHPORTS; ++port) {
        rte_eth_dev_tx_buffer* b = s.ports[port].txb[id_];
        if (b != nullptr && b->length != 0) rte_eth_tx_buffer_flush(port, static_cast<uint16_t>(id_), b);
    }
}

void stage_ctx::drain_inject(const snapshot& s, rte_ring* inject) {
    if (inject == nullptr) return;
    rte_mbuf* pkts[k_burst];
    const unsigned n = rte_ring_sc_dequeue_burst(inject, reinterpret_cast<void**>(pkts), k_burst, nullptr);
    for (unsigned i = 0; i < n; ++i) tx(s, pkts[i]->port, pkts[i]);
    c_.injected.add(n);
}

}  // namespace vxr::fastpath
