#include "reef/actors/runner.hpp"

#include <string_view>

#include "reef/base/assert.hpp"

namespace reef::actors {

namespace {

// Defined after the program, so the program cannot replace it while loading. It builds `ctx`,
// runs init or handle, and returns what the handler did as one value.
constexpr std::string_view prelude = R"lua(
function __reef_run(kind, module, state, msg, info)
  local sends, timers, cancel, stop = {}, {}, {}, false
  local spawned, timers_made = 0, 0
  local ctx = { self = info.self, parent = info.parent, sender = info.from }
  function ctx.now() return info.now end
  function ctx.random(...) return math.random(...) end
  function ctx.log(...) print(...) end
  function ctx.send(to, message)
    if type(to) ~= "string" then
      error("ctx.send: the destination must be an actor name (a string)", 2)
    end
    sends[#sends + 1] = { to = to, kind = "message", body = message }
  end
  function ctx.spawn(child_kind, args)
    if type(child_kind) ~= "string" or type(_G[child_kind]) ~= "table" then
      error("ctx.spawn: this program has no actor kind " .. tostring(child_kind) ..
            " (a global table with init and handle)", 2)
    end
    spawned = spawned + 1
    local name = info.self .. "/" .. child_kind .. "-" .. (info.children_made + spawned)
    sends[#sends + 1] = { to = name, kind = "spawn", body = { module = child_kind, args = args } }
    return name
  end
  function ctx.after(delay_ms, message)
    if math.type(delay_ms) == nil or delay_ms < 0 then
      error("ctx.after: the delay must be a number of milliseconds, at least 0", 2)
    end
    timers_made = timers_made + 1
    timers[#timers + 1] = { due_ms = info.now + math.floor(delay_ms), body = message }
    return info.timers_made + timers_made
  end
  function ctx.cancel(id) cancel[#cancel + 1] = id end
  function ctx.stop() stop = true end
  local reply
  function ctx.reply(value) reply = value end
  math.randomseed(info.seed)
  local scope = _G
  if module ~= "" then scope = _G[module] end
  if type(scope) ~= "table" then
    error("the program has no actor kind " .. module, 0)
  end
  local result, supervision
  if kind == "init" then
    -- A process's program may call its start event main.
    local start = scope.init or scope.main
    if start == nil then result = {} else result = start(msg, ctx) end
    if type(scope.supervision) == "table" then supervision = scope.supervision end
  else
    if type(scope.handle) ~= "function" then
      error("the program defines no handle(state, msg, ctx)", 0)
    end
    result = scope.handle(state, msg, ctx)
    if result == nil then result = state end
  end
  if result == nil then result = {} end
  return { state = result, sends = sends, timers = timers, cancel = cancel, stop = stop,
           supervision = supervision, reply = reply }
end
)lua";

/// An empty Lua table converts to {}: a list field may come back as an empty object.
json as_list(const json& value) {
    if (value.is_object() && value.empty()) {
        return json::array();
    }
    return value;
}

} // namespace

runner::runner(const runner_config& limits, const record_limits& records, log_sink log)
    : limits_(limits), records_(records), log_(std::move(log)) {
    REEF_ASSERT(limits_.sandboxes_max > 0);
}

result<lua::sandbox*> runner::sandbox_for(const actor_record& record) {
    if (record.program.empty()) {
        return make_error(errc::failed_precondition, "actor " + record.name + " has no program");
    }
    if (auto found = cache_.find(record.name); found != cache_.end()) {
        if (found->second.program == record.program && !found->second.box->dead()) {
            use_order_.splice(use_order_.begin(), use_order_, found->second.used);
            return found->second.box.get();
        }
        use_order_.erase(found->second.used);
        cache_.erase(found);
    }
    const std::string name = record.name;
    auto box = lua::sandbox::create(limits_.sandbox, 0,
                                    [this, name](std::string_view line) { log_(name, line); });
    if (!box) {
        return box.failure();
    }
    if (auto loaded = (*box)->load(record.name, record.program); !loaded) {
        return loaded.failure();
    }
    if (auto loaded = (*box)->load("=reef", prelude); !loaded) {
        return loaded.failure();
    }
    ++created_;
    while (cache_.size() >= limits_.sandboxes_max) {
        cache_.erase(use_order_.back());
        use_order_.pop_back();
    }
    use_order_.push_front(record.name);
    auto& slot = cache_[record.name];
    slot = cached{record.program, std::move(*box), use_order_.begin()};
    return slot.box.get();
}

result<run_output> runner::run(const actor_record& record, const json::array_t& arguments) {
    auto box = sandbox_for(record);
    if (!box) {
        return box.failure();
    }
    auto returned = (*box)->call("__reef_run", arguments);
    if (!returned) {
        // Whatever the handler changed before failing stays out of the next message.
        if (auto found = cache_.find(record.name); found != cache_.end()) {
            use_order_.erase(found->second.used);
            cache_.erase(found);
        }
        return returned.failure();
    }
    return check(record, *returned);
}

result<run_output> runner::check(const actor_record& record, const json& returned) const {
    run_output out;
    out.state = returned.value("state", json::object());
    out.sends = as_list(returned.value("sends", json::array()));
    out.timers = as_list(returned.value("timers", json::array()));
    out.cancel = as_list(returned.value("cancel", json::array()));
    out.stop = returned.value("stop", false);
    out.supervision = returned.value("supervision", json());
    out.reply = returned.value("reply", json());
    if (json_text(out.reply).size() > records_.message_size_max) {
        return make_error(errc::resource_exhausted,
                          "ctx.reply's value is larger than " +
                              std::to_string(records_.message_size_max) + " bytes as JSON");
    }
    if (json_text(out.state).size() > records_.state_size_max) {
        return make_error(errc::resource_exhausted,
                          "the new state is larger than " +
                              std::to_string(records_.state_size_max) + " bytes as JSON");
    }
    if (out.sends.size() + out.timers.size() > records_.sends_per_step_max) {
        return make_error(errc::resource_exhausted,
                          "one message may send, spawn and set timers " +
                              std::to_string(records_.sends_per_step_max) + " times at most");
    }
    if (record.timers.size() + out.timers.size() > records_.timers_max) {
        return make_error(errc::resource_exhausted, "more than " +
                                                        std::to_string(records_.timers_max) +
                                                        " timers pending");
    }
    for (const auto& sent : out.sends) {
        const std::string to = sent.value("to", "");
        if (auto valid = validate_name(to, records_); !valid) {
            return make_error(errc::invalid_argument,
                              "ctx.send to \"" + to + "\": " + valid.failure().message);
        }
        if (json_text(sent.value("body", json())).size() > records_.message_size_max) {
            return make_error(errc::resource_exhausted,
                              "a message to " + to + " is larger than " +
                                  std::to_string(records_.message_size_max) + " bytes as JSON");
        }
    }
    return out;
}

namespace {

json info_of(const actor_record& record, const std::string& from, const run_context& facts) {
    return {{"self", record.name},
            {"from", from},
            {"parent", record.parent},
            {"now", facts.now_ms},
            {"seed", facts.seed & 0x7fffffffffffffffULL},
            {"children_made", record.children_made},
            {"timers_made", record.timers_made}};
}

} // namespace

result<run_output> runner::init(const actor_record& record, const run_context& facts) {
    return run(record, {"init", record.module, json(), record.args, info_of(record, "", facts)});
}

result<run_output> runner::handle(const actor_record& record, const std::string& from,
                                  const json& body, const run_context& facts) {
    return run(record,
               {"handle", record.module, record.state, body, info_of(record, from, facts)});
}

} // namespace reef::actors
