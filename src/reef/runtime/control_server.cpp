#include "reef/runtime/control_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <unordered_set>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <http_parser.h>

#include "reef/base/address.hpp"
#include "reef/runtime/log.hpp"

namespace reef::runtime {

namespace {

/// Most header lines in one request.
constexpr std::size_t header_count_max = 100;
/// How long a connection lingers after its response, draining what the client still sends,
/// so that closing does not reset the connection before the client has read the response.
constexpr auto linger_max = std::chrono::seconds(1);

std::chrono::nanoseconds to_chrono(duration span) { return std::chrono::nanoseconds(span.ns()); }

std::string lowercase(std::string text) {
    for (auto& c : text) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return text;
}

/// "Address already in use" -> "address already in use", to read well after a colon.
std::string os_message(const std::error_code& failure) {
    std::string text = failure.message();
    if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z') {
        text[0] = static_cast<char>(text[0] - 'A' + 'a');
    }
    return text;
}

std::string serialize(const control::response& reply) {
    std::string body = reply.body;
    body += '\n';
    std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " +
                      std::string(control::reason_phrase(reply.status)) + "\r\n";
    out += "Content-Type: application/json\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    if (!reply.allow.empty()) {
        out += "Allow: " + reply.allow + "\r\n";
    }
    out += "Connection: close\r\n\r\n";
    out += body;
    return out;
}

/// One HTTP request, parsed incrementally under the server's limits. Never throws, never
/// asserts on input: every problem becomes a refusal response.
class request_parser {
public:
    enum class state { incomplete, complete, refused };

    explicit request_parser(const control_server_config& limits) : limits_(limits) {
        http_parser_init(&parser_, HTTP_REQUEST);
        parser_.data = this;
    }
    request_parser(const request_parser&) = delete;
    request_parser& operator=(const request_parser&) = delete;

    /// Feed received bytes; an empty span means the client closed its side.
    state feed(const char* data, std::size_t size) {
        if (state_ != state::incomplete) {
            return state_;
        }
        received_ += size;
        http_parser_execute(&parser_, &settings(), data, size);
        if (state_ == state::refused) {
            return state_;
        }
        if (state_ == state::complete) {
            if (parser_.upgrade != 0) {
                state_ = state::incomplete;
                refuse(400, errc::invalid_argument, "protocol upgrades are not supported");
            }
            return state_;
        }
        const auto code = HTTP_PARSER_ERRNO(&parser_);
        if (size == 0) {
            refuse(400, errc::invalid_argument, "the request ended before it was complete");
        } else if (code != HPE_OK) {
            refuse(400, errc::invalid_argument,
                   std::string("malformed HTTP request: ") + http_errno_description(code));
        } else if (!headers_done_ && received_ > 2 * limits_.header_size_max) {
            refuse(431, errc::resource_exhausted, header_limit_message());
        }
        return state_;
    }

    const control::request& request() const { return request_; }
    const control::response& refusal() const { return refusal_; }
    /// "413, body is ... bytes", for the log.
    const std::string& refusal_reason() const { return refusal_reason_; }

    /// True once, when the client asked for "Expect: 100-continue" before sending a body.
    bool take_continue() { return std::exchange(continue_wanted_, false); }

private:
    static const http_parser_settings& settings() {
        static const http_parser_settings instance = [] {
            http_parser_settings out{};
            http_parser_settings_init(&out);
            out.on_url = &request_parser::on_url;
            out.on_header_field = &request_parser::on_header_field;
            out.on_header_value = &request_parser::on_header_value;
            out.on_headers_complete = &request_parser::on_headers_complete;
            out.on_body = &request_parser::on_body;
            out.on_message_complete = &request_parser::on_message_complete;
            return out;
        }();
        return instance;
    }
    static request_parser& self(http_parser* parser) {
        return *static_cast<request_parser*>(parser->data);
    }

    std::string header_limit_message() const {
        return "request headers exceed " + std::to_string(limits_.header_size_max) + " bytes";
    }

