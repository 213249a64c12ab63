#pragma once
// The text form shared by the key files (cluster key, node key): "<prefix><64 hex digits>\n",
// where the prefix names the kind and version ("reef-cluster-key-v1:").
//
// Pure functions; thread-safe. Messages never echo key digits.

#include <string>
#include <string_view>

#include "reef/base/result.hpp"
#include "reef/crypto/primitives.hpp"

namespace reef::crypto {

/// "<prefix><64 hex digits of key>\n" (a secret when `key` is one).
std::string key_to_text(std::string_view prefix, const key32& key);

/// The 32 bytes of a key written by key_to_text with the same prefix; surrounding whitespace is
/// allowed. `what` names the key in messages ("cluster key"). The caller wipes the result.
result<key32> key_from_text(std::string_view text, std::string_view prefix, std::string_view what);

} // namespace reef::crypto
