#include "reef/runtime/entropy.hpp"

#include <sodium.h>

#include "reef/base/assert.hpp"
#include "reef/crypto/sodium.hpp"

namespace reef::runtime {

void fill_random(std::span<std::uint8_t> out) {
    crypto::ensure_sodium();
    if (!out.empty()) {
        randombytes_buf(out.data(), out.size());
    }
}

std::uint64_t random_seed() {
    crypto::ensure_sodium();
    std::uint64_t seed = 0;
    randombytes_buf(&seed, sizeof(seed));
    return seed;
}

} // namespace reef::runtime
