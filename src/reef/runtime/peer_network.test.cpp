// peer_network over real sockets on 127.0.0.1 (port 0). Every network runs on the test's single
// io_context; raw clients (garbage senders, half-open connections, hand-driven sessions) use plain
// non-blocking POSIX sockets so the test thread can keep running the io_context between steps.

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/io_context.hpp>

#include "reef/base/address.hpp"
#include "reef/base/prng.hpp"
#include "reef/crypto/cluster_key.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/runtime/peer_network.hpp"
#include "reef/transport/handshake.hpp"
#include "reef/transport/session.hpp"
#include "reef/transport/test_support.hpp"

namespace reef::runtime {
namespace {

using bytes = std::vector<std::uint8_t>;
using transport::testing::make_cluster_key;
using transport::testing::make_identity;

bytes text(std::string_view s) { return {s.begin(), s.end()}; }

bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

struct received {
    node_id from;
    std::string from_address;
    bytes payload;
};

struct unreachable_report {
    node_id to;
    std::string address;
    error why;
};

struct test_node {
    crypto::identity self;
    std::unique_ptr<peer_network> net;
    std::vector<received> inbox;
    std::vector<unreachable_report> unreachable;
    std::function<void(const node_id&, const bytes&)> on_payload;

    std::string address() const { return net->listen_address(); }
    node_id id() const { return self.id(); }
};

/// A plain TCP client for misbehaving peers.
class raw_client {
public:
    explicit raw_client(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        EXPECT_GE(fd_, 0);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(port);
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);
        ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    }
    ~raw_client() { close(); }
    raw_client(const raw_client&) = delete;
    raw_client& operator=(const raw_client&) = delete;

    void write(const bytes& data) {
        std::size_t done = 0;
        while (done < data.size()) {
            const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                continue;
            }
            ASSERT_GT(n, 0) << std::strerror(errno);
            done += static_cast<std::size_t>(n);
        }
    }
    /// Reads what is available; sets `eof` when the server closed the connection.
    void poll() {
        std::uint8_t buffer[4096];
        for (;;) {
            const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
            if (n > 0) {
                input.insert(input.end(), buffer, buffer + n);
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                eof = true;
            }
            return;
        }
    }
    void close() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

    bytes input;
    bool eof = false;

private:
    int fd_ = -1;
};

std::uint16_t port_of(const std::string& address) {
    auto parsed = parse_host_port(address);
    EXPECT_TRUE(parsed.ok()) << address;
    return parsed.ok() ? parsed->port : 0;
}

class peer_network_test : public ::testing::Test {
protected:
    network_config fast_config() const {
        network_config limits;
        limits.listen_address = "127.0.0.1:0";
        limits.handshake_timeout = duration::milliseconds(500);
        limits.reconnect_backoff_min = duration::milliseconds(20);
        limits.reconnect_backoff_max = duration::milliseconds(200);
        return limits;
    }

    std::unique_ptr<test_node> make_node(std::uint64_t seed, const crypto::cluster_key& key,
                                         network_config limits) {
        auto node = std::make_unique<test_node>(test_node{make_identity(seed), nullptr, {}, {},
                                                          nullptr});
        node->net = std::make_unique<peer_network>(io_, limits, node->self, key, seed);
        test_node* raw = node.get();
        node->net->set_handlers(
            [raw](const node_id& from, const std::string& from_address,
                  std::span<const std::uint8_t> payload) {
                raw->inbox.push_back({from, from_address, bytes(payload.begin(), payload.end())});
                if (raw->on_payload) {
                    raw->on_payload(from, raw->inbox.back().payload);
                }
            },
            [raw](const node_id& to, const std::string& address, const error& why) {
                raw->unreachable.push_back({to, address, why});
            });
        const status listening = node->net->listen();
        EXPECT_TRUE(listening.ok()) << (listening.ok() ? "" : listening.failure().describe());
        return node;
    }

    std::unique_ptr<test_node> make_node(std::uint64_t seed) {
        return make_node(seed, key_, fast_config());
    }

