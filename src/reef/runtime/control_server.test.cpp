#include "reef/runtime/control_server.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <gtest/gtest.h>

namespace reef::runtime {
namespace {

namespace fs = std::filesystem;
using unix_socket = asio::local::stream_protocol::socket;

// Reads until the server closes the connection.
template <typename Socket>
std::string read_all(Socket& socket) {
    std::string out;
    std::array<char, 4096> buffer{};
    for (;;) {
        std::error_code failure;
        const std::size_t got = socket.read_some(asio::buffer(buffer), failure);
        out.append(buffer.data(), got);
        if (failure) {
            return out;
        }
    }
}

class control_server_test : public ::testing::Test {
protected:
    fs::path dir;
    asio::io_context io;
    asio::io_context client_io;
    std::unique_ptr<control_server> server;
    std::thread runner;
    std::mutex mutex;
    std::vector<control::request> seen;
    // Responders of "/later" requests, answered by the test (on the io thread).
    std::vector<control_server::responder> later;

    void SetUp() override {
        dir = fs::path("/tmp") / ("reef-cs-" + std::to_string(::getpid()) + "-" +
                                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    void TearDown() override {
        stop();
        fs::remove_all(dir);
    }

    control_server_config config() const {
        control_server_config limits;
        limits.socket_path = (dir / "control.sock").string();
        return limits;
    }

    void answer(const control::request& incoming, control_server::responder respond) {
        std::lock_guard lock(mutex);
        seen.push_back(incoming);
        if (incoming.target == "/throw") {
            throw std::runtime_error("handler broke");
        }
        if (incoming.target == "/later") {
            later.push_back(std::move(respond));
            return;
        }
        respond(control::response{200, R"({"ok": true})", {}});
    }

    status start(control_server_config limits) {
        server = std::make_unique<control_server>(
            io, std::move(limits),
            [this](const control::request& r, control_server::responder respond) {
                answer(r, std::move(respond));
            });
        auto started = server->start();
        if (started) {
            runner = std::thread([this] { io.run(); });
        }
        return started;
    }
    void start_ok(control_server_config limits) {
        auto started = start(std::move(limits));
        ASSERT_TRUE(started.ok()) << started.failure().describe();
    }
    void stop() {
        if (runner.joinable()) {
            asio::post(io, [this] { server->close(); });
            runner.join();
        }
        server.reset();
    }

    unix_socket connect_unix() {
        unix_socket socket(client_io);
        socket.connect(asio::local::stream_protocol::endpoint((dir / "control.sock").string()));
        return socket;
    }
    std::string exchange(const std::string& raw) {
        auto socket = connect_unix();
        asio::write(socket, asio::buffer(raw));
        return read_all(socket);
    }
    std::vector<control::request> requests() {
        std::lock_guard lock(mutex);
        return seen;
    }

    /// Runs `work` on the io thread and waits for it.
    template <typename Work>
    auto on_io(Work work) {
        std::packaged_task<decltype(work())()> task(std::move(work));
        auto done = task.get_future();
        asio::post(io, [&task] { task(); });
        return done.get();
    }
    /// Waits until `count` "/later" requests reached the handler.
    void await_later(std::size_t count) {
        for (int tries = 0; tries < 1000; ++tries) {
            {
                std::lock_guard lock(mutex);
                if (later.size() >= count) {
                    return;
                }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        FAIL() << "the handler never saw " << count << " /later requests";
    }
    /// Answers the `index`th "/later" request on the io thread.
    void answer_later(std::size_t index, std::string body) {
        on_io([&] {
            std::lock_guard lock(mutex);
            later.at(index)(control::response{200, std::move(body), {}});
            return true;
        });
    }
    control_server_stats stats() {
        return on_io([&] { return server->stats(); });
    }
};

TEST_F(control_server_test, get_over_the_unix_socket_reaches_the_handler) {
    start_ok(config());
    const std::string reply =
        exchange("GET /v1/status HTTP/1.1\r\nHost: reef\r\nUser-Agent: test\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0U) << reply;
    EXPECT_NE(reply.find("Content-Type: application/json\r\n"), std::string::npos);
    EXPECT_NE(reply.find("Content-Length: 13\r\n"), std::string::npos) << reply;
    EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(reply.substr(reply.find("\r\n\r\n") + 4), "{\"ok\": true}\n");
    const auto got = requests();
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].method, "GET");
    EXPECT_EQ(got[0].target, "/v1/status");
    EXPECT_TRUE(got[0].body.empty());
}

TEST_F(control_server_test, a_post_body_is_delivered_whole) {
    start_ok(config());
    const std::string body = R"({"address": "127.0.0.1:7402"})";
    const std::string reply = exchange("POST /v1/join HTTP/1.1\r\nContent-Length: " +
                                       std::to_string(body.size()) + "\r\n\r\n" + body);
    EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0U) << reply;
    const auto got = requests();
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].method, "POST");
    EXPECT_EQ(got[0].body, body);
}

TEST_F(control_server_test, expect_continue_gets_an_interim_response) {
    start_ok(config());
    auto socket = connect_unix();
    const std::string head =
        "POST /v1/join HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n";
    asio::write(socket, asio::buffer(head));
    std::array<char, 25> interim{};
    asio::read(socket, asio::buffer(interim));
    EXPECT_EQ(std::string(interim.data(), interim.size()), "HTTP/1.1 100 Continue\r\n\r\n");
    asio::write(socket, asio::buffer(std::string("{}")));
    EXPECT_EQ(read_all(socket).rfind("HTTP/1.1 200", 0), 0U);
    ASSERT_EQ(requests().size(), 1U);
    EXPECT_EQ(requests()[0].body, "{}");
}

TEST_F(control_server_test, the_socket_file_is_private_and_removed_on_close) {
    start_ok(config());
    struct stat info {};
    ASSERT_EQ(::stat((dir / "control.sock").c_str(), &info), 0);
    EXPECT_TRUE(S_ISSOCK(info.st_mode));
    EXPECT_EQ(info.st_mode & 0777U, 0600U);
    stop();
    EXPECT_FALSE(fs::exists(dir / "control.sock"));
}

TEST_F(control_server_test, a_stale_socket_file_is_replaced) {
    {
        asio::local::stream_protocol::acceptor stale(client_io);
        stale.open(asio::local::stream_protocol());
        stale.bind(asio::local::stream_protocol::endpoint((dir / "control.sock").string()));
    }
    ASSERT_TRUE(fs::exists(dir / "control.sock"));
    start_ok(config());
    EXPECT_EQ(exchange("GET /v1/status HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0U);
}

TEST_F(control_server_test, a_regular_file_at_the_socket_path_is_refused) {
    std::ofstream(dir / "control.sock") << "precious";
    auto started = start(config());
    ASSERT_FALSE(started.ok());
    EXPECT_NE(started.failure().message.find("is not a socket"), std::string::npos);
    EXPECT_TRUE(fs::exists(dir / "control.sock"));
}

TEST_F(control_server_test, a_too_long_socket_path_is_refused) {
    control_server_config limits = config();
    limits.socket_path = (dir / std::string(120, 's')).string();
    auto started = start(limits);
    ASSERT_FALSE(started.ok());
    EXPECT_NE(started.failure().message.find("is too long"), std::string::npos);
}

TEST_F(control_server_test, the_tcp_listener_serves_the_same_api) {
    control_server_config limits = config();
    limits.tcp_address = "127.0.0.1:0";
    start_ok(limits);
    const std::string bound = server->tcp_address();
    ASSERT_EQ(bound.rfind("127.0.0.1:", 0), 0U) << bound;
    const auto port = static_cast<std::uint16_t>(std::stoi(bound.substr(10)));
    EXPECT_NE(port, 0);
    asio::ip::tcp::socket socket(client_io);
    socket.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(socket, asio::buffer(std::string("GET /v1/peers HTTP/1.1\r\n\r\n")));
    EXPECT_EQ(read_all(socket).rfind("HTTP/1.1 200", 0), 0U);
    ASSERT_EQ(requests().size(), 1U);
    EXPECT_EQ(requests()[0].target, "/v1/peers");
}

TEST_F(control_server_test, a_tcp_port_in_use_is_refused_with_the_reason) {
    asio::ip::tcp::acceptor taken(client_io,
                                  asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto port = taken.local_endpoint().port();
    control_server_config limits = config();
    limits.tcp_address = "127.0.0.1:" + std::to_string(port);
    auto started = start(limits);
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.failure().message,
              "cannot listen on 127.0.0.1:" + std::to_string(port) + ": address already in use");
    // The Unix socket is not left behind by a failed start.
    EXPECT_FALSE(fs::exists(dir / "control.sock"));
}

TEST_F(control_server_test, a_non_loopback_tcp_address_is_refused) {
    control_server_config limits = config();
    limits.tcp_address = "8.8.8.8:7500";
    auto started = start(limits);
    ASSERT_FALSE(started.ok());
    EXPECT_NE(started.failure().message.find("loopback"), std::string::npos);
}

TEST_F(control_server_test, malformed_http_gets_400_and_the_connection_closes) {
    start_ok(config());
    const std::string reply = exchange("GARBAGE\x01\x02 nonsense\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0U) << reply;
    EXPECT_NE(reply.find("malformed HTTP request"), std::string::npos) << reply;
    EXPECT_NE(reply.find("\"code\":\"invalid argument\""), std::string::npos) << reply;
    EXPECT_TRUE(requests().empty());
    // The server is unharmed.
    EXPECT_EQ(exchange("GET /v1/status HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0U);
}

TEST_F(control_server_test, a_request_cut_short_gets_400) {
    start_ok(config());
    auto socket = connect_unix();
    asio::write(socket, asio::buffer(std::string("POST /v1/join HTTP/1.1\r\nContent-Length: 50"
                                                 "\r\n\r\n{\"addr")));
    socket.shutdown(asio::socket_base::shutdown_send);
    const std::string reply = read_all(socket);
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0U) << reply;
    EXPECT_NE(reply.find("ended before it was complete"), std::string::npos) << reply;
}

TEST_F(control_server_test, oversized_headers_get_431) {
    start_ok(config());
    const std::string reply = exchange("GET /v1/status HTTP/1.1\r\nX-Big: " +
                                       std::string(9000, 'x') + "\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 431", 0), 0U) << reply.substr(0, 200);
    EXPECT_NE(reply.find("exceed 8192 bytes"), std::string::npos);
    EXPECT_TRUE(requests().empty());
}

TEST_F(control_server_test, too_many_header_lines_get_431) {
    start_ok(config());
    std::string raw = "GET /v1/status HTTP/1.1\r\n";
    for (int i = 0; i < 150; ++i) {
        raw += "X: y\r\n";
    }
    const std::string reply = exchange(raw + "\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 431", 0), 0U) << reply;
}

TEST_F(control_server_test, an_oversized_body_gets_413_before_it_is_read) {
    start_ok(config());
    const std::string reply =
        exchange("POST /v1/join HTTP/1.1\r\nContent-Length: 70000\r\n\r\n{\"address\"");
    EXPECT_EQ(reply.rfind("HTTP/1.1 413 Payload Too Large", 0), 0U) << reply;
    EXPECT_NE(reply.find("at most 65536"), std::string::npos);
    EXPECT_TRUE(requests().empty());
}

TEST_F(control_server_test, chunked_bodies_get_411) {
    start_ok(config());
    const std::string reply = exchange(
        "POST /v1/join HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 411", 0), 0U) << reply;
    EXPECT_NE(reply.find("send Content-Length"), std::string::npos);
}

TEST_F(control_server_test, a_stalled_request_gets_408_after_the_timeout) {
    control_server_config limits = config();
    limits.request_timeout = duration::milliseconds(200);
    start_ok(limits);
    auto socket = connect_unix();
    asio::write(socket, asio::buffer(std::string("GET /v1/status HTTP/1.1\r\n")));
    const std::string reply = read_all(socket);
    EXPECT_EQ(reply.rfind("HTTP/1.1 408", 0), 0U) << reply;
    EXPECT_NE(reply.find("\"code\":\"timeout\""), std::string::npos) << reply;
    EXPECT_TRUE(requests().empty());
}

TEST_F(control_server_test, connections_beyond_the_limit_get_503) {
    control_server_config limits = config();
    limits.connections_max = 2;
    start_ok(limits);
    auto first = connect_unix();
    auto second = connect_unix();
    asio::write(first, asio::buffer(std::string("GET /v1/status HTTP/1.1\r\n")));
    asio::write(second, asio::buffer(std::string("GET /v1/status HTTP/1.1\r\n")));
    const std::string third = exchange("GET /v1/status HTTP/1.1\r\n\r\n");
    EXPECT_EQ(third.rfind("HTTP/1.1 503", 0), 0U) << third;
    EXPECT_NE(third.find("too many control connections (at most 2)"), std::string::npos);
    // The waiting ones are still served.
    asio::write(first, asio::buffer(std::string("\r\n")));
    EXPECT_EQ(read_all(first).rfind("HTTP/1.1 200", 0), 0U);
    first.close();
    second.close();
}

TEST_F(control_server_test, protocol_upgrades_get_400) {
    start_ok(config());
    const std::string reply = exchange(
        "GET /v1/status HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0U) << reply;
    EXPECT_NE(reply.find("upgrades are not supported"), std::string::npos) << reply;
    EXPECT_TRUE(requests().empty());
}

TEST_F(control_server_test, a_handler_exception_becomes_500) {
    start_ok(config());
    const std::string reply = exchange("GET /throw HTTP/1.1\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 500", 0), 0U) << reply;
    EXPECT_NE(reply.find("handler broke"), std::string::npos);
    EXPECT_EQ(exchange("GET /v1/status HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0U);
}

TEST_F(control_server_test, a_late_answer_is_delivered) {
    start_ok(config());
    auto socket = connect_unix();
    asio::write(socket, asio::buffer(std::string("POST /later HTTP/1.1\r\n\r\n")));
    await_later(1);
    // Other requests are served while that one waits.
    EXPECT_EQ(exchange("GET /v1/status HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0U);
    answer_later(0, R"({"late": true})");
    const std::string reply = read_all(socket);
    EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0U) << reply;
    EXPECT_NE(reply.find(R"({"late": true})"), std::string::npos) << reply;
    EXPECT_EQ(stats().requests_answered, 2U);
}

TEST_F(control_server_test, an_answer_after_the_client_left_is_harmless) {
    start_ok(config());
    {
        auto socket = connect_unix();
        asio::write(socket, asio::buffer(std::string("GET /later HTTP/1.1\r\n\r\n")));
        await_later(1);
    }
    answer_later(0, R"({"late": true})");
    EXPECT_EQ(exchange("GET /v1/status HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0U);
    EXPECT_EQ(stats().answers_timed_out, 0U);
}

TEST_F(control_server_test, an_unanswered_request_gets_504_and_a_later_answer_is_discarded) {
    control_server_config limits = config();
    limits.answer_timeout = duration::milliseconds(200);
    start_ok(limits);
    auto socket = connect_unix();
    asio::write(socket, asio::buffer(std::string("GET /later HTTP/1.1\r\n\r\n")));
    const std::string reply = read_all(socket);
    EXPECT_EQ(reply.rfind("HTTP/1.1 504 Gateway Timeout\r\n", 0), 0U) << reply;
    EXPECT_NE(reply.find("\"code\":\"timeout\""), std::string::npos) << reply;
    answer_later(0, R"({"late": true})");
    const auto counted = stats();
    EXPECT_EQ(counted.answers_timed_out, 1U);
    EXPECT_EQ(counted.answers_discarded, 1U);
    EXPECT_EQ(counted.requests_answered, 0U);
}

TEST_F(control_server_test, an_answer_after_close_does_nothing) {
    start_ok(config());
    auto socket = connect_unix();
    asio::write(socket, asio::buffer(std::string("GET /later HTTP/1.1\r\n\r\n")));
    await_later(1);
    stop();
    // The io_context has stopped: the responder finds no connection and does nothing.
    later.at(0)(control::response{200, "{}", {}});
    EXPECT_EQ(read_all(socket), "");
}

TEST_F(control_server_test, a_method_not_allowed_reply_carries_allow) {
    server = std::make_unique<control_server>(
        io, config(), [](const control::request&, control_server::responder respond) {
            control::response refused =
                control::error_response(405, errc::invalid_argument, "no");
            refused.allow = "GET";
            respond(std::move(refused));
        });
    ASSERT_TRUE(server->start().ok());
    runner = std::thread([this] { io.run(); });
    const std::string reply = exchange("POST /v1/status HTTP/1.1\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0U) << reply;
    EXPECT_NE(reply.find("Allow: GET\r\n"), std::string::npos);
}

} // namespace
} // namespace reef::runtime
