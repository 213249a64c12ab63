#include "reef/control/dht_api.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reef/crypto/identity.hpp"
#include "reef/dht/record.hpp"
#include "reef/node/node.hpp"

namespace reef::control {
namespace {

using json = nlohmann::json;

crypto::identity identity_of(std::uint8_t first) {
    crypto::seed32 seed{};
    seed[0] = first;
    seed[31] = 0x17;
    return crypto::identity::from_seed(seed);
}

constexpr std::uint64_t unix_start = 1'800'000'000;

class dht_api : public ::testing::Test {
protected:
    crypto::identity self = identity_of(1);
    node::node local{node::config{}, self, "127.0.0.1:7401", 1, 1, instant::from_ns(0), unix_start};
    runtime_facts facts;
    std::string other = identity_of(2).id().hex();

    outcome post(const std::string& path, const std::string& body) {
        return handle(request{"POST", path, body}, local, facts);
    }

    template <typename Command>
    Command command_of(const outcome& result) {
        EXPECT_EQ(result.reply.status, 0) << result.reply.body;
        EXPECT_TRUE(answers_later(result.action));
        const auto* typed = std::get_if<Command>(&result.action);
        EXPECT_NE(typed, nullptr);
        return typed != nullptr ? *typed : Command{};
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

TEST_F(dht_api, put_parses_name_value_and_ttl) {
    auto put = command_of<dht_put_command>(
        post("/v1/dht/put", R"({"name": "greeting", "value": "hello", "ttl_seconds": 60})"));
    EXPECT_EQ(put.name, "greeting");
    EXPECT_EQ(put.value, "hello");
    EXPECT_EQ(put.ttl_seconds, 60U);
    put = command_of<dht_put_command>(post("/v1/dht/put", R"({"name": "n", "value": ""})"));
    EXPECT_EQ(put.value, "");
    EXPECT_EQ(put.ttl_seconds, 0U);
}

TEST_F(dht_api, put_refuses_bad_bodies_naming_the_field) {
    expect_refused(post("/v1/dht/put", R"({"value": "v"})"), "missing field \"name\"");
    expect_refused(post("/v1/dht/put", R"({"name": "n"})"), "missing field \"value\"");
    expect_refused(post("/v1/dht/put", R"({"name": 5, "value": "v"})"),
                   "field \"name\" must be a string, got number");
    expect_refused(post("/v1/dht/put", R"({"name": "n", "value": ["v"]})"),
                   "field \"value\" must be a string, got array");
    expect_refused(post("/v1/dht/put", R"({"name": "", "value": "v"})"),
                   "name must be 1..128 bytes, got 0");
    expect_refused(post("/v1/dht/put", json{{"name", std::string(129, 'n')}, {"value", ""}}.dump()),
                   "name must be 1..128 bytes, got 129");
    expect_refused(
        post("/v1/dht/put", json{{"name", "n"}, {"value", std::string(1025, 'v')}}.dump()),
        "value is 1025 bytes (at most 1024)");
    expect_refused(post("/v1/dht/put", R"({"name": "reef.node.addresses", "value": "v"})"),
                   "is reserved");
    expect_refused(post("/v1/dht/put", R"({"name": "n", "value": "v", "ttl_seconds": 0})"),
                   "ttl_seconds must be 1..604800, got 0");
    expect_refused(post("/v1/dht/put", R"({"name": "n", "value": "v", "ttl_seconds": 604801})"),
                   "ttl_seconds must be 1..604800, got 604801");
    expect_refused(post("/v1/dht/put", R"({"name": "n", "value": "v", "ttl_seconds": -5})"),
                   "ttl_seconds must be 1..604800, got -5");
    expect_refused(post("/v1/dht/put", R"({"name": "n", "value": "v", "ttl_seconds": 1.5})"),
                   "ttl_seconds must be an integer 1..604800, got 1.5");
    expect_refused(post("/v1/dht/put", R"({"name": "n", "value": "v", "ttl_seconds": "60"})"),
                   "ttl_seconds must be an integer 1..604800, got string");
    expect_refused(post("/v1/dht/put", R"({"name": "n", "value": "v", "extra": 1})"),
                   "unknown field \"extra\"");
    expect_refused(post("/v1/dht/put", R"({"name": "n", )"), "body is not valid JSON");
    expect_refused(post("/v1/dht/put", R"(["n"])"), "body must be a JSON object, got array");
    expect_refused(post("/v1/dht/put", ""), "missing field \"name\"");
}

TEST_F(dht_api, get_by_key_or_by_publisher_and_name) {
    const id256 key = dht::record_key(identity_of(2).id(), "greeting");
    auto get = command_of<dht_get_command>(post("/v1/dht/get", json{{"key", key.hex()}}.dump()));
    EXPECT_EQ(get.key, key);
    EXPECT_TRUE(get.name.empty());
    get = command_of<dht_get_command>(
        post("/v1/dht/get", json{{"publisher", other}, {"name", "greeting"}}.dump()));
    EXPECT_EQ(get.key, key);
    EXPECT_EQ(get.publisher, identity_of(2).id());
    EXPECT_EQ(get.name, "greeting");
    // Upper-case hex is accepted.
    std::string upper = key.hex();
    for (auto& c : upper) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    EXPECT_EQ(command_of<dht_get_command>(post("/v1/dht/get", json{{"key", upper}}.dump())).key,
              key);
}

TEST_F(dht_api, get_refuses_bad_bodies_naming_the_field) {
    expect_refused(post("/v1/dht/get", "{}"), "missing field \"key\" (or \"publisher\" and");
    expect_refused(post("/v1/dht/get", R"({"key": "abc"})"), "key must be 64 hex digits");
    expect_refused(post("/v1/dht/get", json{{"key", std::string(64, 'g')}}.dump()),
                   "key must be 64 hex digits");
    expect_refused(post("/v1/dht/get", json{{"key", std::string(66, 'a')}}.dump()),
                   "key must be 64 hex digits");
    expect_refused(post("/v1/dht/get", R"({"key": 7})"), "field \"key\" must be a string");
    expect_refused(post("/v1/dht/get", json{{"key", other}, {"name", "n"}}.dump()),
                   "either \"key\" or \"publisher\" and \"name\", not both");
    expect_refused(post("/v1/dht/get", json{{"publisher", other}}.dump()),
                   "missing field \"name\"");
    expect_refused(post("/v1/dht/get", R"({"name": "n"})"), "missing field \"publisher\"");
    expect_refused(post("/v1/dht/get", R"({"publisher": "xyz", "name": "n"})"),
                   "publisher must be 64 hex digits");
    expect_refused(post("/v1/dht/get", json{{"publisher", other}, {"name", ""}}.dump()),
                   "name must be 1..128 bytes");
    expect_refused(post("/v1/dht/get", json{{"key", other}, {"extra", 1}}.dump()),
                   "unknown field \"extra\"");
}

TEST_F(dht_api, closest_and_find_take_one_id) {
    EXPECT_EQ(
        command_of<dht_closest_command>(post("/v1/dht/closest", json{{"target", other}}.dump()))
            .target,
        identity_of(2).id());
    EXPECT_EQ(
        command_of<dht_find_command>(post("/v1/dht/find", json{{"node_id", other}}.dump())).id,
        identity_of(2).id());
    expect_refused(post("/v1/dht/closest", "{}"), "missing field \"target\"");
    expect_refused(post("/v1/dht/closest", R"({"target": "1234"})"),
                   "target must be 64 hex digits");
    expect_refused(post("/v1/dht/find", "{}"), "missing field \"node_id\"");
    expect_refused(post("/v1/dht/find", R"({"node_id": null})"),
                   "field \"node_id\" must be a string, got null");
    expect_refused(post("/v1/dht/find", json{{"node_id", other}, {"target", other}}.dump()),
                   "unknown field \"target\"");
}

TEST_F(dht_api, dht_routes_are_post_only) {
    const auto result = handle(request{"GET", "/v1/dht/get", ""}, local, facts);
    EXPECT_EQ(result.reply.status, 405);
    EXPECT_EQ(result.reply.allow, "POST");
}

TEST_F(dht_api, a_finished_put_is_formatted_with_its_reference) {
    dht::put_result put;
    put.stored = dht::sign_record(self, "greeting", 7, unix_start + 3600, "hello");
    put.stored_on = {identity_of(2).id(), self.id()};
    put.failed = 1;
    put.rounds = 2;
    const response reply = dht_reply(dht_put_command{"greeting", "hello", 0},
                                     dht::operation_done{4, dht::operation_value{put}});
    ASSERT_EQ(reply.status, 200);
    const json body = body_of(reply);
    EXPECT_EQ(body["key"], dht::record_key(self.id(), "greeting").hex());
    EXPECT_EQ(body["publisher"], self.id().hex());
    EXPECT_EQ(body["name"], "greeting");
    EXPECT_EQ(body["reference"], self.id().hex() + "/greeting");
    EXPECT_EQ(body["sequence"], 7);
    EXPECT_EQ(body["expiry_unix_seconds"], unix_start + 3600);
    EXPECT_EQ(body["stored_on"], json::array({other, self.id().hex()}));
    EXPECT_EQ(body["failed"], 1);
    EXPECT_EQ(body["rounds"], 2);
}

TEST_F(dht_api, a_finished_get_is_formatted_with_its_source) {
    dht::get_result got;
    got.found = dht::sign_record(identity_of(2), "greeting", 9, unix_start + 60, "hi");
    got.holders = 3;
    got.rounds = 1;
    got.from_local_store = true;
    const dht_get_command asked{got.found.key, {}, {}};
    const json body = body_of(dht_reply(asked, dht::operation_done{5, dht::operation_value{got}}));
    EXPECT_EQ(body["key"], got.found.key.hex());
    EXPECT_EQ(body["publisher"], other);
    EXPECT_EQ(body["name"], "greeting");
    EXPECT_EQ(body["value"], "hi");
    EXPECT_EQ(body["sequence"], 9);
    EXPECT_EQ(body["expiry_unix_seconds"], unix_start + 60);
    EXPECT_EQ(body["holders"], 3);
    EXPECT_EQ(body["rounds"], 1);
    EXPECT_EQ(body["source"], "local");
}

TEST_F(dht_api, a_finished_lookup_lists_the_nodes) {
    dht::lookup_result found;
    found.rounds = 3;
    found.closest.push_back(dht::contact{identity_of(2).id(), "127.0.0.1:7402",
                                         duration::milliseconds(2), instant::from_ns(0)});
    found.closest.push_back(
        dht::contact{identity_of(3).id(), "127.0.0.1:7403", std::nullopt, instant::from_ns(0)});
    const json body = body_of(dht_reply(dht_closest_command{identity_of(4).id()},
                                        dht::operation_done{6, dht::operation_value{found}}));
    EXPECT_EQ(body["target"], identity_of(4).id().hex());
    EXPECT_EQ(body["rounds"], 3);
    ASSERT_EQ(body["nodes"].size(), 2U);
    EXPECT_EQ(body["nodes"][0]["node_id"], other);
    EXPECT_EQ(body["nodes"][0]["short_id"], identity_of(2).id().short_hex());
    EXPECT_EQ(body["nodes"][0]["address"], "127.0.0.1:7402");
    EXPECT_DOUBLE_EQ(body["nodes"][0]["rtt_ms"].get<double>(), 2.0);
    EXPECT_TRUE(body["nodes"][1]["rtt_ms"].is_null());
}

TEST_F(dht_api, a_found_address_record_lists_the_addresses) {
    const std::vector<host_port> addresses{{"127.0.0.1", 7402}, {"10.0.0.2", 7400}};
    auto rec = dht::make_node_addresses(identity_of(2), addresses, 11, unix_start + 60);
    ASSERT_TRUE(rec.ok());
    dht::get_result got;
    got.found = *rec;
    got.rounds = 2;
    const json body = body_of(dht_reply(dht_find_command{identity_of(2).id()},
                                        dht::operation_done{7, dht::operation_value{got}}));
    EXPECT_EQ(body["node_id"], other);
    EXPECT_EQ(body["addresses"], json::array({"127.0.0.1:7402", "10.0.0.2:7400"}));
    EXPECT_EQ(body["sequence"], 11);
    EXPECT_EQ(body["rounds"], 2);
    EXPECT_EQ(body["source"], "network");
}

TEST_F(dht_api, failures_map_to_http_statuses_and_name_what_was_asked) {
    const dht_get_command by_name{dht::record_key(identity_of(2).id(), "n"), identity_of(2).id(),
                                  "n"};
    response reply =
        dht_reply(by_name, dht::operation_done{1, make_error(errc::not_found, "no record")});
    EXPECT_EQ(reply.status, 404);
    EXPECT_NE(reply.body.find("not found: record " + other + "/n"), std::string::npos)
        << reply.body;
    reply = dht_reply(dht_find_command{identity_of(2).id()},
                      dht::operation_done{2, make_error(errc::not_found, "no record")});
    EXPECT_EQ(reply.status, 404);
    EXPECT_NE(reply.body.find("not found: address record of node " + other), std::string::npos);
    reply = dht_reply(dht_closest_command{identity_of(2).id()},
                      dht::operation_done{3, make_error(errc::timeout, "8 s passed")});
    EXPECT_EQ(reply.status, 504);
    EXPECT_EQ(body_of(reply)["error"]["code"], "timeout");
    reply = dht_reply(dht_put_command{"n", "v", 0},
                      dht::operation_done{4, make_error(errc::unavailable, "no contacts")});
    EXPECT_EQ(reply.status, 503);
    reply = dht_refused(dht_put_command{"n", "v", 0},
                        make_error(errc::resource_exhausted, "too many DHT operations in flight"));
    EXPECT_EQ(reply.status, 429);
    EXPECT_NE(reply.body.find("too many DHT operations in flight"), std::string::npos);
}

} // namespace
} // namespace reef::control
