#pragma once
// Lifeguard suspicion timing (pure functions).
//
// A suspicion raised in a cluster of n live members times out between
//     min = suspicion_mult * max(1, log10(n)) * probe_period        (memberlist's formula)
//     max = suspicion_max_mult * min
// It starts at max and shrinks toward min as c independent confirmations (suspicions of the same
// member at the same incarnation from distinct origins) arrive, out of k expected:
//     timeout(c) = max(min, max - (max - min) * log(c + 1) / log(k + 1))
// k = floor(suspicion_mult) - 2, or 0 when the cluster is too small to provide that many
// confirmers (n - 2 < k: the suspect and this node cannot confirm); with k = 0 the timeout is min.

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "reef/base/assert.hpp"
#include "reef/base/time.hpp"
#include "reef/membership/config.hpp"

namespace reef::membership {

struct suspicion_bounds {
    duration timeout_min;
    duration timeout_max;
    std::uint32_t confirmations_expected = 0; // k
};

inline suspicion_bounds suspicion_bounds_for(const config& limits, std::size_t live_count) {
    const double n = static_cast<double>(std::max<std::size_t>(live_count, 1));
    const double scale = std::max(1.0, std::log10(n));
    const duration timeout_min = limits.probe_period.scaled(limits.suspicion_mult * scale);
    const duration timeout_max = timeout_min.scaled(limits.suspicion_max_mult);
    auto expected = static_cast<std::int64_t>(std::floor(limits.suspicion_mult)) - 2;
    if (expected < 0 || static_cast<std::int64_t>(live_count) - 2 < expected) {
        expected = 0;
    }
    REEF_ASSERT(timeout_min <= timeout_max);
    return {timeout_min, timeout_max, static_cast<std::uint32_t>(expected)};
}

/// The suspicion timeout after `confirmations` independent confirmations.
inline duration suspicion_timeout(const suspicion_bounds& bounds, std::uint32_t confirmations) {
    REEF_ASSERT(bounds.timeout_min <= bounds.timeout_max);
    if (bounds.confirmations_expected == 0) {
        return bounds.timeout_min;
    }
    const double c = static_cast<double>(std::min(confirmations, bounds.confirmations_expected));
    const double fraction =
        std::log(c + 1.0) / std::log(static_cast<double>(bounds.confirmations_expected) + 1.0);
    const duration span = bounds.timeout_max - bounds.timeout_min;
    const duration timeout = bounds.timeout_max - span.scaled(fraction);
    return max(bounds.timeout_min, timeout);
}

} // namespace reef::membership
