#pragma once
// Always-on assertions for programming errors (bugs). Never use them on data that came from the
// network, a user, a file or a script: such input is validated and rejected with a result.
//
// REEF_ASSERT is on in every build, including release; REEF_ASSERT_SLOW (O(n) checks) runs only in
// debug and simulation builds.

namespace reef::detail {
[[noreturn]] void assert_failed(const char* expression, const char* file, int line,
                                const char* function) noexcept;
} // namespace reef::detail

#define REEF_ASSERT(cond)                                                                  \
    do {                                                                                   \
        if (!(cond)) [[unlikely]] {                                                        \
            ::reef::detail::assert_failed(#cond, __FILE__, __LINE__, __func__);            \
        }                                                                                  \
    } while (false)

#if !defined(NDEBUG) || defined(REEF_SIM_BUILD)
#define REEF_ASSERT_SLOW(cond) REEF_ASSERT(cond)
#define REEF_SLOW_CHECKS 1
#else
#define REEF_ASSERT_SLOW(cond) \
    do {                       \
    } while (false)
#define REEF_SLOW_CHECKS 0
#endif

#define REEF_UNREACHABLE() \
    ::reef::detail::assert_failed("unreachable", __FILE__, __LINE__, __func__)
