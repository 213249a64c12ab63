#pragma once
// Runs an actor's Lua program: init(args, ctx) and handle(state, msg, ctx), each in the actor's
// sandbox, and turns what the handler did through `ctx` (send, spawn, after, cancel, stop) into
// plain data the leader puts in the step it appends (docs/design/actors.md, "Running a handler").
//
// Thread-safety: none; one owner (the node's actor table).
//
// Sandboxes are cached per actor (at most sandboxes_max, least recently used dropped). A cached
// sandbox is dropped after any failure, so a half-finished handler's changes to globals never
// leak into the next message; state the actor keeps belongs in `state`, which is what replicas
// agree on. A handler sees only `ctx` and the sandbox's safe library.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>

#include "reef/actors/lua/sandbox.hpp"
#include "reef/actors/record.hpp"
#include "reef/base/result.hpp"

namespace reef::actors {

struct runner_config {
    lua::sandbox_config sandbox = {.memory_limit_bytes = std::size_t{8} << 20U};
    std::size_t sandboxes_max = 256;
};

/// What one init or handle call did.
struct run_output {
    json state;
    json sends = json::array();  // [{to, kind: "message"|"spawn", body}]
    json timers = json::array(); // [{due_ms, body}]
    json cancel = json::array(); // timer ids
    bool stop = false;
    json supervision; // init only: the module's `supervision` table, if it has one
    json reply;       // ctx.reply(value): returned to the message's sender in the answer
};

/// The facts a call sees through ctx.
struct run_context {
    std::uint64_t now_ms = 0;
    std::uint64_t seed = 0;
};

class runner {
public:
    using log_sink = std::function<void(const std::string& actor, std::string_view line)>;

    explicit runner(const runner_config& limits, const record_limits& records, log_sink log);

    /// init(args, ctx) of `record`'s module (no init: the state is {}). Errors say why, with the
    /// handler's own message for a Lua error.
    [[nodiscard]] result<run_output> init(const actor_record& record, const run_context& facts);
    /// handle(state, msg, ctx) with `record.state`.
    [[nodiscard]] result<run_output> handle(const actor_record& record, const std::string& from,
                                            const json& body, const run_context& facts);

    std::size_t sandboxes() const { return cache_.size(); }
    std::uint64_t sandboxes_created() const { return created_; }

private:
    struct cached {
        std::string program;
        std::unique_ptr<lua::sandbox> box;
        std::list<std::string>::iterator used;
    };

    result<lua::sandbox*> sandbox_for(const actor_record& record);
    result<run_output> run(const actor_record& record, const json::array_t& arguments);
    result<run_output> check(const actor_record& record, const json& returned) const;

    runner_config limits_;
    record_limits records_;
    log_sink log_;
    std::map<std::string, cached> cache_;
    std::list<std::string> use_order_; // front: most recently used
    std::uint64_t created_ = 0;
};

} // namespace reef::actors
