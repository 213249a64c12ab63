#include "http_client.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace reef::cli {
namespace {

using clock_type = std::chrono::steady_clock;

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    return text;
}

error malformed(std::string why) {
    return make_error(errc::invalid_argument, "malformed HTTP answer: " + std::move(why));
}

/// Decodes a chunked body; `text` starts at the first chunk-size line.
result<std::string> decode_chunked(std::string_view text) {
    std::string body;
    while (true) {
        std::size_t line_end = text.find("\r\n");
        if (line_end == std::string_view::npos) {
            return malformed("truncated chunk size");
        }
        std::string_view size_text = text.substr(0, line_end);
        size_text = size_text.substr(0, size_text.find(';'));
        std::size_t size = 0;
        auto [end, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(),
                                         size, 16);
        if (size_text.empty() || ec != std::errc() || end != size_text.data() + size_text.size()) {
            return malformed("bad chunk size \"" + std::string(size_text) + "\"");
        }
        text.remove_prefix(line_end + 2);
        if (size == 0) {
            return body;
        }
        if (size > response_size_max || text.size() < size + 2) {
            return malformed("truncated chunk");
        }
        body.append(text.substr(0, size));
        text.remove_prefix(size + 2);
    }
}

result<http_response> parse_status_line(std::string_view line) {
    // "HTTP/1.1 200 OK"
    if (!line.starts_with("HTTP/1.")) {
        return malformed("not an HTTP/1.x status line");
    }
    std::size_t space = line.find(' ');
    if (space == std::string_view::npos || line.size() < space + 4) {
        return malformed("status line too short");
    }
    std::string_view code_text = line.substr(space + 1, 3);
    http_response response;
    auto [end, ec] = std::from_chars(code_text.data(), code_text.data() + 3, response.status_code);
    if (ec != std::errc() || end != code_text.data() + 3 || response.status_code < 100 ||
        response.status_code > 599) {
        return malformed("bad status code \"" + std::string(code_text) + "\"");
    }
    response.reason = std::string(trim(line.substr(std::min(line.size(), space + 4))));
    return response;
}

} // namespace

std::string control_endpoint::text() const { return is_unix ? socket_path : tcp.text(); }

std::string_view http_response::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (key == name) {
            return value;
        }
    }
    return {};
}

result<http_response> parse_http_response(std::string_view raw) {
    std::size_t head_end = raw.find("\r\n\r\n");
    if (head_end == std::string_view::npos) {
        return malformed(raw.empty() ? "the connection closed without an answer"
                                     : "the header is not terminated");
    }
    std::string_view head = raw.substr(0, head_end);
    std::string_view rest = raw.substr(head_end + 4);
    std::size_t line_end = head.find("\r\n");
    auto response = parse_status_line(head.substr(0, line_end));
    if (!response) {
        return response;
    }
    while (line_end != std::string_view::npos) {
        head.remove_prefix(line_end + 2);
        line_end = head.find("\r\n");
        std::string_view line = head.substr(0, line_end);
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            return malformed("bad header line");
        }
        response->headers.emplace_back(lower(trim(line.substr(0, colon))),
                                       std::string(trim(line.substr(colon + 1))));
    }
    if (lower(response->header("transfer-encoding")).find("chunked") != std::string::npos) {
        auto body = decode_chunked(rest);
        if (!body) {
            return body.failure();
        }
        response->body = std::move(*body);
        return response;
    }
    std::string_view length_text = response->header("content-length");
    if (length_text.empty()) {
        response->body = std::string(rest);
        return response;
    }
    std::size_t length = 0;
    auto [end, ec] =
        std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
    if (ec != std::errc() || end != length_text.data() + length_text.size()) {
        return malformed("bad Content-Length \"" + std::string(length_text) + "\"");
    }
    if (rest.size() < length) {
        return malformed("the body is shorter than its Content-Length (" +
                         std::to_string(rest.size()) + " of " + std::to_string(length) +
                         " bytes)");
    }
    response->body = std::string(rest.substr(0, length));
    return response;
}

