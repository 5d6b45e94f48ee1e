// What the object decoders (objects.cpp, decode_service.cpp,
// decode_network_policy.cpp) share: typed member readers that record the
// first error with the path of the field, and the enum spelling tables the
// decoders and the JSON writers both use. Internal to the k8s library.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "control/k8s/objects.hpp"

namespace vxr::control::k8s::detail {

using rapidjson::Value;

// Where a value sits in the object. Built on the stack while descending and
// rendered only on failure, so a good object costs no string work. Each
// level refers to its parent: keep every level alive (a named variable or a
// temporary inside the call) while its children are used.
struct json_path {
    const json_path* parent = nullptr;
    const char* field = nullptr;  // nullptr: an array element
    size_t index = 0;
    json_path operator/(const char* f) const { return {this, f, 0}; }
    json_path operator[](size_t i) const { return {this, nullptr, i}; }
    std::string str() const;
};

class decode_ctx {
public:
    // Keeps the first failure (the later ones are usually its echoes) and
    // returns false so callers can `return c.fail(...)`.
    bool fail(const json_path& at, std::string msg);
    error to_error(std::string_view kind, const object_meta& meta) const;

private:
    std::string where_;
    std::string msg_;
};

template <typename E>
struct enum_name {
    std::string_view name;
    E value;
};

inline constexpr enum_name<l4_protocol> k_protocol_names[] = {
    {"TCP", l4_protocol::tcp}, {"UDP", l4_protocol::udp}, {"SCTP", l4_protocol::sctp}};
inline constexpr enum_name<service_type> k_service_type_names[] = {
    {"ClusterIP", service_type::cluster_ip},
    {"NodePort", service_type::node_port},
    {"LoadBalancer", service_type::load_balancer},
    {"ExternalName", service_type::external_name}};
inline constexpr enum_name<family_policy> k_family_policy_names[] = {
    {"SingleStack", family_policy::single_stack},
    {"PreferDualStack", family_policy::prefer_dual_stack},
    {"RequireDualStack", family_policy::require_dual_stack}};
inline constexpr enum_name<affinity> k_affinity_names[] = {{"None", affinity::none},
                                                           {"ClientIP", affinity::client_ip}};
inline constexpr enum_name<traffic_policy> k_traffic_policy_names[] = {{"Cluster", traffic_policy::cluster},
                                                                       {"Local", traffic_policy::local}};
inline constexpr enum_name<lb_ip_mode> k_ip_mode_names[] = {{"VIP", lb_ip_mode::vip}, {"Proxy", lb_ip_mode::proxy}};
inline constexpr enum_name<ip_family> k_ip_family_names[] = {{"IPv4", ip_family::v4}, {"IPv6", ip_family::v6}};
inline constexpr enum_name<endpoint_address_type> k_address_type_names[] = {
    {"IPv4", endpoint_address_type::ipv4},
    {"IPv6", endpoint_address_type::ipv6},
    {"FQDN", endpoint_address_type::fqdn}};
inline constexpr enum_name<pod_phase> k_pod_phase_names[] = {
    {"Pending", pod_phase::pending},     {"Running", pod_phase::running}, {"Succeeded", pod_phase::succeeded},
    {"Failed", pod_phase::failed},       {"Unknown", pod_phase::unknown}};
inline constexpr enum_name<selector_op> k_selector_op_names[] = {{"In", selector_op::in},
                                                                 {"NotIn", selector_op::not_in},
                                                                 {"Exists", selector_op::exists},
                                                                 {"DoesNotExist", selector_op::does_not_exist}};
inline constexpr enum_name<policy_type> k_policy_type_names[] = {{"Ingress", policy_type::ingress},
                                                                 {"Egress", policy_type::egress}};

template <typename E, size_t N>
std::string_view name_of(const enum_name<E> (&table)[N], E v) {
    for (const auto& e : table)
        if (e.value == v) return e.name;
    return "?";
}

inline std::string_view sv(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

// The member, or nullptr when it is absent or JSON null (Go's encoder
// writes some unset pointers as null).
const Value* find(const Value& obj, const char* name);

// Each reader leaves `out` untouched when the member is absent and fails on
// a value of the wrong type or out of range.
bool read_string(decode_ctx& c, const Value& obj, const json_path& at, const char* name, std::string& out);
bool read_bool(decode_ctx& c, const Value& obj, const json_path& at, const char* name, std::optional<bool>& out);
bool read_bool(decode_ctx& c, const Value& obj, const json_path& at, const char* name, bool& out);
bool read_uint(decode_ctx& c, const Value& obj, const json_path& at, const char* name, uint32_t lo, uint32_t hi,
               uint32_t& out);
// A port number in 1..65535 (0 also when allow_zero: "none").
bool read_port(decode_ctx& c, const Value& obj, const json_path& at, const char* name, bool allow_zero,
               uint16_t& out);
// "protocol", defaulting to TCP as the API server does.
bool read_protocol(decode_ctx& c, const Value& obj, const json_path& at, l4_protocol& out);
// `v` itself: a number 1..65535 or an IANA service name.
bool read_port_ref(decode_ctx& c, const Value& v, const json_path& at, port_ref& out);
bool read_ip(decode_ctx& c, const Value& v, const json_path& at, ip_addr& out);
bool read_labels(decode_ctx& c, const Value& obj, const json_path& at, const char* name, label_map& out);
// Reads metadata; the name is required, everything else optional.
bool read_meta(decode_ctx& c, const Value& obj, object_meta& out);

// The API server's IANA_SVC_NAME rule for named ports: 1-15 of [a-z0-9-],
// at least one letter, no leading, trailing or doubled '-'.
bool is_port_name(std::string_view s);

// A quoted copy of a bad value for the message, cut short.
std::string quote(const Value& v);

// `v` itself as one of the table's spellings.
template <typename E, size_t N>
bool read_enum_value(decode_ctx& c, const Value& v, const json_path& at, const enum_name<E> (&table)[N], E& out) {
    if (v.IsString()) {
        for (const auto& e : table) {
            if (e.name == sv(v)) {
                out = e.value;
                return true;
            }
        }
    }
    std::string want;
    for (const auto& e : table) want.append(want.empty() ? "" : ", ").append(e.name);
    return c.fail(at, "unsupported value " + quote(v) + " (want " + want + ")");
}

template <typename E, size_t N>
bool read_enum(decode_ctx& c, const Value& obj, const json_path& at, const char* name,
               const enum_name<E> (&table)[N], E& out) {
    const Value* v = find(obj, name);
    return !v || read_enum_value(c, *v, at / name, table, out);
}

// Calls f(item, item_path) for each element of the array member `name`;
// absent means no elements.
template <typename F>
bool each(decode_ctx& c, const Value& obj, const json_path& at, const char* name, F&& f) {
    const Value* arr = find(obj, name);
    if (!arr) return true;
    const json_path here = at / name;
    if (!arr->IsArray()) return c.fail(here, "not a list");
    for (rapidjson::SizeType i = 0; i < arr->Size(); ++i)
        if (!f((*arr)[i], here[i])) return false;
    return true;
}

// The object member `name` (nullptr when absent); fails when not an object.
bool object_member(decode_ctx& c, const Value& obj, const json_path& at, const char* name, const Value*& out);

}  // namespace vxr::control::k8s::detail
