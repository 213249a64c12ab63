#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "reef/base/prng.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/crypto/primitives.hpp"
#include "reef/transport/handshake.hpp"
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

struct driver {
    prng random{42};
    crypto::identity alice = make_identity(1);
    crypto::identity bob = make_identity(2);
    crypto::cluster_key key = make_cluster_key(10);

    handshake initiator(std::optional<node_id> expected = std::nullopt,
                        const crypto::cluster_key* with = nullptr) {
        return handshake::start_initiator(alice, with ? *with : key, "127.0.0.1:7401", expected,
                                          random_key(random));
    }
    handshake responder(const crypto::cluster_key* with = nullptr) {
        return handshake::start_responder(bob, with ? *with : key, "[::1]:7402",
                                          random_key(random));
    }
};

bytes output_of(handshake& side) {
    bytes out;
    side.take_output(out);
    return out;
}

/// Feeds `data` to `to`, returning its status.
status deliver(handshake& to, const bytes& data) {
    auto consumed = to.on_bytes(data);
    if (!consumed.ok()) {
        return consumed.failure();
    }
    return {};
}

// ---------------------------------------------------------------------------------------------
// An independent implementation of docs/formats/transport.md, used to check that the library
// matches the documented bytes and to build messages the library itself would never send.
namespace spec {

std::span<const std::uint8_t> text_bytes(std::string_view text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

struct state {
    crypto::key32 h{};
    crypto::key32 ck{};
    crypto::key32 k{};

    explicit state(const crypto::cluster_key& psk) {
        h = crypto::blake2b_256(text_bytes("Reef_v1_psk0_X25519_Ed25519_ChaChaPoly_BLAKE2b"));
        ck = h;
        mix_key(psk.bytes);
    }
    void mix_hash(std::span<const std::uint8_t> data) {
        bytes joined(h.begin(), h.end());
        joined.insert(joined.end(), data.begin(), data.end());
        h = crypto::blake2b_256(joined);
    }
    void mix_key(std::span<const std::uint8_t> ikm) {
        // HKDF with keyed BLAKE2b-256, written out rather than calling crypto::kdf2.
        const auto prk = crypto::blake2b_256_keyed(ck, ikm);
        const std::uint8_t one = 1;
        const auto out1 = crypto::blake2b_256_keyed(prk, std::span<const std::uint8_t>(&one, 1));
        bytes second(out1.begin(), out1.end());
        second.push_back(2);
        ck = out1;
        k = crypto::blake2b_256_keyed(prk, second);
    }
};

bytes header(std::uint8_t type, std::size_t body, std::uint8_t version = 1) {
    return {'R', 'E', 'E', 'F', version, type, static_cast<std::uint8_t>(body >> 8U),
            static_cast<std::uint8_t>(body & 0xffU)};
}

/// A hello from ephemeral public key `e` (which may be any 32 bytes) under `psk`.
bytes hello(state& s, const crypto::key32& e) {
    bytes msg = header(1, 48);
    s.mix_hash(msg);
    s.mix_hash(e);
    s.mix_key(e);
    std::array<std::uint8_t, 16> tag{};
    crypto::aead_seal(s.k, 0, s.h, {}, tag);
    s.mix_hash(tag);
    msg.insert(msg.end(), e.begin(), e.end());
    msg.insert(msg.end(), tag.begin(), tag.end());
    return msg;
}

bytes identity_payload(const crypto::identity& who, std::string_view label,
                       const crypto::key32& transcript, std::string_view address,
                       bool corrupt_signature) {
    bytes signed_part(label.begin(), label.end());
    signed_part.insert(signed_part.end(), transcript.begin(), transcript.end());
    const auto& key = who.public_key_bytes();
    signed_part.insert(signed_part.end(), key.begin(), key.end());
    signed_part.push_back(static_cast<std::uint8_t>(address.size()));
    signed_part.insert(signed_part.end(), address.begin(), address.end());
    auto sig = who.sign(signed_part);
    if (corrupt_signature) {
        sig[0] ^= 1U;
    }
    bytes payload(key.begin(), key.end());
    payload.insert(payload.end(), sig.begin(), sig.end());
    payload.push_back(static_cast<std::uint8_t>(address.size()));
    payload.insert(payload.end(), address.begin(), address.end());
    return payload;
}

/// The responder's reply to a hello whose ephemeral key was `peer_e` (state already mixed the
/// hello). `address_length_override` lets a test lie about the address length.
bytes reply(state& s, const crypto::x25519_keypair& e, const crypto::key32& peer_e,
            const crypto::identity& who, std::string_view address, bool corrupt_signature,
            int address_length_override = -1) {
    const std::size_t sealed_size = 32 + 64 + 1 + address.size() + 16;
    bytes msg = header(2, 32 + sealed_size);
    s.mix_hash(msg);
    s.mix_hash(e.public_key);
    s.mix_key(e.public_key);
    auto dh = crypto::x25519_shared(e.secret, peer_e);
    EXPECT_TRUE(dh.ok());
    s.mix_key(*dh);
    auto payload = identity_payload(who, "reef-transport-v1 responder signature", s.h, address,
                                    corrupt_signature);
    if (address_length_override >= 0) {
        payload[96] = static_cast<std::uint8_t>(address_length_override);
    }
    bytes sealed(payload.size() + 16);
    crypto::aead_seal(s.k, 0, s.h, payload, sealed);
    s.mix_hash(sealed);
    msg.insert(msg.end(), e.public_key.begin(), e.public_key.end());
    msg.insert(msg.end(), sealed.begin(), sealed.end());
    return msg;
}

} // namespace spec
// ---------------------------------------------------------------------------------------------

TEST(handshake, completes_and_both_sides_agree_on_keys_and_identities) {
    driver d;
    auto i = d.initiator(d.bob.id());
    auto r = d.responder();
    const bytes hello = output_of(i);
    EXPECT_EQ(hello.size(), 8U + 48U);
    EXPECT_EQ(*r.on_bytes(hello), hello.size());
    const bytes reply = output_of(r);
    ASSERT_FALSE(reply.empty());
    EXPECT_EQ(*i.on_bytes(reply), reply.size());
    ASSERT_TRUE(i.complete());
    const bytes confirm = output_of(i);
    EXPECT_EQ(*r.on_bytes(confirm), confirm.size());
    ASSERT_TRUE(r.complete());

    EXPECT_EQ(i.keys().peer_id, d.bob.id());
    EXPECT_EQ(r.keys().peer_id, d.alice.id());
    EXPECT_EQ(i.keys().peer_key, d.bob.public_key_bytes());
    EXPECT_EQ(i.keys().peer_listen_address, "[::1]:7402");
    EXPECT_EQ(r.keys().peer_listen_address, "127.0.0.1:7401");
    EXPECT_EQ(i.keys().send_key, r.keys().receive_key);
    EXPECT_EQ(i.keys().receive_key, r.keys().send_key);
    EXPECT_NE(i.keys().send_key, i.keys().receive_key);
    EXPECT_EQ(i.keys().handshake_hash, r.keys().handshake_hash);
    EXPECT_FALSE(i.has_output());
    EXPECT_FALSE(r.has_output());
}

TEST(handshake, fresh_ephemerals_give_fresh_keys) {
    driver d;
    crypto::key32 first{};
    for (int run = 0; run < 2; ++run) {
        auto i = d.initiator();
        auto r = d.responder();
        ASSERT_TRUE(deliver(r, output_of(i)).ok());
        ASSERT_TRUE(deliver(i, output_of(r)).ok());
        ASSERT_TRUE(deliver(r, output_of(i)).ok());
        ASSERT_TRUE(r.complete());
        if (run == 0) {
            first = i.keys().send_key;
        } else {
            EXPECT_NE(first, i.keys().send_key);
        }
    }
}

TEST(handshake, accepts_bytes_one_at_a_time) {
    driver d;
    auto i = d.initiator();
    auto r = d.responder();
    auto trickle = [](handshake& to, const bytes& data) {
        for (std::uint8_t b : data) {
            auto consumed = to.on_bytes(std::span<const std::uint8_t>(&b, 1));
            ASSERT_TRUE(consumed.ok()) << consumed.failure().describe();
            EXPECT_EQ(*consumed, 1U);
        }
    };
    trickle(r, output_of(i));
    trickle(i, output_of(r));
    trickle(r, output_of(i));
    EXPECT_TRUE(i.complete());
    EXPECT_TRUE(r.complete());
}

TEST(handshake, leaves_bytes_after_the_last_message_to_the_channel) {
    driver d;
    auto i = d.initiator();
    auto r = d.responder();
    ASSERT_TRUE(deliver(r, output_of(i)).ok());
    ASSERT_TRUE(deliver(i, output_of(r)).ok());
    bytes confirm = output_of(i);
    const std::size_t confirm_size = confirm.size();
    confirm.insert(confirm.end(), {1, 2, 3, 4, 5});
    auto consumed = r.on_bytes(confirm);
    ASSERT_TRUE(consumed.ok());
    EXPECT_EQ(*consumed, confirm_size);
    EXPECT_TRUE(r.complete());
}

TEST(handshake, wrong_cluster_key_is_refused_on_both_sides_with_the_reason) {
    driver d;
    const auto other_key = make_cluster_key(11);
    auto i = d.initiator(std::nullopt, &other_key);
    auto r = d.responder();
    const status at_responder = deliver(r, output_of(i));
    ASSERT_FALSE(at_responder.ok());
    EXPECT_EQ(at_responder.failure().code, errc::permission_denied);
    EXPECT_EQ(at_responder.failure().message,
              "peer does not hold this cluster's key (handshake authentication failed)");
    EXPECT_TRUE(r.failed());

    // The responder tells the initiator why, so the node without the key can say so too.
    const bytes refusal = output_of(r);
    EXPECT_EQ(refusal, encode_refusal(refusal_reason::authentication_failed));
    const status at_initiator = deliver(i, refusal);
    ASSERT_FALSE(at_initiator.ok());
    EXPECT_EQ(at_initiator.failure().code, errc::permission_denied);
    EXPECT_TRUE(contains(at_initiator.failure().message, "peer does not hold this cluster's key"));
}

TEST(handshake, a_reply_under_another_cluster_key_is_refused_by_the_initiator) {
    driver d;
    auto i = d.initiator();
    // A responder that skips the hello check and answers under a different key.
    const auto other_key = make_cluster_key(12);
    spec::state s(other_key);
    bytes hello = output_of(i);
    crypto::key32 peer_e{};
    std::copy_n(hello.begin() + 8, 32, peer_e.begin());
    s.mix_hash(std::span<const std::uint8_t>(hello).first(8));
    s.mix_hash(peer_e);
    s.mix_key(peer_e);
    s.mix_hash(std::span<const std::uint8_t>(hello).subspan(40, 16));
    const auto e = crypto::x25519_keypair_from_random(random_key(d.random));
    const status result = deliver(i, spec::reply(s, e, peer_e, d.bob, "", false));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.failure().message,
              "peer does not hold this cluster's key (handshake authentication failed)");
    EXPECT_EQ(output_of(i), encode_refusal(refusal_reason::authentication_failed));
}

