#pragma once
// Fault-injection sites inside protocol code (FoundationDB's BUGGIFY). In simulation builds a site
// fires with a small probability drawn from the component's own prng; elsewhere it is constant
// false and compiles away.

#include "reef/base/prng.hpp"

namespace reef {

#if defined(REEF_SIM_BUILD)
inline bool buggify(prng& random) { return random.chance(0.01); }
#else
inline bool buggify(prng& /*random*/) { return false; }
#endif

} // namespace reef
