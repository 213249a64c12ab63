#include "address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace reef::cli {
namespace {

constexpr std::size_t hostname_size_max = 253;
constexpr std::size_t label_size_max = 63;

std::string quoted(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
            out += '?';
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

bool is_ipv4(const std::string& host) {
    in_addr addr{};
    return inet_pton(AF_INET, host.c_str(), &addr) == 1;
}

bool is_ipv6(const std::string& host) {
    in6_addr addr{};
    return inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

bool is_label_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
bool is_hostname(std::string_view host) {
    if (host.empty() || host.size() > hostname_size_max) {
        return false;
    }
    std::size_t start = 0;
    while (start <= host.size()) {
        std::size_t dot = host.find('.', start);
        std::size_t end = dot == std::string_view::npos ? host.size() : dot;
        std::string_view label = host.substr(start, end - start);
        if (label.empty() || label.size() > label_size_max) {
            return false;
        }
        if (label.front() == '-' || label.back() == '-') {
            return false;
        }
        if (!std::all_of(label.begin(), label.end(), is_label_char)) {
            return false;
        }
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    // A name made only of digits and dots that inet_pton rejected is a malformed IPv4 literal.
    return !std::all_of(host.begin(), host.end(),
                        [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

/// The port digits, or why they are not a port.
result<std::uint16_t> parse_port(std::string_view text) {
    int port = 0;
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    bool digits =
        !text.empty() && text.size() <= 5 && std::all_of(text.begin(), text.end(), is_digit);
    if (digits) {
        std::from_chars(text.data(), text.data() + text.size(), port);
    }
    if (!digits || port < 1 || port > 65535) {
        return make_error(errc::invalid_argument,
                          "the port must be a number from 1 to 65535, got " + quoted(text));
    }
    return static_cast<std::uint16_t>(port);
}

} // namespace

std::string host_port::text() const {
    std::string host_text = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return host_text + ":" + std::to_string(port);
}

result<host_port> parse_host_port(std::string_view text) {
    auto malformed = [&](std::string_view why) {
        return make_error(errc::invalid_argument, "address must be HOST:PORT (for example "
                                                  "127.0.0.1:7401), got " +
                                                      quoted(text) + ": " + std::string(why));
    };
    if (text.empty()) {
        return malformed("it is empty");
    }
    std::string host;
    std::string_view port_text;
    if (text.front() == '[') {
        std::size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return malformed("an IPv6 address needs the form [ADDRESS]:PORT");
        }
        host = std::string(text.substr(1, close - 1));
        port_text = text.substr(close + 2);
        if (!is_ipv6(host)) {
            return malformed(quoted(host) + " is not an IPv6 address");
        }
    } else {
        std::size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return malformed("the port is missing");
        }
        host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string::npos) {
            return malformed("write an IPv6 address in brackets, as [ADDRESS]:PORT");
        }
        if (host.empty()) {
            return malformed("the host is missing");
        }
        if (!is_ipv4(host) && !is_hostname(host)) {
            return malformed(quoted(host) + " is neither an IPv4 address nor a host name");
        }
    }
    auto port = parse_port(port_text);
    if (!port) {
        return malformed(port.failure().message);
    }
    return host_port{std::move(host), *port};
}

result<int> parse_bounded_int(std::string_view text, int min, int max, std::string_view what) {
    REEF_ASSERT(min <= max);
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    bool whole = !text.empty() && ec == std::errc() && end == text.data() + text.size();
    if (!whole || value < min || value > max) {
        return make_error(errc::invalid_argument, std::string(what) + " must be a whole number "
                                                      "from " + std::to_string(min) + " to " +
                                                      std::to_string(max) + ", got " +
                                                      quoted(text));
    }
    return value;
}

status check_socket_path(std::string_view path) {
    if (path.empty()) {
        return make_error(errc::invalid_argument, "the control socket path is empty");
    }
    if (path.size() > socket_path_size_max) {
        return make_error(errc::invalid_argument,
                          "control socket path is " + std::to_string(path.size()) +
                              " bytes, longer than the " + std::to_string(socket_path_size_max) +
                              " a Unix socket allows: " + quoted(path) +
                              " (use a shorter --dir)");
    }
    if (path.find('\0') != std::string_view::npos) {
        return make_error(errc::invalid_argument, "the control socket path contains a NUL byte");
    }
    return {};
}

result<node_target> parse_node_target(std::string_view text) {
    auto usage = [&](std::string_view why) {
        return make_error(errc::invalid_argument,
                          "--node must be a node number (1-" + std::to_string(local_nodes_max) +
                              "), a control socket path or HOST:PORT, got " + quoted(text) +
                              (why.empty() ? "" : ": " + std::string(why)));
    };
    if (text.empty()) {
        return usage("it is empty");
    }
    bool all_digits =
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    node_target target;
    if (all_digits || text.front() == '-' || text.front() == '+') {
        auto number = parse_bounded_int(text, 1, local_nodes_max, "the node number");
        if (!number) {
            return usage(number.failure().message);
        }
        target.which = node_target::kind::local_node;
        target.node_number = *number;
        return target;
    }
    if (text.find('/') != std::string_view::npos) {
        auto checked = check_socket_path(text);
        if (!checked) {
            return checked.failure();
        }
        target.which = node_target::kind::socket_path;
        target.socket_path = std::string(text);
        return target;
    }
    auto address = parse_host_port(text);
    if (!address) {
        return usage(address.failure().message);
    }
    target.which = node_target::kind::tcp;
    target.tcp = std::move(*address);
    return target;
}

} // namespace reef::cli
