#pragma once
// The control API (docs/formats/control-api.md) as a pure mapping from one HTTP request to one
// response plus, for commands, what the runtime must do. No I/O: the runtime's control server
// parses HTTP and executes the returned command; tests call handle() directly.
//
// Thread-safety: pure functions over a const node.
// Every request is untrusted: bodies are size-checked, parsed, and validated field by field, and
// every rejection is a 4xx with {"error": {"code", "message"}} saying what was wrong.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "reef/base/result.hpp"
#include "reef/base/time.hpp"

namespace reef::node {
class node;
} // namespace reef::node

namespace reef::control {

/// Largest request body accepted.
inline constexpr std::size_t body_size_max = 64 * 1024;
/// Deepest JSON nesting accepted in a request body (the API's bodies are flat objects).
inline constexpr std::size_t json_depth_max = 16;

struct request {
    std::string method; // "GET", "POST", ... as sent
    std::string target; // "/v1/status", possibly with "?query" (ignored)
    std::string body;
};

struct response {
    int status = 200;
    std::string body;  // JSON text
    std::string allow; // for 405: the methods the path accepts, e.g. "GET"
};

/// Transport counters, passed in by the runtime (the node does not own the network).
struct network_facts {
    std::uint64_t sessions_open = 0;
    std::uint64_t sessions_established = 0;
    std::uint64_t handshakes_refused = 0;
    std::uint64_t frames_rejected = 0;
    std::uint64_t payloads_sent = 0;
    std::uint64_t payloads_received = 0;
    std::uint64_t payloads_dropped = 0;
};

/// What only the runtime knows.
struct runtime_facts {
    instant now;
    std::int64_t pid = 0;
    duration uptime;
    std::string data_dir;
    network_facts network;
};

struct join_command {
    std::string address; // validated "HOST:PORT"
};
struct leave_command {};
using command = std::variant<std::monostate, join_command, leave_command>;

struct outcome {
    response reply;
    command action; // executed by the runtime after (or as) it sends the reply
};

outcome handle(const request& incoming, const node::node& local, const runtime_facts& facts);

/// An error response in the API's format. The runtime's HTTP server uses it for requests that
/// never reach handle() (malformed HTTP, oversized headers, too many connections, timeouts).
response error_response(int status, errc code, std::string_view message);

/// The HTTP status an operating error maps to (invalid_argument -> 400, not_found -> 404, ...).
int http_status_of(errc code);
/// "OK", "Bad Request", ... for the status line.
std::string_view reason_phrase(int status);

} // namespace reef::control
