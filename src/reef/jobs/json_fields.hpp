#pragma once
// Reading fields of JSON that came from elsewhere (answers, Lua results) without exceptions:
// nlohmann's value(key, default) throws when the field exists with another type, and an
// untrusted value must never stop a node.
//
// Thread-safety: pure functions.

#include <string>

#include <nlohmann/json.hpp>

namespace reef::jobs {

/// Whether `object[key]` is the boolean true (false for a missing field or another type).
inline bool is_true(const nlohmann::json& object, const char* key) {
    if (!object.is_object()) {
        return false;
    }
    const auto found = object.find(key);
    return found != object.end() && found->is_boolean() && found->get<bool>();
}

/// `object[key]` when it is a string, else "".
inline std::string text_of(const nlohmann::json& object, const char* key) {
    if (!object.is_object()) {
        return {};
    }
    const auto found = object.find(key);
    return found != object.end() && found->is_string() ? found->get<std::string>()
                                                       : std::string();
}

} // namespace reef::jobs
