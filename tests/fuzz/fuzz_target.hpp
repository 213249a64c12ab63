#pragma once
// The interface every fuzz target implements, once per target source file. Two drivers call it:
//  - driver_deterministic.cpp: a ctest (`fuzz.<name>`) that feeds tens of thousands of random and
//    mutated inputs from a seeded reef::prng, so every CI run fuzzes reproducibly;
//  - driver_libfuzzer.cpp: LLVMFuzzerTestOneInput, built only with clang, for open-ended fuzzing.
//
// A target must never crash on any input: every decoder returns an error for bad bytes. A target
// checks the properties of the code under test with REEF_FUZZ_CHECK (for example "a frame that
// was not sealed by the key holder never decodes"); a violated property aborts, which both
// drivers report as a failure.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace reef::fuzz {

using bytes = std::vector<std::uint8_t>;

/// Runs one input through the code under test.
void one_input(std::span<const std::uint8_t> data);

/// Well-formed inputs the deterministic driver mutates (and libFuzzer may be seeded with).
std::vector<bytes> seed_corpus();

/// The number of inputs the deterministic ctest runs by default.
std::size_t default_iterations();

/// A line about how deep the run got (e.g. how many inputs completed a handshake), printed by the
/// deterministic driver after `iterations` inputs; it may REEF_FUZZ_CHECK that the run reached
/// the states it is meant to reach, so a harness that silently stopped reaching them fails.
std::string summary(std::uint64_t iterations);

[[noreturn]] inline void property_failed(const char* what, const char* file, int line) {
    std::fprintf(stderr, "fuzz property violated: %s (%s:%d)\n", what, file, line);
    std::fflush(stderr);
    std::abort();
}

} // namespace reef::fuzz

#define REEF_FUZZ_CHECK(cond)                                                                  \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            ::reef::fuzz::property_failed(#cond, __FILE__, __LINE__);                          \
        }                                                                                      \
    } while (false)
