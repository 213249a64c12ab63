#pragma once
// "HOST:PORT" addresses as people type them (flags, config files, the control API).
// Pure functions; every rejection carries a reason a person can act on.
//
// Accepted hosts: a DNS name or IPv4 literal ([A-Za-z0-9.-_]), or a bracketed IPv6 literal
// ("[::1]"). Ports are decimal 1..65535 (0 only where `allow_port_zero`: "pick a free port").
// Any address accepted with a non-zero port is also a valid membership address
// (membership::is_valid_address).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "reef/base/result.hpp"

namespace reef::node {

/// Longest address accepted, the same bound as the membership wire format.
inline constexpr std::size_t address_size_max = 255;

struct host_port {
    std::string host; // as written, IPv6 keeps its brackets
    std::uint16_t port = 0;

    /// "host:port".
    std::string text() const;
    bool operator==(const host_port&) const = default;
};

enum class port_zero { refused, allowed };

/// Parse "HOST:PORT"; invalid_argument with the reason otherwise.
result<host_port> parse_address(std::string_view text, port_zero zero = port_zero::refused);

/// A loopback literal or "localhost": 127.0.0.0/8, [::1], localhost.
bool is_loopback_host(std::string_view host);
/// The wildcard hosts a server binds to but a peer cannot dial: 0.0.0.0, [::].
bool is_unspecified_host(std::string_view host);

} // namespace reef::node
