#include <gtest/gtest.h>

#include "common/types.hpp"

using namespace vxr;

TEST(types, ipv4_round_trip) {
    auto a = ipv4_addr::parse("10.244.1.2");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->value, 0x0af40102u);
    EXPECT_EQ(a->str(), "10.244.1.2");
    EXPECT_FALSE(ipv4_addr::parse("10.244.1"));
    EXPECT_FALSE(ipv4_addr::parse("10.244.1.256"));
}

TEST(types, mac_round_trip) {
    auto m = mac_addr::parse("02:76:78:00:00:0a");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->bytes[5], 0x0a);
    EXPECT_EQ(m->str(), "02:76:78:00:00:0a");
    EXPECT_FALSE(mac_addr::parse("02:76:78:00:00"));
    EXPECT_FALSE(mac_addr::parse("02-76-78-00-00-0a"));
    EXPECT_FALSE(mac_addr::parse("02:76:78:00:00:0g"));
}

TEST(types, prefix) {
    auto p = ipv4_prefix::parse("10.244.1.0/24");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->len, 24);
    EXPECT_TRUE(p->contains(*ipv4_addr::parse("10.244.1.200")));
    EXPECT_FALSE(p->contains(*ipv4_addr::parse("10.244.2.1")));
    EXPECT_FALSE(ipv4_prefix::parse("10.244.1.1/24"));
    EXPECT_TRUE(ipv4_prefix::parse("10.244.1.1/24", true));
    EXPECT_FALSE(ipv4_prefix::parse("10.244.1.0/33"));
    EXPECT_EQ(ipv4_prefix::parse("0.0.0.0/0")->mask(), 0u);
}
