#pragma once
// Binary form of replica-group messages (protobuf, schema in wire/replica.proto; bytes described
// in docs/formats/replica.md). Each message travels with the id of the group it belongs to, so
// one session carries the traffic of every group two nodes share.
//
// Thread-safety: pure functions.
// decode() validates every field (group id exactly 32 bytes; entries dense, ascending and within
// bounds; an append's entries starting at prev_index + 1; a promise's log starting right after
// its snapshot; indexes and epochs at most 2^63 - 1 so that the next one always fits; commands,
// snapshot states and their total within bounds) and returns invalid_argument naming the field;
// it never asserts on input. It does not check the protocol's rules between messages (whether an
// append matches the receiver's log, whether an epoch is current): the group does.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "reef/base/result.hpp"
#include "reef/replica/messages.hpp"
#include "reef/replica/types.hpp"

namespace reef::wire {
class ReplicaMessage;
} // namespace reef::wire

namespace reef::replica {

/// Largest encoded replica message accepted by decode(): the transport's frame limit.
inline constexpr std::size_t message_size_max = 1024 * 1024;
/// Entries in one append or one promise.
inline constexpr std::size_t entries_max = 4096;
/// One entry's command. Looser than group_config::command_size_max (4096 by default), so a
/// member configured with a larger limit can still replicate.
inline constexpr std::size_t command_size_max = 64 * 1024;
/// A snapshot's state.
inline constexpr std::size_t state_size_max = 512 * 1024;
/// Indexes (entry indexes, commit indexes, snapshot and reply positions) and epochs; the next
/// index or epoch (+1) always fits in 64 bits.
inline constexpr std::uint64_t index_max = (std::uint64_t{1} << 63U) - 1;
inline constexpr std::uint64_t epoch_max = (std::uint64_t{1} << 63U) - 1;

/// Bytes one entry costs on the wire besides its command (tag, length, index, epoch, request id),
/// and the bytes of a message besides its entries and snapshot state, both rounded up.
inline constexpr std::size_t entry_overhead_max = 64;
inline constexpr std::size_t message_overhead_max = 1024;
/// The commands and snapshot state of one message, together. With the bounds above, a message
/// that validates always encodes within message_size_max.
inline constexpr std::size_t payload_size_max =
    message_size_max - entries_max * entry_overhead_max - message_overhead_max;
static_assert(command_size_max + state_size_max <= payload_size_max,
              "a snapshot and one largest entry must fit in one message");

/// A message and the group it belongs to: what travels on the replica channel.
struct addressed_message {
    group_id group;
    message body;
    bool operator==(const addressed_message&) const = default;
};

/// The protobuf bytes of `body` for `group`; `body` must validate() (asserted).
std::string encode(const group_id& group, const message& body);
/// Parse and validate; never asserts on input.
result<addressed_message> decode(std::string_view bytes);

/// The shape rules decode() enforces, for messages built in memory (a group's outgoing messages
/// before they are encoded, or the simulator's). invalid_argument names the first bad field.
/// A group's promise carries its whole retained log and snapshot, which can exceed the bounds:
/// a driver checks this before encode() and does not send what fails it.
[[nodiscard]] status validate(const message& body);

/// For codecs that carry a ReplicaMessage inside their own (host_codec.hpp): what encode() and
/// decode() do, on a protobuf message instead of bytes. to_proto() asserts validate(body);
/// from_proto() applies every rule of decode() except the size of the whole input (the outer
/// codec bounds that) and never asserts on input.
void to_proto(wire::ReplicaMessage& out, const group_id& group, const message& body);
result<addressed_message> from_proto(const wire::ReplicaMessage& proto);

} // namespace reef::replica
