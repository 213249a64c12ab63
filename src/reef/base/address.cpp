#include "reef/base/address.hpp"

#include <array>
#include <optional>
#include <utility>

#include "reef/base/assert.hpp"
#include "reef/base/ids.hpp"

namespace reef {

namespace {

constexpr std::size_t label_size_max = 63;
constexpr std::size_t ipv6_groups_count = 8;

using ipv4_octets = std::array<std::uint8_t, 4>;
using ipv6_groups = std::array<std::uint16_t, ipv6_groups_count>;

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

error invalid(std::string_view text, std::string_view reason) {
    return make_error(errc::invalid_argument, "address must be HOST:PORT, got " + quoted(text) +
                                                  ": " + std::string(reason));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// Four dot-separated decimal numbers 0..255, without leading zeros ("010" is ambiguous: some
/// resolvers read it as octal). Kept cheap: membership validates every gossiped address.
std::optional<ipv4_octets> parse_ipv4(std::string_view text) {
    ipv4_octets out{};
    const char* at = text.data();
    const char* const end = at + text.size();
    for (std::size_t index = 0; index < out.size(); ++index) {
        if (index > 0) {
            if (at == end || *at != '.') {
                return std::nullopt;
            }
            ++at;
        }
        if (at == end || !is_digit(*at)) {
            return std::nullopt;
        }
        unsigned value = static_cast<unsigned>(*at++ - '0');
        // Up to two more digits, unless the first was a 0: a leading zero leaves a digit behind,
        // which then stands where a '.' or the end must be.
        for (int more = 0; value != 0 && more < 2 && at != end && is_digit(*at); ++more) {
            value = value * 10 + static_cast<unsigned>(*at++ - '0');
        }
        if (value > 255) {
            return std::nullopt;
        }
        out[index] = static_cast<std::uint8_t>(value);
    }
    if (at != end) {
        return std::nullopt;
    }
    return out;
}

struct group_list {
    ipv6_groups values{};
    std::size_t count = 0;
};

/// Appends the ':'-separated groups of `part` (1 to 4 hex digits each); when `ipv4_tail_allowed`
/// the last piece may be an IPv4 literal, which stands for two groups.
bool append_groups(std::string_view part, bool ipv4_tail_allowed, group_list& out) {
    while (!part.empty()) {
        const auto colon = part.find(':');
        const std::string_view group = part.substr(0, colon);
        if (colon == std::string_view::npos && ipv4_tail_allowed &&
            group.find('.') != std::string_view::npos) {
            const auto v4 = parse_ipv4(group);
            if (!v4 || out.count + 2 > ipv6_groups_count) {
                return false;
            }
            out.values[out.count++] = static_cast<std::uint16_t>(((*v4)[0] << 8U) | (*v4)[1]);
            out.values[out.count++] = static_cast<std::uint16_t>(((*v4)[2] << 8U) | (*v4)[3]);
            return true;
        }
        if (group.empty() || group.size() > 4 || out.count == ipv6_groups_count) {
            return false;
        }
        unsigned value = 0;
        for (char c : group) {
            const int digit = hex_digit_value(c);
            if (digit < 0) {
                return false;
            }
            value = value * 16 + static_cast<unsigned>(digit);
        }
        out.values[out.count++] = static_cast<std::uint16_t>(value);
        if (colon == std::string_view::npos) {
            return true;
        }
        part.remove_prefix(colon + 1);
        if (part.empty()) {
            return false; // a trailing single ':'
        }
    }
    return true;
}

/// An RFC 4291 text IPv6 address (without brackets): eight groups, or fewer around one "::".
std::optional<ipv6_groups> parse_ipv6(std::string_view text) {
    const auto gap = text.find("::");
    group_list head;
    if (gap == std::string_view::npos) {
        if (!append_groups(text, true, head) || head.count != ipv6_groups_count) {
            return std::nullopt;
        }
        return head.values;
    }
    const std::string_view before = text.substr(0, gap);
    const std::string_view after = text.substr(gap + 2);
    group_list tail;
    // "::" stands for at least one zero group.
    if (!append_groups(before, false, head) || !append_groups(after, true, tail) ||
        head.count + tail.count >= ipv6_groups_count) {
        return std::nullopt;
    }
    ipv6_groups out{};
    for (std::size_t i = 0; i < head.count; ++i) {
        out[i] = head.values[i];
    }
    for (std::size_t i = 0; i < tail.count; ++i) {
        out[ipv6_groups_count - tail.count + i] = tail.values[i];
    }
    return out;
}

/// Why the labels of a host name are malformed; empty if they are fine.
std::string label_problem(std::string_view host) {
    std::size_t start = 0;
    for (std::size_t i = 0; i <= host.size(); ++i) {
        if (i < host.size() && host[i] != '.') {
            continue;
        }
        const std::string_view label = host.substr(start, i - start);
        if (label.empty()) {
            return "malformed host name: empty label (a leading, trailing or doubled '.')";
        }
        if (label.size() > label_size_max) {
            return "malformed host name: a label is longer than " +
                   std::to_string(label_size_max) + " bytes";
        }
        if (label.front() == '-' || label.back() == '-') {
            return "malformed host name: a label starts or ends with '-'";
        }
        start = i + 1;
    }
    return {};
}

/// What each byte can be in a host: one table lookup per byte, since membership validates every
/// gossiped address.
enum char_class : std::uint8_t {
    class_digit = 1U << 0U,
    class_letter = 1U << 1U,
    class_dash = 1U << 2U,
    class_dot = 1U << 3U,
    class_colon = 1U << 4U,
    class_other = 1U << 5U,
};

constexpr std::array<std::uint8_t, 256> char_classes = [] {
    std::array<std::uint8_t, 256> table{};
    for (std::size_t c = 0; c < table.size(); ++c) {
        table[c] = class_other;
        if (c >= '0' && c <= '9') {
            table[c] = class_digit;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            table[c] = class_letter;
        }
    }
    table['-'] = class_dash;
    table['.'] = class_dot;
    table[':'] = class_colon;
    return table;
}();

/// Why `host` (not bracketed, not empty) is not a host name or IPv4 literal; empty if it is one.
std::string host_problem(std::string_view host) {
    REEF_ASSERT(!host.empty());
    unsigned seen = 0;
    for (char c : host) {
        seen |= char_classes[static_cast<unsigned char>(c)];
    }
    if ((seen & class_colon) != 0) {
        return "an IPv6 host must be in brackets, e.g. [::1]:7401";
    }
    if ((seen & class_other) != 0) {
        return "the host may contain only letters, digits, '.' and '-'";
    }
    if ((seen & (class_letter | class_dash)) == 0) { // digits and dots: meant as IPv4
        if (parse_ipv4(host)) {
            return {};
        }
        return quoted(host) + " is not an IPv4 address (four numbers from 0 to 255)";
    }
    return label_problem(host);
}

/// The port digits, or why they are not a port.
result<std::uint16_t> parse_port(std::string_view text, std::string_view port_text,
                                 port_zero zero) {
    if (port_text.empty()) {
        return invalid(text, "the port is missing");
    }
    const std::string_view range = zero == port_zero::allowed ? "0 to 65535" : "1 to 65535";
    const auto bad_port = [&] {
        return invalid(text, "the port must be a number from " + std::string(range));
    };
    if (port_text.size() > 5) {
        return bad_port();
    }
    unsigned value = 0;
    for (char c : port_text) {
        if (!is_digit(c)) {
            return bad_port();
        }
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535 || (value == 0 && zero == port_zero::refused)) {
        return bad_port();
    }
    return static_cast<std::uint16_t>(value);
}

/// Splits "[IPV6]:PORT" into the validated literal and the port text.
result<std::pair<std::string_view, std::string_view>> split_bracketed(std::string_view text) {
    REEF_ASSERT(text.starts_with('['));
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
        return invalid(text, "the '[' of an IPv6 host has no matching ']'");
    }
    const std::string_view literal = text.substr(1, close - 1);
    if (!parse_ipv6(literal)) {
        return invalid(text, quoted(literal) + " is not an IPv6 address");
    }
    const std::string_view after = text.substr(close + 1);
    if (!after.empty() && after.front() != ':') {
        return invalid(text, "an IPv6 host needs the form [ADDRESS]:PORT, e.g. [::1]:7401");
    }
    return std::pair{literal, after.empty() ? after : after.substr(1)};
}

} // namespace

std::string host_port::text() const {
    REEF_ASSERT(!host.empty());
    const bool is_ipv6 = host.find(':') != std::string::npos;
    return (is_ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

result<host_port> parse_host_port(std::string_view text, port_zero zero) {
    if (text.empty()) {
        return invalid(text, "it is empty");
    }
    if (text.size() > address_size_max) {
        return invalid(text, "it is " + std::to_string(text.size()) + " bytes long (at most " +
                                 std::to_string(address_size_max) + ")");
    }
    std::string_view host;
    std::string_view port_text;
    if (text.front() == '[') {
        auto split = split_bracketed(text);
        if (!split) {
            return split.failure();
        }
        host = split->first;
        port_text = split->second;
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return invalid(text, "the port is missing");
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (host.empty()) {
            return invalid(text, "the host is missing");
        }
        if (auto problem = host_problem(host); !problem.empty()) {
            return invalid(text, problem);
        }
    }
    auto port = parse_port(text, port_text, zero);
    if (!port) {
        return port.failure();
    }
    host_port out{std::string(host), *port};
    REEF_ASSERT(!out.host.empty());
    REEF_ASSERT(out.port != 0 || zero == port_zero::allowed);
    // text() is no longer than the input: ":" and at least one port digit follow the host.
    REEF_ASSERT(out.host.size() + 2 <= text.size());
    return out;
}

bool is_loopback_host(std::string_view host) {
    if (host == "localhost") {
        return true;
    }
    if (const auto v4 = parse_ipv4(host)) {
        return (*v4)[0] == 127;
    }
    const auto v6 = parse_ipv6(host);
    return v6 && *v6 == ipv6_groups{0, 0, 0, 0, 0, 0, 0, 1};
}

bool is_unspecified_host(std::string_view host) {
    if (const auto v4 = parse_ipv4(host)) {
        return *v4 == ipv4_octets{};
    }
    const auto v6 = parse_ipv6(host);
    return v6 && *v6 == ipv6_groups{};
}

} // namespace reef
