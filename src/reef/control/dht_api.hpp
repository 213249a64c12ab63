#pragma once
// The DHT part of the control API (docs/formats/control-api.md, "DHT"): parsing
// and validating the /v1/dht/* requests into commands, and formatting a
// finished operation as the HTTP answer.
//
// Thread-safety: pure functions.
// Request bodies are untrusted: every field is checked and every rejection is a
// 400 naming the field. Operation results come from the node and are trusted (a
// result that does not match the command that started it is a bug, asserted).

#include <string_view>
#include <variant>

#include "reef/base/result.hpp"
#include "reef/control/api.hpp"
#include "reef/dht/kademlia.hpp"

namespace reef::control {

/// Longest record lifetime a put may ask for (the record store's
/// lifetime_max_seconds default).
inline constexpr std::uint64_t dht_ttl_seconds_max = 7 * 24 * 3600;
/// Record names with this prefix belong to Reef itself (node address records);
/// puts refuse them.
inline constexpr std::string_view dht_reserved_prefix = "reef.";

/// What a DHT operation in flight was started for.
using dht_command =
    std::variant<dht_put_command, dht_get_command, dht_closest_command, dht_find_command>;

/// Whether `path` is one of the DHT routes (all POST).
bool is_dht_path(std::string_view path);

/// A POST to a DHT route: the command to start (reply empty, status 0), or the
/// 400 to send. `path` must satisfy is_dht_path() (asserted).
outcome handle_dht(std::string_view path, const request& incoming);

/// `action` as a dht_command; it must be one (answers_later(), asserted).
dht_command as_dht_command(const command& action);

/// The answer to `asked` once its operation finished with `done`: 200 with the
/// result, or the error (404 not found, 503 unavailable, 504 timeout, ...) with
/// a message naming what was asked.
response dht_reply(const dht_command& asked, const dht::operation_done& done);

/// The answer when the node refused to start the operation (resource_exhausted,
/// invalid_argument, ...).
response dht_refused(const dht_command& asked, const error& why);

} // namespace reef::control
