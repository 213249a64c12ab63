#include "reef/runtime/peer_network.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <span>
#include <utility>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "reef/base/address.hpp"
#include "reef/base/assert.hpp"
#include "reef/base/bounded.hpp"
#include "reef/base/prng.hpp"
#include "reef/crypto/cluster_key.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/runtime/entropy.hpp"
#include "reef/runtime/log.hpp"
#include "reef/transport/handshake.hpp"
#include "reef/transport/session.hpp"

// The I/O shell around transport::session. One network_core per peer_network; every handler
// captures a shared_ptr to it (and to its connection), so a handler that runs after the
// peer_network was destroyed finds `stopped_` set and does nothing.
//
// Model:
//  - a `connection` is one TCP stream (dialled or accepted) carrying one transport::session;
//  - a `peer_state` is what we know about one remote node (or, before its id is known, one
//    address): its bounded payload queue, its active session, its dial in progress and its
//    reconnect backoff;
//  - at most one established connection per peer is `active` (carries our sends). When two
//    complete for the same peer, both ends keep the same one: the connection dialled by the node
//    with the lower id, or the newer one if both were dialled from the same side. The loser is
//    kept readable for a short grace period (frames already in flight are delivered) and closed.
//  - one sweep timer enforces handshake timeouts, idle timeouts and the loser's grace period.

namespace reef::runtime {

namespace {

using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using std::chrono::nanoseconds;

constexpr std::size_t read_chunk_size = 64U * 1024U;
constexpr std::size_t write_batch_size_max = 256U * 1024U;
constexpr nanoseconds retire_grace = std::chrono::milliseconds(500);
constexpr nanoseconds accept_retry_delay = std::chrono::milliseconds(100);

nanoseconds to_chrono(duration d) { return nanoseconds(d.ns()); }

std::string endpoint_text(const tcp::endpoint& endpoint) {
    const auto address = endpoint.address();
    if (address.is_v6()) {
        return "[" + address.to_string() + "]:" + std::to_string(endpoint.port());
    }
    return address.to_string() + ":" + std::to_string(endpoint.port());
}

std::string seconds_text(duration d) { return fmt::format("{:g} s", d.sec()); }

struct peer_state;

struct connection {
    enum class phase : std::uint8_t { connecting, handshaking, established, closed };

    connection(asio::io_context& io, std::uint64_t id, bool dialled)
        : serial(id), outbound(dialled), socket(io), resolver(io), read_buffer(read_chunk_size) {}

    std::uint64_t serial;
    bool outbound;
    tcp::socket socket;
    tcp::resolver resolver;
    /// For logs: the dialled address, or the remote endpoint of an accepted connection.
    std::string remote;
    asio::ip::address remote_ip;
    phase state = phase::connecting;
    std::optional<transport::session> session;
    /// The dial target (outbound), then the peer once established.
    std::weak_ptr<peer_state> target;
    node_id peer;
    /// Once established: the address the peer stated in its handshake (0.0.0.0 or :: replaced
    /// by the host it connected from); empty when it stated none or an invalid one.
    std::string peer_listen_address;
    /// Addresses indexed for this connection's peer while it is active.
    std::vector<std::string> indexed_addresses;
    bool retiring = false;
    steady::time_point retire_at{};
    bool close_when_flushed = false;
    steady::time_point closing_since{};
    std::vector<std::uint8_t> out;
    std::vector<std::uint8_t> writing;
    bool write_in_progress = false;
    std::vector<std::uint8_t> read_buffer;
    steady::time_point started{};
    steady::time_point last_activity{};
};

struct peer_state {
    peer_state(asio::io_context& io, node_id who, std::string where, std::size_t queue_max,
               nanoseconds backoff_min)
        : id(who), address(std::move(where)), queue(queue_max), backoff(backoff_min),
          retry_timer(io) {}

