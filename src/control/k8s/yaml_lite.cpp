#include "control/k8s/yaml_lite.hpp"

#include <cstdint>

namespace vxr::control::k8s {

const yaml_node* yaml_node::get(std::string_view key) const {
    if (type != kind::map) return nullptr;
    for (const auto& [k, v] : map)
        if (k == key) return &v;
    return nullptr;
}

std::string yaml_node::str(std::string_view key) const {
    const yaml_node* n = get(key);
    return n && n->is_scalar() ? n->scalar : std::string{};
}

namespace {

struct line {
    int indent = 0;
    std::string_view raw;      // without the newline
    std::string_view content;  // indentation, trailing comment and spaces removed
};

std::string_view rtrim(std::string_view s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    return rtrim(s);
}

// Quotes only open at the start of a token, so an apostrophe inside a plain
// scalar ("it's") does not swallow the rest of the line.
bool token_start(std::string_view s, size_t i) {
    if (i == 0) return true;
    char p = s[i - 1];
    return p == ' ' || p == '\t' || p == ':' || p == '-' || p == '[' || p == '{' || p == ',';
}

std::string_view strip_comment(std::string_view s) {
    char quote = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (quote) {
            if (c == '\\' && quote == '"') ++i;
            else if (c == quote) quote = 0;
        } else if ((c == '"' || c == '\'') && token_start(s, i)) {
            quote = c;
        } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
            return rtrim(s.substr(0, i));
        }
    }
    return rtrim(s);
}

// Position of the ':' that ends a mapping key, or npos.
size_t find_key_colon(std::string_view s) {
    if (s.empty() || s[0] == '[' || s[0] == '{') return std::string_view::npos;
    char quote = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (quote) {
            if (c == '\\' && quote == '"') ++i;
            else if (c == quote) quote = 0;
        } else if ((c == '"' || c == '\'') && i == 0) {
            quote = c;
        } else if (c == ':' && (i + 1 == s.size() || s[i + 1] == ' ' || s[i + 1] == '\t')) {
            return i;
        }
    }
    return std::string_view::npos;
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

class parser {
public:
    explicit parser(std::string_view text) : text_(text) {}

    result<yaml_node> run() {
        split_lines();
        if (!err_.empty()) return make_error(err_);
        skip_blank();
        if (pos_ < lines_.size()) {
            std::string_view first = lines_[pos_].content;
            if (!first.empty() && (first[0] == '{' || first[0] == '[')) {
                // JSON (or a flow document): one flow value over all lines.
                std::string joined;
                for (size_t i = pos_; i < lines_.size(); ++i) joined.append(lines_[i].content).push_back(' ');
                size_t p = 0;
                yaml_node n = flow_value(joined, p);
                skip_ws(joined, p);
                if (err_.empty() && p != joined.size()) fail("trailing text after flow document");
                if (!err_.empty()) return make_error(err_);
                return n;
            }
        }
        yaml_node root = pos_ < lines_.size() ? block(lines_[pos_].indent) : yaml_node{};
        skip_blank();
        if (err_.empty() && pos_ < lines_.size()) fail("unexpected indentation");
        if (!err_.empty()) return make_error(err_);
        return root;
    }

private:
    void fail(const std::string& msg) {
        if (!err_.empty()) return;
        size_t n = pos_ < lines_.size() ? pos_ + 1 : lines_.size();
        err_ = "yaml line " + std::to_string(n) + ": " + msg;
    }

