#include "reef/control/kv_api.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "reef/base/ids.hpp"
#include "reef/control/json_support.hpp"
#include "reef/node/node.hpp"
#include "reef/replica/group.hpp"
#include "reef/replica/host.hpp"

namespace reef::control {

namespace {

using detail::invalid;
using detail::json;
using detail::ok_json;
using detail::parse_object;
using detail::refuse_unknown_fields;
using detail::reply_only;
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


std::string subject(const kv_command& asked) { return asked.op + " of key " + shown(asked.key); }

/// The message for a key of the wrong size (the same for a body and a query string).
std::string key_size_problem(std::size_t size) {
    return "key must be 1.." + std::to_string(node::node::kv_key_size_max) + " bytes, got " +
           std::to_string(size);
}

/// Bytes that may appear unescaped in a query (RFC 3986 "query", without '+': see
/// percent_decoded).
bool allowed_in_query(char c) {
    constexpr std::string_view punctuation = "-._~!$&'()*,;=:@/?";
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           punctuation.find(c) != std::string_view::npos;
}

/// The key of a /v1/kv/group target: the one "key" parameter of its query, decoded.
std::variant<std::string, outcome> group_key_of(std::string_view target) {
    auto key = query_parameter(target, "key", " (/v1/kv/group?key=KEY, KEY percent-encoded)");
    if (auto* text = std::get_if<std::string>(&key);
        text != nullptr && (text->empty() || text->size() > node::node::kv_key_size_max)) {
        return invalid(key_size_problem(text->size()));
    }
    return key;
}

std::string_view role_name(replica::role current) {
    switch (current) {
    case replica::role::leader: return "leader";
    case replica::role::follower: return "follower";
    case replica::role::changing: return "changing";
    }
    REEF_ASSERT(false);
    return "";
}

/// What a hosting node knows of its group, added to `body`.
void describe_group(const replica::group& hosted, json& body) {
    std::vector<std::string> members;
    members.reserve(hosted.members().size());
    for (const node_id& member : hosted.members()) {
        members.push_back(member.hex());
    }
    std::sort(members.begin(), members.end());
    REEF_ASSERT(!members.empty());
    REEF_ASSERT(hosted.applied_index() <= hosted.commit_index());
    body["members"] = std::move(members);
    body["epoch"] = hosted.epoch();
    body["leader"] = hosted.leader().hex();
    body["role"] = std::string(role_name(hosted.current_role()));
    body["commit_index"] = hosted.commit_index();
    body["applied_index"] = hosted.applied_index();
    body["last_index"] = hosted.last_index();
}

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
        return invalid(key_size_problem(key_text.size()));
    }
    auto command_body = body_of(body, name);
    if (auto* refused = std::get_if<outcome>(&command_body)) {
        return std::move(*refused);
    }
    auto request = detail::request_of(body);
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

outcome handle_kv_group(const request& incoming, const node::node& local) {
    auto key = group_key_of(incoming.target);
    if (auto* refused = std::get_if<outcome>(&key)) {
        return std::move(*refused);
    }
    const std::string& key_text = std::get<std::string>(key);
    const replica::group_id group = node::node::kv_group_of(key_text);
    const replica::group* hosted = local.replicas().find(group);
    json body{{"key", key_text},
              {"group", group.hex()},
              {"hosted", hosted != nullptr},
              {"evicted", local.replicas().evicted(group)}};
    if (hosted != nullptr) {
        REEF_ASSERT(hosted->id() == group);
        describe_group(*hosted, body);
    }
    return reply_only(ok_json(body));
}

std::variant<std::string, outcome> query_parameter(std::string_view target,
                                                   std::string_view wanted,
                                                   std::string_view usage) {
    const auto mark = target.find('?');
    std::string_view query = mark == std::string_view::npos ? "" : target.substr(mark + 1);
    const std::string quoted = "\"" + std::string(wanted) + "\"";
    std::optional<std::string> value;
    while (!query.empty()) {
        const auto end = std::min(query.find('&'), query.size());
        const std::string_view part = query.substr(0, end);
        query = end == query.size() ? "" : query.substr(end + 1);
        const auto equals = part.find('=');
        const std::string_view name = part.substr(0, equals);
        if (name != wanted) {
            return invalid("unknown query parameter " + shown(name) + std::string(usage));
        }
        if (value) {
            return invalid("query parameter " + quoted + " is given more than once");
        }
        if (equals == std::string_view::npos) {
            return invalid("query parameter " + quoted + " has no value" + std::string(usage));
        }
        auto decoded = percent_decoded(part.substr(equals + 1));
        if (!decoded) {
            return invalid("query parameter " + quoted + ": " + decoded.failure().message);
        }
        value = std::move(*decoded);
    }
    if (!value) {
        return invalid("missing query parameter " + quoted + std::string(usage));
    }
    return std::move(*value);
}

result<std::string> percent_decoded(std::string_view text) {
    std::string decoded;
    decoded.reserve(text.size());
    for (std::size_t index = 0; index < text.size(); ++index) {
        const char c = text[index];
        if (c == '%') {
            const int high = index + 1 < text.size() ? hex_digit_value(text[index + 1]) : -1;
            const int low = index + 2 < text.size() ? hex_digit_value(text[index + 2]) : -1;
            if (high < 0 || low < 0) {
                return make_error(errc::invalid_argument,
                                  "bad escape " + shown(text.substr(index, 3)) + " at byte " +
                                      std::to_string(index) +
                                      " (% must be followed by two hex digits)");
            }
            decoded += static_cast<char>(high * 16 + low);
            index += 2;
            continue;
        }
        if (c == '+') {
            return make_error(errc::invalid_argument,
                              "'+' at byte " + std::to_string(index) +
                                  " is ambiguous: write %2B for a plus sign or %20 for a space");
        }
        if (!allowed_in_query(c)) {
            return make_error(errc::invalid_argument,
                              "byte " + std::to_string(index) + " (" +
                                  shown(text.substr(index, 1)) + ") must be percent-encoded");
        }
        decoded += c;
    }
    REEF_ASSERT(decoded.size() <= text.size());
    return decoded;
}

} // namespace reef::control
