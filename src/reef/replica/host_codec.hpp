#pragma once
// Binary form of the messages one node's replica host sends another's (host.hpp's host_message:
// group traffic, client requests and their answers), on the envelope's replica channel
// (CHANNEL_REPLICA). Protobuf, schema ReplicaHostMessage in wire/replica.proto; bytes described
// in docs/formats/replica.md ("Host messages"). Group traffic carries one group message in the
// form codec.hpp gives it, plus the group's member set.
//
// Thread-safety: pure functions.
// decode_host() validates every field (member sets of 1..host_members_max distinct non-zero
// 32-byte ids in strictly ascending order; group ids of 32 bytes; commands and answers within
// bounds; a leader hint empty or a non-zero 32-byte id; the group message as decode() checks it;
// the whole input at most message_size_max) and returns invalid_argument naming the field; it
// never asserts on input. Whether this node is a member, or the group is new, is the host's
// business.

#include <cstddef>
#include <string>
#include <string_view>

#include "reef/base/result.hpp"
#include "reef/replica/codec.hpp"
#include "reef/replica/host.hpp"

namespace reef::replica {

/// Members in one member set on the wire (host_config::members_max may only be lower).
inline constexpr std::size_t host_members_max = 16;
/// The application's answer to one client request.
inline constexpr std::size_t answer_size_max = 64 * 1024;

/// Bytes a member set costs on the wire (each id with its tag and length) plus the traffic's own
/// tags and lengths. A group message's own overhead besides its entries and snapshot state (the
/// group id, at most six varints, tags and lengths) is under 256 bytes, so with the member set it
/// stays within message_overhead_max: group traffic that validates always encodes within
/// message_size_max (host_codec.test.cpp encodes the largest one).
inline constexpr std::size_t members_overhead_max = host_members_max * (2 + 32) + 16;
static_assert(members_overhead_max + 256 <= message_overhead_max,
              "a member set leaves room for the group message's own overhead");
static_assert(command_size_max + 4096 <= message_size_max &&
                  answer_size_max + 4096 <= message_size_max,
              "a client request or answer always fits one message");

/// The protobuf bytes of `body`; `body` must validate_host() (asserted).
std::string encode(const host_message& body);
/// Parse and validate; never asserts on input.
result<host_message> decode_host(std::string_view bytes);

/// The rules decode_host() enforces, for messages built in memory (a host's outgoing messages
/// before they are encoded). invalid_argument names the first bad field. A group's promise can
/// exceed the group message bounds (codec.hpp): a driver checks this before encode().
[[nodiscard]] status validate_host(const host_message& body);

} // namespace reef::replica
