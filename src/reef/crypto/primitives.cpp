#include "reef/crypto/primitives.hpp"

#include <cstring>

#include <sodium.h>

#include "reef/base/assert.hpp"
#include "reef/crypto/sodium.hpp"

namespace reef::crypto {

namespace {

static_assert(sizeof(crypto_generichash_state) <= 384);
static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == aead_tag_size_bytes);
static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == 32);
static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12);
static_assert(crypto_scalarmult_BYTES == 32 && crypto_scalarmult_SCALARBYTES == 32);

crypto_generichash_state* as_state(std::array<std::uint8_t, 384>& storage) {
    return reinterpret_cast<crypto_generichash_state*>(storage.data());
}

std::array<std::uint8_t, 12> nonce_of(std::uint64_t counter) {
    std::array<std::uint8_t, 12> nonce{};
    for (std::size_t i = 0; i < 8; ++i) {
        nonce[4 + i] = static_cast<std::uint8_t>(counter >> (8U * i));
    }
    return nonce;
}

} // namespace

blake2b_256_hasher::blake2b_256_hasher() {
    ensure_sodium();
    const int rc = crypto_generichash_init(as_state(state_), nullptr, 0, 32);
    REEF_ASSERT(rc == 0);
}

blake2b_256_hasher::blake2b_256_hasher(std::span<const std::uint8_t> key) {
    ensure_sodium();
    REEF_ASSERT(key.size() >= blake2b_key_size_min);
    REEF_ASSERT(key.size() <= blake2b_key_size_max);
    const int rc = crypto_generichash_init(as_state(state_), key.data(), key.size(), 32);
    REEF_ASSERT(rc == 0);
}

blake2b_256_hasher::~blake2b_256_hasher() { sodium_memzero(state_.data(), state_.size()); }

blake2b_256_hasher& blake2b_256_hasher::update(std::span<const std::uint8_t> data) {
    REEF_ASSERT(!finished_);
    const int rc = crypto_generichash_update(as_state(state_), data.data(), data.size());
    REEF_ASSERT(rc == 0);
    return *this;
}

key32 blake2b_256_hasher::finish() {
    REEF_ASSERT(!finished_);
    finished_ = true;
    key32 out{};
    const int rc = crypto_generichash_final(as_state(state_), out.data(), out.size());
    REEF_ASSERT(rc == 0);
    return out;
}

key32 blake2b_256_keyed(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data) {
    ensure_sodium();
    REEF_ASSERT(key.size() >= blake2b_key_size_min);
    REEF_ASSERT(key.size() <= blake2b_key_size_max);
    key32 out{};
    const int rc = crypto_generichash(out.data(), out.size(), data.data(), data.size(), key.data(),
                                      key.size());
    REEF_ASSERT(rc == 0);
    return out;
}

kdf_output kdf2(const key32& chaining_key, std::span<const std::uint8_t> input_key_material) {
    key32 prk = blake2b_256_keyed(chaining_key, input_key_material);
    kdf_output out;
    const std::uint8_t one = 0x01;
    out.first = blake2b_256_keyed(prk, std::span<const std::uint8_t>(&one, 1));
    std::array<std::uint8_t, 33> second_input{};
    std::memcpy(second_input.data(), out.first.data(), 32);
    second_input[32] = 0x02;
    out.second = blake2b_256_keyed(prk, second_input);
    wipe(prk);
    wipe(second_input);
    REEF_ASSERT(out.first != out.second);
    return out;
}

x25519_keypair x25519_keypair_from_random(const key32& random_bytes) {
    ensure_sodium();
    x25519_keypair pair;
    pair.secret = random_bytes;
    const int rc = crypto_scalarmult_base(pair.public_key.data(), pair.secret.data());
    // Only fails for a secret that clamps to zero, which clamping makes impossible.
    REEF_ASSERT(rc == 0);
    return pair;
}

result<key32> x25519_shared(const key32& secret, const key32& peer_public) {
    ensure_sodium();
    key32 shared{};
    if (crypto_scalarmult(shared.data(), secret.data(), peer_public.data()) != 0) {
        return make_error(errc::invalid_argument,
                          "ephemeral public key is a low-order point (no shared secret)");
    }
    return shared;
}

void aead_seal(const key32& key, std::uint64_t counter, std::span<const std::uint8_t> associated,
               std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out) {
    ensure_sodium();
    REEF_ASSERT(out.size() == plaintext.size() + aead_tag_size_bytes);
    const auto nonce = nonce_of(counter);
    unsigned long long written = 0;
    const int rc = crypto_aead_chacha20poly1305_ietf_encrypt(
        out.data(), &written, plaintext.data(), plaintext.size(), associated.data(),
        associated.size(), nullptr, nonce.data(), key.data());
    REEF_ASSERT(rc == 0);
    REEF_ASSERT(written == out.size());
}

bool aead_open(const key32& key, std::uint64_t counter, std::span<const std::uint8_t> associated,
               std::span<const std::uint8_t> ciphertext, std::span<std::uint8_t> out) {
    ensure_sodium();
    REEF_ASSERT(ciphertext.size() >= aead_tag_size_bytes);
    REEF_ASSERT(out.size() == ciphertext.size() - aead_tag_size_bytes);
    const auto nonce = nonce_of(counter);
    unsigned long long written = 0;
    const int rc = crypto_aead_chacha20poly1305_ietf_decrypt(
        out.data(), &written, nullptr, ciphertext.data(), ciphertext.size(), associated.data(),
        associated.size(), nonce.data(), key.data());
    if (rc != 0) {
        wipe(out);
        return false;
    }
    REEF_ASSERT(written == out.size());
    return true;
}

bool equal_constant_time(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    ensure_sodium();
    if (a.size() != b.size()) {
        return false;
    }
    if (a.empty()) {
        return true;
    }
    return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void wipe(std::span<std::uint8_t> secret) {
    if (!secret.empty()) {
        sodium_memzero(secret.data(), secret.size());
    }
}

} // namespace reef::crypto
