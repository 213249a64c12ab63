#include "reef/control/api.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reef/crypto/identity.hpp"
#include "reef/node/node.hpp"
#include "reef/node/version.hpp"

namespace reef::control {
namespace {

using json = nlohmann::json;

node_id id_of(std::uint8_t first) {
    id256::bytes_type bytes{};
    bytes[0] = first;
    bytes[31] = 0x42;
    return id256{bytes};
}

crypto::identity identity_of(std::uint8_t first) {
    crypto::seed32 seed{};
    seed[0] = first;
    seed[31] = 0x42;
    return crypto::identity::from_seed(seed);
}

constexpr std::uint64_t unix_start = 1'800'000'000;

class api : public ::testing::Test {
protected:
    node_id self_id = identity_of(0xab).id();
    node::node local{node::config{},      identity_of(0xab), "127.0.0.1:7401", 3, 1,
                     instant::from_ns(0), unix_start};
    runtime_facts facts;

    /// A second node, joined to `local` over a perfect in-memory link, so that each has the
    /// other as a member and as a routing-table contact.
    void join_peer(node::node& peer) {
        const std::string seeds[] = {local.address()};
        peer.join(facts.now, seeds);
        for (int round = 0; round < 20; ++round) {
            for (auto& effect : peer.take_effects()) {
                if (auto* send = std::get_if<node::send_payload>(&effect)) {
                    local.on_payload(facts.now, peer.self(), peer.address(), send->bytes);
                }
            }
            for (auto& effect : local.take_effects()) {
                if (auto* send = std::get_if<node::send_payload>(&effect)) {
                    peer.on_payload(facts.now, local.self(), local.address(), send->bytes);
                }
            }
        }
    }

