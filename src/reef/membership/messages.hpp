#pragma once
// SWIM/Lifeguard membership messages, as plain data. The protobuf form lives in
// wire/membership.proto and codec.hpp converts between the two; decoding validates every field,
// so the state machine only ever sees well-formed messages (but must still treat their *content*
// as untrusted: a peer may lie).

#include <cstdint>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include "reef/base/ids.hpp"

namespace reef::membership {

enum class member_state : std::uint8_t {
    alive = 0,
    suspect = 1,
    dead = 2,
    left = 3, // graceful leave: like dead, but announced by the member itself
};

std::string_view to_string(member_state state);

/// Largest incarnation accepted from the wire (leaves room to refute any claim but the last).
inline constexpr std::uint64_t incarnation_max = std::numeric_limits<std::int64_t>::max();

/// One piece of gossip: "member `id` at `address` is in `state` at `incarnation`".
/// `origin` is the member that raised a suspicion or declared a death (zero for alive/left);
/// distinct origins are the independent confirmations that shorten a Lifeguard suspicion.
struct member_update {
    node_id id;
    std::string address; // "host:port" the member listens on
    std::uint64_t incarnation = 0;
    member_state state = member_state::alive;
    node_id origin;

    bool operator==(const member_update&) const = default;
};

/// Direct probe. `target` is the id the sender believes it is probing; a receiver whose id differs
/// answers nothing (stale address). `gossip` is piggybacked dissemination.
struct ping {
    std::uint64_t seq = 0;
    node_id target;
    std::vector<member_update> gossip;
    bool operator==(const ping&) const = default;
};

/// Ask the receiver to probe `target` on the sender's behalf (SWIM indirect probe).
struct ping_req {
    std::uint64_t seq = 0;
    node_id target;
    std::string target_address;
    std::vector<member_update> gossip;
    bool operator==(const ping_req&) const = default;
};

/// Answer to a ping (or a relayed answer to a ping_req, carrying the requester's seq).
/// `target` is the id whose liveness this ack proves.
struct ack {
    std::uint64_t seq = 0;
    node_id target;
    std::vector<member_update> gossip;
    bool operator==(const ack&) const = default;
};

/// Lifeguard: the relay of a ping_req tells the requester it got no ack in time, so the requester
/// can tell "my own links are bad" (nack arrives) from "the target is down" (nothing arrives).
struct nack {
    std::uint64_t seq = 0;
    node_id target;
    bool operator==(const nack&) const = default;
};

/// Push-pull anti-entropy: the sender's whole view. Sent on join (to any one member's address) and
/// periodically to a random member; `reply_wanted` asks the receiver to answer with its own view.
struct sync {
    std::vector<member_update> members;
    bool reply_wanted = false;
    bool operator==(const sync&) const = default;
};

using message = std::variant<ping, ping_req, ack, nack, sync>;

} // namespace reef::membership
