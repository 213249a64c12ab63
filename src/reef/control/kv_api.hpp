#pragma once
// The kv part of the control API (docs/formats/control-api.md, "KV"): parsing and validating a
// POST /v1/kv body into a kv_command, and formatting the node's answer (a kv_done) as the HTTP
// answer.
//
// Thread-safety: pure functions.
// Request bodies are untrusted: every field is checked and every rejection is a 400 naming the
// field. Answers come from the node and are trusted.

#include <string_view>

#include "reef/base/result.hpp"
#include "reef/control/api.hpp"
#include "reef/replica/kv.hpp"

namespace reef::control {

inline constexpr std::string_view kv_path = "/v1/kv";

/// A POST to /v1/kv: the command to start (reply empty, status 0), or the 400 to send.
outcome handle_kv(const request& incoming);

/// The answer to `asked` once the node finished it: 200 {"key", "op", "ok", "value", "error"?},
/// or the error (504 timeout, 503 unavailable, 429 resource_exhausted, ...) naming the key.
response kv_reply(const kv_command& asked, const result<replica::kv::answer>& answer);

/// The answer when the node refused to start the request.
response kv_refused(const kv_command& asked, const error& why);

} // namespace reef::control
