#pragma once
// "HOST:PORT" addresses, the one parser for every place an address arrives as text: flags and
// config files, the control API, the CLI, and the listen address a peer states in its handshake.
//
// Pure functions; thread-safe. Every rejection is invalid_argument with a message that quotes the
// input (escaped and cut short, so it is safe to log) and says which part is wrong.
//
// Accepted HOSTs: an RFC 1123 host name (dot-separated labels of letters, digits and inner '-',
// each at most 63 bytes), an IPv4 literal (four decimal numbers 0..255 without leading zeros) or
// an IPv6 literal in brackets ("[::1]", "[::ffff:10.0.0.1]"; no zone). PORT is decimal 1..65535,
// or 0 where the caller allows it ("pick a free port"). The whole text is at most
// address_size_max bytes. Anything accepted with a non-zero port is also a valid membership
// address (membership::is_valid_address).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "reef/base/result.hpp"

namespace reef {

/// Longest accepted "HOST:PORT" text: the bound of the membership wire format, and what fits the
/// one-byte length field of the listen address in the transport handshake.
inline constexpr std::size_t address_size_max = 255;

struct host_port {
    /// A host name or IPv4 literal, or an IPv6 literal without its brackets.
    std::string host;
    std::uint16_t port = 0;

    /// "host:port", with brackets around an IPv6 host ("[::1]:7401"); parses back to *this.
    std::string text() const;
    bool operator==(const host_port&) const = default;
};

enum class port_zero : std::uint8_t { refused, allowed };

/// Parses "HOST:PORT" or "[IPV6]:PORT"; invalid_argument with the reason otherwise.
result<host_port> parse_host_port(std::string_view text, port_zero zero = port_zero::refused);

/// Loopback hosts: "localhost", 127.0.0.0/8, ::1. `host` is written as in host_port::host.
bool is_loopback_host(std::string_view host);
/// The wildcard hosts a server binds to but a peer cannot dial: 0.0.0.0 and :: (in any spelling).
bool is_unspecified_host(std::string_view host);

} // namespace reef
