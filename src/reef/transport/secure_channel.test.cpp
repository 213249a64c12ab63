#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "reef/base/prng.hpp"
#include "reef/transport/secure_channel.hpp"
#include "reef/transport/session.hpp"
#include "reef/transport/test_support.hpp"

namespace reef::transport {
namespace {

using testing::make_cluster_key;
using testing::make_identity;
using testing::random_key;
using bytes = std::vector<std::uint8_t>;

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

/// Keys for both directions, as a completed handshake would produce them.
struct key_pair {
    session_keys a;
    session_keys b;
};

key_pair make_keys(std::uint64_t seed) {
    prng random(seed);
    key_pair out;
    out.a.send_key = random_key(random);
    out.a.receive_key = random_key(random);
    out.b.send_key = out.a.receive_key;
    out.b.receive_key = out.a.send_key;
    return out;
}

bytes payload_of(std::string_view text) { return {text.begin(), text.end()}; }

bytes seal(secure_channel& channel, const bytes& plaintext) {
    bytes out;
    const status sealed = channel.seal(plaintext, out);
    EXPECT_TRUE(sealed.ok());
    return out;
}

/// Feeds `data` and drains every whole frame.
result<std::vector<bytes>> receive(secure_channel& channel, const bytes& data) {
    const status fed = channel.feed(data);
    if (!fed.ok()) {
        return fed.failure();
    }
    std::vector<bytes> out;
    bytes plaintext;
    for (;;) {
        auto next = channel.next(plaintext);
        if (!next.ok()) {
            return next.failure();
        }
        if (!*next) {
            return out;
        }
        out.push_back(plaintext);
    }
}

TEST(secure_channel, round_trip_in_both_directions) {
    auto keys = make_keys(1);
    secure_channel a(keys.a, {});
    secure_channel b(keys.b, {});
    const bytes frame = seal(a, payload_of("ping"));
    EXPECT_EQ(frame.size(), 4U + 4U + 16U);
    EXPECT_EQ(frame[3], 20U); // big-endian length of ciphertext + tag
    auto got = receive(b, frame);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 1U);
    EXPECT_EQ((*got)[0], payload_of("ping"));
    auto back = receive(a, seal(b, payload_of("pong")));
    ASSERT_TRUE(back.ok());
    ASSERT_EQ(back->size(), 1U);
    EXPECT_EQ((*back)[0], payload_of("pong"));
    EXPECT_EQ(a.frames_sent(), 1U);
    EXPECT_EQ(a.frames_received(), 1U);
}

TEST(secure_channel, empty_payload_round_trips) {
    auto keys = make_keys(2);
    secure_channel a(keys.a, {});
    secure_channel b(keys.b, {});
    auto got = receive(b, seal(a, {}));
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 1U);
    EXPECT_TRUE((*got)[0].empty());
}

TEST(secure_channel, coalesced_frames_come_out_whole_and_in_order) {
    auto keys = make_keys(3);
    secure_channel a(keys.a, {});
    secure_channel b(keys.b, {});
    bytes stream;
    for (int n = 0; n < 10; ++n) {
        const bytes frame = seal(a, payload_of("message " + std::to_string(n)));
        stream.insert(stream.end(), frame.begin(), frame.end());
    }
    auto got = receive(b, stream);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 10U);
    for (int n = 0; n < 10; ++n) {
        EXPECT_EQ((*got)[static_cast<std::size_t>(n)], payload_of("message " + std::to_string(n)));
    }
    EXPECT_EQ(b.buffered_size(), 0U);
}

RC_GTEST_PROP(secure_channel, any_split_of_the_stream_yields_the_same_payloads,
              (const std::vector<std::string>& messages, std::uint64_t seed)) {
    auto keys = make_keys(4);
    secure_channel a(keys.a, {});
    secure_channel b(keys.b, {});
    bytes stream;
    for (const auto& m : messages) {
        RC_ASSERT(a.seal(payload_of(m), stream).ok());
    }
    prng random(seed);
    std::vector<bytes> got;
    std::size_t at = 0;
    while (at < stream.size()) {
        const std::size_t chunk = 1 + random.below(std::min<std::size_t>(stream.size() - at, 64));
        auto part = receive(b, bytes(stream.begin() + static_cast<std::ptrdiff_t>(at),
                                     stream.begin() + static_cast<std::ptrdiff_t>(at + chunk)));
        RC_ASSERT(part.ok());
        got.insert(got.end(), part->begin(), part->end());
        at += chunk;
    }
    RC_ASSERT(got.size() == messages.size());
    for (std::size_t n = 0; n < messages.size(); ++n) {
        RC_ASSERT(got[n] == payload_of(messages[n]));
    }
}

