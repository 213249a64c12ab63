#include "reef/control/kv_api.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reef/node/node.hpp"
#include "reef/replica/group.hpp"
#include "reef/replica/host.hpp"

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

    outcome get_group(const std::string& query) {
        return handle(request{"GET", "/v1/kv/group" + query, ""}, local, facts);
    }

    json group_of(const std::string& query) {
        const auto answer = get_group(query);
        EXPECT_EQ(answer.reply.status, 200) << answer.reply.body;
        EXPECT_TRUE(std::holds_alternative<std::monostate>(answer.action));
        return body_of(answer.reply);
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

TEST_F(kv_api, group_of_a_key_this_node_does_not_host) {
    const json body = group_of("?key=counter");
    EXPECT_EQ(body, (json{{"key", "counter"},
                          {"group", node::node::kv_group_of("counter").hex()},
                          {"hosted", false},
                          {"evicted", false}}));
}

TEST_F(kv_api, group_of_a_key_this_node_hosts_alone) {
    // The node knows only itself: the request creates a group of one, which it leads.
    auto asked = command_of(post(R"({"op": "incr", "key": "counter"})"));
    auto started = local.kv_submit(instant::from_ns(1), asked.key, asked.body);
    ASSERT_TRUE(started.ok()) << started.failure().describe();
    const json body = group_of("?key=counter");
    EXPECT_EQ(body["key"], "counter");
    EXPECT_EQ(body["group"], node::node::kv_group_of("counter").hex());
    ASSERT_EQ(body["hosted"], true) << body.dump();
    EXPECT_EQ(body["members"], json::array({self.id().hex()}));
    EXPECT_EQ(body["leader"], self.id().hex());
    const replica::group* hosted = local.replicas().find(node::node::kv_group_of("counter"));
    ASSERT_NE(hosted, nullptr);
    EXPECT_EQ(body["epoch"], hosted->epoch());
    EXPECT_EQ(body["role"], "leader");
    EXPECT_EQ(hosted->current_role(), replica::role::leader);
    EXPECT_EQ(body["commit_index"], hosted->commit_index());
    EXPECT_EQ(body["applied_index"], hosted->applied_index());
    EXPECT_EQ(body["last_index"], hosted->last_index());
    EXPECT_GE(body["last_index"].get<std::uint64_t>(), body["commit_index"].get<std::uint64_t>());
    EXPECT_GE(body["commit_index"].get<std::uint64_t>(),
              body["applied_index"].get<std::uint64_t>());

    // Another key's group is not hosted; an escaped key names the same group as the plain one.
    EXPECT_EQ(group_of("?key=other")["hosted"], false);
    EXPECT_EQ(group_of("?key=%63ounter")["hosted"], true);
    EXPECT_EQ(group_of("?key=%63ounter")["key"], "counter");
}

TEST_F(kv_api, group_keys_are_percent_decoded) {
    const json spaced = group_of("?key=a%20b%2Bc%2fd");
    EXPECT_EQ(spaced["key"], "a b+c/d");
    EXPECT_EQ(spaced["group"], node::node::kv_group_of("a b+c/d").hex());
    EXPECT_EQ(group_of("?key=x=y")["key"], "x=y");
    EXPECT_EQ(group_of("?key=" + std::string(node::node::kv_key_size_max, 'k'))["key"],
              std::string(node::node::kv_key_size_max, 'k'));
    std::string escaped;
    for (std::size_t i = 0; i < node::node::kv_key_size_max; ++i) {
        escaped += "%FF";
    }
    EXPECT_EQ(group_of("?key=" + escaped)["group"],
              node::node::kv_group_of(std::string(node::node::kv_key_size_max, '\xff')).hex());
}

TEST_F(kv_api, group_refuses_bad_query_strings) {
    expect_refused(get_group(""), "missing query parameter \"key\"");
    expect_refused(get_group("?"), "missing query parameter \"key\"");
    expect_refused(get_group("?key"), "query parameter \"key\" has no value");
    expect_refused(get_group("?key="), "key must be 1..256 bytes, got 0");
    expect_refused(get_group("?key=" + std::string(257, 'k')), "key must be 1..256 bytes, got 257");
    expect_refused(get_group("?key=a&key=b"), "query parameter \"key\" is given more than once");
    expect_refused(get_group("?key=a&pretty=1"), "unknown query parameter \"pretty\"");
    expect_refused(get_group("?Key=a"), "unknown query parameter \"Key\"");
    expect_refused(get_group("?key=a%"), "bad escape \"%\" at byte 1");
    expect_refused(get_group("?key=a%4"), "bad escape \"%4\" at byte 1");
    expect_refused(get_group("?key=%4G"), "bad escape \"%4G\" at byte 0");
    expect_refused(get_group("?key=%%41"), "bad escape");
    expect_refused(get_group("?key=a+b"), "'+' at byte 1 is ambiguous");
    expect_refused(get_group("?key=a b"), "byte 1 (\" \") must be percent-encoded");
    expect_refused(get_group("?key=a#b"), "must be percent-encoded");
}

TEST_F(kv_api, group_allows_only_get) {
    const auto refused = handle(request{"POST", "/v1/kv/group?key=k", "{}"}, local, facts);
    EXPECT_EQ(refused.reply.status, 405);
    EXPECT_EQ(refused.reply.allow, "GET");
    EXPECT_EQ(handle(request{"DELETE", "/v1/kv/group", ""}, local, facts).reply.status, 405);
}

TEST(percent_decoded, decodes_escapes_and_refuses_bad_ones) {
    EXPECT_EQ(percent_decoded("").value(), "");
    EXPECT_EQ(percent_decoded("plain-._~").value(), "plain-._~");
    EXPECT_EQ(percent_decoded("%00%7f%7F%e2%82%AC").value(),
              std::string("\0\x7f\x7f\xe2\x82\xac", 6));
    EXPECT_EQ(percent_decoded("%25%2B").value(), "%+");
    for (const char* bad : {"%", "%0", "%g0", "%0g", "a%-1", "%%", "%\xff" "0"}) {
        const auto decoded = percent_decoded(bad);
        ASSERT_FALSE(decoded.ok()) << bad;
        EXPECT_EQ(decoded.failure().code, errc::invalid_argument) << bad;
        EXPECT_NE(decoded.failure().message.find("bad escape"), std::string::npos)
            << decoded.failure().message;
    }
    for (const char* bad : {"+", "a b", "\t", "\x80", "a\"b", "<", "{}", "\\", "#"}) {
        EXPECT_FALSE(percent_decoded(bad).ok()) << bad;
    }
}

} // namespace
} // namespace reef::control
