#pragma once
// Helpers shared by the replica-group benchmarks (replica_groups.cpp, replica_commit.cpp).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "reef/base/ids.hpp"

namespace reef::bench {

/// A member id whose first byte is `n`: ids 1, 2, 3 sort in that order.
inline node_id member_id(std::uint8_t n) {
    id256::bytes_type bytes{};
    bytes[0] = n;
    return id256{bytes};
}

/// The value after `--name` on the command line, or `fallback`.
inline std::size_t flag(int argc, char** argv, const char* name, std::size_t fallback) {
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], name) == 0) {
            return static_cast<std::size_t>(std::strtoull(argv[i + 1], nullptr, 10));
        }
    }
    return fallback;
}

/// Nearest-rank percentile (p in (0, 100]) of `samples`, which it sorts; 0 when empty.
template <typename T>
T percentile(std::vector<T>& samples, double p) {
    if (samples.empty()) {
        return T{};
    }
    std::sort(samples.begin(), samples.end());
    const auto count = static_cast<double>(samples.size());
    auto rank = static_cast<std::size_t>(p / 100.0 * count);
    if (static_cast<double>(rank) < p / 100.0 * count) {
        ++rank;  // ceil
    }
    rank = std::clamp<std::size_t>(rank, 1, samples.size());
    return samples[rank - 1];
}

} // namespace reef::bench
