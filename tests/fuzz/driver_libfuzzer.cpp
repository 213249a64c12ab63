// libFuzzer entry point (clang only): `reef_libfuzzer_<name> [corpus dir]`.
#include <cstddef>
#include <cstdint>

#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    reef::fuzz::one_input(std::span<const std::uint8_t>(data, size));
    return 0;
}
