#include "reef/base/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace reef::detail {

void assert_failed(const char* expression, const char* file, int line,
                   const char* function) noexcept {
    std::fprintf(stderr, "reef: assertion failed: %s\n  at %s:%d in %s\n", expression, file, line,
                 function);
    std::fflush(stderr);
    std::abort();
}

} // namespace reef::detail
