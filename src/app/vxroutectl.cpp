// vxroutectl: the operator's CLI for a running vxrouted. It only builds a
// request, sends it over the admin socket and renders the reply; every
// validation of pods and peers happens in the daemon, so the two cannot
// disagree across versions.
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "control/admin/admin.hpp"

namespace {

using json = rapidjson::Value;

// Exit codes: sysexits' EX_USAGE for bad command lines, so scripts can tell
// "you typed it wrong" from "the daemon said no" (1) and "no daemon" (2).
constexpr int k_exit_ok = 0;
constexpr int k_exit_refused = 1;
constexpr int k_exit_unreachable = 2;
constexpr int k_exit_usage = 64;
constexpr const char* k_default_socket = "/run/vxroute/vxrouted.sock";
constexpr const char* k_show_targets[] = {"ports",    "routes",    "peers",        "neighbors",
                                          "pods",     "counters",  "config",       "k8s",
                                          "services", "endpoints", "cluster-pods", "namespaces",
                                          "policies", "frontends", "conntrack"};

constexpr const char* k_usage =
    "usage: vxroutectl [-s SOCKET] [--json] COMMAND\n"
    "\n"
    "commands:\n"
    "  show ports|routes|peers|neighbors|pods|counters|config|k8s\n"
    "  show services|endpoints|cluster-pods|namespaces|policies\n"
    "                     the watch cache (kubernetes.watch): Services, EndpointSlices,\n"
    "                     every Pod of the cluster, Namespaces, NetworkPolicies\n"
    "  show frontends     the Services this node translates: frontends, backends, Maglev shares\n"
    "  show conntrack [FILTER]\n"
    "                     tracked flows (FILTER: a substring of a tuple, or a state)\n"
    "  service lookup PROTO IP PORT SRC_IP SRC_PORT\n"
    "                     which backend a new flow with that 5-tuple gets, and why\n"
    "  pod add name=NAME ip=IP (netns=NS [ifname=IF] | devargs=DEVARGS [mac=MAC])\n"
    "  pod del NAME\n"
    "  peer add node_ip=IP vtep_mac=MAC pod_cidr=CIDR [name=NAME]\n"
    "  peer del NODE_IP\n"
    "\n"
    "options:\n"
    "  -s, --socket PATH  admin socket (default $VXROUTE_SOCKET, else /run/vxroute/vxrouted.sock)\n"
    "  --json             print the daemon's result as JSON\n"
    "  -h, --help         show this help\n";

struct usage_error {
    std::string message;
};

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

// Builds {"v":1,"cmd":...} plus whatever the command adds.
template <typename F>
std::string make_request(std::string_view cmd, F body) {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    w.Key("v");
    w.Int(1);
    w.Key("cmd");
    put(w, cmd);
    body(w);
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

// key=value words become the string members of one object.
void put_fields(writer& w, const char* key, const std::vector<std::string>& words) {
    std::vector<std::string_view> seen;
    w.Key(key);
    w.StartObject();
    for (const auto& word : words) {
        auto eq = word.find('=');
        if (eq == std::string::npos || eq == 0) throw usage_error{"expected key=value, got \"" + word + "\""};
        std::string_view k(word.data(), eq);
        if (std::find(seen.begin(), seen.end(), k) != seen.end())
            throw usage_error{"\"" + std::string(k) + "\" given twice"};
        seen.push_back(k);
        put(w, k);
        put(w, std::string_view(word).substr(eq + 1));
    }
    w.EndObject();
}

std::string build_request(const std::vector<std::string>& words) {
    if (words.empty()) throw usage_error{"missing command"};
    const std::string& verb = words[0];
    if (verb == "show" && words.size() == 3 && words[1] == "conntrack")
        return make_request("show", [&](writer& w) {
            w.Key("what");
            put(w, words[1]);
            w.Key("filter");
            put(w, words[2]);
        });
    if (verb == "service") {
        if (words.size() != 7 || words[1] != "lookup")
            throw usage_error{"usage: service lookup PROTO IP PORT SRC_IP SRC_PORT"};
        auto port = [&](const std::string& s) {
            char* end = nullptr;
            const unsigned long v = std::strtoul(s.c_str(), &end, 10);
            if (s.empty() || *end != '\0' || v > 65535) throw usage_error{"not a port: \"" + s + "\""};
            return static_cast<unsigned>(v);
        };
        const unsigned dport = port(words[4]), sport = port(words[6]);
        return make_request("service-lookup", [&](writer& w) {
            w.Key("proto");
            put(w, words[2]);
            w.Key("ip");
            put(w, words[3]);
            w.Key("port");
            w.Uint(dport);
            w.Key("src_ip");
            put(w, words[5]);
            w.Key("src_port");
            w.Uint(sport);
        });
    }
    if (verb == "show") {
        if (words.size() != 2) throw usage_error{"show takes exactly one of ports|routes|peers|neighbors|pods|counters|config|k8s|"
                                                   "services|endpoints|cluster-pods|namespaces|policies"};
        if (std::find_if(std::begin(k_show_targets), std::end(k_show_targets),
                         [&](const char* t) { return words[1] == t; }) == std::end(k_show_targets))
            throw usage_error{"cannot show \"" + words[1] + "\""};
        return make_request("show", [&](writer& w) {
            w.Key("what");
            put(w, words[1]);
        });
    }
    if (verb != "pod" && verb != "peer") throw usage_error{"unknown command \"" + verb + "\""};
    if (words.size() < 2) throw usage_error{verb + " needs add or del"};
    const std::string& action = words[1];
    std::vector<std::string> rest(words.begin() + 2, words.end());
    if (action == "add") {
        if (rest.empty()) throw usage_error{verb + " add needs key=value arguments"};
        return make_request(verb + "-add", [&](writer& w) { put_fields(w, verb.c_str(), rest); });
    }
    if (action == "del") {
        if (rest.size() != 1)
            throw usage_error{verb + " del takes exactly one " + (verb == "pod" ? "NAME" : "NODE_IP")};
        return make_request(verb + "-del", [&](writer& w) {
            w.Key(verb == "pod" ? "name" : "node_ip");
            put(w, rest[0]);
        });
    }
    throw usage_error{"unknown " + verb + " action \"" + action + "\" (expected add or del)"};
}

// ---- rendering: generic over the result's shape, never per command ----

std::string compact(const json& v) {
    rapidjson::StringBuffer sb;
    writer w(sb);
    v.Accept(w);
    return std::string(sb.GetString(), sb.GetSize());
}

std::string scalar_text(const json& v) {
    if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
    if (v.IsNull()) return "-";
    // An object inside a table cell (per-worker drops) shows its non-zero
    // members only, so that a row stays readable.
    if (v.IsObject()) {
        std::string out;
        for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
            if (m->value.IsNumber() && m->value.GetDouble() == 0.0) continue;
            if (!out.empty()) out += ",";
            out.append(m->name.GetString(), m->name.GetStringLength()).append("=").append(scalar_text(m->value));
        }
        return out.empty() ? "-" : out;
    }
    return compact(v);
}

bool is_zero(const json& v) { return v.IsNumber() && v.GetDouble() == 0.0; }

bool is_table(const json& v) {
    return v.IsArray() && std::all_of(v.Begin(), v.End(), [](const json& e) { return e.IsObject(); });
}

void render_table(std::string& out, std::string_view title, const json& rows) {
    out.append(title).append("\n");
    if (rows.Empty()) {
        out += "(none)\n";
        return;
    }
    // Header from the first row; keys that appear only later go at the end.
    std::vector<std::string> cols;
    for (const auto& row : rows.GetArray()) {
        for (auto m = row.MemberBegin(); m != row.MemberEnd(); ++m) {
            std::string k(m->name.GetString(), m->name.GetStringLength());
            if (std::find(cols.begin(), cols.end(), k) == cols.end()) cols.push_back(std::move(k));
        }
    }
    std::vector<std::vector<std::string>> cells;
    std::vector<size_t> width(cols.size());
    std::vector<bool> numeric(cols.size(), true);
    for (size_t c = 0; c < cols.size(); ++c) width[c] = cols[c].size();
    for (const auto& row : rows.GetArray()) {
        auto& line = cells.emplace_back();
        for (size_t c = 0; c < cols.size(); ++c) {
            auto m = row.FindMember(cols[c].c_str());
            bool present = m != row.MemberEnd();
            line.push_back(present ? scalar_text(m->value) : "-");
            if (present && !m->value.IsNumber()) numeric[c] = false;
            width[c] = std::max(width[c], line.back().size());
        }
    }
    auto emit = [&](const std::vector<std::string>& line) {
        std::string text;
        for (size_t c = 0; c < cols.size(); ++c) {
            const bool last = c + 1 == cols.size();
            std::string pad(width[c] - line[c].size(), ' ');
            // Numbers right-aligned (with their header) so that magnitudes line up.
            if (numeric[c]) text += pad + line[c];
            else text += line[c] + (last ? "" : pad);
            if (!last) text += "  ";
        }
        while (!text.empty() && text.back() == ' ') text.pop_back();
        out += text + "\n";
    };
    emit(cols);
    for (const auto& line : cells) emit(line);
}

void render_value(std::string& out, std::string_view key, const json& v, size_t indent) {
    std::string prefix(indent, ' ');
    if (v.IsObject()) {
        // Drop reasons are many and mostly zero; only the ones that fired matter.
        const bool hide_zero = key == "drops";
        std::string body;
        for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
            if (hide_zero && is_zero(m->value)) continue;
            render_value(body, std::string_view(m->name.GetString(), m->name.GetStringLength()), m->value,
                         indent + 2);
        }
        if (body.empty()) out += prefix + std::string(key) + ": none\n";
        else out += prefix + std::string(key) + ":\n" + body;
        return;
    }
    if (v.IsArray()) {
        bool scalars = std::all_of(v.Begin(), v.End(), [](const json& e) { return !e.IsObject() && !e.IsArray(); });
        std::string text;
        if (v.Empty()) {
            text = "(none)";
        } else if (scalars) {
            for (const auto& e : v.GetArray()) text += (text.empty() ? "" : ", ") + scalar_text(e);
        } else {
            text = compact(v);
        }
        out += prefix + std::string(key) + ": " + text + "\n";
        return;
    }
    out += prefix + std::string(key) + ": " + scalar_text(v) + "\n";
}

