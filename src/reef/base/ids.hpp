#pragma once
// 256-bit identifiers (node ids, keys, block ids) with Kademlia's XOR metric.
// A node id is the BLAKE2b-256 hash of the node's Ed25519 public key (see crypto/identity.hpp):
// ids are earned, not chosen.

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "reef/base/result.hpp"

namespace reef {

class id256 {
public:
    static constexpr std::size_t size_bytes = 32;
    using bytes_type = std::array<std::uint8_t, size_bytes>;

    constexpr id256() = default;
    explicit constexpr id256(const bytes_type& bytes) : bytes_(bytes) {}

    /// From exactly 32 bytes; anything else is an invalid_argument.
    static result<id256> from_bytes(std::span<const std::uint8_t> bytes);
    /// From 64 hex digits (either case).
    static result<id256> from_hex(std::string_view hex);

    const bytes_type& bytes() const { return bytes_; }
    bool is_zero() const;

    /// Full 64-digit lower-case hex.
    std::string hex() const;
    /// The first 12 hex digits, for people.
    std::string short_hex() const;

    /// Kademlia distance: bytewise XOR; compare distances with operator<.
    id256 distance_to(const id256& other) const;
    /// Number of leading zero bits (256 for the zero id). For a distance this is 255 - bucket.
    int leading_zero_bits() const;

    constexpr auto operator<=>(const id256&) const = default;

private:
    bytes_type bytes_{};
};

using node_id = id256;

struct id256_hash {
    std::size_t operator()(const id256& id) const {
        // Ids are uniformly distributed hashes, so any 8 bytes make a good hash.
        std::size_t h = 0;
        for (std::size_t i = 0; i < sizeof(h); ++i) {
            h = (h << 8U) | id.bytes()[i];
        }
        return h;
    }
};

/// Lower-case hex of arbitrary bytes.
std::string to_hex(std::span<const std::uint8_t> bytes);
/// Parse hex (even length, [0-9a-fA-F]); anything else is invalid_argument.
result<std::string> from_hex(std::string_view hex);

} // namespace reef
