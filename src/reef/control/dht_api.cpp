#include "reef/control/dht_api.hpp"

#include <array>

#include "reef/control/json_support.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/dht/record.hpp"

namespace reef::control {

namespace {

using detail::id_field;
using detail::integer_field;
using detail::invalid;
using detail::json;
using detail::ok_json;
using detail::parse_object;
using detail::refuse_unknown_fields;
using detail::shown;
using detail::string_field;

template <typename... Ts>
struct overloaded : Ts... {
    using Ts::operator()...;
};
template <typename... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

constexpr std::array<std::string_view, 4> dht_paths{"/v1/dht/put", "/v1/dht/get", "/v1/dht/closest",
                                                    "/v1/dht/find"};

outcome later(command action) { return outcome{response{0, {}, {}}, std::move(action)}; }

/// The record name field: a string of 1..record_name_size_max bytes.
std::variant<std::string, outcome> name_field(const json& body) {
    auto name = string_field(body, "name");
    if (auto* text = std::get_if<std::string>(&name)) {
        if (text->empty() || text->size() > dht::record_name_size_max) {
            return invalid("name must be 1.." + std::to_string(dht::record_name_size_max) +
                           " bytes, got " + std::to_string(text->size()));
        }
    }
    return name;
}

outcome post_put(const json& body) {
    if (auto refused = refuse_unknown_fields(body, {"name", "value", "ttl_seconds"})) {
        return std::move(*refused);
    }
    auto name = name_field(body);
    if (auto* refused = std::get_if<outcome>(&name)) {
        return std::move(*refused);
    }
    dht_put_command put;
    put.name = std::move(std::get<std::string>(name));
    if (put.name.starts_with(dht_reserved_prefix)) {
        return invalid("name " + shown(put.name) + " is reserved (names starting with \"" +
                       std::string(dht_reserved_prefix) + "\" belong to Reef)");
    }
    auto value = string_field(body, "value");
    if (auto* refused = std::get_if<outcome>(&value)) {
        return std::move(*refused);
    }
    put.value = std::move(std::get<std::string>(value));
    if (put.value.size() > dht::record_value_size_max) {
        return invalid("value is " + std::to_string(put.value.size()) + " bytes (at most " +
                       std::to_string(dht::record_value_size_max) + ")");
    }
    if (body.contains("ttl_seconds")) {
        auto ttl = integer_field(body, "ttl_seconds", 1, dht_ttl_seconds_max);
        if (auto* refused = std::get_if<outcome>(&ttl)) {
            return std::move(*refused);
        }
        put.ttl_seconds = std::get<std::uint64_t>(ttl);
    }
    return later(std::move(put));
}

outcome post_get(const json& body) {
    if (auto refused = refuse_unknown_fields(body, {"key", "publisher", "name"})) {
        return std::move(*refused);
    }
    const bool by_key = body.contains("key");
    const bool by_name = body.contains("publisher") || body.contains("name");
    if (by_key && by_name) {
        return invalid("give either \"key\" or \"publisher\" and \"name\", not both");
    }
    dht_get_command get;
    if (by_key) {
        auto key = id_field(body, "key");
        if (auto* refused = std::get_if<outcome>(&key)) {
            return std::move(*refused);
        }
        get.key = std::get<id256>(key);
        return later(std::move(get));
    }
    if (!by_name) {
        return invalid("missing field \"key\" (or \"publisher\" and \"name\")");
    }
    auto publisher = id_field(body, "publisher");
    if (auto* refused = std::get_if<outcome>(&publisher)) {
        return std::move(*refused);
    }
    auto name = name_field(body);
    if (auto* refused = std::get_if<outcome>(&name)) {
        return std::move(*refused);
    }
    get.publisher = std::get<id256>(publisher);
    get.name = std::move(std::get<std::string>(name));
    get.key = dht::record_key(get.publisher, get.name);
    return later(std::move(get));
}

outcome post_id(const json& body, std::string_view field, bool find) {
    if (auto refused = refuse_unknown_fields(body, {field})) {
        return std::move(*refused);
    }
    auto id = id_field(body, field);
    if (auto* refused = std::get_if<outcome>(&id)) {
        return std::move(*refused);
    }
    if (find) {
        return later(dht_find_command{std::get<id256>(id)});
    }
    return later(dht_closest_command{std::get<id256>(id)});
}

json rtt_json(const std::optional<duration>& rtt) { return rtt ? json(rtt->ms()) : json(nullptr); }

/// What was asked, for error messages: "record KEY", "PUBLISHER/NAME", "node
/// ID", ...
std::string subject(const dht_command& asked) {
    return std::visit(
        overloaded{
            [](const dht_put_command& put) { return "put " + shown(put.name); },
            [](const dht_get_command& get) {
                return get.name.empty() ? "record " + get.key.hex()
                                        : "record " + get.publisher.hex() + "/" + get.name;
            },
            [](const dht_closest_command& closest) {
                return "closest nodes to " + closest.target.hex();
            },
            [](const dht_find_command& find) { return "address record of node " + find.id.hex(); },
        },
        asked);
}

json put_json(const dht::put_result& put) {
    const dht::record& stored = put.stored;
    const node_id publisher = crypto::node_id_of(stored.publisher);
    json stored_on = json::array();
    for (const auto& id : put.stored_on) {
        stored_on.push_back(id.hex());
    }
    return json{{"key", stored.key.hex()},
                {"publisher", publisher.hex()},
                {"name", stored.name},
                {"reference", publisher.hex() + "/" + stored.name},
                {"sequence", stored.sequence},
                {"expiry_unix_seconds", stored.expiry_unix_seconds},
                {"stored_on", std::move(stored_on)},
                {"failed", put.failed},
                {"rounds", put.rounds}};
}

json get_json(const dht::get_result& got) {
    const dht::record& found = got.found;
    return json{{"key", found.key.hex()},
                {"publisher", crypto::node_id_of(found.publisher).hex()},
                {"name", found.name},
                {"value", found.value},
                {"sequence", found.sequence},
                {"expiry_unix_seconds", found.expiry_unix_seconds},
                {"holders", got.holders},
                {"rounds", got.rounds},
                {"source", got.from_local_store ? "local" : "network"}};
}

json closest_json(const node_id& target, const dht::lookup_result& found) {
    json nodes = json::array();
    for (const auto& near : found.closest) {
        nodes.push_back(json{{"node_id", near.id.hex()},
                             {"short_id", near.id.short_hex()},
                             {"address", near.address},
                             {"rtt_ms", rtt_json(near.rtt)}});
    }
    return json{{"target", target.hex()}, {"rounds", found.rounds}, {"nodes", std::move(nodes)}};
}

response find_reply(const dht_find_command& find, const dht::get_result& got) {
    auto addresses = dht::parse_node_addresses(got.found);
    if (!addresses) {
        return error_response(502, errc::invalid_argument,
                              subject(find) + " is malformed: " + addresses.failure().message);
    }
    json texts = json::array();
    for (const auto& address : *addresses) {
        texts.push_back(address.text());
    }
    return ok_json(json{{"node_id", find.id.hex()},
                        {"addresses", std::move(texts)},
                        {"sequence", got.found.sequence},
                        {"rounds", got.rounds},
                        {"source", got.from_local_store ? "local" : "network"}});
}

response failure_reply(const dht_command& asked, const error& why) {
    std::string message;
    switch (why.code) {
    case errc::not_found: message = "not found: " + subject(asked); break;
    case errc::timeout:
        message = subject(asked) + ": no answer in time (" + why.message + ")";
        break;
    case errc::unavailable:
        message = subject(asked) + ": " + why.message + " (no DHT contacts; join a cluster)";
        break;
    default: message = subject(asked) + ": " + why.message; break;
    }
    return error_response(http_status_of(why.code), why.code, message);
}

} // namespace

bool is_dht_path(std::string_view path) {
    for (auto candidate : dht_paths) {
        if (candidate == path) {
            return true;
        }
    }
    return false;
}

outcome handle_dht(std::string_view path, const request& incoming) {
    REEF_ASSERT(is_dht_path(path));
    auto parsed = parse_object(incoming.body);
    if (auto* refused = std::get_if<outcome>(&parsed)) {
        return std::move(*refused);
    }
    const json& body = std::get<json>(parsed);
    if (path == "/v1/dht/put") {
        return post_put(body);
    }
    if (path == "/v1/dht/get") {
        return post_get(body);
    }
    if (path == "/v1/dht/closest") {
        return post_id(body, "target", false);
    }
    REEF_ASSERT(path == "/v1/dht/find");
    return post_id(body, "node_id", true);
}

dht_command as_dht_command(const command& action) {
    REEF_ASSERT(answers_later(action));
    return std::visit(overloaded{
                          [](const dht_put_command& put) -> dht_command { return put; },
                          [](const dht_get_command& get) -> dht_command { return get; },
                          [](const dht_closest_command& closest) -> dht_command { return closest; },
                          [](const dht_find_command& find) -> dht_command { return find; },
                          [](const auto&) -> dht_command {
                              REEF_ASSERT(false);
                              return dht_closest_command{};
                          },
                      },
                      action);
}

response dht_reply(const dht_command& asked, const dht::operation_done& done) {
    if (!done.outcome) {
        return failure_reply(asked, done.outcome.failure());
    }
    const dht::operation_value& value = *done.outcome;
    return std::visit(overloaded{
                          [&](const dht_put_command&) {
                              const auto* put = std::get_if<dht::put_result>(&value);
                              REEF_ASSERT(put != nullptr);
                              return ok_json(put_json(*put));
                          },
                          [&](const dht_get_command&) {
                              const auto* got = std::get_if<dht::get_result>(&value);
                              REEF_ASSERT(got != nullptr);
                              return ok_json(get_json(*got));
                          },
                          [&](const dht_closest_command& closest) {
                              const auto* found = std::get_if<dht::lookup_result>(&value);
                              REEF_ASSERT(found != nullptr);
                              return ok_json(closest_json(closest.target, *found));
                          },
                          [&](const dht_find_command& find) {
                              const auto* got = std::get_if<dht::get_result>(&value);
                              REEF_ASSERT(got != nullptr);
                              return find_reply(find, *got);
                          },
                      },
                      asked);
}

response dht_refused(const dht_command& asked, const error& why) {
    REEF_ASSERT(why.code != errc::internal || !why.message.empty());
    return failure_reply(asked, why);
}

} // namespace reef::control
