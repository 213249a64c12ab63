#include "control_client.hpp"

namespace reef::cli {
namespace {

using json = nlohmann::json;

bool has(const json& object, const char* key, json::value_t type) {
    if (!object.contains(key)) {
        return false;
    }
    const json& value = object[key];
    if (type == json::value_t::number_float) {
        return value.is_number();
    }
    if (type == json::value_t::number_unsigned) {
        return value.is_number_integer() && value.get<std::int64_t>() >= 0;
    }
    return value.type() == type;
}

using field_list = std::initializer_list<std::pair<const char*, json::value_t>>;

status require(const json& object, field_list fields, std::string_view what) {
    for (const auto& [key, type] : fields) {
        if (!has(object, key, type)) {
            return make_error(errc::invalid_argument,
                              "unexpected answer: " + std::string(what) + " lacks a valid \"" +
                                  key + "\" (is this a reefd of another version?)");
        }
    }
    return {};
}

constexpr auto string_type = json::value_t::string;
constexpr auto count_type = json::value_t::number_unsigned;
constexpr auto number_type = json::value_t::number_float;

/// `answer[list]` is an array of objects, each with `fields`.
status require_each(const json& answer, const char* list, field_list fields,
                    std::string_view what) {
    if (!answer.contains(list) || !answer[list].is_array()) {
        return make_error(errc::invalid_argument,
                          "unexpected answer: no \"" + std::string(list) + "\" list");
    }
    for (const json& entry : answer[list]) {
        if (!entry.is_object()) {
            return make_error(errc::invalid_argument,
                              "unexpected answer: " + std::string(what) + " is not an object");
        }
        if (auto checked = require(entry, fields, what); !checked) {
            return checked;
        }
    }
    return {};
}

} // namespace

status check_status_shape(const json& answer) {
    return require(answer,
                   {{"node_id", string_type},
                    {"short_id", string_type},
                    {"address", string_type},
                    {"state", string_type},
                    {"incarnation", count_type},
                    {"uptime_seconds", number_type},
                    {"cluster_size", count_type},
                    {"pid", count_type}},
                   "the status");
}

status check_peers_shape(const json& answer) {
    if (!answer.contains("members") || !answer["members"].is_array()) {
        return make_error(errc::invalid_argument, "unexpected answer: no \"members\" list");
    }
    for (const json& member : answer["members"]) {
        if (!member.is_object()) {
            return make_error(errc::invalid_argument, "unexpected answer: a member is not an "
                                                      "object");
        }
        auto checked = require(member,
                               {{"node_id", string_type},
                                {"short_id", string_type},
                                {"address", string_type},
                                {"state", string_type},
                                {"incarnation", count_type}},
                               "a member");
        if (!checked) {
            return checked;
        }
        if (member.contains("rtt_ms") && !member["rtt_ms"].is_null() &&
            !member["rtt_ms"].is_number()) {
            return make_error(errc::invalid_argument, "unexpected answer: rtt_ms is not a number");
        }
    }
    if (answer.contains("routing")) {
        auto checked =
            require(answer["routing"], {{"contacts", count_type}, {"buckets_occupied", count_type}},
                    "the routing summary");
        if (!checked) {
            return checked;
        }
    }
    if (answer.contains("contacts")) {
        auto checked = require_each(answer, "contacts",
                                    {{"node_id", string_type},
                                     {"short_id", string_type},
                                     {"address", string_type},
                                     {"bucket", count_type}},
                                    "a contact");
        if (!checked) {
            return checked;
        }
    }
    return {};
}

status check_dht_put_shape(const json& answer) {
    return require(answer,
                   {{"key", string_type},
                    {"publisher", string_type},
                    {"name", string_type},
                    {"reference", string_type},
                    {"sequence", count_type},
                    {"stored_on", json::value_t::array},
                    {"failed", count_type},
                    {"rounds", count_type}},
                   "the put");
}

status check_dht_get_shape(const json& answer) {
    return require(answer,
                   {{"key", string_type},
                    {"publisher", string_type},
                    {"name", string_type},
                    {"value", string_type},
                    {"sequence", count_type},
                    {"holders", count_type},
                    {"rounds", count_type},
                    {"source", string_type}},
                   "the record");
}

status check_dht_closest_shape(const json& answer) {
    auto checked = require(answer, {{"target", string_type}, {"rounds", count_type}}, "the lookup");
    if (!checked) {
        return checked;
    }
    return require_each(
        answer, "nodes",
        {{"node_id", string_type}, {"short_id", string_type}, {"address", string_type}}, "a node");
}

status check_dht_find_shape(const json& answer) {
    auto checked =
        require(answer, {{"node_id", string_type}, {"rounds", count_type}}, "the address record");
    if (!checked) {
        return checked;
    }
    if (!answer.contains("addresses") || !answer["addresses"].is_array()) {
        return make_error(errc::invalid_argument, "unexpected answer: no \"addresses\" list");
    }
    for (const json& address : answer["addresses"]) {
        if (!address.is_string()) {
            return make_error(errc::invalid_argument,
                              "unexpected answer: an address is not a string");
        }
    }
    return {};
}

status check_kv_shape(const json& answer) {
    auto checked = require(
        answer, {{"key", string_type}, {"op", string_type}, {"ok", json::value_t::boolean}},
        "the kv answer");
    if (!checked) {
        return checked;
    }
    if (!answer.contains("value") || !(answer["value"].is_string() || answer["value"].is_null())) {
        return make_error(errc::invalid_argument,
                          "unexpected answer: the kv answer lacks a valid \"value\"");
    }
    if (!answer["ok"].get<bool>()) {
        return require(answer, {{"error", string_type}}, "the kv answer");
    }
    return {};
}

status check_kv_group_shape(const json& answer) {
    auto checked =
        require(answer,
                {{"key", string_type}, {"group", string_type}, {"hosted", json::value_t::boolean}},
                "the group answer");
    if (!checked || !answer["hosted"].get<bool>()) {
        return checked;
    }
    checked = require(answer,
                      {{"members", json::value_t::array},
                       {"epoch", count_type},
                       {"leader", string_type},
                       {"role", string_type},
                       {"commit_index", count_type},
                       {"applied_index", count_type},
                       {"last_index", count_type}},
                      "the group answer");
    if (!checked) {
        return checked;
    }
    for (const json& member : answer["members"]) {
        if (!member.is_string()) {
            return make_error(errc::invalid_argument,
                              "unexpected answer: a group member is not a string");
        }
    }
    return {};
}

std::string percent_encoded(std::string_view text) {
    constexpr std::string_view digits = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size() * 3);
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += digits[byte >> 4];
            out += digits[byte & 0x0f];
        }
    }
    return out;
}