std::string format_http_request(std::string_view method, std::string_view target,
                                std::string_view host, std::string_view json_body) {
    std::string request;
    request.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
    request.append("Host: ").append(host).append("\r\n");
    request.append("User-Agent: reef-cli\r\nAccept: application/json\r\nConnection: close\r\n");
    if (!json_body.empty() || method == "POST") {
        request.append("Content-Type: application/json\r\n");
        request.append("Content-Length: ").append(std::to_string(json_body.size())).append("\r\n");
    }
    request.append("\r\n").append(json_body);
    return request;
}

namespace {

class socket_fd {
public:
    explicit socket_fd(int fd) : fd_(fd) {}
    socket_fd(const socket_fd&) = delete;
    socket_fd& operator=(const socket_fd&) = delete;
    ~socket_fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int get() const { return fd_; }

private:
    int fd_;
};

int remaining_ms(clock_type::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

/// Waits until `fd` is ready for `events`; false on timeout.
result<bool> wait_ready(int fd, short events, clock_type::time_point deadline) {
    while (true) {
        pollfd entry{fd, events, 0};
        int ready = ::poll(&entry, 1, remaining_ms(deadline));
        if (ready > 0) {
            return true;
        }
        if (ready == 0) {
            return false;
        }
        if (errno != EINTR) {
            return make_error(errc::io_error, std::string("poll: ") + std::strerror(errno));
        }
    }
}

error connect_error(int code, const control_endpoint& endpoint) {
    std::string what = "connect to " + endpoint.text() + ": " + std::strerror(code);
    if (code == ENOENT || code == ECONNREFUSED || code == ENOTDIR || code == EHOSTUNREACH ||
        code == ENETUNREACH) {
        return make_error(errc::unavailable, what);
    }
    if (code == EACCES || code == EPERM) {
        return make_error(errc::permission_denied, what);
    }
    return make_error(errc::io_error, what);
}

/// Finishes a non-blocking connect within the deadline.
status finish_connect(int fd, const control_endpoint& endpoint, clock_type::time_point deadline) {
    auto ready = wait_ready(fd, POLLOUT, deadline);
    if (!ready) {
        return ready.failure();
    }
    if (!*ready) {
        return make_error(errc::timeout, "no answer from " + endpoint.text() + " while connecting");
    }
    int code = 0;
    socklen_t size = sizeof(code);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &size) != 0) {
        code = errno;
    }
    if (code != 0) {
        return connect_error(code, endpoint);
    }
    return {};
}

result<int> connect_unix(const control_endpoint& endpoint, clock_type::time_point deadline) {
    auto checked = check_socket_path(endpoint.socket_path);
    if (!checked) {
        return checked.failure();
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return make_error(errc::io_error, std::string("socket: ") + std::strerror(errno));
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, endpoint.socket_path.data(), endpoint.socket_path.size());
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
        return fd;
    }
    int code = errno;
    if (code == EINPROGRESS || code == EAGAIN) {
        auto finished = finish_connect(fd, endpoint, deadline);
        if (finished) {
            return fd;
        }
        ::close(fd);
        return finished.failure();
    }
    ::close(fd);
    return connect_error(code, endpoint);
}

result<int> connect_tcp(const control_endpoint& endpoint, clock_type::time_point deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    std::string port = std::to_string(endpoint.tcp.port);
    int code = ::getaddrinfo(endpoint.tcp.host.c_str(), port.c_str(), &hints, &found);
    if (code != 0) {
        return make_error(errc::unavailable, "cannot resolve \"" + endpoint.tcp.host +
                                                 "\": " + ::gai_strerror(code));
    }
    error last = make_error(errc::unavailable, "no address for " + endpoint.text());
    for (addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
        int fd = ::socket(entry->ai_family, entry->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                          entry->ai_protocol);
        if (fd < 0) {
            continue;
        }
        status connected;
        if (::connect(fd, entry->ai_addr, entry->ai_addrlen) != 0) {
            connected = errno == EINPROGRESS ? finish_connect(fd, endpoint, deadline)
                                             : status(connect_error(errno, endpoint));
        }
        if (connected) {
            ::freeaddrinfo(found);
            return fd;
        }
        ::close(fd);
        last = connected.failure();
    }
    ::freeaddrinfo(found);
    return last;
}

