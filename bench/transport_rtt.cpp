// transport_rtt: node-to-node request/response round trip over Reef's encrypted transport,
// against its physical limit, a raw TCP ping-pong on loopback, measured in the same run.
//
//   (a) raw TCP: two processes (fork), blocking sockets, TCP_NODELAY, 64-byte messages;
//   (b) reef: two processes (fork), each with its own io_context and runtime::peer_network, one
//       authenticated encrypted session; the client sends a 64-byte payload and waits for the
//       server's echo through the same receive path membership uses.
//
// The two are interleaved (raw, reef, raw, reef, ...) so drift in machine load hits both alike.
// Prints p50 / p99 / mean of each and the ratio reef / raw (goal <= 1.5x). Not a test: it
// measures time, which tests never assert.
//
//   transport_rtt [--count N] [--rounds R] [--warmup W]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/io_context.hpp>

#include "reef/base/prng.hpp"
#include "reef/crypto/cluster_key.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/runtime/log.hpp"
#include "reef/runtime/peer_network.hpp"

namespace {

using steady = std::chrono::steady_clock;
constexpr std::size_t message_size = 64;

struct options {
    std::size_t count = 10000;
    std::size_t rounds = 3;
    std::size_t warmup = 500;
};

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "transport_rtt: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

/// Moves exactly `size` bytes with `transfer` (::read or ::write), retrying on EINTR; false on an
/// error or end of file.
template <typename Byte, typename Transfer>
bool transfer_all(int fd, Byte* bytes, std::size_t size, Transfer transfer) {
    while (size > 0) {
        const ssize_t n = transfer(fd, bytes, size);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        bytes += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

bool write_all(int fd, const void* data, std::size_t size) {
    return transfer_all(fd, static_cast<const std::uint8_t*>(data), size, ::write);
}

bool read_all(int fd, void* data, std::size_t size) {
    return transfer_all(fd, static_cast<std::uint8_t*>(data), size, ::read);
}

void no_delay(int fd) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void wait_child(pid_t child) {
    int status = 0;
    if (::waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "transport_rtt: child %d did not exit cleanly\n",
                     static_cast<int>(child));
    }
}

// ---- (a) raw TCP ------------------------------------------------------------------------------

std::vector<double> raw_tcp_round(const options& opt) {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) {
        die("socket");
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(listener, 1) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        die("bind/listen");
    }
    const pid_t child = ::fork();
    if (child < 0) {
        die("fork");
    }
    if (child == 0) {
        // Echo server: read 64 bytes, write them back, until the client closes.
        const int conn = ::accept(listener, nullptr, nullptr);
        if (conn < 0) {
            std::_Exit(1);
        }
        no_delay(conn);
        std::uint8_t buffer[message_size];
        while (read_all(conn, buffer, sizeof(buffer))) {
            if (!write_all(conn, buffer, sizeof(buffer))) {
                break;
            }
        }
        ::close(conn);
        std::_Exit(0);
    }
    ::close(listener);
    const int conn = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (conn < 0 || ::connect(conn, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        die("connect");
    }
    no_delay(conn);
    std::uint8_t message[message_size];
    std::memset(message, 0x5a, sizeof(message));
    std::vector<double> samples;
    samples.reserve(opt.count);
    for (std::size_t n = 0; n < opt.warmup + opt.count; ++n) {
        const auto start = steady::now();
        if (!write_all(conn, message, sizeof(message)) ||
            !read_all(conn, message, sizeof(message))) {
            die("raw ping-pong");
        }
        const auto elapsed = std::chrono::duration<double, std::micro>(steady::now() - start);
        if (n >= opt.warmup) {
            samples.push_back(elapsed.count());
        }
    }
    ::close(conn);
    wait_child(child);
    return samples;
}

// ---- (b) Reef transport -----------------------------------------------------------------------

reef::crypto::identity identity_from(std::uint64_t seed) {
    reef::prng random(seed);
    reef::crypto::seed32 bytes{};
    for (auto& b : bytes) {
        b = static_cast<std::uint8_t>(random.below(256));
    }
    return reef::crypto::identity::from_seed(bytes);
}

reef::crypto::cluster_key bench_key() {
    reef::crypto::cluster_key key;
    reef::prng random(99);
    for (auto& b : key.bytes) {
        b = static_cast<std::uint8_t>(random.below(255) + 1);
    }
    return key;
}

/// The echo side: answers every payload on the session it arrived on, until told to stop.
[[noreturn]] void reef_server(int report_fd) {
    asio::io_context io;
    reef::runtime::network_config limits;
    limits.listen_address = "127.0.0.1:0";
    const auto self = identity_from(2);
    reef::runtime::peer_network net(io, limits, self, bench_key(), 2);
    net.set_handlers(
        [&](const reef::node_id& from, const std::string&,
            std::span<const std::uint8_t> payload) {
            if (payload.size() == 4 && std::memcmp(payload.data(), "quit", 4) == 0) {
                net.close();
                io.stop();
                return;
            }
            net.send(from, "", std::vector<std::uint8_t>(payload.begin(), payload.end()));
        },
        [](const reef::node_id&, const std::string&, const reef::error&) {});
    if (!net.listen().ok()) {
        std::_Exit(1);
    }
    const std::string address = net.listen_address();
    if (!write_all(report_fd, address.data(), address.size())) {
        std::_Exit(1);
    }
    ::close(report_fd);
    io.run();
    std::_Exit(0);
}

std::vector<double> reef_round(const options& opt) {
    int report[2];
    if (::pipe(report) != 0) {
        die("pipe");
    }
    const pid_t child = ::fork();
    if (child < 0) {
        die("fork");
    }
    if (child == 0) {
        ::close(report[0]);
        reef_server(report[1]);
    }
    ::close(report[1]);
    char text[256] = {};
    std::size_t got = 0;
    for (;;) {
        const ssize_t n = ::read(report[0], text + got, sizeof(text) - 1 - got);
        if (n <= 0) {
            break;
        }
        got += static_cast<std::size_t>(n);
    }
    ::close(report[0]);
    const std::string server_address(text, got);
    if (server_address.empty()) {
        std::fprintf(stderr, "transport_rtt: the reef server did not start\n");
        ::kill(child, SIGKILL);
        wait_child(child);
        std::exit(1);
    }

    asio::io_context io;
    reef::runtime::network_config limits;
    const auto self = identity_from(1);
    const reef::node_id server = identity_from(2).id();
    reef::runtime::peer_network net(io, limits, self, bench_key(), 1);
    std::vector<double> samples;
    samples.reserve(opt.count);
    std::size_t sent = 0;
    steady::time_point start;
    const std::vector<std::uint8_t> message(message_size, 0x5a);
    const auto send_next = [&] {
        start = steady::now();
        net.send(server, server_address, message);
        ++sent;
    };
    bool failed = false;
    net.set_handlers(
        [&](const reef::node_id&, const std::string&, std::span<const std::uint8_t>) {
            const auto elapsed = std::chrono::duration<double, std::micro>(steady::now() - start);
            if (sent > opt.warmup) {
                samples.push_back(elapsed.count());
            }
            if (sent < opt.warmup + opt.count) {
                send_next();
            } else {
                net.send(server, server_address, {'q', 'u', 'i', 't'});
                net.close();
            }
        },
        [&](const reef::node_id&, const std::string& address, const reef::error& why) {
            std::fprintf(stderr, "transport_rtt: %s unreachable: %s\n", address.c_str(),
                         why.describe().c_str());
            failed = true;
            io.stop();
        });
    send_next();
    io.run();
    if (failed || samples.size() != opt.count) {
        ::kill(child, SIGKILL);
        wait_child(child);
        std::exit(1);
    }
    wait_child(child);
    return samples;
}

// ---- report -----------------------------------------------------------------------------------

struct summary {
    double p50 = 0;
    double p99 = 0;
    double mean = 0;
};

summary summarize(std::vector<double> samples) {
    std::sort(samples.begin(), samples.end());
    const auto at = [&](double q) {
        const auto index = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1));
        return samples[index];
    };
    double total = 0;
    for (double s : samples) {
        total += s;
    }
    return {at(0.50), at(0.99), total / static_cast<double>(samples.size())};
}

