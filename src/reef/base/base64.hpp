#pragma once
// Base64 (RFC 4648, standard alphabet, padded): how bytes that need not be UTF-8 travel inside
// JSON (a job's command output).
//
// Thread-safety: pure functions.

#include <string>
#include <string_view>

#include "reef/base/result.hpp"

namespace reef {

std::string base64_encode(std::string_view bytes);
/// invalid_argument for a length that is not a multiple of 4, a character outside the alphabet,
/// or padding anywhere but at the end.
[[nodiscard]] result<std::string> base64_decode(std::string_view text);

} // namespace reef
