#include "reef/transport/session.hpp"

#include "reef/base/assert.hpp"

namespace reef::transport {

session::session(handshake started, const channel_limits& limits)
    : limits_(limits), handshake_(std::move(started)) {
    REEF_ASSERT(limits_.validate().ok());
    REEF_ASSERT(!handshake_.complete());
    REEF_ASSERT(!handshake_.failed());
    handshake_.take_output(output_);
}

const error& session::failure() const {
    REEF_ASSERT(failure_.has_value());
    return *failure_;
}

const session_keys& session::keys() const {
    REEF_ASSERT(established());
    return handshake_.keys();
}

status session::fail(const error& why) {
    if (!failure_) {
        failure_ = why;
    }
    return *failure_;
}

status session::on_bytes(std::span<const std::uint8_t> bytes) {
    if (failure_) {
        return *failure_;
    }
    if (channel_) {
        const status fed = channel_->feed(bytes);
        return fed.ok() ? fed : fail(fed.failure());
    }
    auto consumed = handshake_.on_bytes(bytes);
    handshake_.take_output(output_);
    if (!consumed.ok()) {
        return fail(consumed.failure());
    }
    REEF_ASSERT(*consumed <= bytes.size());
    if (!handshake_.complete()) {
        REEF_ASSERT(*consumed == bytes.size());
        return {};
    }
    channel_.emplace(handshake_.keys(), limits_);
    const auto rest = bytes.subspan(*consumed);
    if (rest.empty()) {
        return {};
    }
    const status fed = channel_->feed(rest);
    return fed.ok() ? fed : fail(fed.failure());
}

result<bool> session::next_payload(std::vector<std::uint8_t>& payload) {
    if (failure_) {
        return *failure_;
    }
    if (!channel_) {
        return false;
    }
    auto decoded = channel_->next(payload);
    if (!decoded.ok()) {
        return fail(decoded.failure()).failure();
    }
    return *decoded;
}

status session::send(std::span<const std::uint8_t> payload) {
    REEF_ASSERT(established());
    if (failure_) {
        return *failure_;
    }
    const status sealed = channel_->seal(payload, output_);
    if (!sealed.ok() && sealed.failure().code != errc::resource_exhausted) {
        return fail(sealed.failure());
    }
    return sealed;
}

void session::take_output(std::vector<std::uint8_t>& out) {
    if (out.empty()) {
        out.swap(output_);
    } else {
        out.insert(out.end(), output_.begin(), output_.end());
    }
    output_.clear();
}

} // namespace reef::transport
