#include "reef/actors/lua/sandbox.hpp"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

#include "reef/actors/lua/value.hpp"

namespace reef::actors::lua {
namespace {

using json = nlohmann::json;

constexpr std::string_view bytecode_signature = LUA_SIGNATURE;  // "\x1bLua"
constexpr std::string_view bytecode_refused =
    "bytecode is refused: a program must be Lua source text";

sandbox* self(lua_State* state) {
    sandbox* owner = nullptr;
    std::memcpy(&owner, lua_getextraspace(state), sizeof owner);
    REEF_ASSERT(owner != nullptr);
    return owner;
}

void* alloc_callback(void* owner, void* block, std::size_t size_old, std::size_t size_new) {
    return static_cast<sandbox*>(owner)->on_alloc(block, size_old, size_new);
}

void hook_callback(lua_State* state, lua_Debug* /*unused*/) { self(state)->on_hook(state); }

// Raises `message` prefixed with the running Lua function's "chunk:line:" (luaL_error would name
// level 1, which inside a hook is the caller of the function that overran).
[[noreturn]] void raise_here(lua_State* state, const char* message) {
    luaL_where(state, 0);
    lua_pushstring(state, message);
    lua_concat(state, 2);
    lua_error(state);
    REEF_UNREACHABLE();
}

int panic_callback(lua_State* state) {
    // Every Lua operation of the sandbox runs inside a protected call, so this is a bug.
    const char* message = lua_tostring(state, -1);
    (void)message;
    REEF_UNREACHABLE();
}

// Turns an error value into "message\nstack traceback: ..."; non-string values (tables, nil) are
// described, or shown through their __tostring.
int message_handler(lua_State* state) {
    const char* message = lua_tostring(state, 1);
    if (message == nullptr) {
        if (luaL_callmeta(state, 1, "__tostring") != 0 && lua_type(state, -1) == LUA_TSTRING) {
            message = lua_tostring(state, -1);
        } else {
            message = lua_pushfstring(state, "(error object is a %s value)",
                                      luaL_typename(state, 1));
        }
    }
    luaL_traceback(state, state, message, 1);
    return 1;
}

error dead_error() {
    return make_error(errc::failed_precondition, "the sandbox is dead after an earlier failure");
}

bool is_bytecode(std::string_view source) { return source.starts_with(bytecode_signature); }

// load(chunk [, chunkname [, mode [, env]]]) restricted to source text given as a string.
int safe_load(lua_State* state) {
    std::size_t length = 0;
    const char* source = lua_tolstring(state, 1, &length);
    const char* mode = luaL_optstring(state, 3, "t");
    const char* refusal = nullptr;
    if (source == nullptr || lua_type(state, 1) != LUA_TSTRING) {
        refusal = "load: only source text given as a string is accepted";
    } else if (std::strchr(mode, 't') == nullptr || is_bytecode({source, length})) {
        refusal = bytecode_refused.data();
    }
    if (refusal != nullptr) {
        lua_pushnil(state);
        lua_pushstring(state, refusal);
        return 2;
    }
    const char* chunk_name = luaL_optstring(state, 2, source);
    const bool has_env = lua_isnone(state, 4) == 0;
    if (luaL_loadbufferx(state, source, length, chunk_name, "t") != LUA_OK) {
        lua_pushnil(state);
        lua_insert(state, -2);
        return 2;
    }
    if (has_env) {
        lua_pushvalue(state, 4);
        if (lua_setupvalue(state, -2, 1) == nullptr) {
            lua_pop(state, 1);
        }
    }
    return 1;
}

// setmetatable without finalizers: a __gc could run Lua code outside any budgeted call (during
// collect_garbage() or when the state closes), so a metatable carrying one is refused.
int safe_setmetatable(lua_State* state) {
    const int type = lua_type(state, 2);
    luaL_checktype(state, 1, LUA_TTABLE);
    luaL_argexpected(state, type == LUA_TNIL || type == LUA_TTABLE, 2, "nil or table");
    if (type == LUA_TTABLE) {
        lua_pushliteral(state, "__gc");
        const bool finalizer = lua_rawget(state, 2) != LUA_TNIL;
        lua_pop(state, 1);
        if (finalizer) {
            return luaL_error(state, "setmetatable: __gc finalizers are not available");
        }
    }
    if (luaL_getmetafield(state, 1, "__metatable") != LUA_TNIL) {
        return luaL_error(state, "cannot change a protected metatable");
    }
    lua_settop(state, 2);
    lua_setmetatable(state, 1);
    return 1;
}

int safe_print(lua_State* state) {
    const int count = lua_gettop(state);
    std::string line;
    for (int index = 1; index <= count; ++index) {
        std::size_t length = 0;
        const char* text = luaL_tolstring(state, index, &length);
        if (index > 1) {
            line.push_back('\t');
        }
        line.append(text, std::min(length, self(state)->limits().log_line_size_max_bytes));
        lua_pop(state, 1);
        if (line.size() >= self(state)->limits().log_line_size_max_bytes) {
            line.resize(self(state)->limits().log_line_size_max_bytes);
            break;
        }
    }
    self(state)->on_print(line);
    return 0;
}

// math.random with Lua 5.4's argument rules, drawn from the host-seeded generator.
int sandbox_random(lua_State* state) {
    prng& generator = self(state)->random();
    lua_Integer low = 1;
    lua_Integer high = 0;
    switch (lua_gettop(state)) {
    case 0: lua_pushnumber(state, generator.unit()); return 1;
    case 1:
        high = luaL_checkinteger(state, 1);
        if (high == 0) {
            lua_pushinteger(state, static_cast<lua_Integer>(generator.next_u64()));
            return 1;
        }
        break;
    case 2:
        low = luaL_checkinteger(state, 1);
        high = luaL_checkinteger(state, 2);
        break;
    default: return luaL_error(state, "wrong number of arguments");
    }
    luaL_argcheck(state, low <= high, 1, "interval is empty");
    const std::uint64_t span = static_cast<std::uint64_t>(high) - static_cast<std::uint64_t>(low);
    const std::uint64_t draw =
        span == UINT64_MAX ? generator.next_u64() : generator.below(span + 1);
    lua_pushinteger(state, static_cast<lua_Integer>(static_cast<std::uint64_t>(low) + draw));
    return 1;
}

// math.randomseed(n): reseeds the sandbox's generator; a seed is required (no time, no entropy).
int sandbox_randomseed(lua_State* state) {
    const lua_Integer seed = luaL_checkinteger(state, 1);
    self(state)->random() = prng(static_cast<std::uint64_t>(seed));
    return 0;
}

void set_function(lua_State* state, int table, const char* name, lua_CFunction function) {
    lua_pushcfunction(state, function);
    lua_setfield(state, table, name);
}

void remove_field(lua_State* state, int table, const char* name) {
    lua_pushnil(state);
    lua_setfield(state, table, name);
}

// Lua's pattern matcher backtracks inside one C call, out of the instruction budget's reach: a
// pattern with q quantifiers over an n-byte subject can take about n^q steps per start position,
// and tries every start position unless anchored. Patterns whose bound exceeds this are refused
// before they run (a guard on the bound, not on the real cost: it may refuse a pattern that
// would have been quick, never let one run long).
constexpr double pattern_steps_max = 1e8;

/// The quantifiers (* + - ?) of a Lua pattern, outside sets and escapes.
int quantifiers_of(std::string_view pattern) {
    int count = 0;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '%') {
            ++i; // an escape or a class: the next character is not an operator
        } else if (c == '[') {
            // A set: skip to its closing ']' (a ']' right after '[' or '[^' belongs to the set).
            std::size_t j = i + 1;
            if (j < pattern.size() && pattern[j] == '^') {
                ++j;
            }
            if (j < pattern.size() && pattern[j] == ']') {
                ++j;
            }
            while (j < pattern.size() && pattern[j] != ']') {
                j += pattern[j] == '%' ? 2 : 1;
            }
            i = j;
        } else if (c == '*' || c == '+' || c == '-' || c == '?') {
            ++count;
        }
    }
    return count;
}

