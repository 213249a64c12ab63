#include "reef/transport/address.hpp"

#include "reef/base/assert.hpp"

namespace reef::transport {

namespace {

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.';
}

bool is_ipv6_char(char c) {
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') ||
           c == ':' || c == '.';
}

error invalid(std::string_view text, std::string_view reason) {
    std::string message = "address must be HOST:PORT";
    message += " (";
    message += reason;
    message += ")";
    // Quote the input only when it is short and printable, so logs stay readable and safe.
    bool printable = text.size() <= address_size_max;
    for (char c : text) {
        printable = printable && c >= 0x20 && c < 0x7f;
    }
    if (printable) {
        message += ", got \"";
        message += text;
        message += "\"";
    }
    return make_error(errc::invalid_argument, std::move(message));
}

result<std::uint16_t> parse_port(std::string_view full, std::string_view digits,
                                 bool allow_port_zero) {
    if (digits.empty()) {
        return invalid(full, "missing port");
    }
    if (digits.size() > 5) {
        return invalid(full, "port out of range");
    }
    std::uint32_t value = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') {
            return invalid(full, "port is not a decimal number");
        }
        value = value * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (value > 65535) {
        return invalid(full, "port out of range");
    }
    if (value == 0 && !allow_port_zero) {
        return invalid(full, "port 0 is not a reachable port");
    }
    return static_cast<std::uint16_t>(value);
}

} // namespace

std::string host_port::to_string() const {
    std::string text;
    if (is_ipv6_literal) {
        text = "[" + host + "]";
    } else {
        text = host;
    }
    text += ":";
    text += std::to_string(port);
    return text;
}

result<host_port> parse_host_port(std::string_view text, bool allow_port_zero) {
    if (text.empty()) {
        return invalid(text, "empty");
    }
    if (text.size() > address_size_max) {
        return invalid(text, "longer than 255 characters");
    }
    host_port out;
    std::string_view port_text;
    if (text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            return invalid(text, "unterminated '[' in IPv6 literal");
        }
        const std::string_view literal = text.substr(1, close - 1);
        if (literal.empty() || literal.find(':') == std::string_view::npos) {
            return invalid(text, "bad IPv6 literal");
        }
        for (char c : literal) {
            if (!is_ipv6_char(c)) {
                return invalid(text, "bad character in IPv6 literal");
            }
        }
        if (close + 1 >= text.size() || text[close + 1] != ':') {
            return invalid(text, "missing ':' before the port");
        }
        out.host = std::string(literal);
        out.is_ipv6_literal = true;
        port_text = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return invalid(text, "missing ':' before the port");
        }
        const std::string_view host = text.substr(0, colon);
        if (host.empty()) {
            return invalid(text, "missing host");
        }
        for (char c : host) {
            if (!is_name_char(c)) {
                return invalid(text, c == ':' ? "IPv6 literals need brackets"
                                              : "bad character in host");
            }
        }
        if (host.front() == '-' || host.front() == '.' || host.find("..") != std::string::npos) {
            return invalid(text, "malformed host name");
        }
        out.host = std::string(host);
        port_text = text.substr(colon + 1);
    }
    auto port = parse_port(text, port_text, allow_port_zero);
    if (!port.ok()) {
        return port.failure();
    }
    out.port = *port;
    REEF_ASSERT(!out.host.empty());
    REEF_ASSERT(out.to_string().size() <= address_size_max);
    return out;
}

} // namespace reef::transport