    node_id id; // zero while keyed by address only
    std::string address;
    bounded_queue<std::vector<std::uint8_t>> queue;
    std::shared_ptr<connection> active;
    std::shared_ptr<connection> dialing;
    nanoseconds backoff;
    steady::time_point next_dial_at{};
    asio::steady_timer retry_timer;
    bool retry_armed = false;
};

using connection_ptr = std::shared_ptr<connection>;
using peer_ptr = std::shared_ptr<peer_state>;

} // namespace

status network_config::validate() const {
    auto parsed = parse_host_port(listen_address, port_zero::allowed);
    if (!parsed.ok()) {
        return make_error(errc::invalid_argument, "listen_address: " + parsed.failure().message);
    }
    if (!advertise_address.empty()) {
        auto advertised = parse_host_port(advertise_address);
        if (!advertised.ok()) {
            return make_error(errc::invalid_argument,
                              "advertise_address: " + advertised.failure().message);
        }
    }
    if (frame_size_max <= crypto::aead_tag_size_bytes || frame_size_max > (1U << 30U)) {
        return make_error(errc::invalid_argument, "frame_size_max must be 17 bytes .. 1 GiB");
    }
    if (send_queue_max == 0) {
        return make_error(errc::invalid_argument, "send_queue_max must be positive");
    }
    if (sessions_max == 0) {
        return make_error(errc::invalid_argument, "sessions_max must be positive");
    }
    if (handshake_timeout <= duration::zero() || idle_timeout <= duration::zero()) {
        return make_error(errc::invalid_argument, "timeouts must be positive");
    }
    if (reconnect_backoff_min <= duration::zero() ||
        reconnect_backoff_max < reconnect_backoff_min) {
        return make_error(errc::invalid_argument,
                          "reconnect backoff must satisfy 0 < min <= max");
    }
    return {};
}

namespace {

class network_core : public std::enable_shared_from_this<network_core> {
public:
    network_core(asio::io_context& io, network_config limits, const crypto::identity& self,
                 const crypto::cluster_key& cluster, std::uint64_t seed)
        : io_(io), limits_(std::move(limits)), config_status_(limits_.validate()), self_(self),
          cluster_(cluster), random_(seed), acceptor_(io), sweep_timer_(io),
          accept_retry_timer_(io) {
        channel_.frame_size_max = limits_.frame_size_max;
        if (config_status_.ok()) {
            REEF_ASSERT(channel_.validate().ok());
        }
    }

    ~network_core() { crypto::wipe(cluster_.bytes); }

    peer_network::receive_handler on_receive;
    peer_network::unreachable_handler on_unreachable;

    status listen();
    std::string listen_address() const { return bound_; }
    void send(const node_id& to, const std::string& address, std::vector<std::uint8_t> payload);
    void close();
    void stop_now();
    network_stats stats() const {
        network_stats out = stats_;
        out.sessions_open = active_count_;
        return out;
    }

private:
    // dialling
    peer_ptr lookup(const node_id& to, const std::string& address);
    bool make_room();
    void schedule_dial(const peer_ptr& p);
    void dial(const peer_ptr& p);
    void on_connected(const connection_ptr& c, const asio::error_code& ec);
    void dial_failed(const peer_ptr& p, const error& why);
    // accepting
    void accept();
    void on_accept(const asio::error_code& ec, tcp::socket socket);
    void refuse_busy(tcp::socket socket);
    // sessions
    void start_session(const connection_ptr& c);
    void start_read(const connection_ptr& c);
    void on_read(const connection_ptr& c, const asio::error_code& ec, std::size_t size);
    void on_established(const connection_ptr& c);
    peer_ptr adopt(const connection_ptr& c);
    bool keeps_new(const connection& existing, const connection& fresh) const;
    void activate(const peer_ptr& p, const connection_ptr& c);
    void retire(connection_ptr c);
    /// Seals queued payloads into the active session's output and starts a write. While a write
    /// is in flight it waits for its completion, unless `now` (used by close()).
    void pump(const peer_ptr& p, bool now = false);
    /// Seals one payload into c's output and counts it; false (after failing the connection
    /// and counting the payload dropped) when the session refuses it.
    bool seal(const connection_ptr& c, std::span<const std::uint8_t> payload);
    void flush(const connection_ptr& c);
    void on_written(const connection_ptr& c, const asio::error_code& ec);
    /// The start of every read or write completion: false when the network stopped, the
    /// connection closed or the operation failed (which fails the connection); otherwise it
    /// notes the activity.
    bool io_completed(const connection_ptr& c, const asio::error_code& ec);
    void on_io_error(const connection_ptr& c, const asio::error_code& ec);
    void fail_connection(connection_ptr c, const error& why);
    void close_after_flush(connection_ptr c);
    void close_connection(connection_ptr c);
    void detach(connection_ptr c, bool redial = true);
    std::string normalize_stated(const std::string& stated, const connection& c) const;
    // timers
    void arm_sweep();
    void on_sweep();
    void notify_unreachable(const node_id& to, const std::string& address, const error& why);
    nanoseconds jittered(nanoseconds base) {
        return nanoseconds(static_cast<std::int64_t>(static_cast<double>(base.count()) *
                                                     (0.75 + 0.5 * random_.unit())));
    }

