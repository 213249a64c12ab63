#pragma once
// Strong monotonic time types. Protocol code never reads a clock: `instant`s are passed in by the
// runtime (steady clock) or the simulator (virtual clock). Both are nanoseconds since an arbitrary
// epoch that is fixed for the life of one process.

#include <compare>
#include <cstdint>
#include <limits>

namespace reef {

class duration {
public:
    constexpr duration() = default;
    static constexpr duration nanoseconds(std::int64_t n) { return duration{n}; }
    static constexpr duration microseconds(std::int64_t n) { return duration{n * 1'000}; }
    static constexpr duration milliseconds(std::int64_t n) { return duration{n * 1'000'000}; }
    static constexpr duration seconds(std::int64_t n) { return duration{n * 1'000'000'000}; }
    static constexpr duration max() { return duration{std::numeric_limits<std::int64_t>::max()}; }
    static constexpr duration zero() { return duration{0}; }

    constexpr std::int64_t ns() const { return ns_; }
    constexpr double us() const { return static_cast<double>(ns_) / 1e3; }
    constexpr double ms() const { return static_cast<double>(ns_) / 1e6; }
    constexpr double sec() const { return static_cast<double>(ns_) / 1e9; }

    constexpr duration operator+(duration other) const { return duration{ns_ + other.ns_}; }
    constexpr duration operator-(duration other) const { return duration{ns_ - other.ns_}; }
    constexpr duration operator*(std::int64_t factor) const { return duration{ns_ * factor}; }
    constexpr duration operator/(std::int64_t divisor) const { return duration{ns_ / divisor}; }
    constexpr duration scaled(double factor) const {
        return duration{static_cast<std::int64_t>(static_cast<double>(ns_) * factor)};
    }
    constexpr duration& operator+=(duration other) {
        ns_ += other.ns_;
        return *this;
    }
    constexpr auto operator<=>(const duration&) const = default;

private:
    constexpr explicit duration(std::int64_t ns) : ns_(ns) {}
    std::int64_t ns_ = 0;
};

class instant {
public:
    constexpr instant() = default;
    static constexpr instant from_ns(std::int64_t ns) { return instant{ns}; }
    /// A deadline that never arrives.
    static constexpr instant never() { return instant{std::numeric_limits<std::int64_t>::max()}; }

    constexpr std::int64_t ns() const { return ns_; }
    constexpr instant operator+(duration d) const {
        if (ns_ == never().ns_ || d == duration::max()) {
            return never();
        }
        return instant{ns_ + d.ns()};
    }
    constexpr instant operator-(duration d) const { return instant{ns_ - d.ns()}; }
    constexpr duration operator-(instant other) const {
        return duration::nanoseconds(ns_ - other.ns_);
    }
    constexpr auto operator<=>(const instant&) const = default;

private:
    constexpr explicit instant(std::int64_t ns) : ns_(ns) {}
    std::int64_t ns_ = 0;
};

constexpr instant min(instant a, instant b) { return a < b ? a : b; }
constexpr instant max(instant a, instant b) { return a < b ? b : a; }
constexpr duration min(duration a, duration b) { return a < b ? a : b; }
constexpr duration max(duration a, duration b) { return a < b ? b : a; }

} // namespace reef
