// Which CPUs vxrouted's lcores run on when the config does not say (no -l,
// -c or --lcores in eal_args): the CPUs the process was given (its affinity
// mask, which is what a Kubernetes static CPU manager or `taskset` hands
// out). Pure functions, so that the choice is unit-tested without EAL.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace vxr::control {

// True when eal_args already choose the lcores (-l/-c/--lcores, joined or
// separate value): vxrouted then leaves them alone.
bool eal_args_choose_lcores(const std::vector<std::string>& eal_args);

struct lcore_plan {
    unsigned main_cpu = 0;              // the control thread (EAL main lcore)
    std::vector<unsigned> worker_cpus;  // one worker lcore each
    std::vector<std::string> eal_args;  // what to append to EAL's arguments
    std::string describe() const;       // "main lcore on CPU 2, 3 workers on CPUs 3-5"
};

// allowed: the CPUs the process may run on (any order, duplicates ignored).
// workers: the configured count; 0 = auto (every allowed CPU but the first,
// at least one). The lowest allowed CPU becomes the main lcore, the next
// `workers` ones the workers; lcore ids are the CPU ids (-l) unless a CPU is
// beyond max_lcore, then ids 0..n are mapped onto the CPUs (--lcores).
result<lcore_plan> plan_lcores(std::vector<unsigned> allowed, uint32_t workers, unsigned max_lcore);

// "0-3,6,8-9" for a sorted list of CPU ids.
std::string cpu_list_text(const std::vector<unsigned>& cpus);

}  // namespace vxr::control