// string.find / match / gmatch / gsub, guarded: the original is upvalue 1.
int guarded_pattern(lua_State* state) {
    std::size_t subject_length = 0;
    luaL_checklstring(state, 1, &subject_length);
    std::size_t pattern_length = 0;
    const char* pattern = luaL_checklstring(state, 2, &pattern_length);
    const bool plain = lua_gettop(state) >= 4 && lua_toboolean(state, 4) != 0 &&
                       lua_tocfunction(state, lua_upvalueindex(2)) != nullptr;
    if (!plain) {
        const std::string_view text(pattern, pattern_length);
        const bool anchored = text.starts_with('^');
        const double n = static_cast<double>(std::max<std::size_t>(subject_length, 2));
        const int quantifiers = quantifiers_of(text);
        const double bound = std::pow(n, quantifiers + (anchored ? 0 : 1));
        if (bound > pattern_steps_max) {
            char message[256];
            std::snprintf(message, sizeof message,
                          "pattern too costly: %d quantifiers over a subject of %zu bytes could "
                          "take %.3g steps (at most %.3g); anchor it with ^, use fewer "
                          "quantifiers or a shorter subject",
                          quantifiers, subject_length, bound, pattern_steps_max);
            return luaL_error(state, "%s", message);
        }
    }
    lua_pushvalue(state, lua_upvalueindex(1));
    lua_insert(state, 1);
    lua_call(state, lua_gettop(state) - 1, LUA_MULTRET);
    return lua_gettop(state);
}

