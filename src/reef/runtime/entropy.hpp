#pragma once
// OS entropy (getrandom through libsodium). Only the runtime draws from the OS; protocol cores
// receive seeds.

#include <cstdint>
#include <span>

namespace reef::runtime {

void fill_random(std::span<std::uint8_t> out);
std::uint64_t random_seed();

} // namespace reef::runtime
