#include "reef/control/kv_api.hpp"

#include <limits>

#include "reef/control/json_support.hpp"
#include "reef/node/node.hpp"

namespace reef::control {

namespace {

using detail::invalid;
using detail::json;
using detail::ok_json;
using detail::parse_object;
using detail::refuse_unknown_fields;
using detail::shown;
using detail::string_field;

outcome later(command action) { return outcome{response{0, {}, {}}, std::move(action)}; }

/// A string field that must hold at most `size_max` bytes.
std::variant<std::string, outcome> bounded_string(const json& body, std::string_view name,
                                                  std::size_t size_max) {
    auto text = string_field(body, name);
    if (auto* value = std::get_if<std::string>(&text)) {
        if (value->size() > size_max) {
            return invalid(std::string(name) + " is " + std::to_string(value->size()) +
                           " bytes (at most " + std::to_string(size_max) + ")");
        }
    }
    return text;
}

std::variant<replica::kv::command, outcome> body_of(const json& body, std::string_view op) {
    constexpr std::size_t value_max = replica::kv::value_size_max;
    if (op == "get") {
        if (auto refused = refuse_unknown_fields(body, {"op", "key", "request"})) {
            return std::move(*refused);
        }
        return replica::kv::get{};
    }
    if (op == "put") {
        if (auto refused = refuse_unknown_fields(body, {"op", "key", "value", "request"})) {
            return std::move(*refused);
        }
        auto value = bounded_string(body, "value", value_max);
        if (auto* refused = std::get_if<outcome>(&value)) {
            return std::move(*refused);
        }
        return replica::kv::put{std::move(std::get<std::string>(value))};
    }
    if (op == "cas") {
        if (auto refused =
                refuse_unknown_fields(body, {"op", "key", "expected", "value", "request"})) {
            return std::move(*refused);
        }
        const auto expected = body.find("expected");
        if (expected == body.end()) {
            return invalid("missing field \"expected\" (the current value, or null for a key "
                           "that must be absent)");
        }
        replica::kv::cas swap;
        if (!expected->is_null()) {
            if (!expected->is_string()) {
                return invalid(std::string("field \"expected\" must be a string or null, got ") +
                               expected->type_name());
            }
            auto text = bounded_string(body, "expected", value_max);
            if (auto* refused = std::get_if<outcome>(&text)) {
                return std::move(*refused);
            }
            swap.expected = std::move(std::get<std::string>(text));
        }
        auto value = bounded_string(body, "value", value_max);
        if (auto* refused = std::get_if<outcome>(&value)) {
            return std::move(*refused);
        }
        swap.value = std::move(std::get<std::string>(value));
        return swap;
    }
    REEF_ASSERT(op == "incr");
    if (auto refused = refuse_unknown_fields(body, {"op", "key", "delta", "request"})) {
        return std::move(*refused);
    }
    replica::kv::incr add;
    const auto delta = body.find("delta");
    if (delta != body.end()) {
        if (!delta->is_number_integer()) {
            return invalid(std::string("field \"delta\" must be an integer, got ") +
                           (delta->is_number() ? "a fraction" : delta->type_name()));
        }
        if (delta->is_number_unsigned() &&
            delta->get<std::uint64_t>() >
                static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return invalid("field \"delta\" is out of range (a signed 64-bit integer)");
        }
        add.delta = delta->get<std::int64_t>();
    }
    return add;
}

/// The optional "request": {"client": C, "sequence": S}, both non-zero unsigned 64-bit
/// integers: a client that retries with the same pair gets its command applied once.
std::variant<std::optional<replica::request_id>, outcome> request_of(const json& body) {
    const auto field = body.find("request");
    if (field == body.end()) {
        return std::optional<replica::request_id>{};
    }
    if (!field->is_object()) {
        return invalid(std::string("field \"request\" must be an object {\"client\", "
                                   "\"sequence\"}, got ") +
                       field->type_name());
    }
    if (auto refused = refuse_unknown_fields(*field, {"client", "sequence"})) {
        return std::move(*refused);
    }
    replica::request_id id;
    for (const char* name : {"client", "sequence"}) {
        const auto part = field->find(name);
        if (part == field->end() || !part->is_number_unsigned() ||
            part->get<std::uint64_t>() == 0) {
            return invalid(std::string("field \"request.") + name +
                           "\" must be an integer in 1..2^64-1");
        }
        (std::string_view(name) == "client" ? id.client : id.sequence) =
            part->get<std::uint64_t>();
    }
    return std::optional<replica::request_id>{id};
}

std::string subject(const kv_command& asked) { return asked.op + " of key " + shown(asked.key); }

} // namespace

outcome handle_kv(const request& incoming) {
    auto parsed = parse_object(incoming.body);
    if (auto* refused = std::get_if<outcome>(&parsed)) {
        return std::move(*refused);
    }
    const json& body = std::get<json>(parsed);
    auto op = string_field(body, "op");
    if (auto* refused = std::get_if<outcome>(&op)) {
        return std::move(*refused);
    }
    const std::string& name = std::get<std::string>(op);
    if (name != "get" && name != "put" && name != "cas" && name != "incr") {
        return invalid("field \"op\" must be \"get\", \"put\", \"cas\" or \"incr\", got " +
                       shown(name));
    }
    auto key = string_field(body, "key");
    if (auto* refused = std::get_if<outcome>(&key)) {
        return std::move(*refused);
    }
    std::string& key_text = std::get<std::string>(key);
    if (key_text.empty() || key_text.size() > node::node::kv_key_size_max) {
        return invalid("key must be 1.." + std::to_string(node::node::kv_key_size_max) +
                       " bytes, got " + std::to_string(key_text.size()));
    }
    auto command_body = body_of(body, name);
    if (auto* refused = std::get_if<outcome>(&command_body)) {
        return std::move(*refused);
    }
    auto request = request_of(body);
    if (auto* refused = std::get_if<outcome>(&request)) {
        return std::move(*refused);
    }
    return later(kv_command{name, std::move(key_text),
                            std::move(std::get<replica::kv::command>(command_body)),
                            std::get<std::optional<replica::request_id>>(request)});
}

response kv_reply(const kv_command& asked, const result<replica::kv::answer>& answer) {
    if (!answer) {
        return kv_refused(asked, answer.failure());
    }
    json body{{"key", asked.key},
              {"op", asked.op},
              {"ok", answer->ok},
              {"value", answer->value ? json(*answer->value) : json(nullptr)}};
    if (!answer->ok) {
        body["error"] = answer->error;
    }
    return ok_json(body);
}

response kv_refused(const kv_command& asked, const error& why) {
    std::string message;
    switch (why.code) {
    case errc::timeout:
        message = subject(asked) + ": no answer in time (" + why.message + ")";
        break;
    case errc::unavailable:
        message = subject(asked) + ": " + why.message + " (join a cluster)";
        break;
    default: message = subject(asked) + ": " + why.message; break;
    }
    return error_response(http_status_of(why.code), why.code, message);
}

} // namespace reef::control