bool parse_size(const char* text, std::size_t& out) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0' || value == 0) {
        return false;
    }
    out = static_cast<std::size_t>(value);
    return true;
}

} // namespace

int main(int argc, char** argv) {
    options opt;
    for (int i = 1; i < argc; ++i) {
        const bool has_value = i + 1 < argc;
        if (std::strcmp(argv[i], "--count") == 0 && has_value &&
            parse_size(argv[i + 1], opt.count)) {
            ++i;
        } else if (std::strcmp(argv[i], "--rounds") == 0 && has_value &&
                   parse_size(argv[i + 1], opt.rounds)) {
            ++i;
        } else if (std::strcmp(argv[i], "--warmup") == 0 && has_value &&
                   parse_size(argv[i + 1], opt.warmup)) {
            ++i;
        } else {
            std::fprintf(stderr, "usage: %s [--count N] [--rounds R] [--warmup W]\n", argv[0]);
            return 2;
        }
    }
    reef::runtime::set_log_level(reef::runtime::log_level::warn);
    std::printf("transport_rtt: %zu-byte request/response, 2 processes on loopback, %zu rounds x "
                "%zu round trips each (after %zu warm-up)\n",
                message_size, opt.rounds, opt.count, opt.warmup);
    std::vector<double> raw;
    std::vector<double> reef;
    for (std::size_t round = 0; round < opt.rounds; ++round) {
        const auto raw_round = raw_tcp_round(opt);
        const auto reef_round_samples = reef_round(opt);
        const summary r = summarize(raw_round);
        const summary t = summarize(reef_round_samples);
        std::printf("  round %zu: raw TCP p50 %7.1f us | reef p50 %7.1f us | ratio %.2fx\n",
                    round + 1, r.p50, t.p50, t.p50 / r.p50);
        raw.insert(raw.end(), raw_round.begin(), raw_round.end());
        reef.insert(reef.end(), reef_round_samples.begin(), reef_round_samples.end());
    }
    const summary r = summarize(raw);
    const summary t = summarize(reef);
    std::printf("\n%-34s %10s %10s %10s\n", "", "p50 (us)", "p99 (us)", "mean (us)");
    std::printf("%-34s %10.1f %10.1f %10.1f\n", "raw TCP ping-pong (the limit)", r.p50, r.p99,
                r.mean);
    std::printf("%-34s %10.1f %10.1f %10.1f\n", "reef encrypted transport", t.p50, t.p99, t.mean);
    const double ratio_p50 = t.p50 / r.p50;
    const double ratio_p99 = t.p99 / r.p99;
    std::printf("%-34s %9.2fx %9.2fx\n", "ratio reef / raw", ratio_p50, ratio_p99);
    std::printf("\ngoal: p50 ratio <= 1.50x -> %s\n", ratio_p50 <= 1.5 ? "MET" : "NOT MET");
    return 0;
}
