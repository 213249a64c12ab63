#pragma once
// Validation of "host:port" addresses, the form every Reef address takes on the wire (the listen
// address a node states in its handshake), on the command line and in the control API.
//
// Pure functions; thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "reef/base/result.hpp"

namespace reef::transport {

/// Longest accepted "host:port" text (it travels in a one-byte length field).
inline constexpr std::size_t address_size_max = 255;

struct host_port {
    /// A DNS name or IPv4 literal, or an IPv6 literal without its brackets.
    std::string host;
    std::uint16_t port = 0;
    bool is_ipv6_literal = false;

    /// Back to text; IPv6 literals get their brackets back ("[::1]:7400").
    std::string to_string() const;
};

/// Parses "host:port" where host is a DNS name or IPv4 literal (letters, digits, '-', '.') or an
/// IPv6 literal in brackets, and port is 1..65535 in decimal (0 too when `allow_port_zero`, which
/// a listen request may use to pick a free port). Anything else is invalid_argument with a reason.
result<host_port> parse_host_port(std::string_view text, bool allow_port_zero = false);

} // namespace reef::transport
