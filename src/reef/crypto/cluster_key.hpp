#pragma once
// The cluster credential: a 32-byte secret shared by every node of a cluster. A machine without it
// cannot complete the transport handshake (it is mixed into the session key derivation).
// Text form (the key file): "reef-cluster-key-v1:<64 hex digits>\n".

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "reef/base/result.hpp"

namespace reef::crypto {

struct cluster_key {
    std::array<std::uint8_t, 32> bytes{};

    /// A short, non-secret fingerprint for logs and `reef status` (first 8 bytes of
    /// BLAKE2b-256("reef-cluster-fingerprint" || key), hex).
    std::string fingerprint() const;
    std::string to_text() const;
    /// Accepts the text form (surrounding whitespace allowed); rejects anything else with a reason.
    static result<cluster_key> from_text(std::string_view text);
};

} // namespace reef::crypto
