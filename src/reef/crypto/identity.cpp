#include "reef/crypto/identity.hpp"

#include <algorithm>

#include <sodium.h>

#include "reef/base/assert.hpp"
#include "reef/crypto/key_text.hpp"
#include "reef/crypto/primitives.hpp"
#include "reef/crypto/sodium.hpp"

namespace reef::crypto {

namespace {

static_assert(crypto_sign_PUBLICKEYBYTES == 32);
static_assert(crypto_sign_SECRETKEYBYTES == 64);
static_assert(crypto_sign_SEEDBYTES == 32);
static_assert(crypto_sign_BYTES == 64);

constexpr std::string_view node_key_prefix = "reef-node-key-v1:";

} // namespace

std::array<std::uint8_t, 32> blake2b_256(std::span<const std::uint8_t> data) {
    ensure_sodium();
    std::array<std::uint8_t, 32> out{};
    const int rc = crypto_generichash(out.data(), out.size(), data.data(), data.size(), nullptr, 0);
    REEF_ASSERT(rc == 0);
    return out;
}

node_id node_id_of(const public_key& key) { return node_id{blake2b_256(key)}; }

bool verify(const public_key& key, std::span<const std::uint8_t> message, const signature& sig) {
    ensure_sodium();
    return crypto_sign_verify_detached(sig.data(), message.data(), message.size(), key.data()) ==
           0;
}

identity identity::from_seed(const seed32& seed) {
    ensure_sodium();
    identity out;
    out.seed_ = seed;
    const int rc = crypto_sign_seed_keypair(out.public_.data(), out.secret_.data(), seed.data());
    REEF_ASSERT(rc == 0);
    out.id_ = node_id_of(out.public_);
    REEF_ASSERT(!out.id_.is_zero());
    return out;
}

result<identity> identity::from_seed_bytes(std::span<const std::uint8_t> bytes) {
    if (bytes.size() != 32) {
        return make_error(errc::invalid_argument,
                          "a node key seed is 32 bytes, got " + std::to_string(bytes.size()));
    }
    seed32 seed{};
    std::copy(bytes.begin(), bytes.end(), seed.begin());
    identity out = from_seed(seed);
    wipe(seed);
    return out;
}

std::string identity::to_text() const { return key_to_text(node_key_prefix, seed_); }

result<identity> identity::from_text(std::string_view text) {
    auto decoded = key_from_text(text, node_key_prefix, "node key");
    if (!decoded.ok()) {
        return decoded.failure();
    }
    identity out = from_seed(*decoded);
    wipe(*decoded);
    return out;
}

identity::~identity() {
    wipe(secret_);
    wipe(seed_);
}

signature identity::sign(std::span<const std::uint8_t> message) const {
    ensure_sodium();
    REEF_ASSERT(!id_.is_zero());
    signature sig{};
    unsigned long long length = 0;
    const int rc = crypto_sign_detached(sig.data(), &length, message.data(), message.size(),
                                        secret_.data());
    REEF_ASSERT(rc == 0);
    REEF_ASSERT(length == sig.size());
    return sig;
}

} // namespace reef::crypto
