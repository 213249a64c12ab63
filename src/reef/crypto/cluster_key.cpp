#include "reef/crypto/cluster_key.hpp"

#include <algorithm>
#include <string>

#include "reef/base/ids.hpp"
#include "reef/crypto/key_text.hpp"
#include "reef/crypto/primitives.hpp"

namespace reef::crypto {

namespace {

constexpr std::string_view cluster_key_prefix = "reef-cluster-key-v1:";
constexpr std::string_view fingerprint_label = "reef-cluster-fingerprint";

} // namespace

std::string cluster_key::fingerprint() const {
    blake2b_256_hasher hasher;
    hasher.update(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(fingerprint_label.data()), fingerprint_label.size()));
    hasher.update(bytes);
    const auto digest = hasher.finish();
    return to_hex(std::span<const std::uint8_t>(digest.data(), 8));
}

std::string cluster_key::to_text() const { return key_to_text(cluster_key_prefix, bytes); }

result<cluster_key> cluster_key::from_text(std::string_view text) {
    auto decoded = key_from_text(text, cluster_key_prefix, "cluster key");
    if (!decoded.ok()) {
        return decoded.failure();
    }
    cluster_key key;
    key.bytes = *decoded;
    wipe(*decoded);
    if (std::all_of(key.bytes.begin(), key.bytes.end(), [](std::uint8_t b) { return b == 0; })) {
        return make_error(errc::invalid_argument, "cluster key is all zeros (not a real key)");
    }
    return key;
}

} // namespace reef::crypto
