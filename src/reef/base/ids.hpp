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

    /// Lexicographic byte order (the id read as a big-endian number). Written out over four
    /// 64-bit words because the defaulted comparison calls memcmp, which is hot in large
    /// simulations.
    friend constexpr std::strong_ordering operator<=>(const id256& a, const id256& b) {
        for (std::size_t index = 0; index < words_count; ++index) {
            const std::uint64_t x = a.word(index);
            const std::uint64_t y = b.word(index);
            if (x != y) {
                return x < y ? std::strong_ordering::less : std::strong_ordering::greater;
            }
        }
        return std::strong_ordering::equal;
    }
    friend constexpr bool operator==(const id256& a, const id256& b) {
        for (std::size_t index = 0; index < words_count; ++index) {
            if (a.word(index) != b.word(index)) {
                return false;
            }
        }
        return true;
    }

private:
    static constexpr std::size_t words_count = size_bytes / 8;

    /// Bytes [8 * index, 8 * index + 8) as a big-endian number (compiles to a load and a byte
    /// swap), so that comparing words in order compares the bytes lexicographically.
    constexpr std::uint64_t word(std::size_t index) const {
        const std::uint8_t* b = bytes_.data() + index * 8;
        return (std::uint64_t{b[0]} << 56U) | (std::uint64_t{b[1]} << 48U) |
               (std::uint64_t{b[2]} << 40U) | (std::uint64_t{b[3]} << 32U) |
               (std::uint64_t{b[4]} << 24U) | (std::uint64_t{b[5]} << 16U) |
               (std::uint64_t{b[6]} << 8U) | std::uint64_t{b[7]};
    }

    bytes_type bytes_{};
};

static_assert(id256::size_bytes % 8 == 0);

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
/// The value of one hex digit (either case), or -1 for any other character.
int hex_digit_value(char c);
/// Parse hex (even length, [0-9a-fA-F]); anything else is invalid_argument.
result<std::string> from_hex(std::string_view hex);

} // namespace reef
