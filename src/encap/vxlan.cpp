#include "encap/vxlan.hpp"

namespace vxr::encap {

encap_template build_template(const template_params& p) {
    encap_template t{};
    t.outer.eth.dst_addr = to_rte(p.outer_dst_mac);
    t.outer.eth.src_addr = to_rte(p.outer_src_mac);
    t.outer.eth.ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto& ip = t.outer.ip;
    ip.version_ihl = RTE_IPV4_VHL_DEF;
    ip.type_of_service = 0;
    ip.total_length = 0;
    ip.packet_id = 0;  // DF is set: the ID carries no meaning (RFC 6864)
    ip.fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
    ip.time_to_live = k_default_ttl;
    ip.next_proto_id = IPPROTO_UDP;
    ip.src_addr = rte_cpu_to_be_32(p.src_ip.value);
    ip.dst_addr = rte_cpu_to_be_32(p.dst_ip.value);
    ip.hdr_checksum = 0;
    ip.hdr_checksum = rte_ipv4_cksum(&ip);
    t.outer.udp.src_port = 0;
    t.outer.udp.dst_port = rte_cpu_to_be_16(p.udp_port);
    t.outer.udp.dgram_len = 0;
    t.outer.udp.dgram_cksum = 0;  // allowed for IPv4 (RFC 7348), as the kernel sends it
    reinterpret_cast<uint8_t*>(&t.outer.vxlan.vx_flags)[0] = k_vxlan_flag_i;
    t.outer.vxlan.vx_vni = vni_to_be(p.vni);
    t.inner.dst_addr = to_rte(p.inner_dst_mac);
    t.inner.src_addr = to_rte(p.inner_src_mac);
    t.inner.ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    return t;
}

}  // namespace vxr::encap
