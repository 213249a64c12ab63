#include "reef/node/address.hpp"

#include <charconv>

#include "reef/membership/codec.hpp"

namespace reef::node {

namespace {

/// The text quoted for an error message: escaped, and cut short when it is long.
std::string quoted(std::string_view text) {
    constexpr std::size_t shown_max = 64;
    static constexpr char digits[] = "0123456789abcdef";
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size() && i < shown_max; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c > 0x7e) {
            out += "\\x";
            out += digits[c >> 4U];
            out += digits[c & 0x0fU];
        } else {
            out += static_cast<char>(c);
        }
    }
    out += text.size() > shown_max ? "\"..." : "\"";
    return out;
}

error malformed(std::string_view text) {
    return make_error(errc::invalid_argument, "address must be HOST:PORT, got " + quoted(text));
}

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

bool is_ipv6_char(char c) {
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') ||
           c == ':' || c == '.';
}

status check_host(std::string_view text, std::string_view host) {
    if (host.empty()) {
        return malformed(text);
    }
    if (host.front() == '[') {
        const std::string_view inner = host.substr(1, host.size() - 2);
        if (host.size() < 4 || host.back() != ']' || inner.find(':') == std::string_view::npos) {
            return make_error(errc::invalid_argument,
                              "address " + quoted(text) + ": an IPv6 host looks like [::1]");
        }
        for (char c : inner) {
            if (!is_ipv6_char(c)) {
                return make_error(errc::invalid_argument, "address " + quoted(text) +
                                                              ": not an IPv6 literal inside []");
            }
        }
        return {};
    }
    for (char c : host) {
        if (c == ':') {
            return make_error(errc::invalid_argument,
                              "address " + quoted(text) +
                                  ": an IPv6 host must be in brackets, e.g. [::1]:7401");
        }
        if (!is_name_char(c)) {
            return make_error(errc::invalid_argument,
                              "address " + quoted(text) +
                                  ": the host may contain only letters, digits, '.', '-' and '_'");
        }
    }
    return {};
}

} // namespace

std::string host_port::text() const { return host + ":" + std::to_string(port); }

result<host_port> parse_address(std::string_view text, port_zero zero) {
    if (text.size() > address_size_max) {
        return make_error(errc::invalid_argument,
                          "address is " + std::to_string(text.size()) + " bytes long (at most " +
                              std::to_string(address_size_max) + ")");
    }
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        return malformed(text);
    }
    const std::string_view host = text.substr(0, colon);
    const std::string_view port_text = text.substr(colon + 1);
    if (auto host_ok = check_host(text, host); !host_ok) {
        return host_ok.failure();
    }
    const std::string_view range = zero == port_zero::allowed ? "0 to 65535" : "1 to 65535";
    const error bad_port = make_error(errc::invalid_argument, "address " + quoted(text) +
                                                                  ": the port must be a number "
                                                                  "from " +
                                                                  std::string(range));
    unsigned value = 0;
    if (port_text.empty() || port_text.size() > 5) {
        return bad_port;
    }
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || value > 65535 ||
        (value == 0 && zero == port_zero::refused)) {
        return bad_port;
    }
    host_port out{std::string(host), static_cast<std::uint16_t>(value)};
    // Whatever this accepts with a real port must be dialable through membership gossip.
    REEF_ASSERT(out.port == 0 || membership::is_valid_address(out.text()));
    REEF_ASSERT(out.text().size() <= text.size());
    return out;
}

bool is_loopback_host(std::string_view host) {
    if (host == "localhost" || host == "[::1]") {
        return true;
    }
    if (!host.starts_with("127.")) {
        return false;
    }
    // 127.a.b.c with decimal octets.
    int dots = 0;
    for (char c : host) {
        if (c == '.') {
            ++dots;
        } else if (c < '0' || c > '9') {
            return false;
        }
    }
    return dots == 3 && !host.ends_with('.') && host.find("..") == std::string_view::npos;
}

bool is_unspecified_host(std::string_view host) {
    return host == "0.0.0.0" || host == "[::]" || host == "[0:0:0:0:0:0:0:0]";
}

} // namespace reef::node
