#include "reef/transport/secure_channel.hpp"

#include <algorithm>
#include <string>

#include "reef/base/assert.hpp"

namespace reef::transport {

namespace {

constexpr std::size_t tag_size = crypto::aead_tag_size_bytes;
/// The length field is 32 bits; frames above this cannot be represented.
constexpr std::size_t frame_size_limit = 0xffffffffU;

void put_length(std::uint8_t* out, std::size_t length) {
    REEF_ASSERT(length <= frame_size_limit);
    out[0] = static_cast<std::uint8_t>(length >> 24U);
    out[1] = static_cast<std::uint8_t>(length >> 16U);
    out[2] = static_cast<std::uint8_t>(length >> 8U);
    out[3] = static_cast<std::uint8_t>(length);
}

std::size_t get_length(const std::uint8_t* in) {
    return (std::size_t{in[0]} << 24U) | (std::size_t{in[1]} << 16U) |
           (std::size_t{in[2]} << 8U) | std::size_t{in[3]};
}

} // namespace

status channel_limits::validate() const {
    if (frame_size_max <= tag_size || frame_size_max > frame_size_limit) {
        return make_error(errc::invalid_argument,
                          "frame_size_max must be between 17 bytes and 4 GiB - 1");
    }
    if (frames_per_direction_max == 0) {
        return make_error(errc::invalid_argument, "frames_per_direction_max must be positive");
    }
    if (feed_size_max == 0) {
        return make_error(errc::invalid_argument, "feed_size_max must be positive");
    }
    return {};
}

secure_channel::secure_channel(const session_keys& keys, const channel_limits& limits)
    : limits_(limits), send_key_(keys.send_key), receive_key_(keys.receive_key) {
    REEF_ASSERT(limits_.validate().ok());
    REEF_ASSERT(send_key_ != receive_key_);
}

secure_channel::~secure_channel() {
    crypto::wipe(send_key_);
    crypto::wipe(receive_key_);
}

std::size_t secure_channel::plaintext_size_max() const { return limits_.frame_size_max - tag_size; }

std::size_t secure_channel::receive_buffer_max() const {
    return frame_header_size_bytes + limits_.frame_size_max + limits_.feed_size_max;
}

error secure_channel::fail(error why) {
    if (!failure_) {
        failure_ = why;
        buffer_.clear();
        read_offset_ = 0;
    }
    return *failure_;
}

status secure_channel::seal(std::span<const std::uint8_t> plaintext,
                            std::vector<std::uint8_t>& out) {
    if (plaintext.size() > plaintext_size_max()) {
        return make_error(errc::resource_exhausted,
                          "payload of " + std::to_string(plaintext.size()) +
                              " bytes exceeds the largest frame payload (" +
                              std::to_string(plaintext_size_max()) + " bytes)");
    }
    if (send_exhausted_ || send_counter_ >= limits_.frames_per_direction_max) {
        send_exhausted_ = true;
        return make_error(errc::failed_precondition,
                          "send nonce space exhausted; the session must be re-established");
    }
    const std::size_t frame_size = plaintext.size() + tag_size;
    const std::size_t start = out.size();
    out.resize(start + frame_header_size_bytes + frame_size);
    std::uint8_t* header = out.data() + start;
    put_length(header, frame_size);
    crypto::aead_seal(send_key_, send_counter_,
                      std::span<const std::uint8_t>(header, frame_header_size_bytes), plaintext,
                      std::span<std::uint8_t>(header + frame_header_size_bytes, frame_size));
    ++send_counter_;
    REEF_ASSERT(out.size() == start + frame_header_size_bytes + frame_size);
    return {};
}

status secure_channel::feed(std::span<const std::uint8_t> bytes) {
    if (failure_) {
        return *failure_;
    }
    if (buffered_size() + bytes.size() > receive_buffer_max()) {
        return fail(make_error(errc::resource_exhausted,
                               "receive buffer full: " + std::to_string(buffered_size()) +
                                   " bytes are waiting to be decoded"));
    }
    if (read_offset_ > 0 && read_offset_ == buffer_.size()) {
        buffer_.clear();
        read_offset_ = 0;
    } else if (read_offset_ > 0 && read_offset_ >= buffer_.size() / 2) {
        buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(read_offset_));
        read_offset_ = 0;
    }
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    REEF_ASSERT(buffered_size() <= receive_buffer_max());
    return {};
}

result<bool> secure_channel::next(std::vector<std::uint8_t>& plaintext) {
    if (failure_) {
        return *failure_;
    }
    const std::size_t available = buffered_size();
    if (available < frame_header_size_bytes) {
        return false;
    }
    const std::uint8_t* header = buffer_.data() + read_offset_;
    const std::size_t frame_size = get_length(header);
    if (frame_size > limits_.frame_size_max) {
        return fail(make_error(errc::invalid_argument,
                               "frame of " + std::to_string(frame_size) +
                                   " bytes exceeds frame_size_max (" +
                                   std::to_string(limits_.frame_size_max) + " bytes)"));
    }
    if (frame_size < tag_size) {
        return fail(make_error(errc::invalid_argument,
                               "frame of " + std::to_string(frame_size) +
                                   " bytes is shorter than its 16-byte authentication tag"));
    }
    if (available < frame_header_size_bytes + frame_size) {
        return false;
    }
    if (receive_counter_ >= limits_.frames_per_direction_max) {
        return fail(make_error(errc::resource_exhausted,
                               "peer sent more frames than this session's nonce budget allows"));
    }
    plaintext.resize(frame_size - tag_size);
    const std::span<const std::uint8_t> length(header, frame_header_size_bytes);
    const std::span<const std::uint8_t> sealed(header + frame_header_size_bytes, frame_size);
    if (!crypto::aead_open(receive_key_, receive_counter_, length, sealed, plaintext)) {
        plaintext.clear();
        return fail(make_error(errc::permission_denied,
                               "frame authentication failed (tampered, replayed, reordered or "
                               "encrypted under another key)"));
    }
    ++receive_counter_;
    read_offset_ += frame_header_size_bytes + frame_size;
    REEF_ASSERT(read_offset_ <= buffer_.size());
    return true;
}

} // namespace reef::transport