    int refuse(int status, errc code, const std::string& message) {
        if (state_ == state::incomplete) {
            refusal_ = control::error_response(status, code, message);
            refusal_reason_ = std::to_string(status) + ", " + message;
            state_ = state::refused;
        }
        // Non-zero stops the parser; for on_headers_complete 1 and 2 mean "no body", so -1.
        return -1;
    }

    /// Counts header bytes; false (and a refusal) once they exceed the limit.
    bool count_header_bytes(std::size_t size) {
        header_bytes_ += size;
        if (header_bytes_ > limits_.header_size_max) {
            refuse(431, errc::resource_exhausted, header_limit_message());
            return false;
        }
        return true;
    }

    void finish_header() {
        if (!field_.empty() && lowercase(field_) == "expect" &&
            lowercase(value_) == "100-continue") {
            expect_continue_ = true;
        }
        field_.clear();
        value_.clear();
    }

    static int on_url(http_parser* parser, const char* data, std::size_t size) {
        auto& me = self(parser);
        if (!me.count_header_bytes(size)) {
            return 1;
        }
        me.request_.target.append(data, size);
        return 0;
    }
    static int on_header_field(http_parser* parser, const char* data, std::size_t size) {
        auto& me = self(parser);
        if (!me.count_header_bytes(size)) {
            return 1;
        }
        if (me.in_value_) {
            me.finish_header();
            me.in_value_ = false;
        }
        if (me.field_.empty() && ++me.header_count_ > header_count_max) {
            return me.refuse(431, errc::resource_exhausted,
                             "more than " + std::to_string(header_count_max) + " header lines");
        }
        me.field_.append(data, size);
        return 0;
    }
    static int on_header_value(http_parser* parser, const char* data, std::size_t size) {
        auto& me = self(parser);
        if (!me.count_header_bytes(size)) {
            return 1;
        }
        me.in_value_ = true;
        me.value_.append(data, size);
        return 0;
    }
    static int on_headers_complete(http_parser* parser) {
        auto& me = self(parser);
        me.finish_header();
        me.headers_done_ = true;
        me.request_.method = http_method_str(static_cast<http_method>(parser->method));
        if (parser->uses_transfer_encoding != 0 || (parser->flags & F_CHUNKED) != 0) {
            return me.refuse(411, errc::invalid_argument,
                             "chunked or encoded request bodies are not supported; send "
                             "Content-Length");
        }
        const bool has_length = (parser->flags & F_CONTENTLENGTH) != 0;
        if (has_length && parser->content_length > me.limits_.body_size_max) {
            return me.refuse(413, errc::resource_exhausted,
                             "body is " + std::to_string(parser->content_length) +
                                 " bytes (at most " + std::to_string(me.limits_.body_size_max) +
                                 ")");
        }
        me.continue_wanted_ = me.expect_continue_ && has_length && parser->content_length > 0;
        return 0;
    }
    static int on_body(http_parser* parser, const char* data, std::size_t size) {
        auto& me = self(parser);
        if (me.request_.body.size() + size > me.limits_.body_size_max) {
            return me.refuse(413, errc::resource_exhausted,
                             "body exceeds " + std::to_string(me.limits_.body_size_max) +
                                 " bytes");
        }
        me.request_.body.append(data, size);
        return 0;
    }
    static int on_message_complete(http_parser* parser) {
        auto& me = self(parser);
        if (me.state_ == state::incomplete) {
            me.state_ = state::complete;
        }
        // One request per connection: ignore anything after it.
        http_parser_pause(parser, 1);
        return 0;
    }

    const control_server_config& limits_;
    http_parser parser_{};
    state state_ = state::incomplete;
    control::request request_;
    control::response refusal_;
    std::string refusal_reason_;
    std::size_t received_ = 0;
    std::size_t header_bytes_ = 0;
    std::size_t header_count_ = 0;
    std::string field_;
    std::string value_;
    bool in_value_ = false;
    bool headers_done_ = false;
    bool expect_continue_ = false;
    bool continue_wanted_ = false;
};

class connection_base {
public:
    virtual ~connection_base() = default;
    virtual void stop() = 0;
};

/// What connections share with the server; kept alive by them until the last one ends.
struct server_state {
    server_state(asio::io_context& context, control_server_config config,
                 control_server::handler callback)
        : io(context), limits(std::move(config)), on_request(std::move(callback)) {}

