#pragma once
// The kv part of the control API (docs/formats/control-api.md, "KV"): parsing and validating a
// POST /v1/kv body into a kv_command, formatting the node's answer (a kv_done) as the HTTP
// answer, and GET /v1/kv/group?key=KEY, this node's view of a key's replica group.
//
// Thread-safety: pure functions (handle_kv_group reads a const node).
// Request bodies and query strings are untrusted: every field is checked and every rejection is
// a 400 naming the field. Answers come from the node and are trusted.

#include <string>
#include <string_view>
#include <variant>

#include "reef/base/result.hpp"
#include "reef/control/api.hpp"
#include "reef/replica/kv.hpp"

namespace reef::control {

inline constexpr std::string_view kv_path = "/v1/kv";
inline constexpr std::string_view kv_group_path = "/v1/kv/group";

/// A POST to /v1/kv: the command to start (reply empty, status 0), or the 400 to send.
outcome handle_kv(const request& incoming);

/// The answer to `asked` once the node finished it: 200 {"key", "op", "ok", "value", "error"?},
/// or the error (504 timeout, 503 unavailable, 429 resource_exhausted, ...) naming the key.
response kv_reply(const kv_command& asked, const result<replica::kv::answer>& answer);

/// The answer when the node refused to start the request.
response kv_refused(const kv_command& asked, const error& why);

/// A GET of /v1/kv/group?key=KEY (KEY percent-encoded, 1..256 bytes once decoded), answered at
/// once from this node's view, without asking other nodes: 200 {"key", "group", "hosted"} and,
/// when this node hosts the group, its "members" (sorted), "epoch", "leader", "role"
/// ("leader", "follower" or "changing"), "commit_index", "applied_index" and "last_index".
/// A missing, repeated or malformed key, or another parameter: 400.
outcome handle_kv_group(const request& incoming, const node::node& local);

/// The one parameter `name` of `target`'s query string, percent-decoded; any other parameter, a
/// repeated or missing one, or a bad escape is a 400 whose message ends with `usage`.
std::variant<std::string, outcome> query_parameter(std::string_view target,
                                                   std::string_view name,
                                                   std::string_view usage);

/// `text` with every %XX escape decoded (RFC 3986). Strict: a '%' not followed by two hex
/// digits, a '+' (a space in HTML forms, a plus sign elsewhere: write %20 or %2B), and a control,
/// space or non-ASCII byte are invalid_argument errors naming the offset.
result<std::string> percent_decoded(std::string_view text);

} // namespace reef::control