/// Replaces string[name] with guarded_pattern around it (`find` takes a "plain" flag: upvalue 2
/// marks it, so only find skips the guard when plain is asked for).
void guard_pattern_function(lua_State* state, int string_table, const char* name) {
    lua_getfield(state, string_table, name);
    int upvalues = 1;
    if (std::string_view(name) == "find") {
        lua_pushcfunction(state, guarded_pattern); // any C function: "find may be plain"
        upvalues = 2;
    }
    lua_pushcclosure(state, guarded_pattern, upvalues);
    lua_setfield(state, string_table, name);
}

// Lua 5.4 seeds its string hashes from the clock and addresses, so the order `next` visits keys
// differs from one state to the next; a handler iterating with `pairs` would not replay the same
// way. This prelude makes `pairs` visit keys in a fixed order: booleans (false first), numbers,
// then strings, each ascending. Keys of other types (tables, functions) cannot be ordered by value
// and come last, in no fixed order. `__pairs` metamethods are honoured. The sorting is charged to
// the handler's instruction budget like any other work.
constexpr std::string_view ordered_pairs_prelude = R"lua(
local next, rawget, sort, type, getmetatable = next, rawget, table.sort, type, getmetatable
local rank = { boolean = 1, number = 2, string = 3 }
local function before(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (rank[ta] or 4) < (rank[tb] or 4) end
  if ta == "number" or ta == "string" then return a < b end
  if ta == "boolean" then return not a and b end
  return false
end
function pairs(t)
  local meta = getmetatable(t)
  if type(meta) == "table" and meta.__pairs ~= nil then return meta.__pairs(t) end
  local keys, count = {}, 0
  for key in next, t do count = count + 1; keys[count] = key end
  sort(keys, before)
  local at = 0
  return function()
    at = at + 1
    local key = keys[at]
    if key ~= nil then return key, rawget(t, key) end
  end, t, nil
end
)lua";