TEST(handshake, the_library_matches_the_documented_bytes) {
    driver d;
    auto i = d.initiator();
    spec::state s(d.key);
    bytes hello = output_of(i);
    crypto::key32 peer_e{};
    std::copy_n(hello.begin() + 8, 32, peer_e.begin());
    // Rebuilding the hello from the documented steps gives the same tag.
    spec::state check(d.key);
    EXPECT_EQ(spec::hello(check, peer_e), hello);
    s = check;
    const auto e = crypto::x25519_keypair_from_random(random_key(d.random));
    ASSERT_TRUE(deliver(i, spec::reply(s, e, peer_e, d.bob, "10.0.0.2:9000", false)).ok());
    ASSERT_TRUE(i.complete());
    EXPECT_EQ(i.keys().peer_id, d.bob.id());
    EXPECT_EQ(i.keys().peer_listen_address, "10.0.0.2:9000");

    // The confirm decrypts under the documented key schedule and carries a valid signature.
    const bytes confirm = output_of(i);
    ASSERT_GE(confirm.size(), 8U + 113U);
    s.mix_hash(std::span<const std::uint8_t>(confirm).first(8));
    s.mix_key({});
    const auto sealed = std::span<const std::uint8_t>(confirm).subspan(8);
    bytes payload(sealed.size() - 16);
    ASSERT_TRUE(crypto::aead_open(s.k, 0, s.h, sealed, payload));
    crypto::public_key key{};
    std::copy_n(payload.begin(), 32, key.begin());
    EXPECT_EQ(key, d.alice.public_key_bytes());
    const auto expected = spec::identity_payload(d.alice, "reef-transport-v1 initiator signature",
                                                 s.h, "127.0.0.1:7401", false);
    EXPECT_EQ(payload, expected); // Ed25519 signatures are deterministic
    s.mix_hash(sealed);
    EXPECT_EQ(i.keys().handshake_hash, s.h);
    // Split: initiator sends with the first output, receives with the second.
    spec::state split = s;
    split.mix_key({});
    EXPECT_EQ(i.keys().send_key, split.ck);
    EXPECT_EQ(i.keys().receive_key, split.k);
}

