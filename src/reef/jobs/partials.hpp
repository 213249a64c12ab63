#pragma once
// Partial results of a job (docs/design/jobs.md, "Partial results"): the reduced value of some
// of a job's samples. A native kernel's partials are numbers and reduce by addition; a Lua job's
// are any JSON value its reduce(a, b) accepts, kept small because every active chunk's partial
// lives in the coordinator's state.
//
// Thread-safety: pure functions.

#include <cstddef>

#include <nlohmann/json.hpp>

#include "reef/base/result.hpp"

namespace reef::jobs {

using json = nlohmann::json;

/// Largest partial result, as JSON text.
inline constexpr std::size_t partial_size_max = 256;

/// `value` as a partial: whole values in [0, 2^53] become integers (so hit counts stay exact
/// and print without a fraction), others stay doubles.
json number_partial(double value);

/// null is the partial result of no samples: every reduction of (null, x) is x.
/// a + b for two numbers: exact when both are non-negative integers whose sum fits in 64 bits,
/// as doubles otherwise. invalid_argument when either is neither a number nor null.
[[nodiscard]] result<json> add_numbers(const json& a, const json& b);

/// invalid_argument, saying why, when `partial` is larger than partial_size_max as JSON text.
[[nodiscard]] status check_partial_size(const json& partial);

} // namespace reef::jobs
