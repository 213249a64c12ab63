#include "reef/actors/actor_table.hpp"

#include <algorithm>

#include "reef/base/assert.hpp"

namespace reef::actors {

namespace {

/// A refusal that changes nothing and is answered at once (no log entry).
json refuse_now(json answer) {
    return {{"answer_now", std::move(answer)}};
}

json busy(std::string_view why) {
    return {{"ok", false}, {"error", "busy: " + std::string(why)}, {"retry", true}};
}

json control_to(const std::string& to, json body) {
    return {{"to", to}, {"kind", "control"}, {"body", std::move(body)}};
}

std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27U)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31U);
}

/// A delivery answer the sender should try again later (busy, out of order, not there yet).
/// A message to an actor that is not there yet: tried this many times, at most this far apart
/// (about 15 s in all), before it is dropped.
constexpr std::uint32_t absent_retries_max = 40;
constexpr duration absent_retry_max = duration::milliseconds(400);

bool retryable(const json& answer) {
    return answer.value("retry", false);
}

} // namespace

std::string encode_request(const json& request) {
    return std::string(1, actor_magic) + json_text(request);
}

bool is_actor_bytes(std::string_view bytes) {
    return !bytes.empty() && bytes.front() == actor_magic;
}

result<json> decode_request(std::string_view bytes) {
    if (!is_actor_bytes(bytes)) {
        return make_error(errc::invalid_argument, "not an actor request");
    }
    json value = json::parse(bytes.substr(1), nullptr, false);
    if (value.is_discarded() || !value.is_object()) {
        return make_error(errc::invalid_argument, "an actor request must be a JSON object");
    }
    return value;
}

actor_table::actor_table(const table_config& limits, log_sink log)
    : limits_(limits), runner_(limits.runner, limits.records, std::move(log)) {}

void actor_table::set_clock(instant now, std::uint64_t unix_ms) {
    now_ = now;
    unix_ms_ = unix_ms;
}

std::string actor_table::apply(const replica::group_id& group, const replica::entry& committed) {
    if (!is_actor_bytes(committed.command)) {
        return {}; // a no-op or member change
    }
    auto step = decode_request(committed.command);
    auto& record = records_[group];
    json answer = step ? apply_step(record, *step, committed.index, limits_.records)
                       : failure(step.failure().message);
    // Compared, not read with value(): a step whose "step" is not text must not throw here.
    if (step && step->contains("step") && (*step)["step"] == "inspect") {
        answer["node"] = limits_.self_label; // the leader's answer is the one returned
    }
    refresh_work(group);
    return json_text(answer);
}

std::string actor_table::snapshot_state(const replica::group_id& group) {
    const auto found = records_.find(group);
    if (found == records_.end()) {
        return {};
    }
    return encode_request(to_json(found->second));
}

void actor_table::install(const replica::group_id& group, const replica::snapshot& base) {
    speculations_.erase(group);
    auto value = decode_request(base.state);
    auto record = value ? record_from_json(*value, limits_.records)
                        : result<actor_record>(value.failure());
    if (!record) {
        records_.erase(group); // not an actor snapshot (or an empty one): nothing to hold
        return;
    }
    records_[group] = std::move(*record);
    refresh_work(group);
}

void actor_table::forget(const replica::group_id& group) {
    records_.erase(group);
    speculations_.erase(group);
    work_.erase(group);
    couriers_.erase(group);
}

const actor_record* actor_table::find(const replica::group_id& group) const {
    const auto found = records_.find(group);
    return found == records_.end() ? nullptr : &found->second;
}

actor_record& actor_table::speculative(const replica::group_id& group,
                                       const replica::group& core) {
    const auto tail = core.unapplied();
    auto& cached = speculations_[group];
    if (!tail.empty() && cached.index == tail.back().index &&
        cached.epoch == tail.back().epoch) {
        return cached.record;
    }
    // The tail changed under the cache (a new leader's log, a refused submit): rebuild it.
    ++stats_.speculative_rebuilds;
    const auto* committed = find(group);
    cached.record = committed != nullptr ? *committed : actor_record{};
    for (const auto& next : tail) {
        if (auto step = decode_request(next.command); step) {
            (void)apply_step(cached.record, *step, next.index, limits_.records);
        }
    }
    cached.index = core.last_index();
    cached.epoch = tail.empty() ? 0 : tail.back().epoch;
    return cached.record;
}

