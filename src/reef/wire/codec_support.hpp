#pragma once
// Helpers every protocol codec uses to move between protobuf messages and Reef's plain structs:
// fixed-size byte fields, ids, bounded parsing. Decoding helpers return invalid_argument naming
// the field (e.g. "ping.gossip[3].id must be 32 bytes, got 7"); they never assert on input.
//
// Thread-safety: pure functions.

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "reef/base/ids.hpp"
#include "reef/base/result.hpp"

namespace reef::wire {

inline error invalid(std::string what) {
    return make_error(errc::invalid_argument, std::move(what));
}

/// Writes raw bytes (an id, a key, a signature) into a protobuf `bytes` field.
template <typename Bytes>
void put_bytes(std::string* out, const Bytes& bytes) {
    out->assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

/// Reads a `bytes` field that must hold exactly `n` bytes.
template <std::size_t n>
result<std::array<std::uint8_t, n>> get_fixed(const std::string& bytes, const std::string& field) {
    if (bytes.size() != n) {
        return invalid(field + " must be " + std::to_string(n) + " bytes, got " +
                       std::to_string(bytes.size()));
    }
    std::array<std::uint8_t, n> out{};
    std::memcpy(out.data(), bytes.data(), n);
    return out;
}

inline result<id256> get_id(const std::string& bytes, const std::string& field) {
    auto raw = get_fixed<id256::size_bytes>(bytes, field);
    if (!raw) {
        return raw.failure();
    }
    return id256{*raw};
}

inline status check_nonzero_id(const id256& id, const std::string& field) {
    if (id.is_zero()) {
        return invalid(field + " is the zero id");
    }
    return {};
}

/// Parses `bytes` into `out` after checking the size bound; `what` names the message kind.
template <typename Proto>
status parse_bounded(Proto& out, std::string_view bytes, std::size_t size_max,
                     std::string_view what) {
    if (bytes.size() > size_max) {
        return invalid(std::string(what) + " is " + std::to_string(bytes.size()) +
                       " bytes, more than " + std::to_string(size_max));
    }
    if (!out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        return invalid(std::string(what) + " is not a valid protobuf message");
    }
    return {};
}

} // namespace reef::wire
