#include "reef/base/ids.hpp"

#include <bit>

namespace reef {

int hex_digit_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (std::uint8_t b : bytes) {
        out.push_back(digits[b >> 4U]);
        out.push_back(digits[b & 0x0fU]);
    }
    return out;
}

result<std::string> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) {
        return make_error(errc::invalid_argument, "hex string has an odd number of digits");
    }
    std::string out;
    out.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const int hi = hex_digit_value(hex[i]);
        const int lo = hex_digit_value(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            return make_error(errc::invalid_argument,
                              "not a hex digit at position " + std::to_string(hi < 0 ? i : i + 1));
        }
        out.push_back(static_cast<char>((hi << 4) | lo));
    }
    return out;
}

result<id256> id256::from_bytes(std::span<const std::uint8_t> bytes) {
    if (bytes.size() != size_bytes) {
        return make_error(errc::invalid_argument, "an id is 32 bytes, got " +
                                                      std::to_string(bytes.size()));
    }
    bytes_type out{};
    std::copy(bytes.begin(), bytes.end(), out.begin());
    return id256{out};
}

result<id256> id256::from_hex(std::string_view hex) {
    if (hex.size() != size_bytes * 2) {
        return make_error(errc::invalid_argument,
                          "an id is 64 hex digits, got " + std::to_string(hex.size()));
    }
    auto raw = reef::from_hex(hex);
    if (!raw) {
        return raw.failure();
    }
    const auto* data = reinterpret_cast<const std::uint8_t*>(raw->data());
    return from_bytes({data, raw->size()});
}

bool id256::is_zero() const {
    for (auto b : bytes_) {
        if (b != 0) {
            return false;
        }
    }
    return true;
}

std::string id256::hex() const { return to_hex(bytes_); }

std::string id256::short_hex() const { return hex().substr(0, 12); }

id256 id256::distance_to(const id256& other) const {
    bytes_type out{};
    for (std::size_t i = 0; i < size_bytes; ++i) {
        out[i] = static_cast<std::uint8_t>(bytes_[i] ^ other.bytes_[i]);
    }
    return id256{out};
}

int id256::leading_zero_bits() const {
    int bits = 0;
    for (auto b : bytes_) {
        if (b != 0) {
            return bits + std::countl_zero(b);
        }
        bits += 8;
    }
    return bits;
}

} // namespace reef
