#include "reef/crypto/sodium.hpp"

#include <sodium.h>

#include "reef/base/assert.hpp"

namespace reef::crypto {

void ensure_sodium() {
    // A function-local static is initialised exactly once, even with concurrent first calls.
    static const bool initialised = [] {
        const int rc = sodium_init();
        // 0 = initialised now, 1 = already initialised; -1 means the library cannot be used.
        REEF_ASSERT(rc >= 0);
        return true;
    }();
    REEF_ASSERT(initialised);
}

} // namespace reef::crypto