std::uint64_t actor_table::seed_for(const replica::group& core) const {
    std::uint64_t seed = mix(core.last_index() + 1) ^ mix(core.epoch() + 0x5151);
    for (const std::uint8_t byte : core.id().bytes()) {
        seed = mix(seed ^ byte);
    }
    return seed;
}

replica::application::preparation actor_table::prepare(const replica::group_id& group,
                                                       const replica::group& core,
                                                       const replica::request_id& request,
                                                       std::string command) {
    (void)request;
    auto asked = decode_request(command);
    if (!asked) {
        return answer_now{json_text(failure(asked.failure().message))};
    }
    actor_record& current = speculative(group, core);
    prepare_seed_ = seed_for(core);
    json step;
    try {
        step = decide(current, find(group), *asked);
    } catch (const json::exception&) {
        // A field of the wrong type (a name that is a number, a sequence that is text, a
        // supervision table with text for a count): refused, like any malformed request.
        return answer_now{
            json_text(failure("malformed actor request: a field has the wrong type"))};
    }
    if (const auto now_answer = step.find("answer_now"); now_answer != step.end()) {
        if (retryable(*now_answer)) {
            ++stats_.busy;
        }
        return answer_now{json_text(*now_answer)};
    }
    std::string bytes = encode_request(step);
    if (bytes.size() > limits_.step_size_max) {
        return answer_now{json_text(failure("the message's step (new state and messages sent) "
                                            "is larger than " +
                                            std::to_string(limits_.step_size_max) + " bytes"))};
    }
    const std::uint64_t index = core.last_index() + 1;
    (void)apply_step(current, step, index, limits_.records);
    auto& cached = speculations_[group];
    cached.index = index;
    cached.epoch = core.epoch();
    return append_command{std::move(bytes)};
}

json actor_table::decide(actor_record& current, const actor_record* committed,
                         const json& request) {
    const std::string op = request.value("op", "");
    if (op == "spawn") {
        return decide_spawn(current, request);
    }
    const std::string name = request.value("name", "");
    if (current.name.empty() || current.name != name) {
        return refuse_now(failure("no such actor " + name));
    }
    if (op == "deliver") {
        return decide_deliver(current, committed, request);
    }
    if (op == "inspect") {
        json step = {{"step", "inspect"}};
        if (request.value("program", false)) {
            step["program"] = true;
        }
        return step;
    }
    if (op == "steer") {
        return decide_steer(current, request);
    }
    if (op == "ack") {
        const std::string to = request.value("to", "");
        const auto through = request.value("sequence", std::uint64_t{0});
        const bool any = std::any_of(current.outbox.begin(), current.outbox.end(),
                                     [&](const outgoing& sent) {
                                         return sent.to == to && sent.sequence <= through;
                                     });
        if (!any) {
            return refuse_now(success());
        }
        return {{"step", "ack"}, {"to", to}, {"sequence", through}};
    }
    if (op == "fire") {
        const auto id = request.value("timer", std::uint64_t{0});
        const auto found = current.timers.find(id);
        if (found == current.timers.end() || current.status == "stopped") {
            return refuse_now(success());
        }
        const json& body = found->second.body;
        if (body.is_object() && body.contains("reef")) {
            return decide_control(current, std::string(timer_sender), id, body);
        }
        return run_message(current, std::string(timer_sender), id, body, false);
    }
    if (op == "drain") {
        if (current.paused || current.mailbox.empty() || current.status == "stopped") {
            return refuse_now(success());
        }
        const auto& head = current.mailbox.front();
        return run_message(current, head.from, head.sequence, head.body, true);
    }
    return refuse_now(failure("unknown actor request \"" + op + "\""));
}