    /// Runs the io_context until `done()` or the deadline; false on timeout.
    bool run_until(const std::function<bool()>& done,
                   std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline) {
                return false;
            }
            if (io_.stopped()) {
                io_.restart();
            }
            io_.run_for(std::chrono::milliseconds(2));
        }
        return true;
    }

    void run_for(std::chrono::milliseconds span) {
        const auto deadline = std::chrono::steady_clock::now() + span;
        (void)run_until([&] { return std::chrono::steady_clock::now() > deadline; }, span * 2);
    }

    /// A sends `message` to B and the test waits until B has it.
    void expect_delivery(test_node& from, test_node& to, const std::string& message,
                         bool by_address_only = false) {
        const std::size_t before = to.inbox.size();
        from.net->send(by_address_only ? node_id{} : to.id(), to.address(), text(message));
        ASSERT_TRUE(run_until([&] { return to.inbox.size() > before; })) << message;
        EXPECT_EQ(to.inbox.back().from, from.id());
        EXPECT_EQ(to.inbox.back().payload, text(message));
    }

    asio::io_context io_;
    crypto::cluster_key key_ = make_cluster_key(100);
};

TEST_F(peer_network_test, two_networks_exchange_payloads_and_replies_reuse_the_session) {
    auto a = make_node(1);
    auto b = make_node(2);
    // B answers every payload on the session it came in on (no address needed).
    b->on_payload = [&](const node_id& from, const bytes& payload) {
        bytes reply = text("re: ");
        reply.insert(reply.end(), payload.begin(), payload.end());
        b->net->send(from, "", std::move(reply));
    };
    for (int n = 0; n < 20; ++n) {
        a->net->send(b->id(), b->address(), text("ping " + std::to_string(n)));
    }
    ASSERT_TRUE(run_until([&] { return a->inbox.size() == 20; }));
    for (int n = 0; n < 20; ++n) {
        EXPECT_EQ(b->inbox[static_cast<std::size_t>(n)].payload, text("ping " + std::to_string(n)));
        EXPECT_EQ(a->inbox[static_cast<std::size_t>(n)].payload,
                  text("re: ping " + std::to_string(n)));
        EXPECT_EQ(a->inbox[static_cast<std::size_t>(n)].from, b->id());
    }
    EXPECT_EQ(a->net->stats().sessions_open, 1U);
    EXPECT_EQ(b->net->stats().sessions_open, 1U);
    EXPECT_EQ(a->net->stats().sessions_established, 1U);
    EXPECT_EQ(a->net->stats().payloads_sent, 20U);
    EXPECT_EQ(b->net->stats().payloads_received, 20U);
    EXPECT_EQ(a->net->stats().handshakes_refused, 0U);
}

TEST_F(peer_network_test, a_send_by_address_learns_the_id_and_shares_the_session) {
    auto a = make_node(1);
    auto b = make_node(2);
    expect_delivery(*a, *b, "hello by address", true);
    // Every payload names where its sender listens, as stated in the handshake.
    EXPECT_EQ(b->inbox.back().from_address, a->address());
    expect_delivery(*a, *b, "hello by id");
    expect_delivery(*b, *a, "answer by id");
    EXPECT_EQ(a->inbox.back().from_address, b->address());
    // B reaches A by A's stated listen address: the same session again.
    expect_delivery(*b, *a, "answer by address", true);
    EXPECT_EQ(a->net->stats().sessions_established, 1U);
    EXPECT_EQ(b->net->stats().sessions_established, 1U);
}