TEST(secure_channel, a_tampered_byte_anywhere_closes_the_channel) {
    auto keys = make_keys(5);
    secure_channel a(keys.a, {});
    const bytes frame = seal(a, payload_of("integrity matters"));
    for (std::size_t at = 0; at < frame.size(); ++at) {
        secure_channel b(keys.b, {});
        bytes tampered = frame;
        tampered[at] ^= 0x01U;
        auto got = receive(b, tampered);
        if (at < 4) {
            // A changed length either waits for bytes that never come or is refused outright;
            // it never yields a plaintext.
            EXPECT_TRUE(!got.ok() || got->empty()) << at;
        } else {
            ASSERT_FALSE(got.ok()) << at;
            EXPECT_EQ(got.failure().code, errc::permission_denied);
            EXPECT_TRUE(contains(got.failure().message, "frame authentication failed"));
        }
    }
}

TEST(secure_channel, a_length_change_is_caught_by_the_associated_data) {
    auto keys = make_keys(6);
    secure_channel a(keys.a, {});
    secure_channel b(keys.b, {});
    bytes frame = seal(a, payload_of("0123456789"));
    // Shorten the announced length by one and drop the last byte: still a whole frame.
    frame[3] = static_cast<std::uint8_t>(frame[3] - 1);
    frame.pop_back();
    auto got = receive(b, frame);
    ASSERT_FALSE(got.ok());
    EXPECT_TRUE(contains(got.failure().message, "frame authentication failed"));
}

TEST(secure_channel, oversized_and_undersized_lengths_are_refused) {
    auto keys = make_keys(7);
    channel_limits limits;
    limits.frame_size_max = 1024;
    {
        secure_channel b(keys.b, limits);
        auto got = receive(b, bytes{0x00, 0x00, 0x04, 0x01});
        ASSERT_FALSE(got.ok());
        EXPECT_EQ(got.failure().code, errc::invalid_argument);
        EXPECT_TRUE(contains(got.failure().message, "frame of 1025 bytes exceeds frame_size_max"));
    }
    {
        secure_channel b(keys.b, limits);
        auto got = receive(b, bytes{0xff, 0xff, 0xff, 0xff});
        ASSERT_FALSE(got.ok());
        EXPECT_TRUE(contains(got.failure().message, "exceeds frame_size_max"));
    }
    {
        secure_channel b(keys.b, limits);
        auto got = receive(b, bytes{0x00, 0x00, 0x00, 0x0f});
        ASSERT_FALSE(got.ok());
        EXPECT_TRUE(contains(got.failure().message, "shorter than its 16-byte authentication tag"));
    }
}

TEST(secure_channel, too_large_a_payload_is_refused_but_the_channel_stays_usable) {
    auto keys = make_keys(8);
    channel_limits limits;
    limits.frame_size_max = 64;
    secure_channel a(keys.a, limits);
    secure_channel b(keys.b, limits);
    EXPECT_EQ(a.plaintext_size_max(), 48U);
    bytes out;
    const status refused = a.seal(bytes(49, 1), out);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.failure().code, errc::resource_exhausted);
    EXPECT_TRUE(out.empty());
    auto got = receive(b, seal(a, bytes(48, 2)));
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 1U);
}

TEST(secure_channel, replayed_and_reordered_frames_are_refused) {
    auto keys = make_keys(9);
    secure_channel a(keys.a, {});
    const bytes first = seal(a, payload_of("first"));
    const bytes second = seal(a, payload_of("second"));
    {
        secure_channel b(keys.b, {});
        ASSERT_TRUE(receive(b, first).ok());
        auto replay = receive(b, first);
        ASSERT_FALSE(replay.ok());
        EXPECT_TRUE(contains(replay.failure().message, "replayed"));
    }
    {
        secure_channel b(keys.b, {});
        auto reordered = receive(b, second);
        ASSERT_FALSE(reordered.ok());
        EXPECT_TRUE(contains(reordered.failure().message, "reordered"));
    }
    {
        // A frame reflected back to its sender is refused too (directions have separate keys).
        secure_channel a2(keys.a, {});
        auto reflected = receive(a2, first);
        ASSERT_FALSE(reflected.ok());
    }
}

