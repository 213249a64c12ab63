#include "reef/control/kv_api.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reef/node/node.hpp"

namespace reef::control {
namespace {

using json = nlohmann::json;

crypto::identity identity_of(std::uint8_t first) {
    crypto::seed32 seed{};
    seed[0] = first;
    seed[31] = 0x29;
    return crypto::identity::from_seed(seed);
}

class kv_api : public ::testing::Test {
protected:
    crypto::identity self = identity_of(1);
    node::node local{node::config{}, self, "127.0.0.1:7401", 1, 1, instant::from_ns(0),
                     1'800'000'000};
    runtime_facts facts;

    outcome post(const std::string& body) {
        return handle(request{"POST", "/v1/kv", body}, local, facts);
    }

    kv_command command_of(const outcome& result) {
        EXPECT_EQ(result.reply.status, 0) << result.reply.body;
        EXPECT_TRUE(answers_later(result.action));
        const auto* typed = std::get_if<kv_command>(&result.action);
        EXPECT_NE(typed, nullptr);
        return typed != nullptr ? *typed : kv_command{};
    }

    static json body_of(const response& reply) {
        json parsed = json::parse(reply.body, nullptr, false);
        EXPECT_FALSE(parsed.is_discarded()) << reply.body;
        return parsed;
    }

    // A 400 (or `status`) whose message contains `fragment`, and no command.
    static void expect_refused(const outcome& result, std::string_view fragment, int status = 400) {
        EXPECT_EQ(result.reply.status, status) << result.reply.body;
        EXPECT_FALSE(answers_later(result.action));
        const json body = body_of(result.reply);
        const std::string message = body["error"]["message"];
        EXPECT_NE(message.find(fragment), std::string::npos) << message;
    }
};

TEST_F(kv_api, parses_every_op) {
    auto asked = command_of(post(R"({"op": "get", "key": "k"})"));
    EXPECT_EQ(asked.op, "get");
    EXPECT_EQ(asked.key, "k");
    EXPECT_TRUE(std::holds_alternative<replica::kv::get>(asked.body));

    asked = command_of(post(R"({"op": "put", "key": "k", "value": "v"})"));
    ASSERT_TRUE(std::holds_alternative<replica::kv::put>(asked.body));
    EXPECT_EQ(std::get<replica::kv::put>(asked.body).value, "v");

    asked = command_of(post(R"({"op": "cas", "key": "k", "expected": "a", "value": "b"})"));
    ASSERT_TRUE(std::holds_alternative<replica::kv::cas>(asked.body));
    EXPECT_EQ(std::get<replica::kv::cas>(asked.body).expected, std::optional<std::string>("a"));
    EXPECT_EQ(std::get<replica::kv::cas>(asked.body).value, "b");

    asked = command_of(post(R"({"op": "cas", "key": "k", "expected": null, "value": "b"})"));
    ASSERT_TRUE(std::holds_alternative<replica::kv::cas>(asked.body));
    EXPECT_FALSE(std::get<replica::kv::cas>(asked.body).expected.has_value());

    asked = command_of(post(R"({"op": "incr", "key": "k"})"));
    ASSERT_TRUE(std::holds_alternative<replica::kv::incr>(asked.body));
    EXPECT_EQ(std::get<replica::kv::incr>(asked.body).delta, 1);
    asked = command_of(post(R"({"op": "incr", "key": "k", "delta": -7})"));
    EXPECT_EQ(std::get<replica::kv::incr>(asked.body).delta, -7);

    asked = command_of(post(json{{"op", "put"},
                                 {"key", std::string(node::node::kv_key_size_max, 'k')},
                                 {"value", std::string(replica::kv::value_size_max, 'v')}}
                                .dump()));
    EXPECT_EQ(asked.key.size(), node::node::kv_key_size_max);
}

TEST_F(kv_api, refuses_bad_bodies_naming_the_field) {
    expect_refused(post("not json"), "");
    expect_refused(post("[1]"), "");
    expect_refused(post(R"({"key": "k"})"), "missing field \"op\"");
    expect_refused(post(R"({"op": 3, "key": "k"})"), "field \"op\" must be a string");
    expect_refused(post(R"({"op": "delete", "key": "k"})"),
                   "field \"op\" must be \"get\", \"put\", \"cas\" or \"incr\"");
    expect_refused(post(R"({"op": "get"})"), "missing field \"key\"");
    expect_refused(post(R"({"op": "get", "key": 1})"), "field \"key\" must be a string");
    expect_refused(post(R"({"op": "get", "key": ""})"), "key must be 1..256 bytes, got 0");
    expect_refused(post(json{{"op", "get"}, {"key", std::string(257, 'k')}}.dump()),
                   "key must be 1..256 bytes, got 257");
    expect_refused(post(R"({"op": "get", "key": "k", "value": "v"})"), "value");
    expect_refused(post(R"({"op": "get", "key": "k", "color": "red"})"), "color");

    expect_refused(post(R"({"op": "put", "key": "k"})"), "missing field \"value\"");
    expect_refused(post(R"({"op": "put", "key": "k", "value": 5})"),
                   "field \"value\" must be a string");
    expect_refused(
        post(json{{"op", "put"}, {"key", "k"}, {"value", std::string(1025, 'v')}}.dump()),
        "value is 1025 bytes (at most 1024)");
    expect_refused(post(R"({"op": "put", "key": "k", "value": "v", "delta": 1})"), "delta");

    expect_refused(post(R"({"op": "cas", "key": "k", "value": "v"})"),
                   "missing field \"expected\"");
    expect_refused(post(R"({"op": "cas", "key": "k", "expected": 1, "value": "v"})"),
                   "field \"expected\" must be a string or null, got number");
    expect_refused(post(json{{"op", "cas"},
                             {"key", "k"},
                             {"expected", std::string(1025, 'e')},
                             {"value", "v"}}
                            .dump()),
                   "expected is 1025 bytes (at most 1024)");
    expect_refused(post(R"({"op": "cas", "key": "k", "expected": "a"})"),
                   "missing field \"value\"");

    expect_refused(post(R"({"op": "incr", "key": "k", "delta": "2"})"),
                   "field \"delta\" must be an integer, got string");
    expect_refused(post(R"({"op": "incr", "key": "k", "delta": 1.5})"),
                   "field \"delta\" must be an integer, got a fraction");
    expect_refused(post(R"({"op": "incr", "key": "k", "delta": 9223372036854775808})"),
                   "field \"delta\" is out of range");
    expect_refused(post(R"({"op": "incr", "key": "k", "value": "v"})"), "value");
}

TEST_F(kv_api, a_client_may_name_its_request_id) {
    auto asked = command_of(post(R"({"op": "incr", "key": "k"})"));
    EXPECT_FALSE(asked.request.has_value());
    asked = command_of(
        post(R"({"op": "incr", "key": "k",
                 "request": {"client": 7, "sequence": 18446744073709551615}})"));
    ASSERT_TRUE(asked.request.has_value());
    EXPECT_EQ(*asked.request, (replica::request_id{7, 18446744073709551615ULL}));
    asked = command_of(
        post(R"({"op": "get", "key": "k", "request": {"client": 1, "sequence": 2}})"));
    EXPECT_EQ(*asked.request, (replica::request_id{1, 2}));

    expect_refused(post(R"({"op": "incr", "key": "k", "request": 5})"),
                   "field \"request\" must be an object");
    expect_refused(post(R"({"op": "incr", "key": "k", "request": {"client": 1}})"),
                   "field \"request.sequence\" must be an integer in 1..2^64-1");
    expect_refused(post(R"({"op": "incr", "key": "k", "request": {"client": 0, "sequence": 1}})"),
                   "field \"request.client\" must be an integer in 1..2^64-1");
    expect_refused(post(R"({"op": "incr", "key": "k", "request": {"client": -1, "sequence": 1}})"),
                   "field \"request.client\"");
    expect_refused(post(R"({"op": "put", "key": "k", "value": "v",
                            "request": {"client": 1, "sequence": "2"}})"),
                   "field \"request.sequence\"");
    expect_refused(
        post(R"({"op": "incr", "key": "k", "request": {"client": 1, "sequence": 2, "x": 3}})"),
        "x");
}

TEST_F(kv_api, only_post_is_allowed) {
    const auto refused = handle(request{"GET", "/v1/kv", ""}, local, facts);
    EXPECT_EQ(refused.reply.status, 405);
    EXPECT_EQ(refused.reply.allow, "POST");
}

TEST_F(kv_api, replies_with_the_value_or_the_failure) {
    const kv_command asked{"incr", "counter", replica::kv::incr{}, std::nullopt};
    replica::kv::answer done;
    done.value = "3";
    json body = body_of(kv_reply(asked, done));
    EXPECT_EQ(body, (json{{"key", "counter"}, {"op", "incr"}, {"ok", true}, {"value", "3"}}));

    done = replica::kv::answer{};
    body = body_of(kv_reply(kv_command{"get", "absent", replica::kv::get{}, std::nullopt}, done));
    EXPECT_TRUE(body["value"].is_null());
    EXPECT_TRUE(body["ok"].get<bool>());
    EXPECT_FALSE(body.contains("error"));

    done = replica::kv::answer{false, "x", "the value is \"x\""};
    body = body_of(
        kv_reply(kv_command{"cas", "k", replica::kv::cas{"y", "z"}, std::nullopt}, done));
    EXPECT_FALSE(body["ok"].get<bool>());
    EXPECT_EQ(body["value"], "x");
    EXPECT_EQ(body["error"], "the value is \"x\"");

    const auto timed_out = kv_reply(asked, make_error(errc::timeout, "8 s"));
    EXPECT_EQ(timed_out.status, 504);
    EXPECT_NE(body_of(timed_out)["error"]["message"].get<std::string>().find("incr of key"),
              std::string::npos);
    EXPECT_EQ(kv_refused(asked, make_error(errc::unavailable, "no member")).status, 503);
    EXPECT_EQ(kv_refused(asked, make_error(errc::resource_exhausted, "full")).status, 429);
}

TEST_F(kv_api, status_reports_replica_counters) {
    const auto answer = handle(request{"GET", "/v1/status", ""}, local, facts);
    ASSERT_EQ(answer.reply.status, 200);
    const json replica = body_of(answer.reply)["replica"];
    EXPECT_EQ(replica["groups"], 0);
    for (const char* field : {"requests_submitted", "requests_answered", "requests_timed_out",
                              "retries", "redirects", "refused", "groups_located",
                              "creations_asked"}) {
        EXPECT_TRUE(replica.contains(field)) << field;
    }
}

TEST_F(kv_api, a_submitted_request_counts_in_status) {
    // The node knows only itself: the request goes to a group of one.
    auto asked = command_of(post(R"({"op": "incr", "key": "counter"})"));
    auto started = local.kv_submit(instant::from_ns(1), asked.key, asked.body);
    ASSERT_TRUE(started.ok()) << started.failure().describe();
    const auto answer = handle(request{"GET", "/v1/status", ""}, local, facts);
    EXPECT_EQ(body_of(answer.reply)["replica"]["requests_submitted"], 1);
}

} // namespace
} // namespace reef::control
