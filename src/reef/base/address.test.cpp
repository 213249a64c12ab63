#include "reef/base/address.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace reef {
namespace {

std::string reason_for(std::string_view text, port_zero zero = port_zero::refused) {
    auto parsed = parse_host_port(text, zero);
    EXPECT_FALSE(parsed.ok()) << "accepted \"" << text << "\"";
    if (parsed.ok()) {
        return {};
    }
    EXPECT_EQ(parsed.failure().code, errc::invalid_argument);
    return parsed.failure().message;
}

TEST(address, accepts_ipv4_names_and_bracketed_ipv6) {
    auto v4 = parse_host_port("127.0.0.1:7401");
    ASSERT_TRUE(v4.ok()) << v4.failure().message;
    EXPECT_EQ(v4->host, "127.0.0.1");
    EXPECT_EQ(v4->port, 7401);
    EXPECT_EQ(v4->text(), "127.0.0.1:7401");

    for (std::string_view text : {"node-1.example.org:65535", "node-3.example.org:65535"}) {
        auto name = parse_host_port(text);
        ASSERT_TRUE(name.ok()) << name.failure().message;
        EXPECT_EQ(name->host, text.substr(0, text.rfind(':')));
        EXPECT_EQ(name->port, 65535);
    }
    auto short_name = parse_host_port("node-a.example.org:1");
    ASSERT_TRUE(short_name.ok()) << short_name.failure().message;
    EXPECT_EQ(short_name->host, "node-a.example.org");
    EXPECT_EQ(short_name->port, 1);

    auto v6 = parse_host_port("[::1]:1");
    ASSERT_TRUE(v6.ok()) << v6.failure().message;
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->port, 1);
    EXPECT_EQ(v6->text(), "[::1]:1");

    auto v6_high = parse_host_port("[::1]:65535");
    ASSERT_TRUE(v6_high.ok()) << v6_high.failure().message;
    EXPECT_EQ(v6_high->text(), "[::1]:65535");
}

TEST(address, accepts_every_ipv6_spelling) {
    for (const char* text :
         {"[::]:1", "[1:2:3:4:5:6:7:8]:1", "[fe80::1:2]:1", "[1::]:1", "[::ffff:10.0.0.1]:1",
          "[1:2:3:4:5:6:10.0.0.1]:1", "[ABCD:ef01::]:1", "[1:2:3:4:5:6:7::]:1"}) {
        auto parsed = parse_host_port(text);
        ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.failure().message;
        EXPECT_EQ(parsed->text(), text);
    }
}

TEST(address, text_round_trips) {
    for (const char* text : {"127.0.0.1:7401", "localhost:1", "[::1]:80", "a.b-c.d:65535"}) {
        auto parsed = parse_host_port(text);
        ASSERT_TRUE(parsed.ok()) << text;
        auto again = parse_host_port(parsed->text());
        ASSERT_TRUE(again.ok()) << parsed->text();
        EXPECT_EQ(*again, *parsed);
    }
    // Leading zeros in the port are read as decimal and dropped.
    EXPECT_EQ(parse_host_port("h:0080")->text(), "h:80");
}

TEST(address, port_zero_only_where_allowed) {
    EXPECT_NE(reason_for("127.0.0.1:0").find("the port must be a number from 1 to 65535"),
              std::string::npos);
    auto any_port = parse_host_port("127.0.0.1:0", port_zero::allowed);
    ASSERT_TRUE(any_port.ok());
    EXPECT_EQ(any_port->port, 0);
    EXPECT_NE(reason_for("127.0.0.1:65536", port_zero::allowed).find("from 0 to 65535"),
              std::string::npos);
}

TEST(address, missing_parts_are_named) {
    EXPECT_NE(reason_for("x").find("address must be HOST:PORT, got \"x\""), std::string::npos);
    EXPECT_NE(reason_for("").find("HOST:PORT, got \"\": it is empty"), std::string::npos);
    for (const char* text : {"x", "localhost", "127.0.0.1", "h:", "host:", "127.0.0.1:", "[::1]:",
                             "[::1]"}) {
        EXPECT_NE(reason_for(text).find("the port is missing"), std::string::npos) << text;
    }
    for (const char* text : {":7400", ":7401"}) {
        EXPECT_NE(reason_for(text).find("the host is missing"), std::string::npos) << text;
    }
}

TEST(address, bad_ports_are_named) {
    for (const char* text : {"h:0", "h:65536", "h:-1", "h:12ab", "h:999999", "h: 80", "host:65536",
                             "host:123456", "host:-1", "host:+80", "host:80x", "host: 80"}) {
        EXPECT_NE(reason_for(text).find("the port must be a number from 1 to 65535"),
                  std::string::npos)
            << text;
    }
}