TEST(secure_channel, errors_are_final) {
    auto keys = make_keys(10);
    secure_channel a(keys.a, {});
    secure_channel b(keys.b, {});
    bytes bad = seal(a, payload_of("x"));
    bad.back() ^= 1U;
    ASSERT_FALSE(receive(b, bad).ok());
    EXPECT_TRUE(b.failed());
    auto after = receive(b, seal(a, payload_of("y")));
    ASSERT_FALSE(after.ok());
    EXPECT_TRUE(contains(after.failure().message, "frame authentication failed"));
}

TEST(secure_channel, nonce_budget_is_enforced_in_both_directions) {
    auto keys = make_keys(11);
    channel_limits limits;
    limits.frames_per_direction_max = 2;
    secure_channel a(keys.a, limits);
    secure_channel b(keys.b, limits);
    bytes stream = seal(a, payload_of("1"));
    const bytes frame2 = seal(a, payload_of("2"));
    stream.insert(stream.end(), frame2.begin(), frame2.end());
    bytes out;
    const status third = a.seal(payload_of("3"), out);
    ASSERT_FALSE(third.ok());
    EXPECT_EQ(third.failure().code, errc::failed_precondition);
    EXPECT_TRUE(contains(third.failure().message, "nonce space exhausted"));
    auto got = receive(b, stream);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->size(), 2U);

    // A sender that ignores the budget is cut off by the receiver.
    channel_limits generous;
    secure_channel greedy(keys.a, generous);
    secure_channel strict(keys.b, limits);
    bytes three;
    for (int n = 0; n < 3; ++n) {
        ASSERT_TRUE(greedy.seal(payload_of("m"), three).ok());
    }
    auto cut = receive(strict, three);
    ASSERT_FALSE(cut.ok());
    EXPECT_TRUE(contains(cut.failure().message, "nonce budget"));
}

TEST(secure_channel, feeding_without_draining_is_bounded) {
    auto keys = make_keys(12);
    channel_limits limits;
    limits.frame_size_max = 64;
    limits.feed_size_max = 64;
    secure_channel b(keys.b, limits);
    EXPECT_EQ(b.receive_buffer_max(), 4U + 64U + 64U);
    ASSERT_TRUE(b.feed(bytes(100, 0)).ok());
    const status over = b.feed(bytes(40, 0));
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.failure().code, errc::resource_exhausted);
}

TEST(channel_limits, validate_rejects_nonsense) {
    channel_limits limits;
    EXPECT_TRUE(limits.validate().ok());
    limits.frame_size_max = 16;
    EXPECT_FALSE(limits.validate().ok());
    limits = {};
    limits.frames_per_direction_max = 0;
    EXPECT_FALSE(limits.validate().ok());
    limits = {};
    limits.feed_size_max = 0;
    EXPECT_FALSE(limits.validate().ok());
}

// ---- session: handshake and channel over one byte stream --------------------------------------

TEST(session, exchanges_payloads_after_the_handshake) {
    prng random(20);
    const auto a = make_identity(1);
    const auto b = make_identity(2);
    const auto key = make_cluster_key(3);
    auto pair = testing::make_session_pair(random, a, b, key, key);
    ASSERT_TRUE(testing::complete_handshake(pair));
    EXPECT_EQ(pair.initiator.keys().peer_id, b.id());
    EXPECT_EQ(pair.responder.keys().peer_id, a.id());

    ASSERT_TRUE(pair.initiator.send(payload_of("hello bob")).ok());
    ASSERT_TRUE(testing::pump(pair.initiator, pair.responder).ok());
    bytes got;
    auto next = pair.responder.next_payload(got);
    ASSERT_TRUE(next.ok());
    ASSERT_TRUE(*next);
    EXPECT_EQ(got, payload_of("hello bob"));
    next = pair.responder.next_payload(got);
    ASSERT_TRUE(next.ok());
    EXPECT_FALSE(*next);
}

