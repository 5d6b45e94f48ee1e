// Splits a watch stream into events. The API server writes one JSON event per
// line, but neither HTTP chunks nor TLS records nor libcurl's write callbacks
// follow those lines, so bytes are buffered until a '\n' completes an event.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vxr::control::k8s {

class line_splitter {
public:
    // A Node event is a few KB; 64 MB means a broken stream, not a big node.
    static constexpr size_t k_max_line = 64u << 20;

    // Calls on_line(std::string_view) for every complete line (without the
    // '\n'; empty lines are skipped). Returns false when a line exceeds
    // k_max_line: the stream is unusable and must be restarted.
    template <typename F>
    bool feed(std::string_view data, F&& on_line) {
        while (!data.empty()) {
            size_t nl = data.find('\n');
            if (nl == std::string_view::npos) {
                buf_.append(data);
                return buf_.size() <= k_max_line;
            }
            if (buf_.empty()) {
                // Fast path: a whole line inside this piece, no copy.
                emit(data.substr(0, nl), on_line);
            } else {
                buf_.append(data.substr(0, nl));
                emit(buf_, on_line);
                buf_.clear();
            }
            data.remove_prefix(nl + 1);
        }
        return true;
    }

    void reset() { buf_.clear(); }
    size_t buffered() const { return buf_.size(); }

private:
    template <typename F>
    static void emit(std::string_view l, F& on_line) {
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        if (!l.empty()) on_line(l);
    }

    std::string buf_;
};

}  // namespace vxr::control::k8s
