#pragma once
// The native kernels a job can run, by name (docs/design/jobs.md, "The pi kernel").
//
// Thread-safety: the free functions are pure. A kernel_registry is filled (add) before it is
// shared; after that it is only read (find), which is safe from several threads at once, and
// every kernel's `run` must itself be safe to call from several threads (runner threads compute
// different chunks of the same kernel at the same time).
//
// A kernel's result for [begin, end) must not depend on how that range is split: sample i's
// randomness is a function of (seed, i), and partial results add up. That is what lets a job be
// computed by any number of workers, checkpointed anywhere and still give one answer per seed.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "reef/base/result.hpp"

namespace reef::jobs {

inline constexpr std::string_view pi_kernel = "pi";

/// The splitmix64 finalizer (Steele, Lea, Flood 2014): a bijection on 64-bit words that mixes
/// every input bit into every output bit.
constexpr std::uint64_t splitmix64(std::uint64_t x) {
    std::uint64_t z = x + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31U);
}

/// Whether sample `index` of seed `seed` falls inside the quarter circle. The word
/// splitmix64(seed ^ splitmix64(index)) gives x (high 32 bits) and y (low 32 bits), each scaled
/// by 2^-32; x² + y² < 1 is decided on the integers (X² + Y² < 2^64), so every machine agrees.
constexpr bool pi_hit(std::uint64_t seed, std::uint64_t index) {
    const std::uint64_t word = splitmix64(seed ^ splitmix64(index));
    const std::uint64_t x = word >> 32U;
    const std::uint64_t y = word & 0xffff'ffffULL;
    // Each square is below 2^64; their sum is below 2^64 exactly when it does not wrap.
    const std::uint64_t x_squared = x * x;
    const std::uint64_t y_squared = y * y;
    return x_squared <= ~y_squared;
}

/// The hits among samples [begin, end) of seed `seed`. pi_hits(s, a, c) == pi_hits(s, a, b) +
/// pi_hits(s, b, c) for every a <= b <= c.
std::uint64_t pi_hits(std::uint64_t seed, std::uint64_t begin, std::uint64_t end);

/// 4 * hits / samples; 0 when there are no samples.
double pi_estimate(std::uint64_t hits, std::uint64_t samples);

/// A kernel computes samples [begin, end) of a job with seed `seed` and returns their partial
/// result. Partial results of disjoint ranges are summed as doubles, so a kernel whose partials
/// are integers below 2^53 (pi's hit counts) reduces exactly in any order.
struct kernel {
    std::string name;
    std::function<double(std::uint64_t seed, std::uint64_t begin, std::uint64_t end)> run;
};

/// The kernels this node can run. "pi" is always there.
class kernel_registry {
public:
    static constexpr std::size_t kernels_max = 64;
    static constexpr std::size_t name_size_max = 64;

    kernel_registry();

    /// Adds `added`. invalid_argument for an empty or too long name or no function,
    /// already_exists for a name taken, resource_exhausted beyond kernels_max.
    [[nodiscard]] status add(kernel added);
    /// The kernel named `name`, or nullptr.
    const kernel* find(std::string_view name) const;
    bool has(std::string_view name) const { return find(name) != nullptr; }
    std::vector<std::string> names() const;
    std::size_t size() const { return kernels_.size(); }

private:
    std::map<std::string, kernel, std::less<>> kernels_;
};

} // namespace reef::jobs
