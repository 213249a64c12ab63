#pragma once
// The Lua 5.4 sandbox one actor runs in: one lua_State, a memory limit enforced by its allocator,
// a deterministic instruction budget per call, and an environment holding only safe standard
// functions (docs/design/actors.md, "Lua sandbox").
//
// Thread-safety: a sandbox is used by one thread at a time. The single exception is interrupt(),
// which a watchdog may call from any thread while a call is running.
//
// Invariants: memory_used_bytes() <= memory_limit_bytes; no Lua error and no C++ exception
// crosses this interface (every failure comes back as an `error`); after any failure the state is
// either usable for the next call or dead(), and a dead sandbox refuses every call.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "reef/base/prng.hpp"
#include "reef/base/result.hpp"

struct lua_State;

namespace reef::actors::lua {

struct sandbox_config {
    /// Every byte the Lua state holds, interpreter included (about 20 KiB when empty).
    std::size_t memory_limit_bytes = std::size_t{16} << 20U;
    /// Lua VM instructions one load() or call() may execute; 0 turns the budget off (then only
    /// interrupt() stops a runaway: for trusted code and benchmarks).
    std::uint64_t instructions_per_call_max = 10'000'000;
    /// Instructions between two budget checks. The stop point stays exact whatever this is (the
    /// last stretch is armed with the remainder); it only sets how often the hook runs.
    std::uint32_t hook_interval_instructions = 1'000'000;
    std::size_t source_size_max_bytes = std::size_t{1} << 20U;
    /// Limits on values crossing the boundary (arguments and results).
    std::size_t value_depth_max = 64;
    std::size_t value_size_max_bytes = std::size_t{4} << 20U;
    std::size_t log_line_size_max_bytes = 4096;

    [[nodiscard]] status validate() const;
};

/// Why the last call stopped early.
enum class stop_reason : std::uint8_t { none, error, budget, memory, interrupted, conversion };

class sandbox {
    struct construct_key {
        explicit construct_key() = default;
    };

public:
    /// Receives one line per `print(...)` call (arguments joined by tabs, truncated to
    /// log_line_size_max_bytes). Must not throw.
    using log_sink = std::function<void(std::string_view line)>;

    /// A fresh state. `seed` seeds the generator behind math.random; nothing else is random.
    static result<std::unique_ptr<sandbox>> create(const sandbox_config& limits, std::uint64_t seed,
                                                   log_sink log);
    sandbox(construct_key key, const sandbox_config& limits, std::uint64_t seed, log_sink log);
    ~sandbox();
    sandbox(const sandbox&) = delete;
    sandbox& operator=(const sandbox&) = delete;
    sandbox(sandbox&&) = delete;
    sandbox& operator=(sandbox&&) = delete;

    /// Compiles `source` (Lua text only: bytecode is refused) and runs its top level under the
    /// instruction budget; the globals it defines become callable.
    [[nodiscard]] status load(std::string_view chunk_name, std::string_view source);

    /// Calls the global function `function` with `arguments` (converted to Lua values) and
    /// converts its first result back; no result gives null.
    [[nodiscard]] result<nlohmann::json> call(std::string_view function,
                                              const nlohmann::json::array_t& arguments);

    /// The instruction budget of the load() and call() calls that follow (0: none), for an owner
    /// whose functions need different budgets (a job's map against its reduce).
    void set_instructions_per_call_max(std::uint64_t budget) {
        limits_.instructions_per_call_max = budget;
    }

    /// Stops the call in progress with "interrupted" at its next instruction: the wall-clock
    /// backstop a runtime watchdog arms. Safe from any thread. An interrupt that arrives while no
    /// call runs is dropped when the next call starts.
    void interrupt();

    /// Runs full garbage collections until memory stops shrinking (not budgeted: no Lua code runs,
    /// since finalizers are refused).
    void collect_garbage();

    [[nodiscard]] bool dead() const { return dead_; }
    [[nodiscard]] std::size_t memory_used_bytes() const { return memory_used_bytes_; }
    [[nodiscard]] std::size_t memory_peak_bytes() const { return memory_peak_bytes_; }
    [[nodiscard]] stop_reason last_stop() const { return last_stop_; }
    [[nodiscard]] const sandbox_config& limits() const { return limits_; }

    // Entry points for the C callbacks in sandbox.cpp; not part of the API.
    void* on_alloc(void* block, std::size_t size_old, std::size_t size_new);
    void on_hook(lua_State* state);
    void on_print(std::string_view line);
    prng& random() { return random_; }

private:
    status open();
    void arm_budget();
    status finish(int lua_status, std::string_view what);

    sandbox_config limits_;
    prng random_;
    log_sink log_;
    lua_State* state_ = nullptr;
    std::size_t memory_used_bytes_ = 0;
    std::size_t memory_peak_bytes_ = 0;
    std::uint64_t instructions_used_ = 0;
    std::uint32_t instructions_armed_ = 0;
    std::atomic<bool> interrupt_requested_{false};
    stop_reason last_stop_ = stop_reason::none;
    bool memory_refused_ = false;
    bool dead_ = false;
};

std::string_view to_string(stop_reason reason);

} // namespace reef::actors::lua