TEST(handshake, expected_peer_id_mismatch_is_refused) {
    driver d;
    const auto carol = make_identity(3);
    auto i = d.initiator(carol.id());
    auto r = d.responder();
    ASSERT_TRUE(deliver(r, output_of(i)).ok());
    const status result = deliver(i, output_of(r));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.failure().code, errc::permission_denied);
    EXPECT_EQ(result.failure().message,
              "peer id mismatch: expected " + carol.id().short_hex() + ", got " +
                  d.bob.id().short_hex());
    const status told = deliver(r, output_of(i));
    ASSERT_FALSE(told.ok());
    EXPECT_TRUE(contains(told.failure().message, "expected a different node id"));
}

TEST(handshake, a_zero_expected_id_means_any_peer) {
    driver d;
    auto i = d.initiator(node_id{});
    auto r = d.responder();
    ASSERT_TRUE(deliver(r, output_of(i)).ok());
    ASSERT_TRUE(deliver(i, output_of(r)).ok());
    EXPECT_TRUE(i.complete());
}

TEST(handshake, a_bad_signature_is_refused) {
    driver d;
    auto i = d.initiator();
    spec::state s(d.key);
    const bytes hello = output_of(i);
    crypto::key32 peer_e{};
    std::copy_n(hello.begin() + 8, 32, peer_e.begin());
    EXPECT_EQ(spec::hello(s, peer_e), hello);
    const auto e = crypto::x25519_keypair_from_random(random_key(d.random));
    const status result = deliver(i, spec::reply(s, e, peer_e, d.bob, "", true));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.failure().code, errc::permission_denied);
    EXPECT_TRUE(contains(result.failure().message, "bad signature"));
    EXPECT_EQ(output_of(i), encode_refusal(refusal_reason::bad_signature));
}

