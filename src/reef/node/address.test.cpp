#include "reef/node/address.hpp"

#include <gtest/gtest.h>

#include "reef/membership/codec.hpp"

namespace reef::node {
namespace {

std::string reason_for(std::string_view text, port_zero zero = port_zero::refused) {
    auto parsed = parse_address(text, zero);
    EXPECT_FALSE(parsed.ok()) << text;
    if (parsed.ok()) {
        return {};
    }
    EXPECT_EQ(parsed.failure().code, errc::invalid_argument);
    return parsed.failure().message;
}

TEST(address, accepts_ipv4_names_and_bracketed_ipv6) {
    auto v4 = parse_address("127.0.0.1:7401");
    ASSERT_TRUE(v4.ok());
    EXPECT_EQ(v4->host, "127.0.0.1");
    EXPECT_EQ(v4->port, 7401);
    EXPECT_EQ(v4->text(), "127.0.0.1:7401");

    auto name = parse_address("node-3.example.org:65535");
    ASSERT_TRUE(name.ok());
    EXPECT_EQ(name->host, "node-3.example.org");
    EXPECT_EQ(name->port, 65535);

    auto v6 = parse_address("[::1]:1");
    ASSERT_TRUE(v6.ok());
    EXPECT_EQ(v6->host, "[::1]");
    EXPECT_TRUE(membership::is_valid_address(v6->text()));
}

TEST(address, missing_colon_or_parts_is_malformed) {
    EXPECT_NE(reason_for("x").find("address must be HOST:PORT, got \"x\""), std::string::npos);
    EXPECT_NE(reason_for(":7401").find("HOST:PORT"), std::string::npos);
    EXPECT_NE(reason_for("").find("HOST:PORT"), std::string::npos);
}

TEST(address, bad_ports_are_named) {
    for (const char* text : {"h:", "h:0", "h:65536", "h:-1", "h:12ab", "h:999999", "h: 80"}) {
        EXPECT_NE(reason_for(text).find("port must be a number from 1 to 65535"),
                  std::string::npos)
            << text;
    }
}

TEST(address, port_zero_only_where_allowed) {
    auto any_port = parse_address("127.0.0.1:0", port_zero::allowed);
    ASSERT_TRUE(any_port.ok());
    EXPECT_EQ(any_port->port, 0);
    EXPECT_NE(reason_for("127.0.0.1:65536", port_zero::allowed).find("from 0 to 65535"),
              std::string::npos);
}

TEST(address, bad_hosts_are_named) {
    EXPECT_NE(reason_for("::1:7401").find("must be in brackets"), std::string::npos);
    EXPECT_NE(reason_for("a b:7401").find("letters, digits"), std::string::npos);
    EXPECT_NE(reason_for("[zz::1]:7401").find("IPv6"), std::string::npos);
    EXPECT_NE(reason_for("[]:7401").find("IPv6"), std::string::npos);
    EXPECT_NE(reason_for("[127.0.0.1]:7401").find("IPv6"), std::string::npos);
}

TEST(address, control_characters_are_escaped_in_the_message) {
    const std::string message = reason_for(std::string("a\nb\x01", 4));
    EXPECT_NE(message.find("\\x0a"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos);
}

TEST(address, too_long_is_refused_with_its_length) {
    const std::string long_host(300, 'a');
    EXPECT_NE(reason_for(long_host + ":1").find("302 bytes long"), std::string::npos);
}

TEST(address, loopback_and_unspecified_hosts) {
    EXPECT_TRUE(is_loopback_host("127.0.0.1"));
    EXPECT_TRUE(is_loopback_host("127.1.2.3"));
    EXPECT_TRUE(is_loopback_host("localhost"));
    EXPECT_TRUE(is_loopback_host("[::1]"));
    EXPECT_FALSE(is_loopback_host("127.0.0.1.evil.com"));
    EXPECT_FALSE(is_loopback_host("10.0.0.1"));
    EXPECT_FALSE(is_loopback_host("0.0.0.0"));
    EXPECT_TRUE(is_unspecified_host("0.0.0.0"));
    EXPECT_TRUE(is_unspecified_host("[::]"));
    EXPECT_FALSE(is_unspecified_host("127.0.0.1"));
}

} // namespace
} // namespace reef::node