    asio::io_context& io;
    control_server_config limits;
    control_server::handler on_request;
    std::unordered_set<connection_base*> live;
    control_server_stats stats;
    bool closed = false;
};

} // namespace

namespace {

template <typename Socket>
class connection final : public connection_base,
                         public std::enable_shared_from_this<connection<Socket>> {
public:
    connection(std::shared_ptr<server_state> server, Socket socket)
        : server_(std::move(server)),
          socket_(std::move(socket)),
          deadline_(server_->io),
          parser_(server_->limits) {
        server_->live.insert(this);
        server_->stats.connections_open = server_->live.size();
    }
    ~connection() override {
        server_->live.erase(this);
        server_->stats.connections_open = server_->live.size();
    }

    void start(bool busy) {
        arm(to_chrono(server_->limits.request_timeout));
        if (busy) {
            ++server_->stats.requests_refused;
            respond(control::error_response(
                503, errc::unavailable,
                "too many control connections (at most " +
                    std::to_string(server_->limits.connections_max) + "); retry shortly"));
            return;
        }
        read();
    }

    void stop() override {
        stopped_ = true;
        std::error_code ignored;
        socket_.close(ignored);
        deadline_.cancel();
    }

private:
    void arm(std::chrono::nanoseconds span) {
        deadline_.expires_after(span);
        deadline_.async_wait([self = this->shared_from_this()](const std::error_code& failure) {
            if (!failure) {
                self->on_deadline();
            }
        });
    }

    void on_deadline() {
        if (stopped_) {
            return;
        }
        if (responded_) {
            stop();
            return;
        }
        if (awaiting_) {
            awaiting_ = false;
            ++server_->stats.answers_timed_out;
            log_warn("control request {} {} not answered within {:.1f} s",
                     parser_.request().method, parser_.request().target,
                     server_->limits.answer_timeout.sec());
            arm(linger_max);
            respond(control::error_response(504, errc::timeout,
                                            "no answer within the time limit"));
            return;
        }
        ++server_->stats.requests_refused;
        log_warn("control request not complete within {:.1f} s; closing",
                 server_->limits.request_timeout.sec());
        arm(linger_max);
        respond(control::error_response(408, errc::timeout,
                                        "request not complete within the time limit"));
    }

    void read() {
        socket_.async_read_some(
            asio::buffer(buffer_),
            [self = this->shared_from_this()](const std::error_code& failure, std::size_t size) {
                self->on_read(failure, size);
            });
    }

    void on_read(const std::error_code& failure, std::size_t size) {
        if (stopped_ || responded_) {
            return;
        }
        if (failure && failure != asio::error::eof) {
            stop();
            return;
        }
        const auto state = parser_.feed(buffer_.data(), failure ? 0 : size);
        switch (state) {
        case request_parser::state::incomplete:
            if (parser_.take_continue()) {
                std::error_code ignored;
                constexpr std::string_view interim = "HTTP/1.1 100 Continue\r\n\r\n";
                asio::write(socket_, asio::buffer(interim), ignored);
            }
            read();
            return;
        case request_parser::state::complete: dispatch(); return;
        case request_parser::state::refused:
            ++server_->stats.requests_refused;
            log_warn("control request refused ({})", parser_.refusal_reason());
            respond(parser_.refusal());
            return;
        }
    }

    void dispatch() {
        // The responder holds the connection weakly: an answer after the connection ended finds
        // nothing to write to. `used` is shared by the responder's copies (at most one call).
        awaiting_ = true;
        arm(to_chrono(server_->limits.answer_timeout));
        auto used = std::make_shared<bool>(false);
        std::weak_ptr<connection> weak = this->shared_from_this();
        control_server::responder answer = [weak, used](control::response reply) {
            REEF_ASSERT(!*used);
            *used = true;
            if (auto self = weak.lock()) {
                self->on_answer(std::move(reply));
            }
        };
        try {
            server_->on_request(parser_.request(), std::move(answer));
        } catch (const std::exception& failure) {
            log_error("control request {} {} failed: {}", parser_.request().method,
                      parser_.request().target, failure.what());
            if (awaiting_ && !stopped_) {
                awaiting_ = false;
                respond(control::error_response(500, errc::internal, failure.what()));
            }
        }
    }

    void on_answer(control::response reply) {
        if (!awaiting_ || stopped_) {
            ++server_->stats.answers_discarded;
            return;
        }
        awaiting_ = false;
        ++server_->stats.requests_answered;
        respond(reply);
    }

    void respond(const control::response& reply) {
        REEF_ASSERT(!responded_);
        responded_ = true;
        auto text = std::make_shared<std::string>(serialize(reply));
        asio::async_write(socket_, asio::buffer(*text),
                          [self = this->shared_from_this(), text](const std::error_code& failure,
                                                                  std::size_t /*size*/) {
                              self->after_write(failure);
                          });
    }

    void after_write(const std::error_code& failure) {
        if (stopped_ || failure) {
            stop();
            return;
        }
        std::error_code ignored;
        socket_.shutdown(asio::socket_base::shutdown_send, ignored);
        arm(linger_max);
        drain();
    }

    void drain() {
        socket_.async_read_some(
            asio::buffer(buffer_),
            [self = this->shared_from_this()](const std::error_code& failure, std::size_t) {
                if (failure || self->stopped_) {
                    self->stop();
                    return;
                }
                self->drain();
            });
    }

    std::shared_ptr<server_state> server_;
    Socket socket_;
    asio::steady_timer deadline_;
    request_parser parser_;
    std::array<char, 4096> buffer_{};
    bool responded_ = false;
    bool stopped_ = false;
    /// The request went to the handler and its answer has not come yet.
    bool awaiting_ = false;
};

} // namespace

