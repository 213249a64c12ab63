#pragma once
// Authenticated, encrypted node-to-node sessions over TCP, driven by one asio io_context.
// This is the I/O shell around the sans-IO transport (transport/handshake.hpp and
// transport/secure_channel.hpp): it owns sockets, timers, reconnect backoff and per-peer queues.
//
// Thread-safety: every method must be called on the io_context's thread; handlers run there too.
//
// Guarantees:
//  - a payload handed to a receive handler came from the node whose id is `from`, through a session
//    whose peer proved it holds the cluster key and the private key behind `from`;
//  - at most one established session per peer pair (simultaneous dials are resolved by id order);
//  - a malformed, oversized or unauthenticated frame closes only that session, and is logged;
//  - per-peer send queues are bounded: a full queue drops the new payload and counts it
//    (membership traffic is loss-tolerant; callers that need delivery retry at their layer).

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "reef/base/ids.hpp"
#include "reef/base/result.hpp"
#include "reef/base/time.hpp"

namespace asio {
class io_context;
} // namespace asio

namespace reef::crypto {
class identity;
struct cluster_key;
} // namespace reef::crypto

namespace reef::runtime {

struct network_config {
    /// "host:port" to listen on; port 0 picks a free port (see listen_address()).
    std::string listen_address = "127.0.0.1:7400";
    /// The "host:port" this node states in its handshakes, which peers use to reach it again;
    /// empty = the bound listen address. Set it when peers must dial another address (NAT, a
    /// wildcard listen address). A peer that states 0.0.0.0 or :: is reached at the host it
    /// connected from.
    std::string advertise_address;
    /// Largest frame accepted or sent (ciphertext, after the 4-byte length).
    std::size_t frame_size_max = 1U << 20U;
    /// Payloads queued per peer while connecting or while the socket is busy.
    std::size_t send_queue_max = 1024;
    /// Established plus in-handshake sessions; further inbound connections are refused.
    std::size_t sessions_max = 4096;
    duration handshake_timeout = duration::seconds(5);
    duration reconnect_backoff_min = duration::milliseconds(100);
    duration reconnect_backoff_max = duration::seconds(5);
    /// A session with no traffic in either direction for this long is closed.
    duration idle_timeout = duration::seconds(120);

    /// invalid_argument naming the first limit that is out of range. A peer_network built from
    /// an invalid config refuses to listen (listen() returns this error) and drops every send.
    [[nodiscard]] status validate() const;
};

struct network_stats {
    std::uint64_t sessions_established = 0;
    std::uint64_t handshakes_refused = 0; // wrong cluster key, bad signature, id mismatch, ...
    std::uint64_t frames_rejected = 0;    // oversized or failed authentication after handshake
    std::uint64_t payloads_sent = 0;
    std::uint64_t payloads_received = 0;
    std::uint64_t payloads_dropped = 0;   // queue full or peer unreachable
    std::size_t sessions_open = 0;
};

class peer_network {
public:
    /// Called for every payload received from an authenticated peer. `from_address` is where it
    /// listens: the address it stated in its (authenticated) handshake, with 0.0.0.0 or ::
    /// replaced by the host it connected from; empty when it stated none.
    using receive_handler =
        std::function<void(const node_id& from, const std::string& from_address,
                           std::span<const std::uint8_t>)>;
    /// Called when payloads for `to` (zero id = unknown, dialled by address) could not be
    /// delivered because the address could not be reached or the handshake failed.
    using unreachable_handler =
        std::function<void(const node_id& to, const std::string& address, const error& why)>;

    peer_network(asio::io_context& io, network_config limits, const crypto::identity& self,
                 const crypto::cluster_key& cluster, std::uint64_t seed);
    ~peer_network();
    peer_network(const peer_network&) = delete;
    peer_network& operator=(const peer_network&) = delete;

    void set_handlers(receive_handler on_receive, unreachable_handler on_unreachable);
    /// Bind and start accepting. Fails with a clear message (e.g. "address in use").
    [[nodiscard]] status listen();
    /// The bound "host:port" (resolves port 0).
    std::string listen_address() const;

    /// Queue `payload` for node `to` at `address` (dial if no session exists). With a zero `to`,
    /// the session is keyed by address and accepts whichever authenticated node answers.
    void send(const node_id& to, const std::string& address, std::vector<std::uint8_t> payload);

    /// Stop accepting and close every session after a best-effort flush of queued payloads.
    void close();

    network_stats stats() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace reef::runtime
