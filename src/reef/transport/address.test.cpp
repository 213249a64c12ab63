#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "reef/transport/address.hpp"

namespace reef::transport {
namespace {

TEST(address, parses_names_ipv4_and_ipv6) {
    auto v4 = parse_host_port("127.0.0.1:7400");
    ASSERT_TRUE(v4.ok());
    EXPECT_EQ(v4->host, "127.0.0.1");
    EXPECT_EQ(v4->port, 7400);
    EXPECT_FALSE(v4->is_ipv6_literal);
    EXPECT_EQ(v4->to_string(), "127.0.0.1:7400");

    auto name = parse_host_port("node-1.example.org:65535");
    ASSERT_TRUE(name.ok());
    EXPECT_EQ(name->host, "node-1.example.org");
    EXPECT_EQ(name->port, 65535);

    auto v6 = parse_host_port("[::1]:1");
    ASSERT_TRUE(v6.ok());
    EXPECT_EQ(v6->host, "::1");
    EXPECT_TRUE(v6->is_ipv6_literal);
    EXPECT_EQ(v6->to_string(), "[::1]:1");
}

TEST(address, port_zero_only_when_allowed) {
    EXPECT_FALSE(parse_host_port("127.0.0.1:0").ok());
    auto any = parse_host_port("127.0.0.1:0", true);
    ASSERT_TRUE(any.ok());
    EXPECT_EQ(any->port, 0);
}

TEST(address, rejects_malformed_addresses_with_a_reason) {
    struct bad_case {
        std::string text;
        std::string reason;
    };
    const std::vector<bad_case> cases = {
        {"", "empty"},
        {"localhost", "missing ':'"},
        {":7400", "missing host"},
        {"host:", "missing port"},
        {"host:65536", "out of range"},
        {"host:123456", "out of range"},
        {"host:-1", "not a decimal"},
        {"host:+80", "not a decimal"},
        {"host:80x", "not a decimal"},
        {"ho st:80", "bad character"},
        {"host/x:80", "bad character"},
        {"::1:80", "need brackets"},
        {"[::1:80", "unterminated"},
        {"[::1]80", "missing ':'"},
        {"[]:80", "bad IPv6"},
        {"[zz::1]:80", "bad character in IPv6"},
        {"-host:80", "malformed host"},
        {"a..b:80", "malformed host"},
        {std::string(300, 'a') + ":1", "longer than 255"},
        {std::string(254, 'a') + ":1", "longer than 255"},
        {std::string("ho\0st:80", 8), "bad character"},
    };
    for (const auto& c : cases) {
        auto parsed = parse_host_port(c.text);
        ASSERT_FALSE(parsed.ok()) << c.text;
        EXPECT_EQ(parsed.failure().code, errc::invalid_argument);
        EXPECT_NE(parsed.failure().message.find(c.reason), std::string::npos)
            << c.text << " -> " << parsed.failure().message;
    }
}

TEST(address, quotes_only_printable_input) {
    auto printable = parse_host_port("x");
    ASSERT_FALSE(printable.ok());
    EXPECT_NE(printable.failure().message.find("got \"x\""), std::string::npos);
    auto binary = parse_host_port(std::string("\x01\x02:1", 4));
    ASSERT_FALSE(binary.ok());
    EXPECT_EQ(binary.failure().message.find("got"), std::string::npos);
}

} // namespace
} // namespace reef::transport
