#include "reef/replica/kv.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace reef::replica::kv {
namespace {

entry entry_of(std::uint64_t index, std::uint64_t client, std::uint64_t sequence,
               const command& body) {
    return entry{index, 1, request_id{client, sequence}, encode_command(body)};
}

TEST(kv, commands_round_trip) {
    const std::vector<command> all{get{}, put{"v"}, put{std::string("\0x", 2)},
                                   cas{std::nullopt, "n"}, cas{"old", "new"}, incr{-5},
                                   incr{std::numeric_limits<std::int64_t>::min()}};
    for (const auto& body : all) {
        auto decoded = decode_command(encode_command(body));
        ASSERT_TRUE(decoded.ok()) << decoded.failure().describe();
        EXPECT_EQ(encode_command(*decoded), encode_command(body));
    }
}

TEST(kv, malformed_commands_are_rejected_with_a_reason) {
    EXPECT_NE(decode_command("").failure().message.find("empty"), std::string::npos);
    EXPECT_NE(decode_command("z").failure().message.find("unknown tag"), std::string::npos);
    EXPECT_NE(decode_command("gx").failure().message.find("trailing"), std::string::npos);
    EXPECT_FALSE(decode_command("p").ok());
    EXPECT_FALSE(decode_command("i123").ok());
    std::string huge = encode_command(put{std::string(value_size_max, 'v')});
    huge[8] = 0x7F; // a length far beyond the bytes and the limit
    EXPECT_FALSE(decode_command(huge).ok());
    std::string bad_flag = encode_command(cas{"a", "b"});
    bad_flag[1] = 2;
    EXPECT_FALSE(decode_command(bad_flag).ok());
}

TEST(kv, register_semantics) {
    register_state state;
    EXPECT_EQ(state.apply(entry_of(1, 1, 1, get{})).value, std::nullopt);
    EXPECT_TRUE(state.apply(entry_of(2, 1, 2, cas{std::nullopt, "a"})).ok);
    EXPECT_FALSE(state.apply(entry_of(3, 1, 3, cas{std::nullopt, "b"})).ok);
    EXPECT_EQ(state.apply(entry_of(4, 1, 4, get{})).value, "a");
    EXPECT_FALSE(state.apply(entry_of(5, 1, 5, incr{1})).ok); // "a" is not a number
    EXPECT_TRUE(state.apply(entry_of(6, 1, 6, put{"41"})).ok);
    EXPECT_EQ(state.apply(entry_of(7, 1, 7, incr{1})).value, "42");
    EXPECT_TRUE(state.apply(entry_of(8, 1, 8, cas{"42", "x"})).ok);
    EXPECT_TRUE(state.apply(entry_of(9, 1, 9, put{std::to_string(
                                                   std::numeric_limits<std::int64_t>::max())}))
                    .ok);
    EXPECT_FALSE(state.apply(entry_of(10, 1, 10, incr{1})).ok); // overflow refused
    EXPECT_EQ(state.apply(entry{11, 2, request_id{}, ""}).value, state.value()); // no-op
}

TEST(kv, a_retried_request_is_applied_once) {
    register_state state;
    const auto first = state.apply(entry_of(1, 7, 1, incr{1}));
    EXPECT_EQ(first.value, "1");
    // The same request appended again (a retry after a leader change): same answer, no change.
    EXPECT_EQ(state.apply(entry_of(2, 7, 1, incr{1})), first);
    EXPECT_EQ(state.value(), "1");
    EXPECT_EQ(state.apply(entry_of(3, 7, 2, incr{1})).value, "2");
    EXPECT_EQ(state.apply(entry_of(4, 8, 1, incr{1})).value, "3");
}

TEST(kv, the_client_table_is_bounded) {
    register_state state(config{3});
    for (std::uint64_t client = 1; client <= 10; ++client) {
        (void)state.apply(entry_of(client, client, 1, incr{1}));
    }
    EXPECT_EQ(state.clients(), 3U);
    EXPECT_EQ(state.value(), "10");
}

TEST(kv, snapshots_round_trip_and_malformed_ones_are_refused) {
    register_state state;
    (void)state.apply(entry_of(1, 7, 1, put{"5"}));
    (void)state.apply(entry_of(2, 8, 4, incr{2}));
    auto copy = register_state::deserialize(state.serialize());
    ASSERT_TRUE(copy.ok()) << copy.failure().describe();
    EXPECT_EQ(copy->value(), "7");
    EXPECT_EQ(copy->serialize(), state.serialize());
    // The copy remembers the clients: a retry is still deduplicated.
    EXPECT_EQ(copy->apply(entry_of(3, 8, 4, incr{2})).value, "7");
    EXPECT_FALSE(register_state::deserialize("").ok());
    EXPECT_FALSE(register_state::deserialize(state.serialize() + "x").ok());
    auto truncated = state.serialize();
    truncated.pop_back();
    EXPECT_FALSE(register_state::deserialize(truncated).ok());
}

TEST(kv, answers_round_trip_and_malformed_ones_are_refused) {
    for (const answer& reply : {answer{true, "42", ""}, answer{false, std::nullopt, "why"}}) {
        auto decoded = decode_answer(encode_answer(reply));
        ASSERT_TRUE(decoded.ok());
        EXPECT_EQ(*decoded, reply);
    }
    EXPECT_FALSE(decode_answer("").ok());
    EXPECT_FALSE(decode_answer(encode_answer(answer{}) + "x").ok());
}

RC_GTEST_PROP(kv, arbitrary_bytes_never_crash_the_decoders, (std::string bytes)) {
    (void)decode_command(bytes);
    (void)decode_answer(bytes);
    (void)register_state::deserialize(bytes);
    register_state state;
    const auto reply = state.apply(entry{1, 1, request_id{1, 1}, bytes});
    RC_ASSERT(reply.ok || !reply.error.empty());
}

} // namespace
} // namespace reef::replica::kv
