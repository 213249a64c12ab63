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

} // namespace
} // namespace reef::cli