    void split_lines() {
        size_t start = 0;
        bool seen_doc_start = false;
        while (start <= text_.size()) {
            size_t end = text_.find('\n', start);
            if (end == std::string_view::npos) end = text_.size();
            std::string_view raw = rtrim(text_.substr(start, end - start));
            start = end + 1;
            line l;
            l.raw = raw;
            size_t ind = 0;
            while (ind < raw.size() && raw[ind] == ' ') ++ind;
            if (ind < raw.size() && raw[ind] == '\t') {
                err_ = "yaml line " + std::to_string(lines_.size() + 1) + ": tab in indentation";
                return;
            }
            l.indent = static_cast<int>(ind);
            l.content = strip_comment(raw.substr(ind));
            if (l.indent == 0 && (l.content == "---" || l.content.starts_with("--- "))) {
                if (seen_doc_start || has_content()) {
                    err_ = "multiple YAML documents are not supported";
                    return;
                }
                seen_doc_start = true;
                l.content = {};
            } else if (l.indent == 0 && l.content == "...") {
                break;
            } else if (l.indent == 0 && l.content.starts_with("%")) {
                err_ = "YAML directives are not supported";
                return;
            }
            lines_.push_back(l);
            if (end == text_.size()) break;
        }
    }

    bool has_content() const {
        for (const auto& l : lines_)
            if (!l.content.empty()) return true;
        return false;
    }

    void skip_blank() {
        while (pos_ < lines_.size() && lines_[pos_].content.empty()) ++pos_;
    }

    static bool is_seq_item(std::string_view c) { return c == "-" || c.starts_with("- "); }

    yaml_node block(int indent) {
        skip_blank();
        if (pos_ >= lines_.size()) return {};
        std::string_view c = lines_[pos_].content;
        if (is_seq_item(c)) return sequence(indent);
        if (find_key_colon(c) != std::string_view::npos) return mapping(indent);
        ++pos_;
        return inline_value(c, indent - 1);
    }

    yaml_node sequence(int indent) {
        yaml_node n;
        n.type = yaml_node::kind::seq;
        while (err_.empty()) {
            skip_blank();
            if (pos_ >= lines_.size() || lines_[pos_].indent != indent) break;
            line& l = lines_[pos_];
            if (!is_seq_item(l.content)) break;
            std::string_view rest = l.content.substr(1);
            size_t spaces = 0;
            while (spaces < rest.size() && rest[spaces] == ' ') ++spaces;
            rest.remove_prefix(spaces);
            if (rest.empty()) {
                ++pos_;
                skip_blank();
                if (pos_ < lines_.size() && lines_[pos_].indent > indent)
                    n.seq.push_back(block(lines_[pos_].indent));
                else
                    n.seq.emplace_back();
                continue;
            }
            // "- key: v" opens a nested block whose column is that of "key".
            l.indent = indent + 1 + static_cast<int>(spaces);
            l.content = rest;
            n.seq.push_back(block(l.indent));
        }
        return n;
    }

    yaml_node mapping(int indent) {
        yaml_node n;
        n.type = yaml_node::kind::map;
        while (err_.empty()) {
            skip_blank();
            if (pos_ >= lines_.size()) break;
            const line& l = lines_[pos_];
            if (l.indent < indent) break;
            if (l.indent > indent) {
                fail("unexpected indentation");
                break;
            }
            size_t colon = find_key_colon(l.content);
            if (colon == std::string_view::npos) {
                if (is_seq_item(l.content)) break;
                fail("expected 'key: value'");
                break;
            }
            std::string key = scalar_text(trim(l.content.substr(0, colon)));
            std::string_view rest = trim(l.content.substr(colon + 1));
            for (const auto& kv : n.map)
                if (kv.first == key) fail("duplicate key '" + key + "'");
            ++pos_;
            yaml_node value;
            if (!rest.empty()) {
                value = inline_value(rest, indent);
            } else {
                skip_blank();
                if (pos_ < lines_.size()) {
                    const line& next = lines_[pos_];
                    // kubectl writes a key's sequence at the key's own column.
                    if (next.indent > indent || (next.indent == indent && is_seq_item(next.content)))
                        value = block(next.indent);
                }
            }
            n.map.emplace_back(std::move(key), std::move(value));
        }
        return n;
    }

