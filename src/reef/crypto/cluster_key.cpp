#include "reef/crypto/cluster_key.hpp"

#include <algorithm>
#include <string>

#include "reef/base/assert.hpp"
#include "reef/base/ids.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/crypto/primitives.hpp"

namespace reef::crypto {

namespace {

constexpr std::string_view cluster_key_prefix = "reef-cluster-key-v1:";
constexpr std::string_view fingerprint_label = "reef-cluster-fingerprint";

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

std::string cluster_key::fingerprint() const {
    blake2b_256_hasher hasher;
    hasher.update(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(fingerprint_label.data()), fingerprint_label.size()));
    hasher.update(bytes);
    const auto digest = hasher.finish();
    return to_hex(std::span<const std::uint8_t>(digest.data(), 8));
}

std::string cluster_key::to_text() const {
    std::string text(cluster_key_prefix);
    text += to_hex(bytes);
    text += '\n';
    return text;
}

result<cluster_key> cluster_key::from_text(std::string_view text) {
    text = trim(text);
    if (text.empty()) {
        return make_error(errc::invalid_argument, "cluster key text is empty");
    }
    if (text.substr(0, cluster_key_prefix.size()) != cluster_key_prefix) {
        return make_error(errc::invalid_argument,
                          "cluster key text must start with \"reef-cluster-key-v1:\"");
    }
    text.remove_prefix(cluster_key_prefix.size());
    if (text.size() != 64) {
        return make_error(errc::invalid_argument,
                          "cluster key must have 64 hex digits after the prefix, got " +
                              std::to_string(text.size()) + " characters");
    }
    auto decoded = from_hex(text);
    if (!decoded.ok()) {
        // from_hex names only a position, never the secret digits.
        return make_error(errc::invalid_argument, "cluster key: " + decoded.failure().message);
    }
    std::string& raw = decoded.value();
    REEF_ASSERT(raw.size() == 32);
    cluster_key key;
    std::copy(raw.begin(), raw.end(), key.bytes.begin());
    wipe(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(raw.data()), raw.size()));
    if (std::all_of(key.bytes.begin(), key.bytes.end(), [](std::uint8_t b) { return b == 0; })) {
        return make_error(errc::invalid_argument, "cluster key is all zeros (not a real key)");
    }
    return key;
}

} // namespace reef::crypto