struct control_server::impl : server_state, std::enable_shared_from_this<impl> {
    impl(asio::io_context& context, control_server_config config, handler callback)
        : server_state(context, std::move(config), std::move(callback)),
          unix_acceptor(context),
          tcp_acceptor(context),
          unix_retry(context),
          tcp_retry(context) {}

    template <typename Acceptor>
    void accept(Acceptor& acceptor, asio::steady_timer& retry);
    status start_unix();
    status start_tcp();
    void close();

    asio::local::stream_protocol::acceptor unix_acceptor;
    asio::ip::tcp::acceptor tcp_acceptor;
    asio::steady_timer unix_retry;
    asio::steady_timer tcp_retry;
    bool socket_bound = false;
};

template <typename Acceptor>
void control_server::impl::accept(Acceptor& acceptor, asio::steady_timer& retry) {
    using socket_type = typename Acceptor::protocol_type::socket;
    acceptor.async_accept([self = shared_from_this(), &acceptor, &retry](
                              const std::error_code& failure, socket_type socket) {
        if (self->closed || failure == asio::error::operation_aborted) {
            return;
        }
        if (failure) {
            // Out of file descriptors and the like: back off instead of spinning.
            log_warn("control server cannot accept: {}", os_message(failure));
            retry.expires_after(std::chrono::milliseconds(100));
            retry.async_wait([self, &acceptor, &retry](const std::error_code& waited) {
                if (!waited && !self->closed) {
                    self->accept(acceptor, retry);
                }
            });
            return;
        }
        const std::size_t open = self->live.size();
        if (open >= 2 * self->limits.connections_max) {
            ++self->stats.requests_refused;
        } else {
            auto served = std::make_shared<connection<socket_type>>(
                std::static_pointer_cast<server_state>(self), std::move(socket));
            served->start(open >= self->limits.connections_max);
        }
        self->accept(acceptor, retry);
    });
}