// Opens base, string, table, math and utf8, then removes or replaces what is unsafe. io, os,
// debug, package and coroutine are never opened (docs/design/actors.md has the reasons).
int open_libraries(lua_State* state) {
    const luaL_Reg libraries[] = {{LUA_GNAME, luaopen_base},      {LUA_STRLIBNAME, luaopen_string},
                                  {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
                                  {LUA_UTF8LIBNAME, luaopen_utf8}};
    for (const auto& library : libraries) {
        luaL_requiref(state, library.name, library.func, 1);
        lua_pop(state, 1);
    }
    lua_pushglobaltable(state);
    const int globals = lua_gettop(state);
    for (const char* name : {"dofile", "loadfile", "collectgarbage", "warn"}) {
        remove_field(state, globals, name);
    }
    set_function(state, globals, "load", safe_load);
    set_function(state, globals, "print", safe_print);
    set_function(state, globals, "setmetatable", safe_setmetatable);
    lua_getfield(state, globals, LUA_STRLIBNAME);
    remove_field(state, lua_gettop(state), "dump");
    for (const char* name : {"find", "match", "gmatch", "gsub"}) {
        guard_pattern_function(state, lua_gettop(state), name);
    }
    lua_pop(state, 1);
    lua_getfield(state, globals, LUA_MATHLIBNAME);
    set_function(state, lua_gettop(state), "random", sandbox_random);
    set_function(state, lua_gettop(state), "randomseed", sandbox_randomseed);
    lua_pop(state, 2);
    if (luaL_loadbufferx(state, ordered_pairs_prelude.data(), ordered_pairs_prelude.size(),
                         "=pairs", "t") != LUA_OK) {
        return lua_error(state);
    }
    lua_call(state, 0, 0);
    return 0;
}

struct call_frame {
    std::string_view function;
    const json::array_t* arguments = nullptr;
    detail::value_limits limits;
    bool missing = false;
    std::optional<result<json>> out;
};

// Runs inside lua_pcall: every Lua error here (memory, the handler's own) is caught there.
int call_protected(lua_State* state) {
    auto* frame = static_cast<call_frame*>(lua_touserdata(state, 1));
    lua_pushglobaltable(state);
    lua_pushlstring(state, frame->function.data(), frame->function.size());
    if (lua_rawget(state, -2) != LUA_TFUNCTION) {
        frame->missing = true;
        return 0;
    }
    const auto count = static_cast<int>(frame->arguments->size());
    luaL_checkstack(state, count + LUA_MINSTACK, "too many arguments");
    for (const auto& argument : *frame->arguments) {
        detail::push_json(state, argument, frame->limits);
    }
    lua_call(state, count, 1);
    frame->out = detail::to_json(state, -1, frame->limits, "result");
    return 0;
}

} // namespace

std::string_view to_string(stop_reason reason) {
    switch (reason) {
    case stop_reason::none: return "none";
    case stop_reason::error: return "error";
    case stop_reason::budget: return "budget";
    case stop_reason::memory: return "memory";
    case stop_reason::interrupted: return "interrupted";
    case stop_reason::conversion: return "conversion";
    }
    return "unknown";
}

status sandbox_config::validate() const {
    const auto refuse = [](const char* what) { return make_error(errc::invalid_argument, what); };
    if (memory_limit_bytes < (std::size_t{64} << 10U)) {
        return refuse("sandbox memory_limit_bytes must be at least 64 KiB");
    }
    if (hook_interval_instructions == 0 || hook_interval_instructions > INT_MAX) {
        return refuse("sandbox hook_interval_instructions must be in 1..2^31-1");
    }
    if (source_size_max_bytes == 0 || source_size_max_bytes > memory_limit_bytes) {
        return refuse("sandbox source_size_max_bytes must be in 1..memory_limit_bytes");
    }
    if (value_depth_max == 0 || value_depth_max > 1000) {
        return refuse("sandbox value_depth_max must be in 1..1000");
    }
    if (value_size_max_bytes == 0) {
        return refuse("sandbox value_size_max_bytes must be positive");
    }
    if (log_line_size_max_bytes == 0 || log_line_size_max_bytes > (std::size_t{1} << 20U)) {
        return refuse("sandbox log_line_size_max_bytes must be in 1..1 MiB");
    }
    return {};
}

sandbox::sandbox(construct_key /*key*/, const sandbox_config& limits, std::uint64_t seed,
                 log_sink log)
    : limits_(limits), random_(seed), log_(std::move(log)) {}

result<std::unique_ptr<sandbox>> sandbox::create(const sandbox_config& limits, std::uint64_t seed,
                                                 log_sink log) {
    if (auto valid = limits.validate(); !valid) {
        return valid.failure();
    }
    auto made = std::make_unique<sandbox>(construct_key{}, limits, seed, std::move(log));
    if (auto opened = made->open(); !opened) {
        return opened.failure();
    }
    return made;
}

