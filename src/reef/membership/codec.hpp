#pragma once
// Binary form of membership messages (protobuf, schema in wire/membership.proto; the layout is
// described in docs/formats/wire.md). The bytes travel as the body of a wire::envelope on the
// membership channel.
//
// Thread-safety: pure functions.
// decode() validates every field (ids exactly 32 bytes, addresses "host:port" of at most 255
// bytes, enums in range, bounded list lengths) and returns invalid_argument with a precise reason;
// it never asserts on input.

#include <cstddef>
#include <string>
#include <string_view>

#include "reef/base/address.hpp"
#include "reef/base/result.hpp"
#include "reef/membership/messages.hpp"

namespace reef::membership {

/// Most updates piggybacked on one ping / ping_req / ack.
inline constexpr std::size_t gossip_count_max = 64;
/// Most members in one sync (push-pull) message.
inline constexpr std::size_t sync_members_max = 100'000;

/// The protobuf bytes of `body`. `body` must be valid (what decode would accept); that is asserted.
std::string encode(const message& body);
/// Parse and validate; never asserts on input.
result<message> decode(std::string_view bytes);

/// Content rules every message must satisfy, for messages that did not come through decode()
/// (the simulator hands structs to swim directly): no zero ids, valid addresses, states in range,
/// incarnations at most incarnation_max, bounded lists. invalid_argument names the first bad field.
[[nodiscard]] status validate(const message& body);

/// Whether `address` is a dialable "host:port" (reef::parse_host_port in base/address.hpp, port
/// not zero). Used by decode() and by the state machine for local inputs.
bool is_valid_address(std::string_view address);

} // namespace reef::membership
