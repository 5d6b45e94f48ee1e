// SIGHUP: re-read the config file and apply what can change while pods
// forward (static peers, configured pods); anything else needs a restart, and
// a config that asks for it is rejected whole while the running one stays.
// Thread: control.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"
#include "control/node/config.hpp"

namespace vxr::control {

class router;

// Top-level keys whose values differ between the two configs, other than the
// ones a reload applies (peers, pods). Empty = the reload is safe.
std::vector<std::string> restart_fields(const config& running, const config& next);

// Validate `next` against the running config, then apply the differences in
// static peers and configured pods. Returns a one-line summary
// ("2 peers added, 1 removed, 0 pods added, 0 removed") or why nothing was
// applied. Runtime pods (admin socket, CNI) and Kubernetes peers are untouched.
result<std::string> reload(router& r, const config& next);

}  // namespace vxr::control