// Tables and runs of key: value lines are sections, separated by a blank line.
std::string render(const json& result) {
    if (!result.IsObject()) return scalar_text(result) + "\n";
    std::string out;
    std::string block;
    auto flush_block = [&] {
        if (block.empty()) return;
        if (!out.empty()) out += "\n";
        out += block;
        block.clear();
    };
    for (auto m = result.MemberBegin(); m != result.MemberEnd(); ++m) {
        std::string_view key(m->name.GetString(), m->name.GetStringLength());
        if (is_table(m->value)) {
            flush_block();
            if (!out.empty()) out += "\n";
            render_table(out, key, m->value);
        } else {
            render_value(block, key, m->value, 0);
        }
    }
    flush_block();
    return out;
}

std::string pretty(const json& v) {
    rapidjson::StringBuffer sb;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
    w.SetIndent(' ', 2);
    v.Accept(w);
    return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

int usage(const std::string& why) {
    std::fprintf(stderr, "vxroutectl: %s\n%s", why.c_str(), k_usage);
    return k_exit_usage;
}

int run(int argc, char** argv) {
    std::string socket_path = k_default_socket;
    if (const char* env = std::getenv("VXROUTE_SOCKET"); env && *env) socket_path = env;
    bool as_json = false;
    std::vector<std::string> words;
    bool options_done = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (options_done || arg.empty() || arg[0] != '-') {
            words.push_back(arg);
        } else if (arg == "--") {
            options_done = true;
        } else if (arg == "-h" || arg == "--help") {
            std::fputs(k_usage, stdout);
            return k_exit_ok;
        } else if (arg == "--json") {
            as_json = true;
        } else if (arg == "-s" || arg == "--socket") {
            if (i + 1 >= argc) return usage(arg + " needs a path");
            socket_path = argv[++i];
        } else if (arg.rfind("--socket=", 0) == 0) {
            socket_path = arg.substr(9);
        } else if (arg.rfind("-s", 0) == 0) {
            socket_path = arg.substr(2);
        } else {
            return usage("unknown option " + arg);
        }
    }
    if (socket_path.empty()) return usage("empty socket path");

    std::string request;
    try {
        request = build_request(words);
    } catch (const usage_error& e) {
        return usage(e.message);
    }

    auto reply_text = vxr::control::admin_call(socket_path, request);
    if (!reply_text) {
        std::fprintf(stderr, "vxroutectl: %s\n", reply_text.err().c_str());
        return k_exit_unreachable;
    }
    rapidjson::Document reply;
    reply.Parse(reply_text->data(), reply_text->size());
    if (reply.HasParseError() || !reply.IsObject()) {
        std::fprintf(stderr, "vxroutectl: malformed reply from vxrouted: %s\n",
                     reply.HasParseError() ? rapidjson::GetParseError_En(reply.GetParseError()) : "not an object");
        return k_exit_unreachable;
    }
    auto ok = reply.FindMember("ok");
    if (ok == reply.MemberEnd() || !ok->value.IsBool() || !ok->value.GetBool()) {
        auto err = reply.FindMember("error");
        std::string msg = err != reply.MemberEnd() && err->value.IsString()
                              ? std::string(err->value.GetString(), err->value.GetStringLength())
                              : "request failed (no error message)";
        std::fprintf(stderr, "vxroutectl: %s\n", msg.c_str());
        return k_exit_refused;
    }
    auto res = reply.FindMember("result");
    json empty(rapidjson::kObjectType);
    const json& result = res != reply.MemberEnd() ? res->value : empty;
    std::string text = as_json ? pretty(result) : render(result);
    // A mutation usually answers with an empty object; say that it worked.
    if (text.empty()) text = "ok\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0 ? k_exit_ok : k_exit_unreachable;
}

}  // namespace

int main(int argc, char** argv) { return run(argc, argv); }
