#pragma once
// The control API's HTTP/1.1 server: a Unix socket (DATA_DIR/control.sock, mode 0600) and,
// optionally, a loopback TCP port. It parses requests with http_parser and hands each complete
// one to a handler on the io_context's thread, with a responder. The handler (runtime::daemon,
// through control::handle) answers through the responder, at once or later (a DHT operation
// answers when it finishes). One request per connection (`Connection: close`).
//
// Thread-safety: every method must be called on the io_context's thread; handlers run there,
// and responders must be called there too.
//
// Untrusted input, bounded: headers at most header_size_max bytes, bodies at most
// body_size_max, each request read within request_timeout and answered within answer_timeout
// (else 504), at most connections_max connections served at once (the next ones get 503 until
// one ends), so at most connections_max answers are pending. Malformed HTTP gets a 400 and the
// connection is closed; none of it can stop the server.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "reef/base/result.hpp"
#include "reef/base/time.hpp"
#include "reef/control/api.hpp"

namespace asio {
class io_context;
} // namespace asio

namespace reef::runtime {

struct control_server_config {
    /// Unix socket path. A stale socket file there is replaced; any other file is refused.
    std::string socket_path;
    /// Loopback "HOST:PORT" for a TCP listener (port 0: any free port); empty: none.
    std::string tcp_address;
    std::size_t header_size_max = 8 * 1024;
    std::size_t body_size_max = control::body_size_max;
    /// Bounds reading one request (headers and body); then 408.
    duration request_timeout = duration::seconds(5);
    /// Bounds the handler's answer once the request is read; then 504. It must exceed the
    /// longest operation a handler waits for (the DHT's operation_timeout, 8 s).
    duration answer_timeout = duration::seconds(15);
    std::size_t connections_max = 64;
};

struct control_server_stats {
    std::uint64_t requests_answered = 0; // by the handler
    std::uint64_t requests_refused = 0;  // malformed, too large, timed out, or busy
    std::uint64_t answers_timed_out = 0; // 504: no answer within answer_timeout
    std::uint64_t answers_discarded = 0; // came after a 504, the connection's end, or close()
    std::size_t connections_open = 0;
};

class control_server {
public:
    /// Delivers the answer to one request. Call it at most once (asserted), on the io thread,
    /// at any time: after the 504, the connection's end or close(), it does nothing.
    using responder = std::function<void(control::response)>;
    /// Called once per complete request. It may call the responder before returning or keep it
    /// and call it later; an exception it throws becomes a 500.
    using handler = std::function<void(const control::request&, responder)>;

    control_server(asio::io_context& io, control_server_config limits, handler on_request);
    ~control_server();
    control_server(const control_server&) = delete;
    control_server& operator=(const control_server&) = delete;

    /// Bind and start accepting, with a clear message on failure ("cannot listen on
    /// 127.0.0.1:7500: address already in use", "control socket path ... is too long").
    [[nodiscard]] status start();
    /// The bound TCP "host:port" (port 0 resolved); empty without a TCP listener.
    std::string tcp_address() const;
    /// Stop accepting, close every connection, and remove the socket file.
    void close();

    control_server_stats stats() const;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace reef::runtime
