#pragma once
// Parsing and validation of what a user types to name a node: node numbers and control socket
// paths (HOST:PORT is reef::parse_host_port). Pure functions; every rejection carries a message
// that says what was expected.
// Thread-safety: stateless.

#include <cstdint>
#include <string>
#include <string_view>

#include "reef/base/address.hpp"
#include "reef/base/result.hpp"

namespace reef::cli {

/// The most nodes `reef up` starts on one machine. Each is a process with its own port, so more
/// than this on one machine is almost certainly a typo.
inline constexpr int local_nodes_max = 64;
inline constexpr int local_nodes_default = 4;
inline constexpr std::uint16_t base_port_default = 7401;
/// Below 1024 needs privileges; `reef up` refuses such ports rather than fail inside reefd.
inline constexpr std::uint16_t base_port_min = 1024;
/// sockaddr_un::sun_path holds 108 bytes including the terminating NUL.
inline constexpr std::size_t socket_path_size_max = 107;

/// A positive decimal integer in [min, max]; `what` names the input in the message.
result<int> parse_bounded_int(std::string_view text, int min, int max, std::string_view what);

/// Where a command sends its control request (the global `--node`).
struct node_target {
    enum class kind : std::uint8_t { local_node, socket_path, tcp };
    kind which = kind::local_node;
    int node_number = 1;     // kind::local_node
    std::string socket_path; // kind::socket_path
    host_port tcp;           // kind::tcp
};

/// N (1..local_nodes_max), a path containing '/' (a control socket), or HOST:PORT.
result<node_target> parse_node_target(std::string_view text);

/// Checks that a Unix socket path fits in sockaddr_un.
status check_socket_path(std::string_view path);

/// Longest DHT record name (dht::record_name_size_max).
inline constexpr std::size_t record_name_size_max = 128;

/// A DHT record as a user names it: its 64-hex key, PUBLISHER/NAME (PUBLISHER = a 64-hex node
/// id), or a bare NAME (a record of the node asked). A bare run of 32 or more hex digits that is
/// not 64 long is refused as a mistyped key.
struct record_ref {
    enum class kind : std::uint8_t { key, published, own };
    kind which = kind::key;
    std::string hex;  // kind::key: the key; kind::published: the publisher (lower case)
    std::string name; // kind::published and kind::own
};

result<record_ref> parse_record_ref(std::string_view text);

/// 64 hex digits (a node id or a key), lower-cased; `what` names the input in the message.
result<std::string> parse_id_hex(std::string_view text, std::string_view what);

} // namespace reef::cli
