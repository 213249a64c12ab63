#pragma once
// Binary form of DHT messages (protobuf, schema in wire/dht.proto; bytes described in
// docs/formats/dht.md).
//
// Thread-safety: pure functions.
// decode() validates every field's shape (ids and keys exactly 32 bytes and not zero, publisher
// keys 32 bytes, signatures 64 bytes, addresses parse_host_port-valid with a non-zero port, record
// names and values within bounds, at most reply_contacts_max contacts, error codes in range) and
// returns invalid_argument naming the field; it never asserts on input. It does not verify record
// signatures (that costs a public-key operation; record_store::put and lookups do it), but it
// derives each record's key from its publisher and name, so a decoded record's key always
// matches.

#include <string>
#include <string_view>

#include "reef/base/result.hpp"
#include "reef/dht/messages.hpp"

namespace reef::dht {

/// Largest encoded DHT message accepted by decode(); a find_value_reply with the largest record
/// is about 1.3 KiB and one with k contacts at most about 6 KiB.
inline constexpr std::size_t message_size_max = 16 * 1024;

/// The protobuf bytes of `body`, which must validate() (asserted).
std::string encode(const message& body);
/// Parse and validate; never asserts on input.
result<message> decode(std::string_view bytes);

/// The shape rules decode() enforces, for messages built in memory (the simulator hands structs
/// to cores directly). invalid_argument names the first bad field.
[[nodiscard]] status validate(const message& body);

} // namespace reef::dht