    // A value that starts on the current (already consumed) line; parent is
    // the indentation of the owning key, continuation lines must exceed it.
    yaml_node inline_value(std::string_view v, int parent) {
        yaml_node n;
        char c0 = v[0];
        if (c0 == '&' || c0 == '*' || c0 == '!') {
            fail("anchors, aliases and tags are not supported");
            return n;
        }
        if (c0 == '|' || c0 == '>') return block_scalar(v, parent);
        if (c0 == '[' || c0 == '{') {
            std::string joined(v);
            while (!balanced(joined) && pos_ < lines_.size()) joined.append(" ").append(lines_[pos_++].content);
            size_t p = 0;
            n = flow_value(joined, p);
            skip_ws(joined, p);
            if (p != joined.size()) fail("trailing text after flow collection");
            return n;
        }
        std::string text(v);
        if (c0 == '"' || c0 == '\'') {
            // A quoted scalar may continue on following lines (folded with a space).
            while (!quote_closed(text) && pos_ < lines_.size())
                text.append(" ").append(trim(lines_[pos_++].raw));
            size_t p = 0;
            n.type = yaml_node::kind::scalar;
            n.scalar = quoted(text, p);
            skip_ws(text, p);
            if (p != text.size()) fail("text after quoted scalar");
            return n;
        }
        // Plain multi-line scalar: more-indented lines that are not structure.
        while (pos_ < lines_.size() && lines_[pos_].indent > parent && !lines_[pos_].content.empty() &&
               find_key_colon(lines_[pos_].content) == std::string_view::npos &&
               !is_seq_item(lines_[pos_].content))
            text.append(" ").append(lines_[pos_++].content);
        return plain(text);
    }

    static yaml_node plain(std::string_view text) {
        yaml_node n;
        if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return n;
        n.type = yaml_node::kind::scalar;
        n.scalar = std::string(text);
        return n;
    }

    yaml_node block_scalar(std::string_view header, int parent) {
        bool folded = header[0] == '>';
        char chomp = 0;
        int explicit_indent = 0;
        for (char c : header.substr(1)) {
            if (c == '-' || c == '+') chomp = c;
            else if (c >= '1' && c <= '9') explicit_indent = c - '0';
            else { fail("bad block scalar header"); return {}; }
        }
        int indent = explicit_indent ? parent + explicit_indent : -1;
        std::vector<std::string_view> body;
        while (pos_ < lines_.size()) {
            const line& l = lines_[pos_];
            bool blank = trim(l.raw).empty();
            if (!blank) {
                if (indent < 0) indent = l.indent;
                if (l.indent < indent || l.indent <= parent) break;
            }
            body.push_back(blank ? std::string_view{} : l.raw.substr(static_cast<size_t>(indent)));
            ++pos_;
        }
        size_t trailing = 0;
        while (!body.empty() && body.back().empty()) { body.pop_back(); ++trailing; }
        std::string out;
        for (size_t i = 0; i < body.size(); ++i) {
            if (i > 0) out += (folded && !body[i].empty() && !body[i - 1].empty()) ? ' ' : '\n';
            out.append(body[i]);
        }
        if (chomp != '-' && !body.empty()) out += '\n';
        if (chomp == '+') out.append(trailing, '\n');
        yaml_node n;
        n.type = yaml_node::kind::scalar;
        n.scalar = std::move(out);
        return n;
    }

    static bool quote_closed(std::string_view s) {
        char q = s[0];
        for (size_t i = 1; i < s.size(); ++i) {
            if (q == '"' && s[i] == '\\') { ++i; continue; }
            if (s[i] == q) {
                if (q == '\'' && i + 1 < s.size() && s[i + 1] == '\'') { ++i; continue; }
                return true;
            }
        }
        return false;
    }

    static bool balanced(std::string_view s) {
        int depth = 0;
        char quote = 0;
        for (size_t i = 0; i < s.size(); ++i) {
            char c = s[i];
            if (quote) {
                if (c == '\\' && quote == '"') ++i;
                else if (c == quote) quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '[' || c == '{') {
                ++depth;
            } else if (c == ']' || c == '}') {
                --depth;
            }
        }
        return depth <= 0 && !quote;
    }

