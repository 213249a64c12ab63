#pragma once
// libsodium initialisation. Every public crypto entry point calls `ensure_sodium()` first; the
// first call runs sodium_init() exactly once (thread-safe), later calls cost one atomic load.

namespace reef::crypto {

void ensure_sodium();

} // namespace reef::crypto