    asio::io_context& io_;
    network_config limits_;
    status config_status_;
    transport::channel_limits channel_;
    crypto::identity self_;
    crypto::cluster_key cluster_;
    prng random_;
    tcp::acceptor acceptor_;
    asio::steady_timer sweep_timer_;
    asio::steady_timer accept_retry_timer_;
    bool sweep_armed_ = false;
    bool listening_ = false;
    bool closed_ = false;  // close() called: no new sessions, no new sends
    bool stopped_ = false; // destroyed: no handler may run
    std::string bound_;      // the bound listen address
    std::string advertised_; // what handshakes state
    network_stats stats_;
    std::size_t active_count_ = 0;
    std::uint64_t next_serial_ = 1;
    std::map<std::uint64_t, connection_ptr> connections_;
    std::map<node_id, peer_ptr> by_id_;
    std::map<std::string, peer_ptr> by_address_;
    /// Address (stated in a handshake, or dialled) -> node with an active session there.
    std::map<std::string, node_id> address_index_;
    std::vector<std::uint8_t> payload_;
};

// ---- listening and accepting --------------------------------------------------------------------

status network_core::listen() {
    if (!config_status_.ok()) {
        return config_status_;
    }
    if (closed_) {
        return make_error(errc::failed_precondition, "the peer network is closed");
    }
    if (listening_) {
        return make_error(errc::failed_precondition, "already listening on " + bound_);
    }
    auto parsed = parse_host_port(limits_.listen_address, port_zero::allowed);
    REEF_ASSERT(parsed.ok()); // validate() checked it
    asio::error_code ec;
    tcp::endpoint endpoint;
    const auto ip = asio::ip::make_address(parsed->host, ec);
    if (!ec) {
        endpoint = tcp::endpoint(ip, parsed->port);
    } else {
        tcp::resolver resolver(io_);
        auto results = resolver.resolve(parsed->host, std::to_string(parsed->port), ec);
        if (ec || results.empty()) {
            return make_error(errc::unavailable, "cannot listen on " + limits_.listen_address +
                                                     ": cannot resolve host: " + ec.message());
        }
        endpoint = results.begin()->endpoint();
    }
    const auto fail = [&](std::string_view step) {
        asio::error_code ignored;
        acceptor_.close(ignored);
        return make_error(errc::unavailable, "cannot listen on " + limits_.listen_address + ": " +
                                                 std::string(step) + ": " + ec.message());
    };
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) {
        return fail("open");
    }
    acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (ec) {
        return fail("set SO_REUSEADDR");
    }
    acceptor_.bind(endpoint, ec);
    if (ec) {
        return fail("bind");
    }
    const int backlog = static_cast<int>(std::min<std::size_t>(limits_.sessions_max, 4096));
    acceptor_.listen(backlog, ec);
    if (ec) {
        return fail("listen");
    }
    const auto bound = acceptor_.local_endpoint(ec);
    if (ec) {
        return fail("local endpoint");
    }
    host_port stated = *parsed;
    stated.port = bound.port();
    bound_ = stated.text();
    advertised_ = limits_.advertise_address.empty() ? bound_ : limits_.advertise_address;
    listening_ = true;
    log_info("listening for peers on {} (stated to peers as {}, cluster key fingerprint {})",
             bound_, advertised_, cluster_.fingerprint());
    accept();
    return {};
}

void network_core::accept() {
    REEF_ASSERT(listening_);
    acceptor_.async_accept(
        [core = shared_from_this()](const asio::error_code& ec, tcp::socket socket) {
            core->on_accept(ec, std::move(socket));
        });
}

void network_core::on_accept(const asio::error_code& ec, tcp::socket socket) {
    if (stopped_ || closed_) {
        return;
    }
    if (ec) {
        if (ec == asio::error::operation_aborted) {
            return;
        }
        // Out of descriptors and the like: back off briefly rather than spin.
        log_warn("accepting a peer connection failed: {}", ec.message());
        accept_retry_timer_.expires_after(accept_retry_delay);
        accept_retry_timer_.async_wait([core = shared_from_this()](const asio::error_code& e) {
            if (!e && !core->stopped_ && !core->closed_) {
                core->accept();
            }
        });
        return;
    }
    asio::error_code endpoint_ec;
    const auto remote_endpoint = socket.remote_endpoint(endpoint_ec);
    const std::string remote = endpoint_ec ? "an unknown address" : endpoint_text(remote_endpoint);
    if (connections_.size() >= limits_.sessions_max) {
        ++stats_.handshakes_refused;
        log_warn("refusing connection from {}: session limit ({}) reached", remote,
                 limits_.sessions_max);
        refuse_busy(std::move(socket));
        accept();
        return;
    }
    auto c = std::make_shared<connection>(io_, next_serial_++, false);
    c->socket = std::move(socket);
    c->remote = remote;
    c->remote_ip = remote_endpoint.address();
    c->started = steady::now();
    asio::error_code option_ec;
    c->socket.set_option(tcp::no_delay(true), option_ec);
    connections_.emplace(c->serial, c);
    start_session(c);
    arm_sweep();
    accept();
}

void network_core::refuse_busy(tcp::socket socket) {
    struct refusal {
        tcp::socket socket;
        std::vector<std::uint8_t> bytes;
    };
    auto holder = std::make_shared<refusal>(
        refusal{std::move(socket), transport::encode_refusal(transport::refusal_reason::busy)});
    asio::async_write(holder->socket, asio::buffer(holder->bytes),
                      [holder](const asio::error_code&, std::size_t) {
                          asio::error_code ignored;
                          holder->socket.close(ignored);
                      });
}

// ---- sending and dialling ---------------------------------------------------------------------

void network_core::send(const node_id& to, const std::string& address,
                        std::vector<std::uint8_t> payload) {
    if (stopped_ || closed_ || !config_status_.ok()) {
        ++stats_.payloads_dropped;
        return;
    }
    if (payload.size() > limits_.frame_size_max - crypto::aead_tag_size_bytes) {
        ++stats_.payloads_dropped;
        log_warn("dropping a {}-byte payload for {}: larger than the frame limit ({} bytes)",
                 payload.size(), to.is_zero() ? address : to.short_hex(), limits_.frame_size_max);
        return;
    }
    if (!to.is_zero() && to == self_.id()) {
        ++stats_.payloads_dropped;
        log_debug("dropping a payload addressed to this node itself");
        return;
    }
    const peer_ptr p = lookup(to, address);
    if (!p) {
        ++stats_.payloads_dropped;
        const bool no_address = address.empty();
        notify_unreachable(
            to, address,
            no_address ? make_error(errc::failed_precondition,
                                    "no address known for node " + to.short_hex() +
                                        " and no session with it")
                       : make_error(errc::resource_exhausted,
                                    "peer table full (sessions_max " +
                                        std::to_string(limits_.sessions_max) + ")"));
        return;
    }
    const connection_ptr c = p->active;
    if (c && !c->write_in_progress && p->queue.empty()) {
        if (seal(c, payload)) {
            flush(c);
        }
        return;
    }
    if (!p->queue.try_push(std::move(payload))) {
        ++stats_.payloads_dropped;
        log_debug("send queue for {} is full ({} payloads); dropping a payload",
                  p->id.is_zero() ? p->address : p->id.short_hex(), limits_.send_queue_max);
        return;
    }
    if (!p->active) {
        schedule_dial(p);
    }
}

peer_ptr network_core::lookup(const node_id& to, const std::string& address) {
    if (!to.is_zero()) {
        if (auto it = by_id_.find(to); it != by_id_.end()) {
            if (!address.empty()) {
                it->second->address = address;
            }
            return it->second;
        }
        if (address.empty() || !make_room()) {
            return nullptr;
        }
        auto p = std::make_shared<peer_state>(io_, to, address, limits_.send_queue_max,
                                              to_chrono(limits_.reconnect_backoff_min));
        by_id_.emplace(to, p);
        return p;
    }
    if (address.empty()) {
        return nullptr;
    }
    if (auto known = address_index_.find(address); known != address_index_.end()) {
        if (auto it = by_id_.find(known->second); it != by_id_.end() && it->second->active) {
            return it->second;
        }
    }
    if (auto it = by_address_.find(address); it != by_address_.end()) {
        return it->second;
    }
    if (!make_room()) {
        return nullptr;
    }
    auto p = std::make_shared<peer_state>(io_, node_id{}, address, limits_.send_queue_max,
                                          to_chrono(limits_.reconnect_backoff_min));
    by_address_.emplace(address, p);
    return p;
}

bool network_core::make_room() {
    if (by_id_.size() + by_address_.size() < limits_.sessions_max) {
        return true;
    }
    const auto idle = [](const peer_ptr& p) {
        return !p->active && !p->dialing && p->queue.empty() && !p->retry_armed;
    };
    for (auto it = by_address_.begin(); it != by_address_.end(); ++it) {
        if (idle(it->second)) {
            by_address_.erase(it);
            return true;
        }
    }
    for (auto it = by_id_.begin(); it != by_id_.end(); ++it) {
        if (idle(it->second)) {
            by_id_.erase(it);
            return true;
        }
    }
    return false;
}

void network_core::schedule_dial(const peer_ptr& p) {
    if (stopped_ || closed_ || p->active || p->dialing || p->queue.empty()) {
        return;
    }
    if (steady::now() >= p->next_dial_at) {
        dial(p);
        return;
    }
    if (p->retry_armed) {
        return;
    }
    p->retry_armed = true;
    p->retry_timer.expires_at(p->next_dial_at);
    p->retry_timer.async_wait([core = shared_from_this(), weak = std::weak_ptr<peer_state>(p)](
                                  const asio::error_code& ec) {
        auto target = weak.lock();
        if (!target) {
            return;
        }
        target->retry_armed = false;
        if (!ec && !core->stopped_) {
            core->schedule_dial(target);
        }
    });
}

void network_core::dial(const peer_ptr& p) {
    REEF_ASSERT(!p->active);
    REEF_ASSERT(!p->dialing);
    if (connections_.size() >= limits_.sessions_max) {
        dial_failed(p, make_error(errc::resource_exhausted,
                                  "session limit (" + std::to_string(limits_.sessions_max) +
                                      ") reached"));
        return;
    }
    auto parsed = parse_host_port(p->address);
    if (!parsed.ok()) {
        dial_failed(p, parsed.failure());
        return;
    }
    auto c = std::make_shared<connection>(io_, next_serial_++, true);
    c->remote = p->address;
    c->target = p;
    c->started = steady::now();
    p->dialing = c;
    connections_.emplace(c->serial, c);
    arm_sweep();
    asio::error_code ec;
    const auto ip = asio::ip::make_address(parsed->host, ec);
    if (!ec) {
        c->socket.async_connect(tcp::endpoint(ip, parsed->port),
                                [core = shared_from_this(), c](const asio::error_code& e) {
                                    core->on_connected(c, e);
                                });
        return;
    }
    c->resolver.async_resolve(
        parsed->host, std::to_string(parsed->port),
        [core = shared_from_this(), c](const asio::error_code& e,
                                       const tcp::resolver::results_type& results) {
            if (core->stopped_ || c->state == connection::phase::closed) {
                return;
            }
            if (e) {
                core->on_io_error(c, e);
                return;
            }
            asio::async_connect(
                c->socket, results,
                [core, c](const asio::error_code& connect_ec, const tcp::endpoint&) {
                    core->on_connected(c, connect_ec);
                });
        });
}

void network_core::on_connected(const connection_ptr& c, const asio::error_code& ec) {
    if (stopped_ || c->state == connection::phase::closed) {
        return;
    }
    if (ec) {
        on_io_error(c, ec);
        return;
    }
    asio::error_code ignored;
    c->socket.set_option(tcp::no_delay(true), ignored);
    c->remote_ip = c->socket.remote_endpoint(ignored).address();
    start_session(c);
}

void network_core::dial_failed(const peer_ptr& p, const error& why) {
    if (p->dialing) {
        p->dialing.reset();
    }
    const std::size_t dropped = p->queue.size();
    stats_.payloads_dropped += dropped;
    p->queue.clear();
    const auto now = steady::now();
    p->next_dial_at = now + jittered(p->backoff);
    p->backoff = std::min(p->backoff * 2, to_chrono(limits_.reconnect_backoff_max));
    notify_unreachable(p->id, p->address, why);
}

void network_core::notify_unreachable(const node_id& to, const std::string& address,
                                      const error& why) {
    // Posted, never called from inside send(): the handler may send again.
    asio::post(io_, [core = shared_from_this(), to, address, why] {
        if (!core->stopped_ && !core->closed_ && core->on_unreachable) {
            core->on_unreachable(to, address, why);
        }
    });
}

// ---- sessions -----------------------------------------------------------------------------------

void network_core::start_session(const connection_ptr& c) {
    crypto::key32 ephemeral{};
    fill_random(ephemeral);
    std::optional<node_id> expected;
    if (auto p = c->target.lock(); p && !p->id.is_zero()) {
        expected = p->id;
    }
    auto started = c->outbound
                       ? transport::handshake::start_initiator(self_, cluster_, advertised_,
                                                               expected, ephemeral)
                       : transport::handshake::start_responder(self_, cluster_, advertised_,
                                                               ephemeral);
    crypto::wipe(ephemeral);
    c->session.emplace(std::move(started), channel_);
    c->state = connection::phase::handshaking;
    c->last_activity = steady::now();
    flush(c);
    start_read(c);
}

void network_core::start_read(const connection_ptr& c) {
    c->socket.async_read_some(asio::buffer(c->read_buffer),
                              [core = shared_from_this(), c](const asio::error_code& ec,
                                                             std::size_t size) {
                                  core->on_read(c, ec, size);
                              });
}

void network_core::on_read(const connection_ptr& c, const asio::error_code& ec, std::size_t size) {
    if (!io_completed(c, ec)) {
        return;
    }
    const bool was_established = c->session->established();
    const status fed = c->session->on_bytes(std::span<const std::uint8_t>(c->read_buffer.data(),
                                                                           size));
    flush(c);
    if (!fed.ok()) {
        fail_connection(c, fed.failure());
        return;
    }
    if (!was_established && c->session->established()) {
        on_established(c);
        if (c->state == connection::phase::closed) {
            return;
        }
    }
    while (!stopped_ && c->state == connection::phase::established) {
        auto next = c->session->next_payload(payload_);
        if (!next.ok()) {
            fail_connection(c, next.failure());
            return;
        }
        if (!*next) {
            break;
        }
        ++stats_.payloads_received;
        if (on_receive && !closed_) {
            // Copy the id and address: the handler may close this connection.
            const node_id from = c->peer;
            const std::string from_address = c->peer_listen_address;
            on_receive(from, from_address, payload_);
        }
    }
    if (!stopped_ && c->state != connection::phase::closed && !c->close_when_flushed) {
        start_read(c);
    }
}

std::string network_core::normalize_stated(const std::string& stated, const connection& c) const {
    if (stated.empty()) {
        return stated;
    }
    auto parsed = parse_host_port(stated);
    if (!parsed.ok()) {
        return std::string{};
    }
    // A node listening on every interface states 0.0.0.0 or ::; it is reachable where it came
    // from.
    if (is_unspecified_host(parsed->host) && !c.remote_ip.is_unspecified()) {
        parsed->host = c.remote_ip.to_string();
    }
    return parsed->text();
}

bool network_core::keeps_new(const connection& existing, const connection& fresh) const {
    if (existing.outbound == fresh.outbound) {
        return true; // same direction: the peer reconnected; the older one is stale
    }
    const node_id lower = std::min(self_.id(), fresh.peer);
    const node_id fresh_initiator = fresh.outbound ? self_.id() : fresh.peer;
    return fresh_initiator == lower;
}

peer_ptr network_core::adopt(const connection_ptr& c) {
    const auto dial_target = c->target.lock();
    if (dial_target && dial_target->dialing == c) {
        dial_target->dialing.reset();
        dial_target->backoff = to_chrono(limits_.reconnect_backoff_min);
        dial_target->next_dial_at = steady::time_point{};
    }
    peer_ptr p;
    if (auto it = by_id_.find(c->peer); it != by_id_.end()) {
        p = it->second;
    } else if (dial_target && dial_target->id.is_zero()) {
        // Dialled by address: the entry now knows its node id.
        p = dial_target;
        by_address_.erase(p->address);
        p->id = c->peer;
        by_id_.emplace(c->peer, p);
        return p;
    } else {
        if (!make_room()) {
            return nullptr;
        }
        p = std::make_shared<peer_state>(io_, c->peer, c->outbound ? c->remote : std::string{},
                                         limits_.send_queue_max,
                                         to_chrono(limits_.reconnect_backoff_min));
        by_id_.emplace(c->peer, p);
    }
    if (dial_target && dial_target != p && dial_target->id.is_zero()) {
        // An address-keyed dial reached a node we already knew by id: merge its queue.
        while (!dial_target->queue.empty()) {
            if (!p->queue.try_push(dial_target->queue.pop())) {
                ++stats_.payloads_dropped;
            }
        }
        by_address_.erase(dial_target->address);
    }
    return p;
}

void network_core::on_established(const connection_ptr& c) {
    const auto& keys = c->session->keys();
    c->peer = keys.peer_id;
    c->state = connection::phase::established;
    const std::string stated = normalize_stated(keys.peer_listen_address, *c);
    c->peer_listen_address = stated;
    const peer_ptr p = adopt(c);
    if (!p) {
        fail_connection(c, make_error(errc::resource_exhausted,
                                      "peer table full (sessions_max " +
                                          std::to_string(limits_.sessions_max) + ")"));
        return;
    }
    if (p->address.empty() && !stated.empty()) {
        p->address = stated;
    }
    c->target = p;
    if (!stated.empty()) {
        c->indexed_addresses.push_back(stated);
    }
    if (c->outbound && c->remote != stated) {
        c->indexed_addresses.push_back(c->remote);
    }
    if (p->active && !keeps_new(*p->active, *c)) {
        log_debug("duplicate session with {} ({}); keeping the older one", c->peer.short_hex(),
                  c->remote);
        retire(c);
        return;
    }
    if (p->active) {
        log_debug("duplicate session with {}; replacing the older one", c->peer.short_hex());
        const connection_ptr older = p->active;
        retire(older);
    }
    activate(p, c);
    log_info("session established with {} ({} {}, listens on {})", c->peer.short_hex(),
             c->outbound ? "dialled" : "accepted from", c->remote,
             stated.empty() ? "nothing" : stated);
    pump(p);
}

void network_core::activate(const peer_ptr& p, const connection_ptr& c) {
    REEF_ASSERT(!p->active);
    REEF_ASSERT(c->state == connection::phase::established);
    p->active = c;
    ++active_count_;
    ++stats_.sessions_established;
    for (const auto& address : c->indexed_addresses) {
        address_index_[address] = c->peer;
    }
}

void network_core::retire(connection_ptr c) {
    // Stop sending on it now; keep reading for a grace period so frames already in flight on it
    // are delivered; then close. The caller installs the replacement, so no redial here.
    detach(c, false);
    c->retiring = true;
    c->retire_at = steady::now() + retire_grace;
    arm_sweep();
}

void network_core::detach(connection_ptr c, bool redial) {
    const auto p = c->target.lock();
    if (!p) {
        return;
    }
    if (p->dialing == c) {
        p->dialing.reset();
    }
    if (p->active == c) {
        p->active.reset();
        REEF_ASSERT(active_count_ > 0);
        --active_count_;
        for (const auto& address : c->indexed_addresses) {
            if (auto it = address_index_.find(address);
                it != address_index_.end() && it->second == c->peer) {
                address_index_.erase(it);
            }
        }
        if (redial) {
            // Payloads still queued for this peer go out on a new session.
            schedule_dial(p);
        }
    }
}

void network_core::pump(const peer_ptr& p, bool now) {
    const connection_ptr c = p->active;
    if (!c || (c->write_in_progress && !now)) {
        return;
    }
    while (!p->queue.empty() && c->out.size() + c->session->output_size() < write_batch_size_max) {
        const auto payload = p->queue.pop();
        if (!seal(c, payload)) {
            return;
        }
    }
    flush(c);
}

bool network_core::seal(const connection_ptr& c, std::span<const std::uint8_t> payload) {
    REEF_ASSERT(c->session);
    const status sealed = c->session->send(payload);
    if (!sealed.ok()) {
        ++stats_.payloads_dropped;
        fail_connection(c, sealed.failure());
        return false;
    }
    ++stats_.payloads_sent;
    return true;
}

void network_core::flush(const connection_ptr& c) {
    if (c->session) {
        c->session->take_output(c->out);
    }
    if (c->write_in_progress || c->out.empty() || c->state == connection::phase::closed) {
        return;
    }
    c->writing.swap(c->out);
    c->out.clear();
    c->write_in_progress = true;
    asio::async_write(c->socket, asio::buffer(c->writing),
                      [core = shared_from_this(), c](const asio::error_code& ec, std::size_t) {
                          core->on_written(c, ec);
                      });
}

bool network_core::io_completed(const connection_ptr& c, const asio::error_code& ec) {
    if (stopped_ || c->state == connection::phase::closed) {
        return false;
    }
    if (ec) {
        on_io_error(c, ec);
        return false;
    }
    c->last_activity = steady::now();
    return true;
}

void network_core::on_written(const connection_ptr& c, const asio::error_code& ec) {
    c->write_in_progress = false;
    c->writing.clear();
    if (!io_completed(c, ec)) {
        return;
    }
    if (c->close_when_flushed) {
        if (c->out.empty()) {
            close_connection(c);
        } else {
            flush(c);
        }
        return;
    }
    if (!c->out.empty()) {
        flush(c);
        return;
    }
    if (auto p = c->target.lock(); p && p->active == c) {
        pump(p);
    }
}

void network_core::on_io_error(const connection_ptr& c, const asio::error_code& ec) {
    if (c->state == connection::phase::closed) {
        return;
    }
    if (c->close_when_flushed) {
        close_connection(c); // already failed and logged; the flush cannot finish now
        return;
    }
    const std::string reason =
        ec == asio::error::eof ? std::string("connection closed by the peer") : ec.message();
    switch (c->state) {
    case connection::phase::connecting: {
        log_debug("cannot reach {}: {}", c->remote, reason);
        const auto p = c->target.lock();
        close_connection(c);
        if (p) {
            dial_failed(p, make_error(errc::unavailable,
                                      "cannot connect to " + c->remote + ": " + reason));
        }
        return;
    }
    case connection::phase::handshaking:
        fail_connection(c, make_error(errc::unavailable,
                                      "connection lost during the handshake: " + reason));
        return;
    case connection::phase::established:
        if (!c->close_when_flushed && !c->retiring) {
            log_info("session with {} ({}) closed: {}", c->peer.short_hex(), c->remote, reason);
        }
        close_connection(c);
        return;
    case connection::phase::closed: return;
    }
}

void network_core::fail_connection(connection_ptr c, const error& why) {
    if (c->state == connection::phase::closed || c->close_when_flushed) {
        return;
    }
    const bool in_handshake = c->state != connection::phase::established;
    if (in_handshake) {
        if (c->session) {
            ++stats_.handshakes_refused;
        }
        log_warn("handshake {} {} failed: {}", c->outbound ? "with" : "from", c->remote,
                 why.message);
        const auto p = c->target.lock();
        if (c->outbound && p && p->dialing == c) {
            p->dialing.reset();
            dial_failed(p, why);
        }
    } else {
        ++stats_.frames_rejected;
        log_warn("closing session with {} ({}): {}", c->peer.short_hex(), c->remote,
                 why.message);
    }
    close_after_flush(c);
}

void network_core::close_after_flush(connection_ptr c) {
    if (c->state == connection::phase::closed) {
        return;
    }
    detach(c);
    c->close_when_flushed = true;
    c->closing_since = steady::now();
    flush(c); // a refusal for the peer may be waiting
    if (!c->write_in_progress && c->out.empty()) {
        close_connection(c);
        return;
    }
    arm_sweep();
}

void network_core::close_connection(connection_ptr c) {
    if (c->state == connection::phase::closed) {
        return;
    }
    detach(c);
    c->state = connection::phase::closed;
    asio::error_code ignored;
    c->resolver.cancel();
    c->socket.shutdown(tcp::socket::shutdown_both, ignored);
    c->socket.close(ignored);
    connections_.erase(c->serial);
}

// ---- timers -------------------------------------------------------------------------------------

void network_core::arm_sweep() {
    if (sweep_armed_ || stopped_) {
        return;
    }
    sweep_armed_ = true;
    const duration shortest = min(limits_.handshake_timeout, limits_.idle_timeout);
    const nanoseconds interval = std::clamp(to_chrono(shortest) / 4,
                                            nanoseconds(std::chrono::milliseconds(10)),
                                            nanoseconds(std::chrono::milliseconds(250)));
    sweep_timer_.expires_after(interval);
    sweep_timer_.async_wait([core = shared_from_this()](const asio::error_code& ec) {
        core->sweep_armed_ = false;
        if (!ec && !core->stopped_) {
            core->on_sweep();
        }
    });
}

void network_core::on_sweep() {
    const auto now = steady::now();
    const auto handshake_limit = to_chrono(limits_.handshake_timeout);
    const auto idle_limit = to_chrono(limits_.idle_timeout);
    std::vector<connection_ptr> timed_out;
    std::vector<connection_ptr> idle;
    std::vector<connection_ptr> expired;
    std::vector<connection_ptr> stuck;
    for (const auto& [serial, c] : connections_) {
        if (c->close_when_flushed) {
            if (now - c->closing_since > handshake_limit) {
                stuck.push_back(c);
            }
        } else if (c->retiring) {
            if (now >= c->retire_at) {
                expired.push_back(c);
            }
        } else if (c->state != connection::phase::established) {
            if (now - c->started > handshake_limit) {
                timed_out.push_back(c);
            }
        } else if (now - c->last_activity > idle_limit) {
            idle.push_back(c);
        }
    }
    for (const auto& c : timed_out) {
        if (c->state == connection::phase::connecting) {
            on_io_error(c, asio::error::timed_out);
        } else {
            fail_connection(c, make_error(errc::timeout,
                                          "handshake did not complete within " +
                                              seconds_text(limits_.handshake_timeout)));
        }
    }
    for (const auto& c : idle) {
        log_info("closing session with {} ({}): idle for {}", c->peer.short_hex(), c->remote,
                 seconds_text(limits_.idle_timeout));
        close_after_flush(c);
    }
    for (const auto& c : expired) {
        close_after_flush(c);
    }
    for (const auto& c : stuck) {
        close_connection(c);
    }
    if (!connections_.empty()) {
        arm_sweep();
    }
}

// ---- shutdown -----------------------------------------------------------------------------------

void network_core::close() {
    if (closed_ || stopped_) {
        return;
    }
    closed_ = true;
    asio::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_timer_.cancel();
    listening_ = false;
    for (const auto& [id, p] : by_id_) {
        p->retry_timer.cancel();
        if (p->active) {
            pump(p, true); // best effort: whatever fits in one more write
        }
        stats_.payloads_dropped += p->queue.size();
        p->queue.clear();
    }
    for (const auto& [address, p] : by_address_) {
        p->retry_timer.cancel();
        stats_.payloads_dropped += p->queue.size();
        p->queue.clear();
    }
    std::vector<connection_ptr> all;
    for (const auto& [serial, c] : connections_) {
        all.push_back(c);
    }
    for (const auto& c : all) {
        if (c->state == connection::phase::established) {
            close_after_flush(c);
        } else {
            close_connection(c);
        }
    }
}

void network_core::stop_now() {
    close();
    stopped_ = true;
    on_receive = nullptr;
    on_unreachable = nullptr;
    sweep_timer_.cancel();
    std::vector<connection_ptr> all;
    for (const auto& [serial, c] : connections_) {
        all.push_back(c);
    }
    for (const auto& c : all) {
        close_connection(c);
    }
    by_id_.clear();
    by_address_.clear();
    address_index_.clear();
}

} // namespace

// ---- peer_network -------------------------------------------------------------------------------

struct peer_network::impl {
    std::shared_ptr<network_core> core;
};

peer_network::peer_network(asio::io_context& io, network_config limits,
                           const crypto::identity& self, const crypto::cluster_key& cluster,
                           std::uint64_t seed)
    : impl_(std::make_unique<impl>(
          impl{std::make_shared<network_core>(io, std::move(limits), self, cluster, seed)})) {}

peer_network::~peer_network() { impl_->core->stop_now(); }

void peer_network::set_handlers(receive_handler on_receive, unreachable_handler on_unreachable) {
    impl_->core->on_receive = std::move(on_receive);
    impl_->core->on_unreachable = std::move(on_unreachable);
}

status peer_network::listen() { return impl_->core->listen(); }

std::string peer_network::listen_address() const { return impl_->core->listen_address(); }

void peer_network::send(const node_id& to, const std::string& address,
                        std::vector<std::uint8_t> payload) {
    impl_->core->send(to, address, std::move(payload));
}

void peer_network::close() { impl_->core->close(); }

network_stats peer_network::stats() const { return impl_->core->stats(); }

} // namespace reef::runtime