status sandbox::open() {
    state_ = lua_newstate(alloc_callback, this);
    if (state_ == nullptr) {
        return make_error(errc::resource_exhausted, "cannot create a Lua state within " +
                                                        std::to_string(limits_.memory_limit_bytes) +
                                                        " bytes");
    }
    sandbox* owner = this;
    std::memcpy(lua_getextraspace(state_), &owner, sizeof owner);
    lua_atpanic(state_, panic_callback);
    lua_pushcfunction(state_, open_libraries);
    const int opened = lua_pcall(state_, 0, 0, 0);
    if (opened != LUA_OK) {
        dead_ = true;
        return make_error(errc::resource_exhausted,
                          "cannot open the Lua libraries within the memory limit");
    }
    REEF_ASSERT(lua_gettop(state_) == 0);
    return {};
}

sandbox::~sandbox() {
    if (state_ != nullptr) {
        lua_close(state_);
    }
}

void* sandbox::on_alloc(void* block, std::size_t size_old, std::size_t size_new) {
    if (block == nullptr) {
        size_old = 0;  // Lua passes the object's type here, not a size
    }
    REEF_ASSERT(size_old <= memory_used_bytes_);
    if (size_new == 0) {
        std::free(block);  // NOLINT(cppcoreguidelines-no-malloc): the lua_Alloc contract
        memory_used_bytes_ -= size_old;
        return nullptr;
    }
    const std::size_t room_bytes = limits_.memory_limit_bytes - memory_used_bytes_;
    if (size_new > size_old && size_new - size_old > room_bytes) {
        memory_refused_ = true;
        return nullptr;
    }
    void* moved = std::realloc(block, size_new);  // NOLINT(cppcoreguidelines-no-malloc)
    if (moved == nullptr) {
        memory_refused_ = true;
        return nullptr;
    }
    memory_used_bytes_ = memory_used_bytes_ - size_old + size_new;
    memory_peak_bytes_ = std::max(memory_peak_bytes_, memory_used_bytes_);
    REEF_ASSERT(memory_used_bytes_ <= limits_.memory_limit_bytes);
    return moved;
}

void sandbox::arm_budget() {
    instructions_used_ = 0;
    last_stop_ = stop_reason::none;
    memory_refused_ = false;
    interrupt_requested_.store(false);
    if (limits_.instructions_per_call_max == 0) {
        instructions_armed_ = 0;
        lua_sethook(state_, nullptr, 0, 0);
        return;
    }
    instructions_armed_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(
        limits_.hook_interval_instructions, limits_.instructions_per_call_max));
    lua_sethook(state_, hook_callback, LUA_MASKCOUNT, static_cast<int>(instructions_armed_));
}

// Runs every `instructions_armed_` instructions. Once the budget is spent (or an interrupt is
// requested) the hook re-arms itself for every instruction, so a script that catches the error
// with pcall is stopped again at its next instruction: the stop cannot be swallowed.
void sandbox::on_hook(lua_State* state) {
    if (interrupt_requested_.load()) {
        last_stop_ = stop_reason::interrupted;
        instructions_armed_ = 1;
        lua_sethook(state, hook_callback, LUA_MASKCOUNT, 1);
        raise_here(state, "interrupted: the handler ran past its wall-clock limit");
        return;
    }
    const std::uint64_t budget = limits_.instructions_per_call_max;
    if (budget == 0) {
        lua_sethook(state, nullptr, 0, 0);  // armed by an interrupt that was already dropped
        return;
    }
    instructions_used_ += instructions_armed_;
    if (instructions_used_ >= budget) {
        last_stop_ = stop_reason::budget;
        instructions_armed_ = 1;
        lua_sethook(state, hook_callback, LUA_MASKCOUNT, 1);
        raise_here(state, lua_pushfstring(state, "the handler used more than its budget of %I "
                                                 "instructions",
                                           static_cast<lua_Integer>(budget)));
        return;
    }
    instructions_armed_ = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(limits_.hook_interval_instructions, budget - instructions_used_));
    lua_sethook(state, hook_callback, LUA_MASKCOUNT, static_cast<int>(instructions_armed_));
}

void sandbox::on_print(std::string_view line) {
    if (!log_) {
        return;
    }
    try {
        log_(line);
    } catch (...) {  // NOLINT(bugprone-empty-catch): a failing log must not fail the handler
    }
}

void sandbox::interrupt() {
    interrupt_requested_.store(true);
    // The trick lua.c uses for SIGINT: a count hook of 1 stops the interpreter at its next
    // instruction. Should a budget re-arm overwrite it, the flag is seen at the next budget check.
    lua_sethook(state_, hook_callback, LUA_MASKCOUNT, 1);
}

