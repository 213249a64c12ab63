#pragma once
// Operating errors as values. `result<T>` holds either a T or an `error` (a closed code plus a
// message for humans). No exceptions cross a module boundary.
//
// Codes carry retry meaning: `unavailable` = retry the call; `aborted` = retry higher up;
// `failed_precondition` and `invalid_argument` = do not retry.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "reef/base/assert.hpp"

namespace reef {

enum class errc : std::uint8_t {
    invalid_argument = 1,    // malformed input; the caller must change the request
    not_found = 2,           // the named thing does not exist
    already_exists = 3,      // the named thing exists and must not be replaced
    unavailable = 4,         // transiently unreachable; retry the call
    timeout = 5,             // no answer within the deadline
    aborted = 6,             // a conflict; retry the whole operation higher up
    failed_precondition = 7, // the system is not in the state the call needs; do not retry
    permission_denied = 8,   // the caller lacks the credential or right
    resource_exhausted = 9,  // a limit was hit (queue full, too large); back off
    io_error = 10,           // the local disk or OS failed
    internal = 11,           // a bug surfaced as a value at a boundary
};

std::string_view to_string(errc code);

struct error {
    errc code = errc::internal;
    std::string message;

    /// "<code>: <message>", for logs and CLI output.
    std::string describe() const;
};

template <typename T>
class [[nodiscard]] result {
public:
    result(T value) : value_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
    result(error failure) : value_(std::in_place_index<1>, std::move(failure)) {}  // NOLINT

    bool ok() const { return value_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        REEF_ASSERT(ok());
        return std::get<0>(value_);
    }
    const T& value() const& {
        REEF_ASSERT(ok());
        return std::get<0>(value_);
    }
    T&& value() && {
        REEF_ASSERT(ok());
        return std::get<0>(std::move(value_));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const error& failure() const {
        REEF_ASSERT(!ok());
        return std::get<1>(value_);
    }

private:
    std::variant<T, error> value_;
};

/// result<void>: success or an error.
class [[nodiscard]] status {
public:
    status() = default;
    status(error failure) : failure_(std::move(failure)), ok_(false) {}  // NOLINT: implicit
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const error& failure() const {
        REEF_ASSERT(!ok_);
        return failure_;
    }

private:
    error failure_;
    bool ok_ = true;
};

inline error make_error(errc code, std::string message) { return error{code, std::move(message)}; }

} // namespace reef
