#pragma once
// One blocking HTTP/1.1 request to a node's control API over its Unix socket
// (docs/formats/control-api.md), bounded by one deadline for connect, send and receive and by a
// maximum answer size. Thread-safety: stateless; each call owns its socket and io_context.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace reef::sdk::detail {

/// Answers larger than this are refused (job states are a few KiB).
inline constexpr std::size_t answer_size_max = 4U << 20U;

struct http_answer {
    int status_code = 0;
    std::string body;
};

/// Sends `method target` with `json_body` (empty: none) and reads the answer. Throws
/// reef::sdk::error when the socket cannot be reached, the deadline passes, or the answer is not
/// HTTP.
http_answer http_call(const std::string& socket_path, std::string_view method,
                      std::string_view target, std::string_view json_body,
                      std::chrono::milliseconds timeout);

/// http_call() whose answer must be 2xx with a JSON object body; anything else throws
/// reef::sdk::error carrying the node's "error" message.
nlohmann::json call_json(const std::string& socket_path, std::string_view method,
                         std::string_view target, const nlohmann::json& body,
                         std::chrono::milliseconds timeout);

/// `text` for a URL query: every byte but A-Z a-z 0-9 - . _ ~ as %XX.
std::string percent_encoded(std::string_view text);

/// Splits a complete HTTP response; throws reef::sdk::error for one that is not HTTP.
http_answer parse_answer(std::string_view raw);

} // namespace reef::sdk::detail
