#include "reef/crypto/key_text.hpp"

#include <algorithm>

#include "reef/base/assert.hpp"
#include "reef/base/ids.hpp"

namespace reef::crypto {

namespace {

std::string_view trim(std::string_view text) {
    const auto is_space = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
    };
    while (!text.empty() && is_space(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && is_space(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

} // namespace

std::string key_to_text(std::string_view prefix, const key32& key) {
    REEF_ASSERT(!prefix.empty());
    std::string text(prefix);
    text += to_hex(key);
    text += '\n';
    REEF_ASSERT(text.size() == prefix.size() + 2 * key.size() + 1);
    return text;
}

result<key32> key_from_text(std::string_view text, std::string_view prefix, std::string_view what) {
    REEF_ASSERT(!prefix.empty());
    const std::string name(what);
    text = trim(text);
    if (text.empty()) {
        return make_error(errc::invalid_argument, name + " text is empty");
    }
    if (!text.starts_with(prefix)) {
        return make_error(errc::invalid_argument,
                          name + " text must start with \"" + std::string(prefix) + "\"");
    }
    text.remove_prefix(prefix.size());
    if (text.size() != 2 * key32{}.size()) {
        return make_error(errc::invalid_argument,
                          name + " must have 64 hex digits after the prefix, got " +
                              std::to_string(text.size()) + " characters");
    }
    auto decoded = from_hex(text);
    if (!decoded.ok()) {
        // from_hex names only a position, never the secret digits.
        return make_error(errc::invalid_argument, name + ": " + decoded.failure().message);
    }
    std::string& raw = decoded.value();
    REEF_ASSERT(raw.size() == key32{}.size());
    key32 key{};
    std::copy(raw.begin(), raw.end(), key.begin());
    wipe(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(raw.data()), raw.size()));
    return key;
}

} // namespace reef::crypto
