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
    return {};
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
        return make_error(errc::failed_precondition,
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

result<json> control_client::get_checked(std::string_view target,
                                         reef::status (*check_shape)(const json&)) const {
    auto answer = call("GET", target, json());
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
    return get_checked("/v1/status", check_status_shape);
}

result<json> control_client::peers() const { return get_checked("/v1/peers", check_peers_shape); }

result<json> control_client::join(const host_port& address) const {
    return call("POST", "/v1/join", json{{"address", address.text()}});
}

result<json> control_client::leave() const { return call("POST", "/v1/leave", json::object()); }

} // namespace reef::cli
