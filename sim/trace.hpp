#pragma once
// The run's trace hash: 64-bit FNV-1a over every delivered event and every membership change, in
// the order they happen. Two runs with the same seed must produce the same hash; a difference
// means something outside the seed (an unordered iteration, a pointer, a clock) leaked in.
//
// Thread-safety: none.

#include <cstdint>
#include <string_view>

namespace reef::sim {

class trace_hasher {
public:
    static constexpr std::uint64_t offset_basis = 0xcbf29ce484222325ULL;
    static constexpr std::uint64_t prime = 0x100000001b3ULL;

    void add_byte(std::uint8_t byte) {
        value_ ^= byte;
        value_ *= prime;
    }
    /// Little-endian bytes of `word`, so the hash does not depend on the host's byte order.
    void add_u64(std::uint64_t word) {
        for (int i = 0; i < 8; ++i) {
            add_byte(static_cast<std::uint8_t>(word >> (8U * static_cast<unsigned>(i))));
        }
    }
    void add_text(std::string_view text) {
        for (const char c : text) {
            add_byte(static_cast<std::uint8_t>(c));
        }
    }
    std::uint64_t value() const { return value_; }

private:
    std::uint64_t value_ = offset_basis;
};

} // namespace reef::sim