TEST(handshake, a_signature_for_another_transcript_is_refused) {
    // Bob's valid reply from one session cannot be replayed into another initiator's session.
    driver d;
    auto first = d.initiator();
    auto r = d.responder();
    ASSERT_TRUE(deliver(r, output_of(first)).ok());
    const bytes reply = output_of(r);
    auto second = d.initiator();
    (void)output_of(second);
    const status result = deliver(second, reply);
    ASSERT_FALSE(result.ok());
    EXPECT_TRUE(contains(result.failure().message, "peer does not hold this cluster's key"));
}

TEST(handshake, a_replayed_hello_cannot_be_completed) {
    driver d;
    auto i = d.initiator();
    auto r = d.responder();
    const bytes hello = output_of(i);
    ASSERT_TRUE(deliver(r, hello).ok());
    ASSERT_TRUE(deliver(i, output_of(r)).ok());
    const bytes confirm = output_of(i);
    // An eavesdropper replays the recorded hello and confirm to a new responder.
    auto fresh = d.responder();
    ASSERT_TRUE(deliver(fresh, hello).ok());
    (void)output_of(fresh);
    const status result = deliver(fresh, confirm);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.failure().code, errc::permission_denied);
    EXPECT_TRUE(contains(result.failure().message, "confirm message"));
}

TEST(handshake, unsupported_version_is_refused_and_reported_back) {
    driver d;
    auto i = d.initiator();
    auto r = d.responder();
    bytes hello = output_of(i);
    hello[4] = 2;
    const status result = deliver(r, hello);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.failure().code, errc::failed_precondition);
    EXPECT_TRUE(contains(result.failure().message, "unsupported protocol version 2"));
    const status told = deliver(i, output_of(r));
    ASSERT_FALSE(told.ok());
    EXPECT_TRUE(contains(told.failure().message, "does not support protocol version 1"));
}

TEST(handshake, a_refusal_from_a_newer_version_is_still_understood) {
    driver d;
    auto i = d.initiator();
    bytes refusal = encode_refusal(refusal_reason::unsupported_version);
    refusal[4] = 7;
    const status told = deliver(i, refusal);
    ASSERT_FALSE(told.ok());
    EXPECT_TRUE(contains(told.failure().message, "it speaks version 7"));
}

TEST(handshake, refusal_reasons_map_to_precise_errors) {
    struct expectation {
        bytes message;
        errc code;
        std::string text;
    };
    bytes unknown = encode_refusal(refusal_reason::busy);
    unknown[8] = 99;
    bytes long_refusal = spec::header(4, 2);
    long_refusal.insert(long_refusal.end(), {1, 1});
    const std::vector<expectation> cases = {
        {encode_refusal(refusal_reason::busy), errc::unavailable, "session limit"},
        {encode_refusal(refusal_reason::malformed), errc::invalid_argument, "malformed"},
        {encode_refusal(refusal_reason::bad_signature), errc::permission_denied, "bad signature"},
        {unknown, errc::invalid_argument, "unknown reason code 99"},
        {long_refusal, errc::invalid_argument, "refuse body must be 1 byte"},
    };
    for (const auto& c : cases) {
        driver d;
        auto i = d.initiator();
        (void)output_of(i); // the hello
        const status told = deliver(i, c.message);
        ASSERT_FALSE(told.ok());
        EXPECT_EQ(told.failure().code, c.code);
        EXPECT_TRUE(contains(told.failure().message, c.text)) << told.failure().message;
        EXPECT_FALSE(i.has_output()) << "a refusal is never answered";
    }
}

