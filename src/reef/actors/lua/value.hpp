#pragma once
// Conversion between JSON-like values (nlohmann::json) and Lua values, internal to the sandbox.
//
// Thread-safety: functions of the lua_State they are given.
// Lua to JSON: nil -> null, booleans, integers, finite floats, UTF-8 strings, tables whose keys are
// exactly 1..n -> arrays, tables whose keys are all strings -> objects (an empty table -> {}).
// Anything else (functions, userdata, threads, cycles, mixed or sparse keys, NaN, too deep, too
// large) is refused with a message naming the path, e.g. "result.items[3]: a function ...".

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "reef/base/result.hpp"

struct lua_State;

namespace reef::actors::lua::detail {

struct value_limits {
    std::size_t depth_max = 0;
    std::size_t size_max_bytes = 0;
};

/// Pushes `value` onto the stack. May raise a Lua error (memory, depth), so it runs only inside
/// a protected call.
void push_json(lua_State* state, const nlohmann::json& value, const value_limits& limits);

/// The value at stack `index` as JSON, or why it cannot be one. Raises no Lua error itself (but the
/// memory limit may, when the stack grows), so it also runs inside a protected call.
result<nlohmann::json> to_json(lua_State* state, int index, const value_limits& limits,
                               const std::string& root_name);

} // namespace reef::actors::lua::detail
