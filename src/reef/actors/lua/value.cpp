#include "reef/actors/lua/value.hpp"

#include <lauxlib.h>
#include <lua.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

namespace reef::actors::lua::detail {
namespace {

using json = nlohmann::json;

void push_json_at(lua_State* state, const json& value, const value_limits& limits,
                  std::size_t depth) {
    if (depth > limits.depth_max) {
        luaL_error(state, "argument nested deeper than %d levels",
                   static_cast<int>(limits.depth_max));
    }
    luaL_checkstack(state, 3, "argument nested too deeply");
    switch (value.type()) {
    case json::value_t::null:
    case json::value_t::discarded: lua_pushnil(state); return;
    case json::value_t::boolean: lua_pushboolean(state, value.get<bool>() ? 1 : 0); return;
    case json::value_t::number_integer: lua_pushinteger(state, value.get<std::int64_t>()); return;
    case json::value_t::number_unsigned: {
        const auto number = value.get<std::uint64_t>();
        if (number <= static_cast<std::uint64_t>(std::numeric_limits<lua_Integer>::max())) {
            lua_pushinteger(state, static_cast<lua_Integer>(number));
        } else {
            lua_pushnumber(state, static_cast<lua_Number>(number));
        }
        return;
    }
    case json::value_t::number_float: lua_pushnumber(state, value.get<double>()); return;
    case json::value_t::string: {
        const auto& text = value.get_ref<const std::string&>();
        lua_pushlstring(state, text.data(), text.size());
        return;
    }
    case json::value_t::array: {
        lua_createtable(state, static_cast<int>(value.size()), 0);
        lua_Integer position = 1;
        for (const auto& item : value) {
            push_json_at(state, item, limits, depth + 1);
            lua_rawseti(state, -2, position++);
        }
        return;
    }
    case json::value_t::object: {
        lua_createtable(state, 0, static_cast<int>(value.size()));
        for (const auto& [key, item] : value.items()) {
            lua_pushlstring(state, key.data(), key.size());
            push_json_at(state, item, limits, depth + 1);
            lua_rawset(state, -3);
        }
        return;
    }
    case json::value_t::binary: luaL_error(state, "binary JSON values are not supported"); return;
    }
}

bool valid_utf8(std::string_view text) {
    std::size_t at = 0;
    while (at < text.size()) {
        const auto lead = static_cast<unsigned char>(text[at]);
        std::size_t extra = 0;
        std::uint32_t code = 0;
        if (lead < 0x80U) {
            ++at;
            continue;
        }
        if ((lead & 0xE0U) == 0xC0U) {
            extra = 1;
            code = lead & 0x1FU;
        } else if ((lead & 0xF0U) == 0xE0U) {
            extra = 2;
            code = lead & 0x0FU;
        } else if ((lead & 0xF8U) == 0xF0U) {
            extra = 3;
            code = lead & 0x07U;
        } else {
            return false;
        }
        if (at + extra >= text.size()) {
            return false;
        }
        for (std::size_t k = 1; k <= extra; ++k) {
            const auto next = static_cast<unsigned char>(text[at + k]);
            if ((next & 0xC0U) != 0x80U) {
                return false;
            }
            code = (code << 6U) | (next & 0x3FU);
        }
        static constexpr std::uint32_t smallest[] = {0, 0x80, 0x800, 0x10000};
        if (code < smallest[extra] || code > 0x10FFFFU || (code >= 0xD800U && code <= 0xDFFFU)) {
            return false;
        }
        at += extra + 1;
    }
    return true;
}

// Walks one Lua value; `path` names where it is, for error messages.
class converter {
public:
    converter(lua_State* state, const value_limits& limits) : state_(state), limits_(limits) {}

    result<json> convert(int index, const std::string& path, std::size_t depth);

private:
    result<json> convert_table(int index, const std::string& path, std::size_t depth);
    error refuse(const std::string& path, std::string_view why) const {
        return make_error(errc::invalid_argument, path + ": " + std::string(why));
    }
    bool charge(std::size_t bytes) {
        size_bytes_ += bytes;
        return size_bytes_ <= limits_.size_max_bytes;
    }

