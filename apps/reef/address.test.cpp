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

TEST(parse_record_ref, tells_keys_references_and_own_names_apart) {
    const std::string hex(64, 'a');
    auto key = parse_record_ref(std::string(64, 'A'));
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(key->which, record_ref::kind::key);
    EXPECT_EQ(key->hex, hex);
    auto published = parse_record_ref(hex + "/greeting");
    ASSERT_TRUE(published.ok());
    EXPECT_EQ(published->which, record_ref::kind::published);
    EXPECT_EQ(published->hex, hex);
    EXPECT_EQ(published->name, "greeting");
    auto nested = parse_record_ref(hex + "/a/b");
    ASSERT_TRUE(nested.ok());
    EXPECT_EQ(nested->name, "a/b");
    auto own = parse_record_ref("greeting");
    ASSERT_TRUE(own.ok());
    EXPECT_EQ(own->which, record_ref::kind::own);
    EXPECT_EQ(own->name, "greeting");
    // A short run of hex digits is a name; a long one is a mistyped key.
    EXPECT_EQ(parse_record_ref("cafe")->which, record_ref::kind::own);
    auto mistyped = parse_record_ref(std::string(63, 'a'));
    ASSERT_FALSE(mistyped.ok());
    EXPECT_NE(mistyped.failure().message.find("KEY must be 64 hex digits, got 63"),
              std::string::npos);
}

TEST(parse_record_ref, refuses_bad_publishers_and_names) {
    auto bad_publisher = parse_record_ref("abc/greeting");
    ASSERT_FALSE(bad_publisher.ok());
    EXPECT_NE(bad_publisher.failure().message.find("PUBLISHER in PUBLISHER/NAME must be 64 hex"),
              std::string::npos);
    EXPECT_FALSE(parse_record_ref(std::string(64, 'a') + "/").ok());
    EXPECT_FALSE(parse_record_ref("").ok());
    auto too_long = parse_record_ref(std::string(129, 'n'));
    ASSERT_FALSE(too_long.ok());
    EXPECT_NE(too_long.failure().message.find("1..128 bytes, got 129"), std::string::npos);
}

TEST(parse_id_hex, needs_exactly_64_hex_digits) {
    EXPECT_EQ(parse_id_hex(std::string(64, 'F'), "NODE_ID").value(), std::string(64, 'f'));
    for (const std::string& text :
         {std::string(63, 'a'), std::string(65, 'a'), std::string(63, 'a') + "g", std::string()}) {
        auto parsed = parse_id_hex(text, "NODE_ID");
        ASSERT_FALSE(parsed.ok()) << text;
        EXPECT_NE(parsed.failure().message.find("NODE_ID must be 64 hex digits"),
                  std::string::npos);
    }
}

} // namespace
} // namespace reef::cli