json actor_table::decide_spawn(const actor_record& current, const json& request) {
    const std::string from = request.value("from", "");
    const auto sequence = request.value("sequence", std::uint64_t{0});
    const std::string name = request.value("name", "");
    if (!current.name.empty()) {
        if (duplicate_answer(current, from, sequence)) {
            return {{"step", "duplicate"}, {"from", from}, {"sequence", sequence}};
        }
        return refuse_now(failure("actor " + name + " already exists"));
    }
    if (auto valid = validate_name(name, limits_.records); !valid) {
        return refuse_now(failure(valid.failure().message));
    }
    actor_record created;
    created.name = name;
    created.program = request.value("program", "");
    created.module = request.value("module", "");
    created.parent = request.value("parent", "");
    created.owner = request.value("owner", "");
    created.args = request.value("args", json::object());
    const std::string native = request.value("native", "");
    if (!native.empty()) {
        if (!natives_.contains(native)) {
            return refuse_now(failure("no native actor kind " + native + " on this node"));
        }
        // A native kind may keep a program too, as data it reads (a Lua job's source).
        created.module = native;
        if (created.program.size() > limits_.records.program_size_max) {
            return refuse_now(failure("a program must be at most " +
                                      std::to_string(limits_.records.program_size_max) +
                                      " bytes"));
        }
    } else if (created.program.empty() ||
               created.program.size() > limits_.records.program_size_max) {
        return refuse_now(failure("a program must be 1.." +
                                  std::to_string(limits_.records.program_size_max) + " bytes"));
    } else if (created.module.starts_with(native_prefix)) {
        return refuse_now(failure("module names starting with \"" + std::string(native_prefix) +
                                  "\" are reserved for native kinds"));
    }
    json step = {{"step", "create"}, {"from", from}, {"sequence", sequence}};
    auto ran = run(created, true, from, created.args);
    if (!ran) {
        ++stats_.failed;
        created.status = "failed";
        created.last_error = ran.failure().message;
        step["answer"] = failure("init failed: " + created.last_error);
        step["sends"] = failure_notice(created, created.last_error);
    } else {
        created.state = ran->state;
        if (ran->supervision.is_object()) {
            auto& policy = created.policy;
            policy.strategy = ran->supervision.value("strategy", policy.strategy);
            policy.intensity = ran->supervision.value("intensity", policy.intensity);
            policy.period_ms = ran->supervision.value("period_ms", policy.period_ms);
            policy.backoff_ms = ran->supervision.value("backoff_ms", policy.backoff_ms);
            policy.backoff_max_ms = ran->supervision.value("backoff_max_ms", policy.backoff_max_ms);
        }
        step["answer"] = {{"ok", true}, {"name", name}};
        step["sends"] = ran->sends;
        step["timers"] = ran->timers;
    }
    step["record"] = to_json(created);
    return step;
}

json actor_table::decide_deliver(const actor_record& current, const actor_record* committed,
                                 const json& request) {
    const std::string from = request.value("from", "");
    const auto sequence = request.value("sequence", std::uint64_t{0});
    if (from.empty() || sequence == 0) {
        return refuse_now(failure("a message needs a sender and a sequence from 1"));
    }
    if (committed != nullptr) {
        if (auto again = duplicate_answer(*committed, from, sequence)) {
            return refuse_now(*again);
        }
    }
    if (duplicate_answer(current, from, sequence)) {
        return {{"step", "duplicate"}, {"from", from}, {"sequence", sequence}};
    }
    if (!in_order(current, from, sequence)) {
        return refuse_now({{"ok", false},
                           {"error", "out of order: an earlier message from " + from +
                                         " has not arrived"},
                           {"retry", true}});
    }
    const json body = request.value("body", json());
    if (json_text(body).size() > limits_.records.message_size_max) {
        return refuse_now(failure("a message must be at most " +
                                  std::to_string(limits_.records.message_size_max) +
                                  " bytes as JSON"));
    }
    if (request.value("kind", "message") == "control") {
        return decide_control(current, from, sequence, body);
    }
    if (current.status == "stopped") {
        return refuse_now(failure("actor " + current.name + " is stopped"));
    }
    if (current.paused || !current.mailbox.empty()) {
        if (current.mailbox.size() >= limits_.records.mailbox_max) {
            return refuse_now(busy("the mailbox of " + current.name + " is full"));
        }
        return {{"step", "queued"}, {"from", from}, {"sequence", sequence}, {"body", body}};
    }
    if (current.outbox.size() >= limits_.records.outbox_max) {
        return refuse_now(busy(current.name + " has too many messages not yet delivered"));
    }
    return run_message(current, from, sequence, body, false);
}

