#pragma once
// The primitives the transport handshake and the secure channel are built from, as thin, typed
// wrappers over libsodium: keyed BLAKE2b, X25519 and ChaCha20-Poly1305-IETF.
//
// Pure functions: no clocks, no files, no OS entropy. Secrets that these functions need (X25519
// private scalars) come from the caller. Thread-safe (no shared mutable state).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "reef/base/result.hpp"

namespace reef::crypto {

using key32 = std::array<std::uint8_t, 32>;

inline constexpr std::size_t aead_tag_size_bytes = 16;
inline constexpr std::size_t blake2b_key_size_min = 16;
inline constexpr std::size_t blake2b_key_size_max = 64;

/// Incremental BLAKE2b with a 32-byte output, optionally keyed (a PRF/MAC when keyed).
class blake2b_256_hasher {
public:
    blake2b_256_hasher();
    /// `key` must be 16..64 bytes (a caller bug otherwise).
    explicit blake2b_256_hasher(std::span<const std::uint8_t> key);
    ~blake2b_256_hasher();
    blake2b_256_hasher(const blake2b_256_hasher&) = delete;
    blake2b_256_hasher& operator=(const blake2b_256_hasher&) = delete;

    blake2b_256_hasher& update(std::span<const std::uint8_t> data);
    /// Once only.
    key32 finish();

private:
    alignas(64) std::array<std::uint8_t, 384> state_{};
    bool finished_ = false;
};

/// Keyed BLAKE2b-256 of `data` (key 16..64 bytes).
key32 blake2b_256_keyed(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data);

/// HKDF-style two-output key derivation with keyed BLAKE2b as the PRF (docs/formats/transport.md):
///   prk  = BLAKE2b-256(key = chaining_key, input_key_material)
///   out1 = BLAKE2b-256(key = prk, 0x01)
///   out2 = BLAKE2b-256(key = prk, out1 || 0x02)
struct kdf_output {
    key32 first{};
    key32 second{};
};
kdf_output kdf2(const key32& chaining_key, std::span<const std::uint8_t> input_key_material);

struct x25519_keypair {
    key32 secret{};
    key32 public_key{};
};

/// An X25519 key pair whose private scalar is the caller's 32 random bytes (clamped by X25519).
x25519_keypair x25519_keypair_from_random(const key32& random_bytes);

/// The X25519 shared secret. Fails (invalid_argument) when `peer_public` is a low-order point,
/// which would make the result all zeros and independent of our secret.
result<key32> x25519_shared(const key32& secret, const key32& peer_public);

/// ChaCha20-Poly1305-IETF. The 96-bit nonce is 4 zero bytes followed by `counter` in little-endian
/// order. `out` must hold plaintext.size() + 16 bytes and may not overlap `plaintext`.
void aead_seal(const key32& key, std::uint64_t counter, std::span<const std::uint8_t> associated,
               std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out);

/// The inverse of aead_seal. `out` must hold ciphertext.size() - 16 bytes (ciphertext must be at
/// least 16 bytes). False when the tag does not verify (wrong key, nonce, data or associated
/// data); `out` is then zeroed.
[[nodiscard]] bool aead_open(const key32& key, std::uint64_t counter,
                             std::span<const std::uint8_t> associated,
                             std::span<const std::uint8_t> ciphertext, std::span<std::uint8_t> out);

/// Constant-time equality of two equal-length byte strings (false if the lengths differ).
bool equal_constant_time(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

/// Overwrite secret bytes so the compiler cannot elide it.
void wipe(std::span<std::uint8_t> secret);

template <std::size_t n>
void wipe(std::array<std::uint8_t, n>& secret) {
    wipe(std::span<std::uint8_t>(secret));
}

} // namespace reef::crypto
