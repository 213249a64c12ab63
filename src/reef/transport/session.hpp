#pragma once
// One node-to-node session, sans-IO: a handshake followed by a secure channel over one byte
// stream. The runtime (runtime/peer_network.cpp), the fuzz harnesses and the tests drive it the
// same way:
//
//   on_bytes(received)            -> handshake messages, then frames
//   while (next_payload(p)) ...   -> whole authenticated plaintexts
//   send(payload)                 -> a sealed frame appended to the output
//   take_output(bytes); write them to the peer
//
// Thread-safety: none. Invariants: established() implies the handshake completed and a channel
// exists; any error is final (failed() stays true) and the caller must close the stream after
// flushing take_output() (which may hold a refusal message for the peer).

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "reef/base/result.hpp"
#include "reef/transport/handshake.hpp"
#include "reef/transport/secure_channel.hpp"

namespace reef::transport {

class session {
public:
    session(handshake started, const channel_limits& limits);

    /// Hands received bytes to the handshake and, once it completes, to the channel.
    /// At most `limits.feed_size_max` bytes per call; drain next_payload() between calls.
    status on_bytes(std::span<const std::uint8_t> bytes);
    /// The next received payload: true if `payload` was filled, false if more bytes are needed.
    result<bool> next_payload(std::vector<std::uint8_t>& payload);
    /// Seals `payload` into the output. Only when established(). A too-large payload is
    /// resource_exhausted and leaves the session usable; nonce exhaustion fails the session.
    status send(std::span<const std::uint8_t> payload);

    /// Appends the bytes waiting to be written to `out` and forgets them.
    void take_output(std::vector<std::uint8_t>& out);
    bool has_output() const { return !output_.empty(); }
    std::size_t output_size() const { return output_.size(); }

    bool established() const { return channel_.has_value(); }
    bool failed() const { return failure_.has_value(); }
    const error& failure() const;
    /// The peer's proven identity and stated address; only when established().
    const session_keys& keys() const;
    handshake_role role() const { return handshake_.role(); }
    std::size_t plaintext_size_max() const {
        return limits_.frame_size_max - crypto::aead_tag_size_bytes;
    }

private:
    status fail(const error& why);

    channel_limits limits_;
    handshake handshake_;
    std::optional<secure_channel> channel_;
    std::vector<std::uint8_t> output_;
    std::optional<error> failure_;
};

} // namespace reef::transport