json actor_table::run_message(const actor_record& current, const std::string& from,
                              std::uint64_t sequence, const json& body, bool from_mailbox) {
    json step = {{"step", "handled"}, {"from", from}, {"sequence", sequence},
                 {"mailbox", from_mailbox}};
    ++stats_.handled;
    auto ran = run(current, false, from, body);
    if (!ran) {
        ++stats_.failed;
        const std::string why = ran.failure().message;
        step["failed"] = why;
        step["answer"] = failure(why);
        step["sends"] = failure_notice(current, why);
        return step;
    }
    step["state"] = ran->state;
    step["sends"] = ran->sends;
    step["timers"] = ran->timers;
    step["cancel"] = ran->cancel;
    step["answer"] = success();
    if (!ran->reply.is_null()) {
        step["answer"]["reply"] = ran->reply;
    }
    if (ran->stop) {
        step["stop"] = true;
        for (const auto& child : current.children) {
            step["sends"].push_back(control_to(child, {{"reef", "stop"}}));
        }
    }
    return step;
}

void actor_table::register_native(std::string kind, native_handler handler) {
    REEF_ASSERT(kind.starts_with(native_prefix));
    REEF_ASSERT(kind.size() > native_prefix.size());
    REEF_ASSERT(handler);
    natives_[std::move(kind)] = std::move(handler);
}

result<run_output> actor_table::run(const actor_record& record, bool init,
                                    const std::string& from, const json& body) {
    const run_context facts{unix_ms_, prepare_seed_};
    if (record.program.empty() || record.module.starts_with(native_prefix)) {
        const auto found = natives_.find(record.module);
        if (found == natives_.end()) {
            return make_error(errc::failed_precondition,
                              "no native actor kind " + record.module + " on this node");
        }
        // A native kind reads states that may have been set by hand: a value of an unexpected
        // type fails the message, like a Lua error, and never escapes to stop the node.
        try {
            return found->second(record, init, from, body, facts);
        } catch (const json::exception& failure) {
            return make_error(errc::invalid_argument,
                              record.module + " could not use a value: " + failure.what());
        }
    }
    return init ? runner_.init(record, facts) : runner_.handle(record, from, body, facts);
}

json actor_table::failure_notice(const actor_record& current, const std::string& error) const {
    json sends = json::array();
    if (!current.parent.empty()) {
        sends.push_back(control_to(
            current.parent, {{"reef", "child_failed"}, {"child", current.name}, {"error", error}}));
    }
    return sends;
}

json actor_table::decide_control(const actor_record& current, const std::string& from,
                                 std::uint64_t sequence, const json& body) {
    const std::string op = body.value("reef", "");
    json step = {{"step", "handled"}, {"from", from}, {"sequence", sequence},
                 {"sends", json::array()}};
    if (op == "stop") {
        step["stop"] = true;
        for (const auto& child : current.children) {
            step["sends"].push_back(control_to(child, {{"reef", "stop"}}));
        }
        return step;
    }
    if (op == "restart") {
        const auto delay = body.value("delay_ms", std::uint64_t{0});
        if (delay > 0) {
            step["timers"] = json::array({{{"due_ms", unix_ms_ + delay},
                                           {"body", {{"reef", "restart"}}}}});
            return step;
        }
        return restart_step(current, from, sequence);
    }
    if (op == "child_failed") {
        return supervise(current, from, sequence, body.value("child", ""),
                         body.value("error", ""));
    }
    return refuse_now(failure("unknown control message \"" + op + "\""));
}

