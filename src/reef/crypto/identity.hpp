#pragma once
// Node and user identities: Ed25519 key pairs (libsodium). A node id is BLAKE2b-256 of the
// public key, so an id cannot be chosen, and a peer proves its id by signing with the key.
// Pure functions: key generation takes its seed from the caller (the runtime draws it from the OS).

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "reef/base/ids.hpp"
#include "reef/base/result.hpp"

namespace reef::crypto {

using public_key = std::array<std::uint8_t, 32>;
using signature = std::array<std::uint8_t, 64>;
using seed32 = std::array<std::uint8_t, 32>;

/// BLAKE2b with a 32-byte output.
std::array<std::uint8_t, 32> blake2b_256(std::span<const std::uint8_t> data);

/// The node id that belongs to `key`.
node_id node_id_of(const public_key& key);

bool verify(const public_key& key, std::span<const std::uint8_t> message, const signature& sig);

class identity {
public:
    /// Deterministic key pair from 32 seed bytes (the runtime passes OS entropy; the simulator a
    /// seeded value).
    static identity from_seed(const seed32& seed);
    /// From the 32 seed bytes stored in a key file; anything else is invalid_argument.
    static result<identity> from_seed_bytes(std::span<const std::uint8_t> bytes);
    /// The key file text form, "reef-node-key-v1:<64 hex digits of the seed>\n" (a secret).
    std::string to_text() const;
    /// Accepts the text form (surrounding whitespace allowed); rejects anything else with a
    /// reason that never echoes key material.
    static result<identity> from_text(std::string_view text);

    identity(const identity&) = default;
    identity& operator=(const identity&) = default;
    /// Wipes the secret key bytes.
    ~identity();

    const seed32& seed() const { return seed_; }
    const public_key& public_key_bytes() const { return public_; }
    node_id id() const { return id_; }
    signature sign(std::span<const std::uint8_t> message) const;

private:
    identity() = default;
    seed32 seed_{};
    std::array<std::uint8_t, 64> secret_{};
    public_key public_{};
    node_id id_;
};

} // namespace reef::crypto