TEST_F(peer_network_test, the_stated_address_routes_sends_by_address_to_the_open_session) {
    // A states an address nothing listens on: a send there by address must use the session A
    // opened, since a dial would fail.
    network_config advertised = fast_config();
    advertised.advertise_address = "localhost:1";
    auto a = make_node(1, key_, advertised);
    // C listens on every interface and states 0.0.0.0: peers substitute the address it came from.
    network_config wildcard = fast_config();
    wildcard.listen_address = "0.0.0.0:0";
    auto c = make_node(3, key_, wildcard);
    ASSERT_TRUE(contains(c->address(), "0.0.0.0:"));
    auto b = make_node(2);
    expect_delivery(*a, *b, "from a");
    EXPECT_EQ(b->inbox.back().from_address, "localhost:1");
    expect_delivery(*c, *b, "from c");
    // C stated 0.0.0.0: its address is the host it connected from, with its listen port.
    EXPECT_EQ(b->inbox.back().from_address,
              "127.0.0.1:" + std::to_string(port_of(c->address())));
    b->net->send(node_id{}, "localhost:1", text("to a by its stated address"));
    const std::string c_loopback = "127.0.0.1:" + std::to_string(port_of(c->address()));
    b->net->send(node_id{}, c_loopback, text("to c by loopback"));
    ASSERT_TRUE(run_until([&] { return !a->inbox.empty() && !c->inbox.empty(); }));
    EXPECT_EQ(a->inbox.back().payload, text("to a by its stated address"));
    EXPECT_EQ(c->inbox.back().payload, text("to c by loopback"));
    EXPECT_EQ(b->net->stats().sessions_established, 2U);
    EXPECT_TRUE(b->unreachable.empty());

    network_config bad = fast_config();
    bad.advertise_address = "not an address";
    EXPECT_FALSE(bad.validate().ok());
}

TEST_F(peer_network_test, a_peer_with_the_wrong_cluster_key_is_refused_with_the_reason) {
    auto a = make_node(1);
    auto b = make_node(2);
    expect_delivery(*a, *b, "members talk");
    auto intruder = make_node(3, make_cluster_key(999), fast_config());
    intruder->net->send(a->id(), a->address(), text("let me in"));
    ASSERT_TRUE(run_until([&] {
        return a->net->stats().handshakes_refused >= 1 && !intruder->unreachable.empty();
    }));
    EXPECT_TRUE(contains(intruder->unreachable[0].why.message,
                         "peer does not hold this cluster's key"));
    EXPECT_EQ(intruder->unreachable[0].to, a->id());
    EXPECT_GE(intruder->net->stats().handshakes_refused, 1U);
    EXPECT_EQ(intruder->net->stats().sessions_established, 0U);
    // Nothing from the intruder was delivered, and the members still talk.
    for (const auto& r : a->inbox) {
        EXPECT_NE(r.from, intruder->id());
    }
    expect_delivery(*b, *a, "still fine");
    EXPECT_EQ(a->net->stats().sessions_open, 1U);
}