    lua_State* state_;
    value_limits limits_;
    std::size_t size_bytes_ = 0;
    std::vector<const void*> open_tables_;
};

result<json> converter::convert(int index, const std::string& path, std::size_t depth) {
    if (!charge(8)) {
        return refuse(path, "value larger than the limit of " +
                                std::to_string(limits_.size_max_bytes) + " bytes");
    }
    switch (lua_type(state_, index)) {
    case LUA_TNIL: return json(nullptr);
    case LUA_TBOOLEAN: return json(lua_toboolean(state_, index) != 0);
    case LUA_TNUMBER: {
        if (lua_isinteger(state_, index) != 0) {
            return json(static_cast<std::int64_t>(lua_tointeger(state_, index)));
        }
        const double number = lua_tonumber(state_, index);
        if (!std::isfinite(number)) {
            return refuse(path, "NaN and infinities have no JSON form");
        }
        return json(number);
    }
    case LUA_TSTRING: {
        std::size_t length = 0;
        const char* text = lua_tolstring(state_, index, &length);
        if (!charge(length)) {
            return refuse(path, "value larger than the limit of " +
                                    std::to_string(limits_.size_max_bytes) + " bytes");
        }
        if (!valid_utf8({text, length})) {
            return refuse(path, "string is not valid UTF-8");
        }
        return json(std::string(text, length));
    }
    case LUA_TTABLE: return convert_table(index, path, depth);
    default: break;
    }
    return refuse(path, std::string("a ") + luaL_typename(state_, index) +
                            " value cannot be converted to JSON");
}

result<json> converter::convert_table(int index, const std::string& path, std::size_t depth) {
    if (depth >= limits_.depth_max) {
        return refuse(path, "nested deeper than " + std::to_string(limits_.depth_max) + " levels");
    }
    const void* identity = lua_topointer(state_, index);
    for (const void* open : open_tables_) {
        if (open == identity) {
            return refuse(path, "table contains a cycle");
        }
    }
    luaL_checkstack(state_, 4, "value nested too deeply");
    const int table = lua_absindex(state_, index);
    const auto length = static_cast<std::size_t>(lua_rawlen(state_, table));
    std::size_t keys_count = 0;
    bool string_keys = false;
    bool integer_keys = false;
    lua_pushnil(state_);
    while (lua_next(state_, table) != 0) {
        lua_pop(state_, 1);
        ++keys_count;
        if (lua_type(state_, -1) == LUA_TSTRING) {
            string_keys = true;
        } else if (lua_isinteger(state_, -1) != 0) {
            const lua_Integer key = lua_tointeger(state_, -1);
            integer_keys = true;
            if (key < 1 || static_cast<std::size_t>(key) > length) {
                lua_pop(state_, 1);
                return refuse(path, "array has holes or keys outside 1..n");
            }
        } else {
            lua_pop(state_, 1);
            return refuse(path, std::string("a ") + luaL_typename(state_, -1) +
                                    " key cannot be a JSON object key");
        }
    }
    if (string_keys && integer_keys) {
        return refuse(path, "table mixes integer and string keys");
    }
    open_tables_.push_back(identity);
    json out = integer_keys ? json::array() : json::object();
    if (integer_keys) {
        if (keys_count != length) {
            open_tables_.pop_back();
            return refuse(path, "array has holes");
        }
        for (std::size_t position = 1; position <= length; ++position) {
            lua_rawgeti(state_, table, static_cast<lua_Integer>(position));
            auto item = convert(-1, path + "[" + std::to_string(position) + "]", depth + 1);
            lua_pop(state_, 1);
            if (!item) {
                return item;
            }
            out.push_back(std::move(item.value()));
        }
    } else {
        lua_pushnil(state_);
        while (lua_next(state_, table) != 0) {
            const std::string key = lua_tostring(state_, -2);  // a string key: no conversion
            auto item = convert(-1, path + "." + key, depth + 1);
            lua_pop(state_, 1);
            if (!item || !charge(key.size())) {
                lua_pop(state_, 1);
                if (!item) {
                    return item;
                }
                return refuse(path, "value larger than the limit");
            }
            out[key] = std::move(item.value());
        }
    }
    open_tables_.pop_back();
    return out;
}

} // namespace

void push_json(lua_State* state, const nlohmann::json& value, const value_limits& limits) {
    push_json_at(state, value, limits, 0);
}

result<nlohmann::json> to_json(lua_State* state, int index, const value_limits& limits,
                               const std::string& root_name) {
    converter walk(state, limits);
    return walk.convert(index, root_name, 0);
}

} // namespace reef::actors::lua::detail
