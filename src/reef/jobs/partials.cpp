#include "reef/jobs/partials.hpp"

#include <cmath>
#include <cstdint>

#include "reef/actors/record.hpp"

namespace reef::jobs {

json number_partial(double value) {
    constexpr double exact_max = 9007199254740992.0; // 2^53
    if (value >= 0.0 && value <= exact_max && std::floor(value) == value) {
        return static_cast<std::uint64_t>(value);
    }
    return value;
}

result<json> add_numbers(const json& a, const json& b) {
    if (a.is_null() && (b.is_null() || b.is_number())) {
        return b;
    }
    if (b.is_null() && a.is_number()) {
        return a;
    }
    if (!a.is_number() || !b.is_number()) {
        return make_error(errc::invalid_argument,
                          "partial results without a reduce function must be numbers, not " +
                              std::string(a.is_number() ? b.type_name() : a.type_name()));
    }
    // Whole numbers stay exact while they fit: hit counts and Lua integers.
    if (a.is_number_integer() && b.is_number_integer()) {
        const bool non_negative = (a.is_number_unsigned() || a.get<std::int64_t>() >= 0) &&
                                  (b.is_number_unsigned() || b.get<std::int64_t>() >= 0);
        if (non_negative) {
            std::uint64_t sum = 0;
            if (!__builtin_add_overflow(a.get<std::uint64_t>(), b.get<std::uint64_t>(), &sum)) {
                return json(sum);
            }
        } else {
            std::int64_t sum = 0;
            if (!a.is_number_unsigned() && !b.is_number_unsigned() &&
                !__builtin_add_overflow(a.get<std::int64_t>(), b.get<std::int64_t>(), &sum)) {
                return json(sum);
            }
        }
    }
    return json(a.get<double>() + b.get<double>());
}

status check_partial_size(const json& partial) {
    const std::size_t size = actors::json_text(partial).size();
    if (size > partial_size_max) {
        return make_error(errc::invalid_argument,
                          "a partial result is " + std::to_string(size) +
                              " bytes as JSON, more than " + std::to_string(partial_size_max));
    }
    return {};
}

} // namespace reef::jobs