status send_all(int fd, std::string_view data, const control_endpoint& endpoint,
                clock_type::time_point deadline) {
    while (!data.empty()) {
        ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (sent > 0) {
            data.remove_prefix(static_cast<std::size_t>(sent));
            continue;
        }
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            auto ready = wait_ready(fd, POLLOUT, deadline);
            if (!ready) {
                return ready.failure();
            }
            if (!*ready) {
                return make_error(errc::timeout, "no answer from " + endpoint.text() +
                                                     " while sending the request");
            }
            continue;
        }
        return make_error(errc::io_error, "send to " + endpoint.text() + ": " +
                                              std::strerror(errno));
    }
    return {};
}

/// True once `raw` holds a whole response framed by Content-Length (so we need not wait for
/// the server to close).
bool response_complete(std::string_view raw) {
    std::size_t head_end = raw.find("\r\n\r\n");
    if (head_end == std::string_view::npos) {
        return false;
    }
    auto parsed = parse_http_response(raw);
    return parsed.ok() && !parsed->header("content-length").empty();
}

result<std::string> receive_all(int fd, const control_endpoint& endpoint,
                                clock_type::time_point deadline) {
    std::string raw;
    char buffer[16384];
    while (true) {
        ssize_t got = ::recv(fd, buffer, sizeof(buffer), 0);
        if (got > 0) {
            raw.append(buffer, static_cast<std::size_t>(got));
            if (raw.size() > response_size_max) {
                return make_error(errc::resource_exhausted,
                                  "the answer from " + endpoint.text() + " exceeds " +
                                      std::to_string(response_size_max) + " bytes");
            }
            if (response_complete(raw)) {
                return raw;
            }
            continue;
        }
        if (got == 0) {
            return raw;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return make_error(errc::io_error, "receive from " + endpoint.text() + ": " +
                                                  std::strerror(errno));
        }
        auto ready = wait_ready(fd, POLLIN, deadline);
        if (!ready) {
            return ready.failure();
        }
        if (!*ready) {
            return make_error(errc::timeout, "no answer from " + endpoint.text() + " within " +
                                                 "the timeout (the node may be overloaded or "
                                                 "stuck)");
        }
    }
}

} // namespace

result<http_response> http_call(const control_endpoint& endpoint, std::string_view method,
                                std::string_view target, std::string_view json_body,
                                std::chrono::milliseconds timeout) {
    REEF_ASSERT(timeout.count() > 0);
    REEF_ASSERT(target.starts_with("/"));
    auto deadline = clock_type::now() + timeout;
    auto connected = endpoint.is_unix ? connect_unix(endpoint, deadline)
                                      : connect_tcp(endpoint, deadline);
    if (!connected) {
        return connected.failure();
    }
    socket_fd fd(*connected);
    std::string host = endpoint.is_unix ? "localhost" : endpoint.tcp.text();
    auto sent = send_all(fd.get(), format_http_request(method, target, host, json_body), endpoint,
                         deadline);
    if (!sent) {
        return sent.failure();
    }
    auto raw = receive_all(fd.get(), endpoint, deadline);
    if (!raw) {
        return raw.failure();
    }
    auto parsed = parse_http_response(*raw);
    if (!parsed) {
        return make_error(errc::invalid_argument, "from " + endpoint.text() + ": " +
                                                      parsed.failure().message);
    }
    return parsed;
}

} // namespace reef::cli