json actor_table::restart_step(const actor_record& current, const std::string& from,
                               std::uint64_t sequence) {
    json step = {{"step", "handled"}, {"from", from}, {"sequence", sequence}};
    json sends = json::array();
    for (const auto& child : current.children) {
        sends.push_back(control_to(child, {{"reef", "stop"}}));
    }
    auto ran = run(current, true, from, current.args);
    if (!ran) {
        ++stats_.failed;
        step["failed"] = "restart failed: " + ran.failure().message;
        step["status"] = "failed";
        for (auto& notice : failure_notice(current, step["failed"])) {
            sends.push_back(std::move(notice));
        }
        step["sends"] = sends;
        return step;
    }
    for (const auto& sent : ran->sends) {
        sends.push_back(sent);
    }
    step["state"] = ran->state;
    step["status"] = "running";
    step["sends"] = sends;
    step["timers"] = ran->timers;
    return step;
}

json actor_table::supervise(const actor_record& current, const std::string& from,
                            std::uint64_t sequence, const std::string& child,
                            const std::string& error) {
    json step = {{"step", "handled"}, {"from", from}, {"sequence", sequence},
                 {"sends", json::array()}};
    const auto& policy = current.policy;
    const auto position = std::find(current.children.begin(), current.children.end(), child);
    if (position == current.children.end() || policy.strategy == "none" ||
        current.status == "stopped") {
        return step;
    }
    const std::uint64_t since = unix_ms_ > policy.period_ms ? unix_ms_ - policy.period_ms : 0;
    const auto recent = static_cast<std::uint32_t>(
        std::count_if(current.restarts_ms.begin(), current.restarts_ms.end(),
                      [&](std::uint64_t at) { return at >= since; }));
    if (recent >= policy.intensity) {
        // Escalate: this supervisor gives up, stops its children and fails in turn.
        const std::string why = "child " + child + " failed " + std::to_string(recent + 1) +
                                " times within " + std::to_string(policy.period_ms) +
                                " ms (last: " + error + ")";
        step["failed"] = why;
        step["status"] = "failed";
        for (const auto& each : current.children) {
            step["sends"].push_back(control_to(each, {{"reef", "stop"}}));
        }
        for (auto& notice : failure_notice(current, why)) {
            step["sends"].push_back(std::move(notice));
        }
        return step;
    }
    std::vector<std::string> targets;
    if (policy.strategy == "one_for_all") {
        targets = current.children;
    } else if (policy.strategy == "rest_for_one") {
        targets.assign(position, current.children.end());
    } else {
        targets.push_back(child);
    }
    std::uint64_t delay = policy.backoff_ms;
    for (std::uint32_t i = 0; i < recent && delay < policy.backoff_max_ms; ++i) {
        delay *= 2;
    }
    delay = std::min(delay, policy.backoff_max_ms);
    for (const auto& target : targets) {
        step["sends"].push_back(control_to(target, {{"reef", "restart"}, {"delay_ms", delay}}));
    }
    step["restarted_at"] = unix_ms_;
    return step;
}