void sandbox::collect_garbage() {
    // Each full cycle frees only half of the call frames a deep recursion left behind, so repeat
    // while memory keeps shrinking (bounded: 2^32 frames would not fit in any memory limit).
    for (int round = 0; round < 32 && !dead_; ++round) {
        const std::size_t before_bytes = memory_used_bytes_;
        lua_gc(state_, LUA_GCCOLLECT);
        if (memory_used_bytes_ >= before_bytes) {
            break;
        }
    }
}

status sandbox::finish(int lua_status, std::string_view what) {
    lua_sethook(state_, nullptr, 0, 0);
    if (lua_status == LUA_OK && last_stop_ == stop_reason::none) {
        return {};
    }
    std::string message = lua_type(state_, -1) == LUA_TSTRING ? lua_tostring(state_, -1) : "";
    lua_settop(state_, 0);
    if (last_stop_ == stop_reason::budget) {
        return make_error(errc::resource_exhausted, std::string(what) + ": " + message);
    }
    if (last_stop_ == stop_reason::interrupted) {
        return make_error(errc::timeout, std::string(what) + ": " + message);
    }
    if (lua_status == LUA_ERRMEM) {
        last_stop_ = stop_reason::memory;
        return make_error(errc::resource_exhausted,
                          std::string(what) + ": the handler used more than its memory limit of " +
                              std::to_string(limits_.memory_limit_bytes) + " bytes");
    }
    last_stop_ = stop_reason::error;
    if (lua_status == LUA_ERRSYNTAX) {
        return make_error(errc::invalid_argument, std::string(what) + ": " + message);
    }
    if (lua_status == LUA_ERRRUN || lua_status == LUA_ERRERR) {
        return make_error(errc::failed_precondition, std::string(what) + ": " + message);
    }
    dead_ = true;  // an unexpected status: do not trust the state any more
    return make_error(errc::internal, std::string(what) + ": the Lua state failed (status " +
                                          std::to_string(lua_status) + "); sandbox is dead");
}

status sandbox::load(std::string_view chunk_name, std::string_view source) {
    if (dead_) {
        return dead_error();
    }
    if (source.size() > limits_.source_size_max_bytes) {
        return make_error(errc::invalid_argument,
                          "program source is " + std::to_string(source.size()) +
                              " bytes, more than the limit of " +
                              std::to_string(limits_.source_size_max_bytes));
    }
    if (is_bytecode(source)) {
        return make_error(errc::invalid_argument, std::string(bytecode_refused));
    }
    const std::string name = "=" + std::string(chunk_name);
    arm_budget();
    lua_settop(state_, 0);
    lua_pushcfunction(state_, message_handler);
    int loaded = luaL_loadbufferx(state_, source.data(), source.size(), name.c_str(), "t");
    if (loaded == LUA_OK) {
        loaded = lua_pcall(state_, 0, 0, 1);
    }
    auto done = finish(loaded, "load " + std::string(chunk_name));
    lua_settop(state_, 0);
    return done;
}

result<json> sandbox::call(std::string_view function, const json::array_t& arguments) {
    if (dead_) {
        return dead_error();
    }
    call_frame frame;
    frame.function = function;
    frame.arguments = &arguments;
    frame.limits = {limits_.value_depth_max, limits_.value_size_max_bytes};
    arm_budget();
    lua_settop(state_, 0);
    lua_pushcfunction(state_, message_handler);
    lua_pushcfunction(state_, call_protected);
    lua_pushlightuserdata(state_, &frame);
    const int called = lua_pcall(state_, 1, 0, 1);
    auto done = finish(called, std::string(function));
    lua_settop(state_, 0);
    if (!done) {
        return done.failure();
    }
    if (frame.missing) {
        return make_error(errc::not_found, "no global function '" + std::string(function) + "'");
    }
    REEF_ASSERT(frame.out.has_value());
    if (!frame.out->ok()) {
        last_stop_ = stop_reason::conversion;
        return make_error(errc::invalid_argument, std::string(function) + ": " +
                                                      frame.out->failure().message);
    }
    return std::move(*frame.out).value();
}

} // namespace reef::actors::lua
