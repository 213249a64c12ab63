#include <gtest/gtest.h>

#include "reef/wire/envelope.hpp"
#include "reef/wire/envelope.pb.h"

namespace reef::wire {
namespace {

TEST(envelope, round_trip) {
    envelope message{channel::membership, std::string("\x00\x01payload", 9)};
    auto bytes = encode(message);
    auto decoded = decode(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.failure().describe();
    EXPECT_EQ(decoded->kind, channel::membership);
    EXPECT_EQ(decoded->body, message.body);
}

TEST(envelope, garbage_is_rejected) {
    const std::vector<std::uint8_t> garbage{0xff, 0xff, 0xff, 0xff, 0x0f};
    auto decoded = decode(garbage);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.failure().code, errc::invalid_argument);
}

TEST(envelope, wrong_version_and_channel_are_rejected) {
    Envelope proto;
    proto.set_version(99);
    proto.set_channel(CHANNEL_MEMBERSHIP);
    std::string bytes = proto.SerializeAsString();
    auto decoded = decode({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    ASSERT_FALSE(decoded.ok());
    EXPECT_NE(decoded.failure().message.find("wire version 99"), std::string::npos);

    proto.set_version(wire_version);
    proto.set_channel(static_cast<Channel>(77));
    bytes = proto.SerializeAsString();
    decoded = decode({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    ASSERT_FALSE(decoded.ok());
    EXPECT_NE(decoded.failure().message.find("unknown channel"), std::string::npos);
}

TEST(envelope, dht_channel_round_trips) {
    envelope outer;
    outer.kind = channel::dht;
    outer.body = "body";
    auto decoded = decode(encode(outer));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(decoded->kind, channel::dht);
    EXPECT_EQ(decoded->body, "body");
}

} // namespace
} // namespace reef::wire
