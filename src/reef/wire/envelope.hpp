#pragma once
// The outer layer of every node-to-node message: which protocol (channel) and its bytes.
// decode() validates and never asserts on input.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "reef/base/result.hpp"

namespace reef::wire {

enum class channel : std::uint8_t {
    membership = 1,
    dht = 2,
    replica = 3,
};

inline constexpr std::uint32_t wire_version = 1;

struct envelope {
    channel kind = channel::membership;
    std::string body;
};

std::vector<std::uint8_t> encode(const envelope& message);
/// invalid_argument with a reason for unparsable bytes, a wrong version or an unknown channel.
result<envelope> decode(std::span<const std::uint8_t> bytes);

} // namespace reef::wire