    std::string scalar_text(std::string_view s) {
        if (!s.empty() && (s[0] == '"' || s[0] == '\'')) {
            size_t p = 0;
            return quoted(s, p);
        }
        return std::string(s);
    }

    static void skip_ws(std::string_view s, size_t& p) {
        while (p < s.size() && (s[p] == ' ' || s[p] == '\t' || s[p] == '\r' || s[p] == '\n')) ++p;
    }

    std::string quoted(std::string_view s, size_t& p) {
        char q = s[p++];
        std::string out;
        while (p < s.size()) {
            char c = s[p++];
            if (c == q) {
                if (q == '\'' && p < s.size() && s[p] == '\'') { out += '\''; ++p; continue; }
                return out;
            }
            if (c != '\\' || q == '\'') { out += c; continue; }
            if (p >= s.size()) break;
            char e = s[p++];
            switch (e) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case '0': out += '\0'; break;
                case '/': case '\\': case '"': case '\'': case ' ': out += e; break;
                case 'x': case 'u': case 'U': {
                    size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    if (p + digits > s.size()) { fail("short escape"); return out; }
                    uint32_t cp = 0;
                    for (size_t i = 0; i < digits; ++i) {
                        char h = s[p++];
                        int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                              : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                        if (v < 0) { fail("bad hex escape"); return out; }
                        cp = cp * 16 + static_cast<uint32_t>(v);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: fail(std::string("unknown escape \\") + e); return out;
            }
        }
        fail("unterminated quoted scalar");
        return out;
    }

    yaml_node flow_value(std::string_view s, size_t& p) {
        skip_ws(s, p);
        yaml_node n;
        if (p >= s.size()) { fail("unexpected end of flow collection"); return n; }
        char c = s[p];
        if (c == '[' || c == '{') {
            bool is_map = c == '{';
            n.type = is_map ? yaml_node::kind::map : yaml_node::kind::seq;
            char close = is_map ? '}' : ']';
            ++p;
            skip_ws(s, p);
            if (p < s.size() && s[p] == close) { ++p; return n; }
            while (err_.empty()) {
                if (is_map) {
                    yaml_node key = flow_scalar(s, p, true);
                    skip_ws(s, p);
                    if (p >= s.size() || s[p] != ':') { fail("expected ':' in flow mapping"); return n; }
                    ++p;
                    n.map.emplace_back(key.scalar, flow_value(s, p));
                } else {
                    n.seq.push_back(flow_value(s, p));
                }
                skip_ws(s, p);
                if (p < s.size() && s[p] == ',') { ++p; skip_ws(s, p); if (p < s.size() && s[p] == close) { ++p; return n; } continue; }
                if (p < s.size() && s[p] == close) { ++p; return n; }
                fail("expected ',' or closing bracket in flow collection");
            }
            return n;
        }
        return flow_scalar(s, p, false);
    }

    yaml_node flow_scalar(std::string_view s, size_t& p, bool is_key) {
        skip_ws(s, p);
        yaml_node n;
        if (p < s.size() && (s[p] == '"' || s[p] == '\'')) {
            n.type = yaml_node::kind::scalar;
            n.scalar = quoted(s, p);
            return n;
        }
        size_t start = p;
        while (p < s.size() && s[p] != ',' && s[p] != ']' && s[p] != '}' && s[p] != '[' && s[p] != '{') {
            if (s[p] == ':' && (is_key || p + 1 >= s.size() || s[p + 1] == ' ')) break;
            ++p;
        }
        std::string_view t = trim(s.substr(start, p - start));
        if (!t.empty() && (t[0] == '&' || t[0] == '*' || t[0] == '!')) fail("anchors, aliases and tags are not supported");
        n = plain(t);
        if (is_key && n.is_null()) n.type = yaml_node::kind::scalar;
        return n;
    }

    std::string_view text_;
    std::vector<line> lines_;
    size_t pos_ = 0;
    std::string err_;
};

}  // namespace

result<yaml_node> parse_yaml(std::string_view text) { return parser(text).run(); }

}  // namespace vxr::control::k8s
