#include "reef/base/base64.hpp"

#include <array>
#include <cstdint>

namespace reef {
namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::uint8_t not_in_alphabet = 0xff;

constexpr std::array<std::uint8_t, 256> decoding_table() {
    std::array<std::uint8_t, 256> table{};
    table.fill(not_in_alphabet);
    for (std::size_t index = 0; index < alphabet.size(); ++index) {
        table[static_cast<std::uint8_t>(alphabet[index])] = static_cast<std::uint8_t>(index);
    }
    return table;
}

constexpr auto decoding = decoding_table();

} // namespace

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t at = 0; at < bytes.size(); at += 3) {
        const std::size_t taken = std::min<std::size_t>(3, bytes.size() - at);
        std::uint32_t group = 0;
        for (std::size_t index = 0; index < 3; ++index) {
            group <<= 8U;
            if (index < taken) {
                group |= static_cast<std::uint8_t>(bytes[at + index]);
            }
        }
        for (std::size_t index = 0; index < 4; ++index) {
            const auto sextet = (group >> (18U - 6U * index)) & 0x3fU;
            out.push_back(index <= taken ? alphabet[sextet] : '=');
        }
    }
    REEF_ASSERT(out.size() % 4 == 0);
    return out;
}

result<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) {
        return make_error(errc::invalid_argument, "base64 text must be a multiple of 4 long");
    }
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t at = 0; at < text.size(); at += 4) {
        const bool last = at + 4 == text.size();
        std::uint32_t group = 0;
        std::size_t padding = 0;
        for (std::size_t index = 0; index < 4; ++index) {
            const char c = text[at + index];
            if (c == '=' && last && index >= 2) {
                ++padding;
                group <<= 6U;
                continue;
            }
            const std::uint8_t value = decoding[static_cast<std::uint8_t>(c)];
            if (value == not_in_alphabet || padding > 0) {
                return make_error(errc::invalid_argument,
                                  "base64 text has a bad character at " +
                                      std::to_string(at + index));
            }
            group = (group << 6U) | value;
        }
        for (std::size_t index = 0; index < 3 - padding; ++index) {
            out.push_back(static_cast<char>((group >> (16U - 8U * index)) & 0xffU));
        }
    }
    return out;
}

} // namespace reef
