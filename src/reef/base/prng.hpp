#pragma once
// A small, fast, seeded pseudo-random generator (xoshiro256**, seeded through splitmix64).
// Every component owns one, seeded by its creator; there is no global generator, so a simulation
// run is reproducible from its seed. Not for key material: keys come from the OS via libsodium.

#include <array>
#include <cstdint>

#include "reef/base/assert.hpp"

namespace reef {

class prng {
public:
    explicit prng(std::uint64_t seed) {
        for (auto& word : state_) {
            seed += 0x9e3779b97f4a7c15ULL;
            std::uint64_t z = seed;
            z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
            word = z ^ (z >> 31U);
        }
    }

    std::uint64_t next_u64() {
        const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const std::uint64_t t = state_[1] << 17U;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }

    /// Uniform in [0, bound). Lemire's multiply-shift; the tiny bias is irrelevant here.
    std::uint64_t below(std::uint64_t bound) {
        REEF_ASSERT(bound > 0);
        __extension__ using u128 = unsigned __int128;
        return static_cast<std::uint64_t>((static_cast<u128>(next_u64()) * bound) >> 64U);
    }

    /// Uniform in [0, 1).
    double unit() { return static_cast<double>(next_u64() >> 11U) * 0x1.0p-53; }

    /// True with probability `probability`.
    bool chance(double probability) { return unit() < probability; }

    /// A seed for a child generator, so components can be seeded from one root seed.
    std::uint64_t fork_seed() { return next_u64() ^ 0x5851f42d4c957f2dULL; }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) {
        return (x << static_cast<unsigned>(k)) | (x >> static_cast<unsigned>(64 - k));
    }
    std::array<std::uint64_t, 4> state_{};
};

} // namespace reef