status control_server::impl::start_unix() {
    const std::string& path = limits.socket_path;
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
        return make_error(errc::invalid_argument,
                          "control socket path " + path + " is too long (" +
                              std::to_string(path.size()) + " bytes, at most " +
                              std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                              "); use a shorter --data-dir");
    }
    struct stat existing {};
    if (::lstat(path.c_str(), &existing) == 0) {
        if (!S_ISSOCK(existing.st_mode)) {
            return make_error(errc::failed_precondition,
                              path + " exists and is not a socket; refusing to replace it");
        }
        // Stale: the data dir lock guarantees no running reefd owns it.
        ::unlink(path.c_str());
    }
    std::error_code failure;
    unix_acceptor.open(asio::local::stream_protocol(), failure);
    if (!failure) {
        // Create the socket file private from the start; chmod below makes it certain.
        const mode_t previous = ::umask(0177);
        unix_acceptor.bind(asio::local::stream_protocol::endpoint(path), failure);
        ::umask(previous);
    }
    if (!failure) {
        socket_bound = true;
        if (::chmod(path.c_str(), 0600) != 0) {
            return make_error(errc::io_error,
                              "cannot chmod " + path + ": " + std::strerror(errno));
        }
        unix_acceptor.listen(asio::socket_base::max_listen_connections, failure);
    }
    if (failure) {
        return make_error(errc::io_error,
                          "cannot listen on control socket " + path + ": " + os_message(failure));
    }
    accept(unix_acceptor, unix_retry);
    return {};
}

status control_server::impl::start_tcp() {
    const std::string& text = limits.tcp_address;
    auto parsed = parse_host_port(text, port_zero::allowed);
    if (!parsed) {
        return make_error(errc::invalid_argument, "control address: " + parsed.failure().message);
    }
    const std::string host = parsed->host == "localhost" ? "127.0.0.1" : parsed->host;
    std::error_code failure;
    const auto ip = asio::ip::make_address(host, failure);
    if (failure || !ip.is_loopback()) {
        return make_error(errc::invalid_argument,
                          "control address " + text + " must be a loopback IP address");
    }
    const asio::ip::tcp::endpoint endpoint(ip, parsed->port);
    tcp_acceptor.open(endpoint.protocol(), failure);
    if (!failure) {
        tcp_acceptor.set_option(asio::socket_base::reuse_address(true), failure);
    }
    if (!failure) {
        tcp_acceptor.bind(endpoint, failure);
    }
    if (!failure) {
        tcp_acceptor.listen(asio::socket_base::max_listen_connections, failure);
    }
    if (failure) {
        return make_error(errc::unavailable,
                          "cannot listen on " + text + ": " + os_message(failure));
    }
    accept(tcp_acceptor, tcp_retry);
    return {};
}

void control_server::impl::close() {
    if (closed) {
        return;
    }
    closed = true;
    std::error_code ignored;
    unix_acceptor.close(ignored);
    tcp_acceptor.close(ignored);
    unix_retry.cancel();
    tcp_retry.cancel();
    const auto open = live; // stop() does not destroy, but copy to be safe from re-entrance
    for (auto* served : open) {
        served->stop();
    }
    if (socket_bound) {
        ::unlink(limits.socket_path.c_str());
        socket_bound = false;
    }
}

control_server::control_server(asio::io_context& io, control_server_config limits,
                               handler on_request)
    : impl_(std::make_shared<impl>(io, std::move(limits), std::move(on_request))) {
    REEF_ASSERT(impl_->on_request != nullptr);
    REEF_ASSERT(impl_->limits.connections_max > 0);
    REEF_ASSERT(impl_->limits.header_size_max > 0);
    REEF_ASSERT(impl_->limits.request_timeout > duration::zero());
    REEF_ASSERT(impl_->limits.answer_timeout > duration::zero());
}

control_server::~control_server() { close(); }

status control_server::start() {
    REEF_ASSERT(!impl_->closed);
    if (auto started = impl_->start_unix(); !started) {
        impl_->close();
        return started;
    }
    if (!impl_->limits.tcp_address.empty()) {
        if (auto started = impl_->start_tcp(); !started) {
            impl_->close();
            return started;
        }
    }
    return {};
}

std::string control_server::tcp_address() const {
    std::error_code failure;
    if (!impl_->tcp_acceptor.is_open()) {
        return {};
    }
    const auto endpoint = impl_->tcp_acceptor.local_endpoint(failure);
    if (failure) {
        return {};
    }
    return host_port{endpoint.address().to_string(), endpoint.port()}.text();
}

void control_server::close() { impl_->close(); }

control_server_stats control_server::stats() const { return impl_->stats; }

} // namespace reef::runtime