TEST(address, bad_hosts_are_named) {
    struct bad_case {
        std::string text;
        std::string reason;
    };
    const std::vector<bad_case> cases = {
        {"::1:7401", "an IPv6 host must be in brackets, e.g. [::1]:7401"},
        {"::1:80", "must be in brackets"},
        {"a b:7401", "only letters, digits, '.' and '-'"},
        {"a b:80", "only letters, digits"},
        {"ho st:80", "only letters, digits"},
        {"host/x:80", "only letters, digits"},
        {"under_score:80", "only letters, digits"},
        {std::string("ho\0st:80", 8), "only letters, digits"},
        {"[::1:80", "the '[' of an IPv6 host has no matching ']'"},
        {"[::1]80", "an IPv6 host needs the form [ADDRESS]:PORT"},
        {"[]:80", "\"\" is not an IPv6 address"},
        {"[zz]:80", "\"zz\" is not an IPv6 address"},
        {"[zz::1]:7401", "\"zz::1\" is not an IPv6 address"},
        {"[zz::1]:80", "is not an IPv6 address"},
        {"[127.0.0.1]:7401", "is not an IPv6 address"},
        {"[1::2::3]:80", "is not an IPv6 address"},
        {"[:::1]:80", "is not an IPv6 address"},
        {"[1:2:3:4:5:6:7:8:9]:80", "is not an IPv6 address"},
        {"[1:2:3:4:5:6:7]:80", "is not an IPv6 address"},
        {"[1:2:3:4:5:6:7:8::]:80", "is not an IPv6 address"},
        {"[12345::1]:80", "is not an IPv6 address"},
        {"[1:]:80", "is not an IPv6 address"},
        {"[::1%eth0]:80", "is not an IPv6 address"},
        {"[1.2.3.4::]:80", "is not an IPv6 address"},
        {"1.2.3:80", "\"1.2.3\" is not an IPv4 address"},
        {"999.1.1.1:80", "\"999.1.1.1\" is not an IPv4 address"},
        {"01.2.3.4:80", "is not an IPv4 address"},
        {"1.2.3.4.5:80", "is not an IPv4 address"},
        {"-host:80", "malformed host name: a label starts or ends with '-'"},
        {"-bad-:80", "malformed host name: a label starts or ends with '-'"},
        {"a..b:80", "malformed host name: empty label"},
        {".a:80", "malformed host name: empty label"},
        {"a.:80", "malformed host name: empty label"},
        {std::string(64, 'a') + ".org:80", "malformed host name: a label is longer than 63"},
    };
    for (const auto& c : cases) {
        const std::string message = reason_for(c.text);
        EXPECT_NE(message.find("HOST:PORT"), std::string::npos) << message;
        EXPECT_NE(message.find(c.reason), std::string::npos) << c.text << " -> " << message;
    }
    EXPECT_TRUE(parse_host_port(std::string(63, 'a') + ".org:80").ok());
}

TEST(address, too_long_is_refused_with_its_length) {
    EXPECT_NE(reason_for(std::string(300, 'a') + ":1").find("it is 302 bytes long (at most 255)"),
              std::string::npos);
    EXPECT_NE(reason_for(std::string(254, 'a') + ":1").find("256 bytes long"), std::string::npos);
    // The longest address is a 253-byte host name: labels of at most 63 bytes.
    std::string longest;
    while (longest.size() < 253) {
        longest += std::string(std::min<std::size_t>(63, 253 - longest.size() - 1), 'a') + ".";
    }
    longest.back() = 'b';
    EXPECT_TRUE(parse_host_port(longest + ":1").ok()) << longest.size();
}

TEST(address, input_is_escaped_and_cut_short_in_messages) {
    const std::string newline = reason_for(std::string("a\nb\x01", 4));
    EXPECT_NE(newline.find("\\x0a"), std::string::npos) << newline;
    EXPECT_EQ(newline.find('\n'), std::string::npos);

    const std::string binary = reason_for(std::string("\x01\x02:1", 4));
    EXPECT_NE(binary.find("got \"\\x01\\x02:1\""), std::string::npos) << binary;

    const std::string escape = reason_for(std::string("x\x1b[2J:80"));
    EXPECT_EQ(escape.find('\x1b'), std::string::npos) << escape;

    const std::string quote = reason_for("a\"b:80");
    EXPECT_NE(quote.find("got \"a\\\"b:80\""), std::string::npos) << quote;

    const std::string long_text = reason_for(std::string(300, 'a') + ":1");
    EXPECT_NE(long_text.find("got \"" + std::string(64, 'a') + "\"..."), std::string::npos);
}

TEST(address, loopback_and_unspecified_hosts) {
    for (const char* host : {"127.0.0.1", "127.1.2.3", "localhost", "::1", "0:0:0:0:0:0:0:1"}) {
        EXPECT_TRUE(is_loopback_host(host)) << host;
    }
    for (const char* host : {"127.0.0.1.evil.com", "10.0.0.1", "0.0.0.0", "::", "[::1]",
                             "127.999.1.1", "127.0.0", "localhost.evil.com", ""}) {
        EXPECT_FALSE(is_loopback_host(host)) << host;
    }
    for (const char* host : {"0.0.0.0", "::", "0:0:0:0:0:0:0:0", "::0"}) {
        EXPECT_TRUE(is_unspecified_host(host)) << host;
    }
    for (const char* host : {"127.0.0.1", "::1", "[::]", "0.0.0", "localhost", ""}) {
        EXPECT_FALSE(is_unspecified_host(host)) << host;
    }
}

} // namespace
} // namespace reef
