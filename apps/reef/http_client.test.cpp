#include "http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

namespace reef::cli {
namespace {

TEST(parse_http_response, reads_a_content_length_body) {
    auto parsed = parse_http_response(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
        "trailing");
    ASSERT_TRUE(parsed.ok()) << parsed.failure().message;
    EXPECT_EQ(parsed->status_code, 200);
    EXPECT_EQ(parsed->reason, "OK");
    EXPECT_EQ(parsed->header("content-type"), "application/json");
    EXPECT_EQ(parsed->body, "{\"a\":1}");
}

TEST(parse_http_response, reads_chunked_and_close_framed_bodies) {
    auto chunked =
        parse_http_response("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "3\r\nabc\r\na;x=y\r\n0123456789\r\n0\r\n\r\n");
    ASSERT_TRUE(chunked.ok()) << chunked.failure().message;
    EXPECT_EQ(chunked->status_code, 404);
    EXPECT_EQ(chunked->body, "abc0123456789");

    auto until_close = parse_http_response("HTTP/1.0 500 Oops\r\nX: y\r\n\r\nall of it");
    ASSERT_TRUE(until_close.ok());
    EXPECT_EQ(until_close->status_code, 500);
    EXPECT_EQ(until_close->body, "all of it");
}

TEST(parse_http_response, rejects_malformed_answers) {
    const char* bad[] = {
        "",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",             // header not terminated
        "SSH-2.0-OpenSSH\r\n\r\n",                             // not HTTP
        "HTTP/1.1 2x0 OK\r\n\r\n",                             // bad code
        "HTTP/1.1 999 OK\r\n\r\n",                             // out of range
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",            // bad header
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",  // truncated body
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",       // bad length
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",   // bad chunk size
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",  // truncated chunk
    };
    for (const char* raw : bad) {
        auto parsed = parse_http_response(raw);
        EXPECT_FALSE(parsed.ok()) << "accepted: " << raw;
        if (!parsed.ok()) {
            EXPECT_EQ(parsed.failure().code, errc::invalid_argument);
        }
    }
}

TEST(format_http_request, frames_post_bodies_with_content_length) {
    std::string request = format_http_request("POST", "/v1/join", "localhost", "{\"x\":1}");
    EXPECT_EQ(request.rfind("POST /v1/join HTTP/1.1\r\n", 0), 0U);
    EXPECT_NE(request.find("Content-Length: 7\r\n"), std::string::npos);
    EXPECT_NE(request.find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(request.substr(request.size() - 11), "\r\n\r\n{\"x\":1}");
    std::string get = format_http_request("GET", "/v1/status", "localhost", "");
    EXPECT_EQ(get.find("Content-Length"), std::string::npos);
}

/// A one-shot Unix socket server on a temp path that answers with `reply` (or never answers).
class fake_server {
public:
    explicit fake_server(std::string reply, bool answer = true) {
        path_ = (std::filesystem::temp_directory_path() /
                 ("reef-cli-test-" + std::to_string(::getpid()) + "-" +
                  std::to_string(counter_++) + ".sock"))
                    .string();
        std::filesystem::remove(path_);
        listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path_.data(), path_.size());
        EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        EXPECT_EQ(::listen(listen_fd_, 4), 0);
        thread_ = std::thread([this, reply = std::move(reply), answer] {
            int fd = ::accept(listen_fd_, nullptr, nullptr);
            if (fd < 0) {
                return;
            }
            char buffer[4096];
            ssize_t got = ::recv(fd, buffer, sizeof(buffer), 0);
            if (got > 0) {
                request_.assign(buffer, static_cast<std::size_t>(got));
            }
            if (answer) {
                ssize_t sent = ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
                (void)sent;
            } else {
                char drain[16];
                ssize_t ignored = ::recv(fd, drain, sizeof(drain), 0); // until the client gives up
                (void)ignored;
            }
            ::close(fd);
        });
    }
    fake_server(const fake_server&) = delete;
    fake_server& operator=(const fake_server&) = delete;
    ~fake_server() {
        thread_.join();
        ::close(listen_fd_);
        std::filesystem::remove(path_);
    }
    control_endpoint endpoint() const { return control_endpoint{true, path_, {}}; }
    const std::string& request() const { return request_; }

private:
    static inline int counter_ = 0;
    std::string path_;
    int listen_fd_ = -1;
    std::thread thread_;
    std::string request_;
};

TEST(http_call, talks_http_over_a_unix_socket) {
    std::string body = "{\"ok\":true}";
    fake_server server("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\n\r\n" + body);
    auto answer = http_call(server.endpoint(), "POST", "/v1/leave", "{}",
                            std::chrono::milliseconds(10000));
    ASSERT_TRUE(answer.ok()) << answer.failure().message;
    EXPECT_EQ(answer->status_code, 200);
    EXPECT_EQ(answer->body, body);
}

TEST(http_call, reports_a_missing_socket_as_unavailable) {
    control_endpoint nowhere{true, "/nonexistent-reef-dir/control.sock", {}};
    auto answer = http_call(nowhere, "GET", "/v1/status", "", std::chrono::milliseconds(1000));
    ASSERT_FALSE(answer.ok());
    EXPECT_EQ(answer.failure().code, errc::unavailable);
    EXPECT_NE(answer.failure().message.find("/nonexistent-reef-dir/control.sock"),
              std::string::npos);
}

TEST(http_call, reports_a_refused_tcp_connection_as_unavailable) {
    // Bind a port and close it again: nothing listens there afterwards.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t size = sizeof(addr);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size), 0);
    ::close(fd);
    control_endpoint endpoint{false, "", host_port{"127.0.0.1", ntohs(addr.sin_port)}};
    auto answer = http_call(endpoint, "GET", "/v1/status", "", std::chrono::milliseconds(5000));
    ASSERT_FALSE(answer.ok());
    EXPECT_EQ(answer.failure().code, errc::unavailable);
}

TEST(http_call, gives_up_on_a_silent_server_with_timeout) {
    fake_server server("", false);
    auto answer = http_call(server.endpoint(), "GET", "/v1/status", "",
                            std::chrono::milliseconds(300));
    ASSERT_FALSE(answer.ok());
    EXPECT_EQ(answer.failure().code, errc::timeout);
}

TEST(http_call, rejects_an_answer_that_is_not_http) {
    fake_server server("SSH-2.0-OpenSSH_9.2\r\n");
    auto answer = http_call(server.endpoint(), "GET", "/v1/status", "",
                            std::chrono::milliseconds(10000));
    ASSERT_FALSE(answer.ok());
    EXPECT_EQ(answer.failure().code, errc::invalid_argument);
}

} // namespace
} // namespace reef::cli
