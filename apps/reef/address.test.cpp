#include "address.hpp"

#include <gtest/gtest.h>

namespace reef::cli {
namespace {

TEST(parse_host_port, accepts_ipv4_hostnames_and_bracketed_ipv6) {
    auto v4 = parse_host_port("127.0.0.1:7401");
    ASSERT_TRUE(v4.ok()) << v4.failure().message;
    EXPECT_EQ(v4->host, "127.0.0.1");
    EXPECT_EQ(v4->port, 7401);
    EXPECT_EQ(v4->text(), "127.0.0.1:7401");

    auto name = parse_host_port("node-a.example.org:1");
    ASSERT_TRUE(name.ok()) << name.failure().message;
    EXPECT_EQ(name->host, "node-a.example.org");
    EXPECT_EQ(name->port, 1);

    auto v6 = parse_host_port("[::1]:65535");
    ASSERT_TRUE(v6.ok()) << v6.failure().message;
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->port, 65535);
    EXPECT_EQ(v6->text(), "[::1]:65535");
}

TEST(parse_host_port, rejects_malformed_addresses_with_a_reason) {
    const char* bad[] = {"",          "127.0.0.1",  "127.0.0.1:",   ":7401",     "127.0.0.1:0",
                         "host:65536", "host:-1",   "host:80x",     "host: 80",  "1.2.3:80",
                         "999.1.1.1:80", "::1:80",  "[::1]80",      "[zz]:80",   "[::1]:",
                         "-bad-:80",  "a..b:80",    "a b:80",       "host:123456",
                         "under_score:80"};
    for (const char* text : bad) {
        auto parsed = parse_host_port(text);
        ASSERT_FALSE(parsed.ok()) << "accepted \"" << text << "\"";
        EXPECT_EQ(parsed.failure().code, errc::invalid_argument);
        EXPECT_NE(parsed.failure().message.find("HOST:PORT"), std::string::npos)
            << parsed.failure().message;
    }
}

TEST(parse_host_port, says_which_part_is_wrong) {
    EXPECT_NE(parse_host_port("127.0.0.1:0").failure().message.find("the port must be"),
              std::string::npos);
    EXPECT_NE(parse_host_port("127.0.0.1").failure().message.find("port is missing"),
              std::string::npos);
    EXPECT_NE(parse_host_port("::1:80").failure().message.find("brackets"), std::string::npos);
}

TEST(parse_host_port, replaces_control_characters_in_messages) {
    auto parsed = parse_host_port(std::string("x\x1b[2J:80"));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.failure().message.find('\x1b'), std::string::npos);
}

TEST(parse_bounded_int, checks_range_and_whole_input) {
    EXPECT_EQ(parse_bounded_int("4", 1, 64, "n").value(), 4);
    EXPECT_EQ(parse_bounded_int("64", 1, 64, "n").value(), 64);
    EXPECT_EQ(parse_bounded_int("1", 1, 64, "n").value(), 1);
    for (const char* text : {"0", "65", "-3", "", "4x", "x4", " 4", "4.0", "99999999999999"}) {
        auto parsed = parse_bounded_int(text, 1, 64, "--nodes");
        ASSERT_FALSE(parsed.ok()) << "accepted \"" << text << "\"";
        EXPECT_NE(parsed.failure().message.find("--nodes must be a whole number from 1 to 64"),
                  std::string::npos)
            << parsed.failure().message;
    }
}

TEST(parse_node_target, distinguishes_numbers_paths_and_addresses) {
    auto number = parse_node_target("3");
    ASSERT_TRUE(number.ok());
    EXPECT_EQ(number->which, node_target::kind::local_node);
    EXPECT_EQ(number->node_number, 3);

    auto path = parse_node_target("/tmp/x/control.sock");
    ASSERT_TRUE(path.ok());
    EXPECT_EQ(path->which, node_target::kind::socket_path);
    EXPECT_EQ(path->socket_path, "/tmp/x/control.sock");

    auto relative = parse_node_target("./control.sock");
    ASSERT_TRUE(relative.ok());
    EXPECT_EQ(relative->which, node_target::kind::socket_path);

    auto tcp = parse_node_target("127.0.0.1:9000");
    ASSERT_TRUE(tcp.ok());
    EXPECT_EQ(tcp->which, node_target::kind::tcp);
    EXPECT_EQ(tcp->tcp.port, 9000);
}

TEST(parse_node_target, rejects_bad_targets) {
    for (const char* text : {"0", "65", "-1", "+2", "", "abc", "127.0.0.1:0", "1.5",
                             "99999999999999999999"}) {
        auto parsed = parse_node_target(text);
        ASSERT_FALSE(parsed.ok()) << "accepted \"" << text << "\"";
        EXPECT_NE(parsed.failure().message.find("--node must be"), std::string::npos)
            << parsed.failure().message;
    }
    std::string long_path = "/" + std::string(200, 'a') + "/control.sock";
    auto too_long = parse_node_target(long_path);
    ASSERT_FALSE(too_long.ok());
    EXPECT_NE(too_long.failure().message.find("longer than"), std::string::npos);
}

TEST(check_socket_path, enforces_the_sockaddr_un_limit) {
    EXPECT_TRUE(check_socket_path(std::string(socket_path_size_max, 'a')).ok());
    EXPECT_FALSE(check_socket_path(std::string(socket_path_size_max + 1, 'a')).ok());
    EXPECT_FALSE(check_socket_path("").ok());
    EXPECT_FALSE(check_socket_path(std::string("a\0b", 3)).ok());
}

} // namespace
} // namespace reef::cli
