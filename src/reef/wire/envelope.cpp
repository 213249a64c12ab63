#include "reef/wire/envelope.hpp"

#include "reef/wire/envelope.pb.h"

namespace reef::wire {

std::vector<std::uint8_t> encode(const envelope& message) {
    Envelope proto;
    proto.set_version(wire_version);
    proto.set_channel(static_cast<Channel>(message.kind));
    proto.set_body(message.body);
    std::vector<std::uint8_t> out(proto.ByteSizeLong());
    const bool written = proto.SerializeToArray(out.data(), static_cast<int>(out.size()));
    REEF_ASSERT(written);
    return out;
}

result<envelope> decode(std::span<const std::uint8_t> bytes) {
    Envelope proto;
    if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        return make_error(errc::invalid_argument, "envelope is not a valid protobuf message");
    }
    if (proto.version() != wire_version) {
        return make_error(errc::invalid_argument,
                          "unsupported wire version " + std::to_string(proto.version()) +
                              " (this node speaks " + std::to_string(wire_version) + ")");
    }
    if (proto.channel() != CHANNEL_MEMBERSHIP && proto.channel() != CHANNEL_DHT &&
        proto.channel() != CHANNEL_REPLICA) {
        return make_error(errc::invalid_argument,
                          "unknown channel " + std::to_string(proto.channel()));
    }
    envelope out;
    out.kind = static_cast<channel>(proto.channel());
    out.body = std::move(*proto.mutable_body());
    return out;
}

} // namespace reef::wire
