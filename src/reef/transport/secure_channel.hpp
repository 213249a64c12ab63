#pragma once
// The encrypted frame layer that follows a completed handshake (docs/formats/transport.md):
//
//   frame = length (4 bytes, big-endian) | ChaCha20-Poly1305-IETF(key, nonce, ad = length, data)
//
// `length` counts the ciphertext including its 16-byte tag. Each direction has its own key and a
// 64-bit counter nonce that starts at 0 and grows by one per frame, so a replayed, reordered,
// dropped or altered frame fails authentication. Sans-IO: `seal` produces bytes to write; `feed`
// takes received bytes in chunks of any size and `next` yields whole plaintexts.
//
// Thread-safety: none. Invariants: a receive error is final (the session must be closed); the
// buffered, not yet decoded bytes never exceed `receive_buffer_max()`.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <vector>

#include "reef/base/result.hpp"
#include "reef/crypto/primitives.hpp"
#include "reef/transport/handshake.hpp"

namespace reef::transport {

inline constexpr std::size_t frame_header_size_bytes = 4;

struct channel_limits {
    /// Largest frame (ciphertext incl. tag, excluding the 4-byte length) sent or accepted.
    std::size_t frame_size_max = 1U << 20U;
    /// Frames per direction before the session must be re-established (the nonce budget).
    std::uint64_t frames_per_direction_max = std::numeric_limits<std::uint64_t>::max();
    /// Bytes a single feed() may hand over on top of one partial frame.
    std::size_t feed_size_max = 256U * 1024U;

    /// invalid_argument when a limit is out of range.
    status validate() const;
};

class secure_channel {
public:
    secure_channel(const session_keys& keys, const channel_limits& limits);
    ~secure_channel();
    secure_channel(secure_channel&&) noexcept = default;
    secure_channel& operator=(secure_channel&&) noexcept = default;
    secure_channel(const secure_channel&) = delete;
    secure_channel& operator=(const secure_channel&) = delete;

    /// Largest plaintext one frame carries.
    std::size_t plaintext_size_max() const;
    std::size_t receive_buffer_max() const;

    /// Appends one frame carrying `plaintext` to `out`. resource_exhausted when the plaintext is
    /// larger than plaintext_size_max() (the channel stays usable); failed_precondition once the
    /// send nonce budget is spent (the session must be closed).
    status seal(std::span<const std::uint8_t> plaintext, std::vector<std::uint8_t>& out);

    /// Buffers received bytes. Fails if the channel already failed, or (resource_exhausted) if
    /// the caller fed more than receive_buffer_max() without draining with next().
    status feed(std::span<const std::uint8_t> bytes);

    /// Decodes the next whole frame into `plaintext`: true if one was produced, false if more
    /// bytes are needed. Any error (oversized or undersized length, failed authentication,
    /// nonce budget exceeded) is final and means the session must be closed.
    result<bool> next(std::vector<std::uint8_t>& plaintext);

    bool failed() const { return failure_.has_value(); }
    std::uint64_t frames_sent() const { return send_counter_; }
    std::uint64_t frames_received() const { return receive_counter_; }
    std::size_t buffered_size() const { return buffer_.size() - read_offset_; }

private:
    error fail(error why);

    channel_limits limits_;
    crypto::key32 send_key_{};
    crypto::key32 receive_key_{};
    std::uint64_t send_counter_ = 0;
    std::uint64_t receive_counter_ = 0;
    bool send_exhausted_ = false;
    std::vector<std::uint8_t> buffer_;
    std::size_t read_offset_ = 0;
    std::optional<error> failure_;
};

} // namespace reef::transport
