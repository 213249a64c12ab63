#include "control_client.hpp"

#include <gtest/gtest.h>

namespace reef::cli {
namespace {

using json = nlohmann::json;

TEST(check_kv_shape, accepts_answers_with_a_value_or_null) {
    EXPECT_TRUE(
        check_kv_shape(json{{"key", "k"}, {"op", "get"}, {"ok", true}, {"value", "v"}}).ok());
    EXPECT_TRUE(
        check_kv_shape(json{{"key", "k"}, {"op", "get"}, {"ok", true}, {"value", nullptr}}).ok());
    EXPECT_TRUE(check_kv_shape(json{{"key", "k"},
                                    {"op", "cas"},
                                    {"ok", false},
                                    {"value", "x"},
                                    {"error", "the value is not the expected one"}})
                    .ok());
}

TEST(check_kv_shape, refuses_answers_of_another_shape) {
    EXPECT_FALSE(check_kv_shape(json{{"op", "get"}, {"ok", true}, {"value", "v"}}).ok());
    EXPECT_FALSE(
        check_kv_shape(json{{"key", "k"}, {"op", "get"}, {"ok", 1}, {"value", "v"}}).ok());
    EXPECT_FALSE(check_kv_shape(json{{"key", "k"}, {"op", "get"}, {"ok", true}}).ok());
    EXPECT_FALSE(
        check_kv_shape(json{{"key", "k"}, {"op", "get"}, {"ok", true}, {"value", 3}}).ok());
    // Not ok without saying why.
    EXPECT_FALSE(
        check_kv_shape(json{{"key", "k"}, {"op", "cas"}, {"ok", false}, {"value", "x"}}).ok());
}

json hosted_group() {
    return json{{"key", "k"},
                {"group", std::string(64, 'g')},
                {"hosted", true},
                {"members", {std::string(64, 'a'), std::string(64, 'b')}},
                {"epoch", 2},
                {"leader", std::string(64, 'a')},
                {"role", "follower"},
                {"commit_index", 5},
                {"applied_index", 5},
                {"last_index", 6}};
}

TEST(check_kv_group_shape, accepts_hosted_and_not_hosted_answers) {
    EXPECT_TRUE(check_kv_group_shape(
                    json{{"key", "k"}, {"group", std::string(64, 'g')}, {"hosted", false}})
                    .ok());
    EXPECT_TRUE(check_kv_group_shape(hosted_group()).ok());
}

TEST(check_kv_group_shape, refuses_answers_of_another_shape) {
    EXPECT_FALSE(check_kv_group_shape(json{{"key", "k"}, {"group", "g"}}).ok());
    EXPECT_FALSE(check_kv_group_shape(json{{"key", "k"}, {"group", "g"}, {"hosted", 1}}).ok());
    for (const char* field : {"members", "epoch", "leader", "role", "commit_index",
                              "applied_index", "last_index"}) {
        json answer = hosted_group();
        answer.erase(field);
        EXPECT_FALSE(check_kv_group_shape(answer).ok()) << field;
    }
    json answer = hosted_group();
    answer["members"].push_back(3);
    EXPECT_FALSE(check_kv_group_shape(answer).ok());
    answer = hosted_group();
    answer["epoch"] = -1;
    EXPECT_FALSE(check_kv_group_shape(answer).ok());
}

TEST(percent_encoded, escapes_all_but_unreserved_bytes) {
    EXPECT_EQ(percent_encoded(""), "");
    EXPECT_EQ(percent_encoded("Az09-._~"), "Az09-._~");
    EXPECT_EQ(percent_encoded("a b+c/d?e&f=g%h#"), "a%20b%2Bc%2Fd%3Fe%26f%3Dg%25h%23");
    EXPECT_EQ(percent_encoded(std::string("\0\xff\n", 3)), "%00%FF%0A");
}

} // namespace
} // namespace reef::cli