TEST(handshake, malformed_messages_are_rejected_with_reasons) {
    struct bad_case {
        bytes message;
        std::string reason;
    };
    bytes garbage = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P'};
    bytes huge = spec::header(1, 0xffff);
    bytes short_hello = spec::header(1, 47);
    short_hello.resize(8 + 47, 0);
    bytes confirm_first = spec::header(3, 113);
    confirm_first.resize(8 + 113, 0);
    bytes type_zero = spec::header(0, 0);
    bytes empty_hello = spec::header(1, 0);
    const std::vector<bad_case> cases = {
        {garbage, "bad magic"},
        {huge, "body of 65535 bytes exceeds the maximum of 512"},
        {short_hello, "hello body must be 48 bytes, got 47"},
        {confirm_first, "expected a hello, got message type 3 (confirm)"},
        {type_zero, "expected a hello, got message type 0 (unknown)"},
        {empty_hello, "hello body must be 48 bytes, got 0"},
    };
    for (const auto& c : cases) {
        driver d;
        auto r = d.responder();
        const status result = deliver(r, c.message);
        ASSERT_FALSE(result.ok()) << c.reason;
        EXPECT_EQ(result.failure().code, errc::invalid_argument);
        EXPECT_TRUE(contains(result.failure().message, "malformed handshake message: " + c.reason))
            << result.failure().message;
        EXPECT_EQ(output_of(r), encode_refusal(refusal_reason::malformed));
    }
}

TEST(handshake, malformed_replies_are_rejected_with_reasons) {
    driver d;
    {
        auto i = d.initiator();
        bytes reply = spec::header(2, 10);
        reply.resize(18, 0);
        (void)output_of(i);
        const status result = deliver(i, reply);
        ASSERT_FALSE(result.ok());
        EXPECT_TRUE(
            contains(result.failure().message, "reply body must be 145..400 bytes, got 10"));
    }
    auto spec_reply = [&](std::string_view address, int length_override) {
        auto i = d.initiator();
        spec::state s(d.key);
        const bytes hello = output_of(i);
        crypto::key32 peer_e{};
        std::copy_n(hello.begin() + 8, 32, peer_e.begin());
        (void)spec::hello(s, peer_e);
        const auto e = crypto::x25519_keypair_from_random(random_key(d.random));
        return deliver(i, spec::reply(s, e, peer_e, d.bob, address, false, length_override));
    };
    const status bad_address = spec_reply("not an address", -1);
    ASSERT_FALSE(bad_address.ok());
    EXPECT_TRUE(contains(bad_address.failure().message,
                         "malformed handshake message: stated listen address"));
    const status lying_length = spec_reply("127.0.0.1:1", 3);
    ASSERT_FALSE(lying_length.ok());
    EXPECT_TRUE(contains(lying_length.failure().message,
                         "listen address length 3 does not match the 11 bytes"));
}

TEST(handshake, a_low_order_ephemeral_key_is_refused) {
    driver d;
    auto r = d.responder();
    spec::state s(d.key);
    const status result = deliver(r, spec::hello(s, crypto::key32{}));
    ASSERT_FALSE(result.ok());
    EXPECT_TRUE(contains(result.failure().message, "low-order point"));
}

TEST(handshake, connecting_to_itself_is_refused) {
    driver d;
    auto i = d.initiator();
    auto r = handshake::start_responder(d.alice, d.key, "", random_key(d.random));
    ASSERT_TRUE(deliver(r, output_of(i)).ok());
    const status result = deliver(i, output_of(r));
    ASSERT_FALSE(result.ok());
    EXPECT_TRUE(contains(result.failure().message, "own identity"));
}

TEST(handshake, failure_is_final) {
    driver d;
    auto r = d.responder();
    const bytes garbage(20, 0xAB);
    const status first = deliver(r, garbage);
    ASSERT_FALSE(first.ok());
    (void)output_of(r);
    // Even a perfectly good hello afterwards gets the same error and no new output.
    auto i = d.initiator();
    const status again = deliver(r, output_of(i));
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.failure().message, first.failure().message);
    EXPECT_FALSE(r.has_output());
}

} // namespace
} // namespace reef::transport
