#pragma once
// Request-body helpers shared by the control API's routes (api.cpp,
// dht_api.cpp). Internal to the control component: it exposes nlohmann::json,
// which stays out of the public headers.
//
// Thread-safety: pure functions.
// Every helper treats its input as untrusted: it never throws and never asserts
// on it, and every refusal is a 400 outcome whose message names what was wrong.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "reef/base/ids.hpp"
#include "reef/control/api.hpp"
#include "reef/replica/types.hpp"

namespace reef::control::detail {

using json = nlohmann::json;

/// JSON text of `value`; invalid UTF-8 is replaced rather than thrown on.
std::string dump(const json& value);

response ok_json(const json& value);
outcome reply_only(response reply);
/// A 400 invalid_argument outcome with `message`.
outcome invalid(std::string_view message);

/// `text` quoted, at most 40 bytes, with control and non-ASCII bytes shown as
/// '?'.
std::string shown(std::string_view text);

/// The body as a JSON object (an empty body is an empty object), or the 400 to
/// send.
std::variant<json, outcome> parse_object(const std::string& body);

/// A 400 naming the first field of `body` that is not in `known`.
std::optional<outcome> refuse_unknown_fields(const json& body,
                                             std::initializer_list<std::string_view> known);

/// The string field `name` (missing, or not a string: the 400 to send).
std::variant<std::string, outcome> string_field(const json& body, std::string_view name);

/// The field `name` as 64 hex digits (missing, not a string, or not 64 hex
/// digits: the 400).
std::variant<id256, outcome> id_field(const json& body, std::string_view name);

/// The integer field `name` within [low, high] (not an integer or out of range:
/// the 400). The field must be present.
std::variant<std::uint64_t, outcome> integer_field(const json& body, std::string_view name,
                                                   std::uint64_t low, std::uint64_t high);

/// The optional "request": {"client": C, "sequence": S}, both non-zero unsigned 64-bit
/// integers: a client that retries with the same pair gets its command applied once.
std::variant<std::optional<replica::request_id>, outcome> request_of(const json& body);

} // namespace reef::control::detail
