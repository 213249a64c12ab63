#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sodium.h>

#include "reef/base/ids.hpp"
#include "reef/base/prng.hpp"
#include "reef/crypto/cluster_key.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/crypto/key_text.hpp"
#include "reef/crypto/primitives.hpp"

namespace reef::crypto {
namespace {

std::vector<std::uint8_t> bytes_of(std::string_view text) {
    return {text.begin(), text.end()};
}

template <std::size_t n>
std::array<std::uint8_t, n> array_from_hex(std::string_view hex) {
    auto raw = from_hex(hex);
    EXPECT_TRUE(raw.ok());
    EXPECT_EQ(raw->size(), n);
    std::array<std::uint8_t, n> out{};
    std::copy(raw->begin(), raw->end(), out.begin());
    return out;
}

seed32 seed_from(std::uint64_t value) {
    prng random(value);
    seed32 seed{};
    for (auto& b : seed) {
        b = static_cast<std::uint8_t>(random.below(256));
    }
    return seed;
}

TEST(blake2b, matches_the_reference_vector) {
    const auto digest = blake2b_256(bytes_of("abc"));
    EXPECT_EQ(to_hex(digest), "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

TEST(blake2b, incremental_equals_one_shot_and_key_changes_output) {
    blake2b_256_hasher hasher;
    hasher.update(bytes_of("ab")).update(bytes_of("c"));
    EXPECT_EQ(hasher.finish(), blake2b_256(bytes_of("abc")));

    key32 key_a{};
    key32 key_b{};
    key_b[0] = 1;
    EXPECT_NE(blake2b_256_keyed(key_a, bytes_of("abc")), blake2b_256_keyed(key_b, bytes_of("abc")));
    EXPECT_NE(blake2b_256_keyed(key_a, bytes_of("abc")), blake2b_256(bytes_of("abc")));
}

TEST(kdf, outputs_differ_and_depend_on_both_inputs) {
    key32 chaining{};
    const auto a = kdf2(chaining, bytes_of("input"));
    const auto b = kdf2(chaining, bytes_of("input2"));
    chaining[5] = 9;
    const auto c = kdf2(chaining, bytes_of("input"));
    EXPECT_NE(a.first, a.second);
    EXPECT_NE(a.first, b.first);
    EXPECT_NE(a.first, c.first);
    EXPECT_NE(a.second, c.second);
    EXPECT_EQ(kdf2(key32{}, bytes_of("input")).first, a.first); // deterministic
}

TEST(identity, rfc8032_test_vector_1) {
    const auto seed = array_from_hex<32>(
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    const auto self = identity::from_seed(seed);
    EXPECT_EQ(to_hex(self.public_key_bytes()),
              "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    const auto sig = self.sign({});
    EXPECT_EQ(to_hex(sig), "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                           "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    EXPECT_EQ(self.id(), node_id_of(self.public_key_bytes()));
    EXPECT_EQ(self.id().bytes(), blake2b_256(self.public_key_bytes()));
}

TEST(identity, sign_and_verify_and_reject_forgeries) {
    const auto alice = identity::from_seed(seed_from(1));
    const auto bob = identity::from_seed(seed_from(2));
    EXPECT_NE(alice.id(), bob.id());
    const auto message = bytes_of("hello reef");
    auto sig = alice.sign(message);
    EXPECT_TRUE(verify(alice.public_key_bytes(), message, sig));
    EXPECT_FALSE(verify(bob.public_key_bytes(), message, sig));
    EXPECT_FALSE(verify(alice.public_key_bytes(), bytes_of("hello reeF"), sig));
    sig[10] ^= 0x40U;
    EXPECT_FALSE(verify(alice.public_key_bytes(), message, sig));
    EXPECT_FALSE(verify(public_key{}, message, signature{}));
}

TEST(identity, seed_bytes_and_text_round_trip) {
    const auto original = identity::from_seed(seed_from(3));
    auto from_bytes = identity::from_seed_bytes(original.seed());
    ASSERT_TRUE(from_bytes.ok());
    EXPECT_EQ(from_bytes->id(), original.id());

    const std::string text = original.to_text();
    EXPECT_EQ(text.rfind("reef-node-key-v1:", 0), 0U);
    EXPECT_EQ(text.back(), '\n');
    auto parsed = identity::from_text("  " + text + "\n\n");
    ASSERT_TRUE(parsed.ok()) << parsed.failure().describe();
    EXPECT_EQ(parsed->id(), original.id());
    EXPECT_EQ(parsed->public_key_bytes(), original.public_key_bytes());
}

TEST(identity, malformed_seed_bytes_and_text_are_rejected) {
    const std::vector<std::uint8_t> short_seed(31, 1);
    auto too_short = identity::from_seed_bytes(short_seed);
    ASSERT_FALSE(too_short.ok());
    EXPECT_EQ(too_short.failure().code, errc::invalid_argument);
    EXPECT_NE(too_short.failure().message.find("32 bytes"), std::string::npos);

    const std::string good = identity::from_seed(seed_from(4)).to_text();
    const std::string hex = good.substr(17, 64);
    const std::vector<std::string> bad = {
        "",
        "reef-node-key-v1:",
        "reef-node-key-v2:" + hex,
        "reef-cluster-key-v1:" + hex,
        "reef-node-key-v1:" + hex.substr(0, 63),
        "reef-node-key-v1:" + hex + "00",
        "reef-node-key-v1:" + hex.substr(0, 63) + "g",
        "reef-node-key-v1: " + hex,
        hex,
    };
    for (const auto& text : bad) {
        auto parsed = identity::from_text(text);
        ASSERT_FALSE(parsed.ok()) << text;
        EXPECT_EQ(parsed.failure().code, errc::invalid_argument);
        // The reason never echoes the secret digits.
        EXPECT_EQ(parsed.failure().message.find(hex.substr(0, 16)), std::string::npos);
    }
}

TEST(cluster_key, text_round_trip_and_fingerprint) {
    cluster_key key;
    key.bytes = seed_from(5);
    const std::string text = key.to_text();
    EXPECT_EQ(text.rfind("reef-cluster-key-v1:", 0), 0U);
    EXPECT_EQ(text.size(), 20U + 64U + 1U);
    auto parsed = cluster_key::from_text("\n" + text + "  ");
    ASSERT_TRUE(parsed.ok()) << parsed.failure().describe();
    EXPECT_EQ(parsed->bytes, key.bytes);

    const std::string fp = key.fingerprint();
    EXPECT_EQ(fp.size(), 16U);
    EXPECT_EQ(text.find(fp), std::string::npos); // the fingerprint is not a prefix of the secret
    cluster_key other = key;
    other.bytes[31] ^= 1U;
    EXPECT_NE(other.fingerprint(), fp);
    EXPECT_EQ(parsed->fingerprint(), fp);
}

TEST(cluster_key, malformed_text_is_rejected_with_a_reason) {
    cluster_key key;
    key.bytes = seed_from(6);
    const std::string hex = key.to_text().substr(20, 64);
    struct bad_case {
        std::string text;
        std::string reason;
    };
    const std::vector<bad_case> cases = {
        {"", "empty"},
        {"   \n", "empty"},
        {"reef-cluster-key-v2:" + hex, "must start with"},
        {"cluster-key:" + hex, "must start with"},
        {hex, "must start with"},
        {"reef-cluster-key-v1:" + hex.substr(0, 62), "got 62 characters"},
        {"reef-cluster-key-v1:" + hex + "ab", "got 66 characters"},
        {"reef-cluster-key-v1:" + hex.substr(0, 10) + "z" + hex.substr(11), "position 10"},
        {"reef-cluster-key-v1:" + std::string(64, '0'), "all zeros"},
        {"reef-cluster-key-v1:" + hex.substr(0, 32) + "\n" + hex.substr(32), "characters"},
    };
    for (const auto& c : cases) {
        auto parsed = cluster_key::from_text(c.text);
        ASSERT_FALSE(parsed.ok()) << c.text;
        EXPECT_EQ(parsed.failure().code, errc::invalid_argument);
        EXPECT_NE(parsed.failure().message.find(c.reason), std::string::npos)
            << parsed.failure().message;
        EXPECT_EQ(parsed.failure().message.find(hex.substr(0, 16)), std::string::npos);
    }
}

TEST(key_text, round_trips_and_names_the_key_in_messages) {
    const key32 key = seed_from(7);
    const std::string text = key_to_text("reef-test-key-v1:", key);
    EXPECT_EQ(text, "reef-test-key-v1:" + to_hex(key) + "\n");
    auto parsed = key_from_text(" " + text, "reef-test-key-v1:", "test key");
    ASSERT_TRUE(parsed.ok()) << parsed.failure().describe();
    EXPECT_EQ(*parsed, key);

    for (const std::string& bad : {std::string(), "reef-other-key-v1:" + to_hex(key),
                                   text.substr(0, text.size() - 2)}) {
        auto refused = key_from_text(bad, "reef-test-key-v1:", "test key");
        ASSERT_FALSE(refused.ok()) << bad;
        EXPECT_EQ(refused.failure().message.rfind("test key", 0), 0U) << refused.failure().message;
    }
}

TEST(x25519, rfc7748_vector_and_agreement) {
    const auto alice = x25519_keypair_from_random(array_from_hex<32>(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
    const auto bob = x25519_keypair_from_random(array_from_hex<32>(
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
    EXPECT_EQ(to_hex(alice.public_key),
              "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    auto ab = x25519_shared(alice.secret, bob.public_key);
    auto ba = x25519_shared(bob.secret, alice.public_key);
    ASSERT_TRUE(ab.ok());
    ASSERT_TRUE(ba.ok());
    EXPECT_EQ(*ab, *ba);
    EXPECT_EQ(to_hex(*ab), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
}

TEST(x25519, low_order_points_are_refused) {
    const auto alice = x25519_keypair_from_random(seed_from(7));
    auto zero = x25519_shared(alice.secret, key32{});
    ASSERT_FALSE(zero.ok());
    EXPECT_NE(zero.failure().message.find("low-order"), std::string::npos);
    key32 one{};
    one[0] = 1;
    EXPECT_FALSE(x25519_shared(alice.secret, one).ok());
}

TEST(aead, round_trip_tamper_and_nonce_layout) {
    const key32 key = seed_from(8);
    const auto plaintext = bytes_of("attack at dawn");
    const auto associated = bytes_of("hdr");
    std::vector<std::uint8_t> sealed(plaintext.size() + aead_tag_size_bytes);
    aead_seal(key, 5, associated, plaintext, sealed);

    // The nonce is 4 zero bytes then the counter in little-endian order.
    std::array<std::uint8_t, 12> nonce{};
    nonce[4] = 5;
    std::vector<std::uint8_t> reference(sealed.size());
    unsigned long long length = 0;
    ASSERT_EQ(crypto_aead_chacha20poly1305_ietf_encrypt(
                  reference.data(), &length, plaintext.data(), plaintext.size(), associated.data(),
                  associated.size(), nullptr, nonce.data(), key.data()),
              0);
    EXPECT_EQ(reference, sealed);

    std::vector<std::uint8_t> opened(plaintext.size());
    ASSERT_TRUE(aead_open(key, 5, associated, sealed, opened));
    EXPECT_EQ(opened, plaintext);
    EXPECT_FALSE(aead_open(key, 6, associated, sealed, opened));
    EXPECT_FALSE(aead_open(key, 5, bytes_of("hdR"), sealed, opened));
    auto tampered = sealed;
    tampered[3] ^= 1U;
    EXPECT_FALSE(aead_open(key, 5, associated, tampered, opened));
    EXPECT_TRUE(std::all_of(opened.begin(), opened.end(), [](std::uint8_t b) { return b == 0; }));
}

TEST(aead, empty_plaintext_has_only_a_tag) {
    const key32 key = seed_from(9);
    std::array<std::uint8_t, aead_tag_size_bytes> tag{};
    aead_seal(key, 0, {}, {}, tag);
    std::span<std::uint8_t> nothing;
    EXPECT_TRUE(aead_open(key, 0, {}, tag, nothing));
    tag[0] ^= 1U;
    EXPECT_FALSE(aead_open(key, 0, {}, tag, nothing));
}

TEST(helpers, equal_constant_time_and_wipe) {
    std::array<std::uint8_t, 4> a{1, 2, 3, 4};
    std::array<std::uint8_t, 4> b{1, 2, 3, 4};
    EXPECT_TRUE(equal_constant_time(a, b));
    b[3] = 5;
    EXPECT_FALSE(equal_constant_time(a, b));
    EXPECT_FALSE(equal_constant_time(a, std::span<const std::uint8_t>(b.data(), 3)));
    wipe(a);
    EXPECT_EQ(a, (std::array<std::uint8_t, 4>{}));
}

} // namespace
} // namespace reef::crypto