TEST(session, frames_sent_right_behind_the_confirm_are_not_lost) {
    prng random(21);
    const auto a = make_identity(1);
    const auto b = make_identity(2);
    const auto key = make_cluster_key(3);
    auto pair = testing::make_session_pair(random, a, b, key, key);
    ASSERT_TRUE(testing::pump(pair.initiator, pair.responder).ok());
    ASSERT_TRUE(testing::pump(pair.responder, pair.initiator).ok());
    ASSERT_TRUE(pair.initiator.established());
    ASSERT_FALSE(pair.responder.established());
    // The initiator's confirm and two payloads leave in one write.
    ASSERT_TRUE(pair.initiator.send(payload_of("one")).ok());
    ASSERT_TRUE(pair.initiator.send(payload_of("two")).ok());
    ASSERT_TRUE(testing::pump(pair.initiator, pair.responder).ok());
    ASSERT_TRUE(pair.responder.established());
    bytes got;
    ASSERT_TRUE(*pair.responder.next_payload(got));
    EXPECT_EQ(got, payload_of("one"));
    ASSERT_TRUE(*pair.responder.next_payload(got));
    EXPECT_EQ(got, payload_of("two"));
}

TEST(session, wrong_cluster_key_fails_both_sessions_with_the_reason) {
    prng random(22);
    const auto a = make_identity(1);
    const auto b = make_identity(2);
    auto pair = testing::make_session_pair(random, a, b, make_cluster_key(3), make_cluster_key(4));
    EXPECT_FALSE(testing::complete_handshake(pair));
    ASSERT_TRUE(pair.responder.failed());
    ASSERT_TRUE(pair.initiator.failed());
    const std::string reason = "peer does not hold this cluster's key";
    EXPECT_TRUE(contains(pair.responder.failure().message, reason));
    EXPECT_TRUE(contains(pair.initiator.failure().message, reason));
}

TEST(session, wrong_expected_id_fails_the_initiator) {
    prng random(23);
    const auto a = make_identity(1);
    const auto b = make_identity(2);
    const auto key = make_cluster_key(3);
    auto pair = testing::make_session_pair(random, a, b, key, key, {}, make_identity(9).id());
    EXPECT_FALSE(testing::complete_handshake(pair));
    ASSERT_TRUE(pair.initiator.failed());
    EXPECT_TRUE(contains(pair.initiator.failure().message, "peer id mismatch"));
}

TEST(session, a_tampered_frame_fails_the_session_and_stays_failed) {
    prng random(24);
    const auto a = make_identity(1);
    const auto b = make_identity(2);
    const auto key = make_cluster_key(3);
    auto pair = testing::make_session_pair(random, a, b, key, key);
    ASSERT_TRUE(testing::complete_handshake(pair));
    ASSERT_TRUE(pair.initiator.send(payload_of("payload")).ok());
    bytes wire;
    pair.initiator.take_output(wire);
    wire[wire.size() - 3] ^= 0x80U;
    ASSERT_TRUE(pair.responder.on_bytes(wire).ok()); // buffered; decoded on next_payload
    bytes got;
    auto next = pair.responder.next_payload(got);
    ASSERT_FALSE(next.ok());
    EXPECT_TRUE(pair.responder.failed());
    EXPECT_FALSE(pair.responder.on_bytes(bytes{1}).ok());
}

TEST(session, an_oversized_payload_is_refused_without_failing_the_session) {
    prng random(25);
    const auto a = make_identity(1);
    const auto b = make_identity(2);
    const auto key = make_cluster_key(3);
    channel_limits limits;
    limits.frame_size_max = 128;
    auto pair = testing::make_session_pair(random, a, b, key, key, limits);
    ASSERT_TRUE(testing::complete_handshake(pair));
    const status refused = pair.initiator.send(bytes(200, 0));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.failure().code, errc::resource_exhausted);
    EXPECT_FALSE(pair.initiator.failed());
    EXPECT_TRUE(pair.initiator.send(bytes(100, 0)).ok());
}

} // namespace
} // namespace reef::transport