result<json> control_client::call(std::string_view method, std::string_view target,
                                  const json& body) const {
    std::string body_text = body.is_null() ? std::string() : body.dump();
    auto answer = http_call(endpoint, method, target, body_text, timeout);
    if (!answer) {
        const error& failure = answer.failure();
        if (failure.code == errc::unavailable) {
            std::string where = endpoint.is_unix ? "no reefd running at " + endpoint.text()
                                                 : "no reefd answering at " + endpoint.text();
            return make_error(errc::unavailable,
                              where + (start_hint.empty() ? "" : "; " + start_hint) + " (" +
                                  failure.message + ")");
        }
        return failure;
    }
    json parsed = json::parse(answer->body, nullptr, false);
    bool is_object = !parsed.is_discarded() && parsed.is_object();
    if (answer->status_code < 200 || answer->status_code > 299) {
        std::string detail = answer->reason;
        if (is_object && parsed.contains("error") && parsed["error"].is_object()) {
            const json& problem = parsed["error"];
            std::string code = problem.value("code", std::string("error"));
            std::string message = problem.value("message", std::string());
            detail = code + (message.empty() ? "" : ": " + message);
        }
        constexpr std::string_view not_found = "not found: ";
        if (answer->status_code == 404 &&
            detail.starts_with(std::string(not_found) + "not found: ")) {
            // A DHT lookup that found nothing: the node's message says what was looked for.
            return make_error(errc::not_found, detail.substr(not_found.size()));
        }
        return make_error(answer->status_code == 504 ? errc::timeout : errc::failed_precondition,
                          endpoint.text() + " refused " + std::string(method) + " " +
                              std::string(target) + " (HTTP " +
                              std::to_string(answer->status_code) + "): " + detail);
    }
    if (!is_object) {
        return make_error(errc::invalid_argument, "the answer from " + endpoint.text() +
                                                      " to " + std::string(target) +
                                                      " is not a JSON object");
    }
    return parsed;
}

result<json> control_client::call_checked(std::string_view method, std::string_view target,
                                          const json& body,
                                          reef::status (*check_shape)(const json&)) const {
    auto answer = call(method, target, body);
    if (!answer) {
        return answer;
    }
    auto checked = check_shape(*answer);
    if (!checked) {
        return make_error(errc::invalid_argument,
                          endpoint.text() + ": " + checked.failure().message);
    }
    return answer;
}

result<json> control_client::status() const {
    return call_checked("GET", "/v1/status", json(), check_status_shape);
}

result<json> control_client::peers() const {
    return call_checked("GET", "/v1/peers", json(), check_peers_shape);
}

result<json> control_client::join(const host_port& address) const {
    return call("POST", "/v1/join", json{{"address", address.text()}});
}

result<json> control_client::leave() const { return call("POST", "/v1/leave", json::object()); }

result<json> control_client::dht_put(const std::string& name, const std::string& value,
                                     std::uint64_t ttl_seconds) const {
    json body{{"name", name}, {"value", value}};
    if (ttl_seconds != 0) {
        body["ttl_seconds"] = ttl_seconds;
    }
    return call_checked("POST", "/v1/dht/put", body, check_dht_put_shape);
}

result<json> control_client::dht_get(const json& body) const {
    return call_checked("POST", "/v1/dht/get", body, check_dht_get_shape);
}

result<json> control_client::dht_closest(const std::string& target_hex) const {
    return call_checked("POST", "/v1/dht/closest", json{{"target", target_hex}},
                        check_dht_closest_shape);
}

result<json> control_client::dht_find(const std::string& node_id_hex) const {
    return call_checked("POST", "/v1/dht/find", json{{"node_id", node_id_hex}},
                        check_dht_find_shape);
}

result<json> control_client::kv(const json& body) const {
    return call_checked("POST", "/v1/kv", body, check_kv_shape);
}

result<json> control_client::kv_group(const std::string& key) const {
    return call_checked("GET", "/v1/kv/group?key=" + percent_encoded(key), json(),
                        check_kv_group_shape);
}

} // namespace reef::cli
