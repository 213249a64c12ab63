#include "address.hpp"

#include <gtest/gtest.h>

namespace reef::cli {
namespace {

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