json actor_table::decide_steer(const actor_record& current, const json& request) {
    const std::string op = request.value("action", "");
    if (op == "pause" || op == "resume") {
        return {{"step", "steer"}, {"op", op}};
    }
    if (op == "set_state") {
        if (!current.paused) {
            return refuse_now(failure("pause " + current.name + " before replacing its state"));
        }
        const json state = request.value("state", json());
        if (json_text(state).size() > limits_.records.state_size_max) {
            return refuse_now(failure("the state must be at most " +
                                      std::to_string(limits_.records.state_size_max) +
                                      " bytes as JSON"));
        }
        return {{"step", "steer"}, {"op", "set_state"}, {"state", state}};
    }
    if (op == "step") {
        if (!current.paused) {
            return refuse_now(failure(current.name + " is not paused: step delivers one message "
                                                     "to a paused actor"));
        }
        if (current.mailbox.empty()) {
            return refuse_now(failure("the mailbox of " + current.name + " is empty"));
        }
        const auto& head = current.mailbox.front();
        return run_message(current, head.from, head.sequence, head.body, true);
    }
    if (op == "stop") {
        json sends = json::array();
        for (const auto& child : current.children) {
            sends.push_back(control_to(child, {{"reef", "stop"}}));
        }
        return {{"step", "steer"}, {"op", "stop"}, {"sends", sends}};
    }
    return refuse_now(failure("unknown action \"" + op +
                              "\" (pause, resume, set_state, step or stop)"));
}

// ---- courier ----

void actor_table::refresh_work(const replica::group_id& group) {
    const auto found = records_.find(group);
    if (found == records_.end()) {
        work_.erase(group);
        return;
    }
    const auto& record = found->second;
    const bool drains = !record.paused && !record.mailbox.empty() && record.status != "stopped";
    if (!record.outbox.empty() || !record.timers.empty() || drains) {
        work_.insert(group);
    } else if (!couriers_.contains(group)) {
        work_.erase(group);
    }
}

std::vector<outbound> actor_table::due_requests(
    const std::function<bool(const replica::group_id&)>& leads) {
    std::vector<outbound> out;
    const std::vector<replica::group_id> candidates(work_.begin(), work_.end());
    for (const auto& group : candidates) {
        const auto found = records_.find(group);
        if (found == records_.end() || !leads(group)) {
            // Not (or no longer) led here: what this node knew of deliveries is stale.
            couriers_.erase(group);
            continue;
        }
        const auto& record = found->second;
        auto& courier = couriers_[group];
        std::set<std::string> seen;
        for (const auto& sent : record.outbox) {
            if (in_flight_.size() >= limits_.courier_in_flight_max) {
                return out;
            }
            if (!seen.insert(sent.to).second || sent.sequence <= courier.acked[sent.to] ||
                courier.busy.contains(sent.to)) {
                continue;
            }
            if (auto wait = courier.retry_at.find(sent.to);
                wait != courier.retry_at.end() && wait->second > now_) {
                continue;
            }
            json asked;
            if (sent.kind == "spawn") {
                asked = {{"op", "spawn"}, {"name", sent.to}, {"program", record.program},
                         {"module", sent.body.value("module", "")},
                         {"args", sent.body.value("args", json::object())},
                         {"parent", sent.body.value("detached", false) ? "" : record.name},
                         {"owner", record.owner}};
                if (sent.body.contains("native")) {
                    asked["native"] = sent.body.value("native", "");
                    asked.erase("program");
                }
            } else {
                asked = {{"op", "deliver"}, {"name", sent.to}, {"kind", sent.kind},
                         {"body", sent.body}};
            }
            asked["from"] = record.name;
            asked["sequence"] = sent.sequence;
            const std::uint64_t token = next_token_++;
            in_flight_[token] = in_flight{group, sent.to, sent.sequence, false};
            courier.busy.insert(sent.to);
            courier.retry_at.erase(sent.to);
            out.push_back(outbound{token, sent.to, encode_request(asked), sent.kind == "spawn"});
        }
        add_chores(group, record, courier, out);
    }
    return out;
}

