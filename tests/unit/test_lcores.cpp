// CPU-derived lcores (control/lcores.hpp): which CPUs become the main and
// worker lcores when eal_args do not choose them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "control/node/lcores.hpp"

namespace vxr::control {
namespace {

using strings = std::vector<std::string>;
using cpus = std::vector<unsigned>;

TEST(lcores, eal_args_that_choose_lcores) {
    EXPECT_TRUE(eal_args_choose_lcores({"-l", "0-1"}));
    EXPECT_TRUE(eal_args_choose_lcores({"--file-prefix=x", "-l0-3"}));
    EXPECT_TRUE(eal_args_choose_lcores({"-c", "0x3"}));
    EXPECT_TRUE(eal_args_choose_lcores({"-c0x3"}));
    EXPECT_TRUE(eal_args_choose_lcores({"--lcores=0@2,1@3"}));
    EXPECT_TRUE(eal_args_choose_lcores({"--lcores", "0@2,1@3"}));
    EXPECT_FALSE(eal_args_choose_lcores({}));
    EXPECT_FALSE(eal_args_choose_lcores({"--file-prefix=vxroute", "--log-level=lib.eal:debug", "-a", "0000:3b:00.0"}));
    EXPECT_FALSE(eal_args_choose_lcores({"--main-lcore", "2"}));  // picks the main lcore among -l, not the set
}

TEST(lcores, cpu_list_text) {
    EXPECT_EQ(cpu_list_text({}), "");
    EXPECT_EQ(cpu_list_text({3}), "3");
    EXPECT_EQ(cpu_list_text({2, 3}), "2,3");
    EXPECT_EQ(cpu_list_text({0, 1, 2, 3, 6, 8, 9, 10}), "0-3,6,8-10");
}

TEST(lcores, auto_workers_use_every_cpu_but_the_first) {
    auto p = plan_lcores({5, 3, 4, 6}, 0, 128);  // unsorted, as a mask walk would not give it
    ASSERT_TRUE(p) << p.err();
    EXPECT_EQ(p->main_cpu, 3u);
    EXPECT_EQ(p->worker_cpus, (cpus{4, 5, 6}));
    EXPECT_EQ(p->eal_args, (strings{"-l", "3-6"}));
    EXPECT_EQ(p->describe(), "main lcore on CPU 3, 3 workers on CPUs 4-6");
}

TEST(lcores, two_cpus_give_one_worker) {
    auto p = plan_lcores({2, 7, 7}, 0, 128);  // duplicates ignored
    ASSERT_TRUE(p) << p.err();
    EXPECT_EQ(p->main_cpu, 2u);
    EXPECT_EQ(p->worker_cpus, (cpus{7}));
    EXPECT_EQ(p->eal_args, (strings{"-l", "2,7"}));
    EXPECT_EQ(p->describe(), "main lcore on CPU 2, 1 worker on CPU 7");
}

TEST(lcores, explicit_workers_take_the_lowest_cpus) {
    auto p = plan_lcores({0, 1, 2, 3, 4, 5, 6, 7}, 2, 128);
    ASSERT_TRUE(p) << p.err();
    EXPECT_EQ(p->main_cpu, 0u);
    EXPECT_EQ(p->worker_cpus, (cpus{1, 2}));
    EXPECT_EQ(p->eal_args, (strings{"-l", "0-2"}));
}

TEST(lcores, too_few_cpus_is_a_clear_error) {
    auto one = plan_lcores({4}, 0, 128);
    ASSERT_FALSE(one);
    EXPECT_NE(one.err().find("needs at least 2 CPUs"), std::string::npos) << one.err();
    EXPECT_NE(one.err().find("1 CPU (4)"), std::string::npos) << one.err();
    auto none = plan_lcores({}, 0, 128);
    ASSERT_FALSE(none);
    EXPECT_NE(none.err().find("0 CPUs"), std::string::npos) << none.err();
    auto many = plan_lcores({0, 1, 2}, 3, 128);
    ASSERT_FALSE(many);
    EXPECT_NE(many.err().find("workers 3 needs 4 CPUs"), std::string::npos) << many.err();
    EXPECT_NE(many.err().find("3 CPUs (0-2)"), std::string::npos) << many.err();
}

TEST(lcores, cpus_beyond_max_lcore_are_mapped) {
    auto p = plan_lcores({130, 131, 200}, 0, 128);
    ASSERT_TRUE(p) << p.err();
    EXPECT_EQ(p->main_cpu, 130u);
    EXPECT_EQ(p->eal_args, (strings{"--lcores", "0@130,1@131,2@200"}));
}

}  // namespace
}  // namespace vxr::control
