#include "reef/crypto/identity.hpp"

#include <algorithm>

#include <sodium.h>

#include "reef/base/assert.hpp"
#include "reef/crypto/primitives.hpp"
#include "reef/crypto/sodium.hpp"

namespace reef::crypto {

namespace {

static_assert(crypto_sign_PUBLICKEYBYTES == 32);
static_assert(crypto_sign_SECRETKEYBYTES == 64);
static_assert(crypto_sign_SEEDBYTES == 32);
static_assert(crypto_sign_BYTES == 64);

constexpr std::string_view node_key_prefix = "reef-node-key-v1:";

std::string_view trim(std::string_view text) {
    const auto is_space = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
    };
    while (!text.empty() && is_space(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && is_space(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

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

std::string identity::to_text() const {
    std::string text(node_key_prefix);
    text += to_hex(seed_);
    text += '\n';
    return text;
}

result<identity> identity::from_text(std::string_view text) {
    text = trim(text);
    if (text.substr(0, node_key_prefix.size()) != node_key_prefix) {
        return make_error(errc::invalid_argument,
                          "node key text must start with \"reef-node-key-v1:\"");
    }
    text.remove_prefix(node_key_prefix.size());
    if (text.size() != 64) {
        return make_error(errc::invalid_argument,
                          "node key must have 64 hex digits after the prefix, got " +
                              std::to_string(text.size()) + " characters");
    }
    auto decoded = from_hex(text);
    if (!decoded.ok()) {
        // from_hex's message names only a position, never the digits.
        return make_error(errc::invalid_argument, "node key: " + decoded.failure().message);
    }
    std::string& raw = decoded.value();
    REEF_ASSERT(raw.size() == 32);
    auto out = from_seed_bytes(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()));
    wipe(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(raw.data()), raw.size()));
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