void actor_table::add_chores(const replica::group_id& group, const actor_record& record,
                             courier_state& courier, std::vector<outbound>& out) {
    if (courier.chore_busy || in_flight_.size() >= limits_.courier_in_flight_max) {
        return;
    }
    if (auto wait = courier.retry_at.find(""); wait != courier.retry_at.end() &&
                                               wait->second > now_) {
        return;
    }
    json asked;
    for (const auto& sent : record.outbox) {
        if (sent.sequence <= courier.acked[sent.to]) {
            asked = {{"op", "ack"}, {"to", sent.to}, {"sequence", courier.acked[sent.to]}};
            break;
        }
    }
    if (asked.is_null()) {
        for (const auto& [id, due] : record.timers) {
            if (due.due_ms <= unix_ms_) {
                asked = {{"op", "fire"}, {"timer", id}};
                break;
            }
        }
    }
    if (asked.is_null() && !record.paused && !record.mailbox.empty() &&
        record.status != "stopped") {
        asked = {{"op", "drain"}};
    }
    if (asked.is_null()) {
        return;
    }
    asked["name"] = record.name;
    const std::uint64_t token = next_token_++;
    in_flight_[token] = in_flight{group, record.name, 0, true};
    courier.chore_busy = true;
    courier.retry_at.erase("");
    out.push_back(outbound{token, record.name, encode_request(asked), false});
}

void actor_table::on_request_done(std::uint64_t token, const result<std::string>& answer) {
    const auto found = in_flight_.find(token);
    if (found == in_flight_.end()) {
        return;
    }
    const in_flight done = found->second;
    in_flight_.erase(found);
    const auto courier_found = couriers_.find(done.group);
    if (courier_found == couriers_.end()) {
        return; // the group was forgotten meanwhile
    }
    auto& courier = courier_found->second;
    const std::string key = done.chore ? std::string() : done.to;
    json parsed = answer ? json::parse(*answer, nullptr, false) : json();
    bool delivered = answer.ok() && !parsed.is_discarded() && !retryable(parsed);
    // No such actor (its group, or its record): its spawn may still be on the way, so the
    // message is tried again, often, for a while (absent_retries_max), and then dropped.
    const bool absent = !done.chore &&
                        ((delivered && !parsed.value("ok", false) &&
                          parsed.value("error", "").starts_with("no such actor")) ||
                         (!answer && answer.failure().code == errc::not_found));
    if (absent) {
        delivered = courier.failures[key] >= absent_retries_max;
    }
    if (done.chore) {
        courier.chore_busy = false;
    } else {
        courier.busy.erase(done.to);
    }
    if (delivered) {
        courier.failures.erase(key);
        courier.retry_at.erase(key);
        if (!done.chore) {
            ++stats_.delivered;
            auto& acked = courier.acked[done.to];
            acked = std::max(acked, done.sequence);
        }
    } else {
        ++stats_.redelivered;
        const auto failures = ++courier.failures[key];
        duration wait = limits_.retry_min;
        const duration wait_max = absent ? absent_retry_max : limits_.retry_max;
        for (std::uint32_t i = 1; i < failures && wait < wait_max; ++i) {
            wait = wait + wait;
        }
        courier.retry_at[key] = now_ + std::min(wait, wait_max);
    }
    work_.insert(done.group);
}

instant actor_table::next_due(const std::function<bool(const replica::group_id&)>& leads) const {
    if (in_flight_.size() >= limits_.courier_in_flight_max) {
        return instant::never(); // an answer comes first, as an input
    }
    instant earliest = instant::never();
    for (const auto& group : work_) {
        if (!leads(group)) {
            continue; // a follower's copy: its leader's courier does the work
        }
        const auto courier = couriers_.find(group);
        const bool chore_busy = courier != couriers_.end() && courier->second.chore_busy;
        if (courier != couriers_.end()) {
            for (const auto& [key, at] : courier->second.retry_at) {
                // A retry already in flight waits for its answer, not for the clock.
                const bool busy = key.empty() ? chore_busy : courier->second.busy.contains(key);
                if (!busy) {
                    earliest = std::min(earliest, at);
                }
            }
        }
        const auto found = records_.find(group);
        if (found == records_.end() || chore_busy) {
            continue;
        }
        for (const auto& [id, due] : found->second.timers) {
            const auto ahead = due.due_ms > unix_ms_ ? due.due_ms - unix_ms_ : 0;
            earliest = std::min(earliest,
                                now_ + duration::milliseconds(static_cast<std::int64_t>(ahead)));
        }
    }
    return earliest;
}

} // namespace reef::actors
