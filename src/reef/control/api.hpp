#pragma once
// The control API (docs/formats/control-api.md) as a pure mapping from one HTTP request to one
// response plus, for commands, what the runtime must do. No I/O: the runtime's control server
// parses HTTP and executes the returned command; tests call handle() directly.
// DHT requests are answered later: handle() returns their command with no reply, the runtime
// starts the node operation, and formats its answer with dht_reply() (dht_api.hpp) when the
// node reports the operation done. KV requests likewise: kv_reply() (kv_api.hpp) formats the
// node's kv_done.
//
// Thread-safety: pure functions over a const node.
// Every request is untrusted: bodies are size-checked, parsed, and validated field by field, and
// every rejection is a 4xx with {"error": {"code", "message"}} saying what was wrong.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "reef/base/ids.hpp"
#include "reef/base/result.hpp"
#include "reef/base/time.hpp"
#include "reef/replica/kv.hpp"

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
    int status = 200; // 0 only in an outcome whose command answers later
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

/// Sign and publish a record under this node's key space (node::dht_put). Validated: name
/// 1..128 bytes not starting with "reef.", value at most 1024 bytes, ttl 0 (the node's default
/// lifetime) or 1..604800 seconds.
struct dht_put_command {
    std::string name;
    std::string value;
    std::uint64_t ttl_seconds = 0;
};
/// Read a record (node::dht_get). `key` is always set; `publisher` and `name` when the request
/// named the record that way (for messages), else zero and empty.
struct dht_get_command {
    id256 key;
    node_id publisher;
    std::string name;
};
/// The closest live nodes to `target` (node::dht_closest).
struct dht_closest_command {
    node_id target;
};
/// Node `id`'s address record (node::dht_get of dht::node_addresses_key(id)).
struct dht_find_command {
    node_id id;
};

/// Run `body` on the kv register `key` (node::kv_submit). Validated: key 1..256 bytes, values at
/// most replica::kv::value_size_max bytes. `op` is "get", "put", "cas" or "incr" (for answers).
struct kv_command {
    std::string op;
    std::string key;
    replica::kv::command body;
    /// The client's own request id ("request" in the body), so its retries apply once; none:
    /// the node assigns one.
    std::optional<replica::request_id> request;
};

/// A request to an actor (node::actor_submit): `request` is the validated actors request object
/// as JSON text ("op" spawn, deliver, inspect or steer); only a spawn may create its group.
/// `verb` names it for answers and logs ("spawn", "send", "state", "pause", ...).
struct actor_command {
    std::string verb;
    std::string name;
    std::string request;
    bool may_create = false;
};

using command = std::variant<std::monostate, join_command, leave_command, dht_put_command,
                             dht_get_command, dht_closest_command, dht_find_command, kv_command,
                             actor_command>;

/// A command answered when its operation ends (a DHT or kv command), not by the outcome's reply.
bool answers_later(const command& action);

struct outcome {
    /// The answer to send; for a command that answers_later(), empty (status 0).
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
