#pragma once
// A small blocking HTTP/1.1 client for the control API (docs/formats/control-api.md): one request
// per connection, over a Unix socket or TCP, bounded by one deadline for connect, send and
// receive, and by a maximum response size. Thread-safety: stateless; each call owns its socket.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "address.hpp"
#include "reef/base/result.hpp"

namespace reef::cli {

/// Answers larger than this are refused (the control API's answers are a few KiB per member).
inline constexpr std::size_t response_size_max = 16 * 1024 * 1024;

struct control_endpoint {
    bool is_unix = true;
    std::string socket_path; // is_unix
    host_port tcp;           // !is_unix

    /// The socket path or "host:port", for messages.
    std::string text() const;
};

struct http_response {
    int status_code = 0;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> headers; // names lower-cased
    std::string body;

    /// The first header with this (lower-case) name, or empty.
    std::string_view header(std::string_view name) const;
};

/// Parses a complete response (status line, headers, and a body framed by Content-Length,
/// chunked encoding, or the end of the connection). Pure; rejects malformed input with a reason.
result<http_response> parse_http_response(std::string_view raw);

/// The request bytes for `method target` with an optional JSON body.
std::string format_http_request(std::string_view method, std::string_view target,
                                std::string_view host, std::string_view json_body);

/// Sends one request and reads the whole answer.
/// Errors: `unavailable` when nothing listens there (ENOENT, ECONNREFUSED), `permission_denied`
/// when the socket belongs to another user, `timeout` past the deadline, `io_error` otherwise,
/// `invalid_argument` for an answer that is not HTTP.
result<http_response> http_call(const control_endpoint& endpoint, std::string_view method,
                                std::string_view target, std::string_view json_body,
                                std::chrono::milliseconds timeout);

} // namespace reef::cli