TEST_F(peer_network_test, garbage_and_half_open_connections_do_not_disturb_a_good_session) {
    auto a = make_node(1);
    auto b = make_node(2);
    expect_delivery(*a, *b, "before");

    prng random(5);
    bytes garbage(4096);
    for (auto& byte : garbage) {
        byte = static_cast<std::uint8_t>(random.below(256));
    }
    raw_client noisy(port_of(b->address()));
    noisy.write(garbage);
    raw_client http(port_of(b->address()));
    http.write(text("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    raw_client silent(port_of(b->address())); // connects and never speaks

    expect_delivery(*a, *b, "during");
    ASSERT_TRUE(run_until([&] {
        noisy.poll();
        http.poll();
        return noisy.eof && http.eof;
    }));
    // Each misbehaving connection was answered with a refusal and closed.
    EXPECT_EQ(http.input, transport::encode_refusal(transport::refusal_reason::malformed));
    EXPECT_GE(b->net->stats().handshakes_refused, 2U);

    // The silent connection is closed at the handshake timeout; meanwhile traffic flows.
    for (int n = 0; n < 5; ++n) {
        expect_delivery(*a, *b, "while one hangs " + std::to_string(n));
        expect_delivery(*b, *a, "both ways " + std::to_string(n));
    }
    ASSERT_TRUE(run_until([&] {
        silent.poll();
        return silent.eof;
    }));
    EXPECT_GE(b->net->stats().handshakes_refused, 3U);
    expect_delivery(*a, *b, "after");
    EXPECT_EQ(b->net->stats().sessions_open, 1U);
    EXPECT_EQ(b->net->stats().frames_rejected, 0U);
}

TEST_F(peer_network_test, an_oversized_or_forged_frame_closes_only_that_session) {
    auto a = make_node(1);
    auto b = make_node(2);
    expect_delivery(*a, *b, "before");

    // A cluster member that completes the handshake by hand, then misbehaves.
    const auto rogue = make_identity(7);
    prng random(8);
    transport::session session(
        transport::handshake::start_initiator(rogue, key_, "", b->id(),
                                              transport::testing::random_key(random)),
        {});
    raw_client client(port_of(b->address()));
    bytes out;
    session.take_output(out);
    client.write(out);
    ASSERT_TRUE(run_until([&] {
        client.poll();
        if (!client.input.empty()) {
            EXPECT_TRUE(session.on_bytes(client.input).ok());
            client.input.clear();
        }
        return session.established();
    }));
    ASSERT_TRUE(session.send(text("a proper frame")).ok());
    out.clear();
    session.take_output(out);
    client.write(out);
    ASSERT_TRUE(run_until([&] { return !b->inbox.empty() && b->inbox.back().from == rogue.id(); }));

    client.write(bytes{0x7f, 0xff, 0xff, 0xff}); // 2 GiB announced
    ASSERT_TRUE(run_until([&] {
        client.poll();
        return client.eof;
    }));
    EXPECT_EQ(b->net->stats().frames_rejected, 1U);
    expect_delivery(*a, *b, "after");
    EXPECT_EQ(b->net->stats().sessions_open, 1U);
}

TEST_F(peer_network_test, simultaneous_dials_settle_on_one_session) {
    auto a = make_node(1);
    auto b = make_node(2);
    a->net->send(b->id(), b->address(), text("from a"));
    b->net->send(a->id(), a->address(), text("from b"));
    ASSERT_TRUE(run_until([&] { return !a->inbox.empty() && !b->inbox.empty(); }));
    run_for(std::chrono::milliseconds(800)); // past the loser's grace period
    EXPECT_EQ(a->net->stats().sessions_open, 1U);
    EXPECT_EQ(b->net->stats().sessions_open, 1U);
    // Both ends agree on the same connection: traffic keeps flowing both ways.
    for (int n = 0; n < 3; ++n) {
        expect_delivery(*a, *b, "a" + std::to_string(n));
        expect_delivery(*b, *a, "b" + std::to_string(n));
    }
}

TEST_F(peer_network_test, an_unreachable_peer_is_reported_and_queued_payloads_are_counted) {
    network_config limits = fast_config();
    limits.send_queue_max = 4;
    auto a = make_node(1, key_, limits);
    std::string dead_address;
    {
        auto doomed = make_node(2);
        dead_address = doomed->address();
    } // closed: nothing listens there any more
    const node_id ghost = make_identity(2).id();
    for (int n = 0; n < 10; ++n) {
        a->net->send(ghost, dead_address, text("into the void"));
    }
    EXPECT_EQ(a->net->stats().payloads_dropped, 6U); // the queue holds 4
    ASSERT_TRUE(run_until([&] { return !a->unreachable.empty(); }));
    EXPECT_EQ(a->unreachable[0].to, ghost);
    EXPECT_EQ(a->unreachable[0].address, dead_address);
    EXPECT_TRUE(contains(a->unreachable[0].why.message, "cannot connect to " + dead_address));
    EXPECT_EQ(a->net->stats().payloads_dropped, 10U);
    EXPECT_EQ(a->net->stats().handshakes_refused, 0U); // nobody refused anything

    // Nothing known about a node and no address: reported, not dialled.
    a->net->send(make_identity(9).id(), "", text("where?"));
    ASSERT_TRUE(run_until([&] { return a->unreachable.size() >= 2; }));
    EXPECT_TRUE(contains(a->unreachable.back().why.message, "no address known"));
}

TEST_F(peer_network_test, reconnects_after_the_peer_restarts) {
    auto a = make_node(1);
    auto b = make_node(2);
    expect_delivery(*a, *b, "first life");
    const std::string address = b->address();
    b.reset();
    ASSERT_TRUE(run_until([&] { return a->net->stats().sessions_open == 0; }));
    a->net->send(make_identity(2).id(), address, text("lost"));
    ASSERT_TRUE(run_until([&] { return !a->unreachable.empty(); }));

    // The same node comes back on the same port.
    network_config same_port = fast_config();
    same_port.listen_address = address;
    auto again = make_node(2, key_, same_port);
    ASSERT_EQ(again->address(), address);
    const node_id back = again->id();
    ASSERT_TRUE(run_until(
        [&] {
            a->net->send(back, address, text("second life"));
            run_for(std::chrono::milliseconds(30));
            return !again->inbox.empty();
        },
        std::chrono::seconds(5)));
    EXPECT_EQ(again->inbox[0].payload, text("second life"));
    EXPECT_EQ(a->net->stats().sessions_open, 1U);
}

TEST_F(peer_network_test, idle_sessions_are_closed_and_reopened_on_demand) {
    network_config limits = fast_config();
    limits.idle_timeout = duration::milliseconds(200);
    auto a = make_node(1, key_, limits);
    auto b = make_node(2, key_, limits);
    expect_delivery(*a, *b, "wake up");
    ASSERT_TRUE(run_until([&] {
        return a->net->stats().sessions_open == 0 && b->net->stats().sessions_open == 0;
    }));
    expect_delivery(*a, *b, "again");
    EXPECT_EQ(a->net->stats().sessions_established, 2U);
}

TEST_F(peer_network_test, sessions_max_is_enforced_with_a_busy_refusal) {
    network_config limits = fast_config();
    limits.sessions_max = 2;
    auto a = make_node(1, key_, limits);
    raw_client first(port_of(a->address()));
    raw_client second(port_of(a->address()));
    run_for(std::chrono::milliseconds(50));
    raw_client third(port_of(a->address()));
    ASSERT_TRUE(run_until([&] {
        third.poll();
        return third.eof;
    }));
    EXPECT_EQ(third.input, transport::encode_refusal(transport::refusal_reason::busy));
    EXPECT_GE(a->net->stats().handshakes_refused, 1U);
}

TEST_F(peer_network_test, an_expected_id_mismatch_is_reported) {
    auto a = make_node(1);
    auto b = make_node(2);
    const node_id someone_else = make_identity(3).id();
    a->net->send(someone_else, b->address(), text("are you 3?"));
    ASSERT_TRUE(run_until([&] { return !a->unreachable.empty(); }));
    EXPECT_TRUE(contains(a->unreachable[0].why.message, "peer id mismatch: expected " +
                                                            someone_else.short_hex() + ", got " +
                                                            b->id().short_hex()));
    EXPECT_TRUE(b->inbox.empty());
}

TEST_F(peer_network_test, oversized_payloads_and_self_sends_are_dropped) {
    network_config limits = fast_config();
    limits.frame_size_max = 1024;
    auto a = make_node(1, key_, limits);
    auto b = make_node(2, key_, limits);
    a->net->send(b->id(), b->address(), bytes(2000, 1));
    a->net->send(a->id(), a->address(), text("me"));
    EXPECT_EQ(a->net->stats().payloads_dropped, 2U);
    expect_delivery(*a, *b, "small is fine");
}

TEST_F(peer_network_test, invalid_config_and_busy_port_are_clear_errors) {
    network_config bad = fast_config();
    bad.frame_size_max = 0;
    peer_network broken(io_, bad, make_identity(1), key_, 1);
    const status refused = broken.listen();
    ASSERT_FALSE(refused.ok());
    EXPECT_TRUE(contains(refused.failure().message, "frame_size_max"));

    auto a = make_node(1);
    network_config taken = fast_config();
    taken.listen_address = a->address();
    peer_network second(io_, taken, make_identity(2), key_, 2);
    const status in_use = second.listen();
    ASSERT_FALSE(in_use.ok());
    EXPECT_TRUE(contains(in_use.failure().message, "cannot listen on " + a->address()));
}

TEST_F(peer_network_test, close_flushes_and_stops_accepting) {
    auto a = make_node(1);
    auto b = make_node(2);
    expect_delivery(*a, *b, "open");
    for (int n = 0; n < 10; ++n) {
        a->net->send(b->id(), b->address(), text("last words " + std::to_string(n)));
    }
    a->net->close();
    ASSERT_TRUE(run_until([&] { return b->inbox.size() == 11; }));
    EXPECT_EQ(b->inbox.back().payload, text("last words 9"));
    ASSERT_TRUE(run_until([&] { return b->net->stats().sessions_open == 0; }));
    a->net->send(b->id(), b->address(), text("after close"));
    run_for(std::chrono::milliseconds(50));
    EXPECT_EQ(b->inbox.size(), 11U);
}

} // namespace
} // namespace reef::runtime