    void SetUp() override {
        facts.now = instant::from_ns(20'000'000'000);
        facts.pid = 4242;
        facts.uptime = duration::milliseconds(12'500);
        facts.data_dir = "/var/lib/reef/node-1";
        facts.network.sessions_open = 3;
        facts.network.payloads_dropped = 7;
    }

    outcome call(std::string method, std::string target, std::string body = {}) {
        return handle(request{std::move(method), std::move(target), std::move(body)}, local,
                      facts);
    }

    // The reply's JSON, asserting it is well-formed.
    static json body_of(const outcome& result) {
        json parsed = json::parse(result.reply.body, nullptr, false);
        EXPECT_FALSE(parsed.is_discarded()) << result.reply.body;
        return parsed;
    }

    // Expect an error reply with `status`, `code`, and `fragment` in its message.
    static void expect_error(const outcome& result, int status, std::string_view code,
                             std::string_view fragment) {
        EXPECT_EQ(result.reply.status, status) << result.reply.body;
        EXPECT_TRUE(std::holds_alternative<std::monostate>(result.action));
        const json body = body_of(result);
        ASSERT_TRUE(body.contains("error")) << result.reply.body;
        EXPECT_EQ(body["error"]["code"], code);
        const std::string message = body["error"]["message"];
        EXPECT_NE(message.find(fragment), std::string::npos) << message;
    }
};

TEST_F(api, status_reports_the_node_and_the_runtime_facts) {
    const auto result = call("GET", "/v1/status");
    ASSERT_EQ(result.reply.status, 200);
    EXPECT_TRUE(std::holds_alternative<std::monostate>(result.action));
    const json body = body_of(result);
    EXPECT_EQ(body["node_id"], self_id.hex());
    EXPECT_EQ(body["short_id"], self_id.short_hex());
    EXPECT_EQ(body["address"], "127.0.0.1:7401");
    EXPECT_EQ(body["state"], "alive");
    EXPECT_EQ(body["incarnation"], 3);
    EXPECT_DOUBLE_EQ(body["uptime_seconds"].get<double>(), 12.5);
    EXPECT_EQ(body["cluster_size"], 1);
    EXPECT_EQ(body["pid"], 4242);
    EXPECT_EQ(body["version"], std::string(node::version));
    EXPECT_EQ(body["data_dir"], "/var/lib/reef/node-1");
    EXPECT_EQ(body["network"]["sessions_open"], 3);
    EXPECT_EQ(body["network"]["payloads_dropped"], 7);
    for (const char* key : {"probes_sent", "indirect_probes_sent", "suspicions_raised",
                            "refutations", "messages_rejected", "local_health"}) {
        EXPECT_TRUE(body["membership"].contains(key)) << key;
    }
    EXPECT_EQ(body["dht"]["contacts"], 0);
    EXPECT_EQ(body["dht"]["operations_in_flight"], 0);
    for (const char* key : {"records", "requests_answered", "stores_accepted", "stores_refused",
                            "replies_unsolicited", "records_rejected"}) {
        EXPECT_TRUE(body["dht"][key].is_number_unsigned()) << key;
    }
}

TEST_F(api, status_counts_rejected_payloads_and_shows_left_after_leave) {
    local.on_payload(facts.now, id_of(1), "127.0.0.1:7499", std::vector<std::uint8_t>{0xff, 0xff});
    local.leave(facts.now);
    (void)local.take_effects();
    const json body = body_of(call("GET", "/v1/status"));
    EXPECT_EQ(body["state"], "left");
    EXPECT_GE(body["membership"]["messages_rejected"].get<int>(), 1);
}

TEST_F(api, query_strings_are_ignored) {
    EXPECT_EQ(call("GET", "/v1/status?pretty=1").reply.status, 200);
}

TEST_F(api, peers_lists_this_node_as_self_with_no_rtt) {
    const json body = body_of(call("GET", "/v1/peers"));
    ASSERT_TRUE(body["members"].is_array());
    ASSERT_EQ(body["members"].size(), 1U) << body.dump();
    const json& self = body["members"][0];
    EXPECT_EQ(self["node_id"], self_id.hex());
    EXPECT_EQ(self["short_id"], self_id.short_hex());
    EXPECT_EQ(self["address"], "127.0.0.1:7401");
    EXPECT_EQ(self["state"], "alive");
    EXPECT_EQ(self["incarnation"], 3);
    EXPECT_TRUE(self["rtt_ms"].is_null());
    EXPECT_GE(self["since_seconds"].get<double>(), 0.0);
    EXPECT_EQ(self["self"], true);
    EXPECT_EQ(self["in_table"], false);
    EXPECT_EQ(body["routing"]["contacts"], 0);
    EXPECT_EQ(body["routing"]["buckets_occupied"], 0);
    EXPECT_EQ(body["contacts"], json::array());
}

TEST_F(api, peers_shows_routing_table_contacts_with_their_bucket) {
    node::node peer{node::config{},      identity_of(0xcd), "127.0.0.1:7402", 1, 2,
                    instant::from_ns(0), unix_start};
    join_peer(peer);
    ASSERT_EQ(local.dht().table().size(), 1U);
    const json body = body_of(call("GET", "/v1/peers"));
    ASSERT_EQ(body["members"].size(), 2U) << body.dump();
    for (const json& member : body["members"]) {
        EXPECT_EQ(member["in_table"], member["node_id"] == peer.self().hex()) << member.dump();
    }
    EXPECT_EQ(body["routing"]["contacts"], 1);
    EXPECT_EQ(body["routing"]["buckets_occupied"], 1);
    ASSERT_EQ(body["contacts"].size(), 1U);
    const json& contact = body["contacts"][0];
    EXPECT_EQ(contact["node_id"], peer.self().hex());
    EXPECT_EQ(contact["short_id"], peer.self().short_hex());
    EXPECT_EQ(contact["address"], "127.0.0.1:7402");
    EXPECT_EQ(contact["bucket"], dht::routing_table::bucket_index(self_id, peer.self()));
    EXPECT_TRUE(contact.contains("rtt_ms"));
    EXPECT_EQ(body_of(call("GET", "/v1/status"))["dht"]["contacts"], 1);
}

TEST_F(api, unknown_path_is_404_naming_the_path) {
    expect_error(call("GET", "/v1/nope"), 404, "not found", "\"/v1/nope\"");
    expect_error(call("GET", "/v1/status/"), 404, "not found", "/v1/status/");
    expect_error(call("GET", ""), 404, "not found", "no such endpoint");
}

TEST_F(api, wrong_method_is_405_with_allow) {
    auto on_status = call("POST", "/v1/status");
    expect_error(on_status, 405, "invalid argument", "use GET");
    EXPECT_EQ(on_status.reply.allow, "GET");
    auto on_join = call("GET", "/v1/join");
    expect_error(on_join, 405, "invalid argument", "\"GET\" is not allowed on /v1/join");
    EXPECT_EQ(on_join.reply.allow, "POST");
    EXPECT_EQ(call("DELETE", "/v1/leave").reply.allow, "POST");
}

TEST_F(api, join_returns_the_command_with_the_address) {
    const auto result = call("POST", "/v1/join", R"({"address": "127.0.0.1:7402"})");
    ASSERT_EQ(result.reply.status, 200) << result.reply.body;
    EXPECT_EQ(body_of(result), json({{"ok", true}}));
    const auto* join = std::get_if<join_command>(&result.action);
    ASSERT_NE(join, nullptr);
    EXPECT_EQ(join->address, "127.0.0.1:7402");
}

TEST_F(api, join_with_malformed_json_is_400) {
    expect_error(call("POST", "/v1/join", "{\"address\": "), 400, "invalid argument",
                 "body is not valid JSON");
    expect_error(call("POST", "/v1/join", "address=x"), 400, "invalid argument",
                 "body is not valid JSON");
}

TEST_F(api, join_body_must_be_an_object) {
    expect_error(call("POST", "/v1/join", "[\"127.0.0.1:7402\"]"), 400, "invalid argument",
                 "must be a JSON object, got array");
    expect_error(call("POST", "/v1/join", "\"127.0.0.1:7402\""), 400, "invalid argument",
                 "got string");
}

TEST_F(api, join_needs_an_address_field) {
    expect_error(call("POST", "/v1/join", ""), 400, "invalid argument",
                 "missing field \"address\"");
    expect_error(call("POST", "/v1/join", "{}"), 400, "invalid argument",
                 "missing field \"address\"");
}

TEST_F(api, join_address_must_be_a_string) {
    expect_error(call("POST", "/v1/join", R"({"address": 7402})"), 400, "invalid argument",
                 "must be a string, got number");
    expect_error(call("POST", "/v1/join", R"({"address": null})"), 400, "invalid argument",
                 "got null");
}

TEST_F(api, join_address_must_be_host_port) {
    expect_error(call("POST", "/v1/join", R"({"address": "x"})"), 400, "invalid argument",
                 "address must be HOST:PORT, got \"x\"");
    expect_error(call("POST", "/v1/join", R"({"address": "127.0.0.1:0"})"), 400,
                 "invalid argument", "port must be a number from 1 to 65535");
    expect_error(call("POST", "/v1/join", R"({"address": "::1:7402"})"), 400, "invalid argument",
                 "brackets");
}

TEST_F(api, join_address_too_long_is_refused) {
    const std::string body = R"({"address": ")" + std::string(1000, 'h') + R"(:7402"})";
    expect_error(call("POST", "/v1/join", body), 400, "invalid argument", "1005 bytes long");
}

TEST_F(api, join_refuses_unknown_fields) {
    expect_error(call("POST", "/v1/join", R"({"address": "127.0.0.1:7402", "adress": 1})"), 400,
                 "invalid argument", "unknown field \"adress\"");
    const std::string long_name(500, 'k');
    const auto result = call("POST", "/v1/join", R"({")" + long_name + R"(": 1})");
    expect_error(result, 400, "invalid argument", "unknown field");
    EXPECT_LT(result.reply.body.size(), 300U);
}

TEST_F(api, join_through_own_address_is_refused) {
    expect_error(call("POST", "/v1/join", R"({"address": "127.0.0.1:7401"})"), 400,
                 "invalid argument", "this node's own address");
}

TEST_F(api, join_after_leave_is_a_conflict) {
    local.leave(facts.now);
    (void)local.take_effects();
    expect_error(call("POST", "/v1/join", R"({"address": "127.0.0.1:7402"})"), 409,
                 "failed precondition", "has left");
}

TEST_F(api, oversized_body_is_413) {
    const std::string body = R"({"address": ")" + std::string(body_size_max, 'h') + R"("})";
    expect_error(call("POST", "/v1/join", body), 413, "resource exhausted", "at most 65536");
}

TEST_F(api, deeply_nested_body_is_refused_before_parsing) {
    const std::string body = std::string(10'000, '[') + std::string(10'000, ']');
    expect_error(call("POST", "/v1/join", body), 400, "invalid argument", "nests deeper");
}

TEST_F(api, invalid_utf8_is_refused_and_the_error_is_valid_json) {
    const std::string body = "{\"address\": \"\xff\xfe:1\"}";
    expect_error(call("POST", "/v1/join", body), 400, "invalid argument", "not valid JSON");
}

TEST_F(api, leave_accepts_no_body_or_an_empty_object) {
    for (const char* body : {"", "{}", " \n"}) {
        const auto result = call("POST", "/v1/leave", body);
        EXPECT_EQ(result.reply.status, 200) << body;
        EXPECT_TRUE(std::holds_alternative<leave_command>(result.action)) << body;
        EXPECT_EQ(body_of(result), json({{"ok", true}}));
    }
}

TEST_F(api, leave_refuses_fields_and_non_objects) {
    expect_error(call("POST", "/v1/leave", R"({"now": true})"), 400, "invalid argument",
                 "unknown field \"now\"");
    expect_error(call("POST", "/v1/leave", "[1]"), 400, "invalid argument", "JSON object");
    expect_error(call("POST", "/v1/leave", "{"), 400, "invalid argument", "not valid JSON");
}

TEST(api_errors, error_response_has_the_documented_shape) {
    const response reply = error_response(400, errc::invalid_argument, "bad \"thing\"");
    EXPECT_EQ(reply.status, 400);
    const json body = json::parse(reply.body);
    const json expected{{"error", {{"code", "invalid argument"}, {"message", "bad \"thing\""}}}};
    EXPECT_EQ(body, expected);
}

TEST(api_errors, status_codes_and_reasons) {
    EXPECT_EQ(http_status_of(errc::invalid_argument), 400);
    EXPECT_EQ(http_status_of(errc::not_found), 404);
    EXPECT_EQ(http_status_of(errc::failed_precondition), 409);
    EXPECT_EQ(http_status_of(errc::unavailable), 503);
    EXPECT_EQ(reason_phrase(200), "OK");
    EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
}

} // namespace
} // namespace reef::control
