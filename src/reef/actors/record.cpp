#include "reef/actors/record.hpp"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <type_traits>

#include "reef/base/assert.hpp"

namespace reef::actors {

namespace {

/// Restart times a supervisor keeps for its intensity window.
constexpr std::size_t restarts_kept_max = 64;

bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '/';
}

/// Reads field `key` of object `value` as T, or says what is wrong.
template <typename T>
result<T> field(const json& value, std::string_view key) {
    const auto found = value.find(key);
    if (found == value.end()) {
        return make_error(errc::invalid_argument, "missing field \"" + std::string(key) + "\"");
    }
    const auto wrong_type = [&] {
        return make_error(errc::invalid_argument, "field \"" + std::string(key) +
                                                      "\" has the wrong type");
    };
    if constexpr (std::is_unsigned_v<T> && !std::is_same_v<T, bool>) {
        // nlohmann converts negative, fractional and boolean values without complaint; a count
        // or a sequence must be a whole number in range. (Lua integers arrive signed.)
        if (!found->is_number_integer() ||
            (!found->is_number_unsigned() && found->template get<std::int64_t>() < 0) ||
            found->template get<std::uint64_t>() > std::numeric_limits<T>::max()) {
            return wrong_type();
        }
    }
    try {
        return found->template get<T>();
    } catch (const json::exception&) {
        return wrong_type();
    }
}

/// Reads field `key` into `out` when present (absent: `out` keeps its default). A present field
/// of the wrong type is an error: records and steps come from other nodes, and a value guessed
/// at would hide a bug or an attack.
template <typename T>
status optional_field(const json& value, std::string_view key, T& out) {
    if (!value.contains(key)) {
        return {};
    }
    auto read = field<T>(value, key);
    if (!read) {
        return read.failure();
    }
    out = std::move(*read);
    return {};
}

/// A present member `key` of `value` must have type `kind` (absent is fine).
status expect_kind(const json& value, std::string_view key, json::value_t kind) {
    const auto found = value.find(key);
    if (found != value.end() && found->type() != kind) {
        return make_error(errc::invalid_argument, "field \"" + std::string(key) + "\" must be " +
                                                      (kind == json::value_t::array
                                                           ? "an array"
                                                           : "an object"));
    }
    return {};
}

/// Member `key` of `value` when it is an array (an object for object_at), else an empty one;
/// a reference, so range-for loops over it need no temporary.
const json& array_at(const json& value, std::string_view key) {
    static const json empty = json::array();
    const auto found = value.find(key);
    return found != value.end() && found->is_array() ? *found : empty;
}

const json& object_at(const json& value, std::string_view key) {
    static const json empty = json::object();
    const auto found = value.find(key);
    return found != value.end() && found->is_object() ? *found : empty;
}

template <typename T>
T field_or(const json& value, std::string_view key, T fallback) {
    auto read = field<T>(value, key);
    return read ? std::move(*read) : std::move(fallback);
}

json outgoing_json(const outgoing& sent) {
    return {{"sequence", sent.sequence}, {"to", sent.to}, {"kind", sent.kind},
            {"body", sent.body}};
}

result<outgoing> outgoing_from(const json& value) {
    if (!value.is_object()) {
        return make_error(errc::invalid_argument, "an outbox item must be an object");
    }
    auto to = field<std::string>(value, "to");
    auto kind = field<std::string>(value, "kind");
    auto sequence = field<std::uint64_t>(value, "sequence");
    if (!to || !kind || !sequence) {
        return make_error(errc::invalid_argument, "an outbox item needs to, kind and sequence");
    }
    if (*kind != "message" && *kind != "spawn" && *kind != "control") {
        return make_error(errc::invalid_argument, "unknown outbox kind \"" + *kind + "\"");
    }
    return outgoing{*sequence, *to, *kind, value.value("body", json())};
}

void remember(actor_record& record, const std::string& from, std::uint64_t sequence,
              const json& answer, std::uint64_t index, const record_limits& limits) {
    record.senders[from] = remembered{sequence, answer, index};
    while (record.senders.size() > limits.senders_max) {
        auto oldest = std::min_element(
            record.senders.begin(), record.senders.end(),
            [](const auto& a, const auto& b) { return a.second.used_at < b.second.used_at; });
        record.senders.erase(oldest);
    }
}

/// The messages of a "handled" step: appended to the outbox with the next sequence per
/// destination; spawns also become children.
status add_sends(actor_record& record, const json& sends) {
    if (!sends.is_array()) {
        return make_error(errc::invalid_argument, "sends must be an array");
    }
    for (const auto& item : sends) {
        auto to = field<std::string>(item, "to");
        auto kind = field<std::string>(item, "kind");
        if (!to || !kind) {
            return make_error(errc::invalid_argument, "a send needs to and kind");
        }
        const std::uint64_t sequence = ++record.sent[*to];
        record.outbox.push_back(outgoing{sequence, *to, *kind, item.value("body", json())});
        if (*kind == "spawn" && !item.value("body", json()).value("detached", false)) {
            record.children.push_back(*to);
            ++record.children_made;
        }
    }
    return {};
}

status add_timers(actor_record& record, const json& step) {
    for (const auto& item : array_at(step, "timers")) {
        auto due = field<std::uint64_t>(item, "due_ms");
        if (!due) {
            return due.failure();
        }
        record.timers[++record.timers_made] = timer{*due, item.value("body", json())};
    }
    for (const auto& id : array_at(step, "cancel")) {
        // The leader applies a step before it is encoded, when ids from Lua are still signed
        // integers; after decoding they are unsigned. Both must cancel alike.
        if (id.is_number_integer() && (id.is_number_unsigned() || id.get<std::int64_t>() >= 0)) {
            record.timers.erase(id.get<std::uint64_t>());
        }
    }
    return {};
}

/// Checks the parts of a create, handled or steer step that are applied after the record has
/// started to change, so a malformed step is refused before it changes anything.
status check_step(const json& step) {
    for (const char* key : {"sends", "timers", "cancel"}) {
        if (auto kind = expect_kind(step, key, json::value_t::array); !kind) {
            return kind;
        }
    }
    for (const char* key : {"mailbox", "stop"}) {
        if (const auto found = step.find(key); found != step.end() && !found->is_boolean()) {
            return make_error(errc::invalid_argument,
                              "field \"" + std::string(key) + "\" must be a boolean");
        }
    }
    if (const auto found = step.find("status"); found != step.end()) {
        if (!found->is_string() || (*found != "running" && *found != "failed")) {
            return make_error(errc::invalid_argument, "a step's status must be running or failed");
        }
    }
    for (const auto& item : array_at(step, "sends")) {
        if (!item.is_object()) {
            return make_error(errc::invalid_argument, "a send must be an object");
        }
        auto to = field<std::string>(item, "to");
        auto kind = field<std::string>(item, "kind");
        if (!to || !kind) {
            return make_error(errc::invalid_argument, "a send needs to and kind");
        }
        if (*kind != "message" && *kind != "spawn" && *kind != "control") {
            return make_error(errc::invalid_argument, "unknown send kind \"" + *kind + "\"");
        }
    }
    for (const auto& item : array_at(step, "timers")) {
        if (!item.is_object()) {
            return make_error(errc::invalid_argument, "a timer must be an object");
        }
        if (auto due = field<std::uint64_t>(item, "due_ms"); !due) {
            return due.failure();
        }
    }
    return {};
}

json apply_handled(actor_record& record, const json& step, std::uint64_t index,
                   const record_limits& limits) {
    auto from = field<std::string>(step, "from");
    auto sequence = field<std::uint64_t>(step, "sequence");
    if (!from || !sequence) {
        return failure("a handled step needs from and sequence");
    }
    if (auto checked = check_step(step); !checked) {
        return failure(checked.failure().message);
    }
    if (step.value("mailbox", false)) {
        if (record.mailbox.empty()) {
            return failure("a handled step from an empty mailbox");
        }
        record.mailbox.pop_front();
    }
    if (*from == timer_sender) {
        record.timers.erase(*sequence);
    }
    json answer = step.value("answer", success());
    if (const auto failed = step.find("failed"); failed != step.end()) {
        ++record.failures;
        record.last_error = failed->is_string() ? failed->get<std::string>() : "failed";
    } else {
        if (const auto state = step.find("state"); state != step.end()) {
            record.state = *state;
        }
        ++record.handled;
    }
    if (auto added = add_sends(record, array_at(step, "sends")); !added) {
        return failure(added.failure().message);
    }
    if (auto added = add_timers(record, step); !added) {
        return failure(added.failure().message);
    }
    if (step.value("stop", false)) {
        record.status = "stopped";
        record.timers.clear();
        record.mailbox.clear();
    } else if (step.contains("status")) {
        record.status = step.value("status", record.status);
        if (record.status == "running") {
            record.last_error.clear();
        }
    }
    if (const auto at = step.find("restarted_at"); at != step.end() && at->is_number_unsigned()) {
        record.restarts_ms.push_back(at->get<std::uint64_t>());
        while (record.restarts_ms.size() > restarts_kept_max) {
            record.restarts_ms.pop_front();
        }
    }
    if (*from != timer_sender) {
        remember(record, *from, *sequence, answer, index, limits);
    }
    return answer;
}

json apply_steer(actor_record& record, const json& step) {
    if (auto checked = check_step(step); !checked) {
        return failure(checked.failure().message);
    }
    const std::string op = field_or<std::string>(step, "op", "");
    if (op == "pause") {
        record.paused = true;
    } else if (op == "resume") {
        record.paused = false;
    } else if (op == "set_state") {
        if (!record.paused) {
            return failure("the actor must be paused to replace its state");
        }
        record.state = step.value("state", json());
    } else if (op == "stop") {
        record.status = "stopped";
        record.timers.clear();
        record.mailbox.clear();
    } else {
        return failure("unknown steer op \"" + op + "\"");
    }
    if (auto added = add_sends(record, array_at(step, "sends")); !added) {
        return failure(added.failure().message);
    }
    return success();
}

} // namespace

status validate_name(std::string_view name, const record_limits& limits) {
    if (name.empty() || name.size() > limits.name_size_max) {
        return make_error(errc::invalid_argument,
                          "an actor name must be 1.." + std::to_string(limits.name_size_max) +
                              " bytes");
    }
    if (name.front() == '/' || name.front() == '.') {
        return make_error(errc::invalid_argument, "an actor name must not start with / or .");
    }
    if (!std::all_of(name.begin(), name.end(), name_char)) {
        return make_error(errc::invalid_argument,
                          "an actor name may hold only letters, digits and . _ - /");
    }
    return {};
}

json inspection(const actor_record& record) {
    json mailbox = json::array();
    for (const auto& waiting : record.mailbox) {
        mailbox.push_back({{"from", waiting.from}, {"sequence", waiting.sequence},
                           {"body", waiting.body}});
    }
    json outbox = json::array();
    for (const auto& sent : record.outbox) {
        outbox.push_back(outgoing_json(sent));
    }
    return {{"ok", true},
            {"name", record.name},
            {"module", record.module},
            {"parent", record.parent},
            {"owner", record.owner},
            {"status", record.status},
            {"last_error", record.last_error},
            {"paused", record.paused},
            {"state", record.state},
            {"state_size_bytes", json_text(record.state).size()},
            {"handled", record.handled},
            {"failures", record.failures},
            {"mailbox", mailbox},
            {"outbox", outbox},
            {"timers", record.timers.size()},
            {"children", record.children}};
}

std::string json_text(const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json failure(std::string_view text) {
    return {{"ok", false}, {"error", std::string(text)}};
}

json success() {
    return {{"ok", true}};
}

json to_json(const actor_record& record) {
    json senders = json::object();
    for (const auto& [from, last] : record.senders) {
        senders[from] = {{"sequence", last.sequence}, {"answer", last.answer},
                         {"used_at", last.used_at}};
    }
    json outbox = json::array();
    for (const auto& sent : record.outbox) {
        outbox.push_back(outgoing_json(sent));
    }
    json mailbox = json::array();
    for (const auto& waiting : record.mailbox) {
        mailbox.push_back({{"from", waiting.from}, {"sequence", waiting.sequence},
                           {"body", waiting.body}});
    }
    json timers = json::array();
    for (const auto& [id, due] : record.timers) {
        timers.push_back({{"id", id}, {"due_ms", due.due_ms}, {"body", due.body}});
    }
    const auto& policy = record.policy;
    return {
        {"name", record.name}, {"program", record.program}, {"module", record.module},
        {"parent", record.parent}, {"owner", record.owner}, {"args", record.args},
        {"state", record.state}, {"status", record.status}, {"last_error", record.last_error},
        {"paused", record.paused}, {"handled", record.handled}, {"failures", record.failures},
        {"step_index", record.step_index},
        {"policy",
         {{"strategy", policy.strategy}, {"intensity", policy.intensity},
          {"period_ms", policy.period_ms}, {"backoff_ms", policy.backoff_ms},
          {"backoff_max_ms", policy.backoff_max_ms}}},
        {"senders", senders}, {"sent", record.sent}, {"outbox", outbox}, {"mailbox", mailbox},
        {"timers", timers}, {"timers_made", record.timers_made}, {"children", record.children},
        {"children_made", record.children_made}, {"restarts_ms", record.restarts_ms},
    };
}

namespace {

/// The first failure among `reads`, or success.
status first_failure(std::initializer_list<status> reads) {
    for (const auto& read : reads) {
        if (!read) {
            return read;
        }
    }
    return {};
}

status read_collections(actor_record& out, const json& value) {
    if (auto kinds = first_failure({expect_kind(value, "senders", json::value_t::object),
                                    expect_kind(value, "sent", json::value_t::object),
                                    expect_kind(value, "outbox", json::value_t::array),
                                    expect_kind(value, "mailbox", json::value_t::array),
                                    expect_kind(value, "timers", json::value_t::array)});
        !kinds) {
        return kinds;
    }
    for (const auto& [from, last] : object_at(value, "senders").items()) {
        if (!last.is_object()) {
            return make_error(errc::invalid_argument, "a sender's entry must be an object");
        }
        remembered kept{0, last.value("answer", json()), 0};
        if (auto read = first_failure({optional_field(last, "sequence", kept.sequence),
                                       optional_field(last, "used_at", kept.used_at)});
            !read) {
            return read;
        }
        out.senders[from] = std::move(kept);
    }
    for (const auto& [to, sequence] : object_at(value, "sent").items()) {
        if (!sequence.is_number_unsigned()) {
            return make_error(errc::invalid_argument, "sent sequences must be numbers");
        }
        out.sent[to] = sequence.get<std::uint64_t>();
    }
    for (const auto& item : array_at(value, "outbox")) {
        auto sent = outgoing_from(item);
        if (!sent) {
            return sent.failure();
        }
        out.outbox.push_back(std::move(*sent));
    }
    for (const auto& item : array_at(value, "mailbox")) {
        if (!item.is_object()) {
            return make_error(errc::invalid_argument, "a mailbox item must be an object");
        }
        queued waiting{"", 0, item.value("body", json())};
        if (auto read = first_failure({optional_field(item, "from", waiting.from),
                                       optional_field(item, "sequence", waiting.sequence)});
            !read) {
            return read;
        }
        out.mailbox.push_back(std::move(waiting));
    }
    for (const auto& item : array_at(value, "timers")) {
        if (!item.is_object()) {
            return make_error(errc::invalid_argument, "a timer must be an object");
        }
        std::uint64_t id = 0;
        timer due{0, item.value("body", json())};
        if (auto read = first_failure({optional_field(item, "id", id),
                                       optional_field(item, "due_ms", due.due_ms)});
            !read) {
            return read;
        }
        out.timers[id] = std::move(due);
    }
    return first_failure({optional_field(value, "children", out.children),
                          optional_field(value, "restarts_ms", out.restarts_ms)});
}

} // namespace

result<actor_record> record_from_json(const json& value, const record_limits& limits) {
    if (!value.is_object()) {
        return make_error(errc::invalid_argument, "an actor record must be an object");
    }
    actor_record out;
    auto name = field<std::string>(value, "name");
    if (!name) {
        return name.failure();
    }
    if (auto valid = validate_name(*name, limits); !valid) {
        return valid.failure();
    }
    out.name = *name;
    if (auto policy = expect_kind(value, "policy", json::value_t::object); !policy) {
        return policy.failure();
    }
    const json& policy = object_at(value, "policy");
    if (auto read = first_failure({
            optional_field(value, "program", out.program),
            optional_field(value, "module", out.module),
            optional_field(value, "parent", out.parent),
            optional_field(value, "owner", out.owner),
            optional_field(value, "status", out.status),
            optional_field(value, "last_error", out.last_error),
            optional_field(value, "paused", out.paused),
            optional_field(value, "handled", out.handled),
            optional_field(value, "failures", out.failures),
            optional_field(value, "step_index", out.step_index),
            optional_field(value, "timers_made", out.timers_made),
            optional_field(value, "children_made", out.children_made),
            optional_field(policy, "strategy", out.policy.strategy),
            optional_field(policy, "intensity", out.policy.intensity),
            optional_field(policy, "period_ms", out.policy.period_ms),
            optional_field(policy, "backoff_ms", out.policy.backoff_ms),
            optional_field(policy, "backoff_max_ms", out.policy.backoff_max_ms),
        });
        !read) {
        return read.failure();
    }
    if (out.program.size() > limits.program_size_max) {
        return make_error(errc::invalid_argument, "the program is larger than " +
                                                      std::to_string(limits.program_size_max) +
                                                      " bytes");
    }
    if (out.status != "running" && out.status != "failed" && out.status != "stopped") {
        return make_error(errc::invalid_argument, "unknown status \"" + out.status + "\"");
    }
    const auto& strategy = out.policy.strategy;
    if (strategy != "one_for_one" && strategy != "one_for_all" && strategy != "rest_for_one" &&
        strategy != "none") {
        return make_error(errc::invalid_argument, "unknown supervision strategy \"" + strategy +
                                                      "\"");
    }
    out.args = value.value("args", json());
    out.state = value.value("state", json());
    if (auto read = read_collections(out, value); !read) {
        return read.failure();
    }
    return out;
}

std::optional<json> duplicate_answer(const actor_record& record, const std::string& from,
                                     std::uint64_t sequence) {
    const auto found = record.senders.find(from);
    if (found == record.senders.end() || sequence > found->second.sequence) {
        for (const auto& waiting : record.mailbox) {
            if (waiting.from == from && waiting.sequence == sequence) {
                return json{{"ok", true}, {"queued", true}};
            }
        }
        return std::nullopt;
    }
    if (sequence == found->second.sequence) {
        return found->second.answer;
    }
    return json{{"ok", true}, {"duplicate", true}};
}

bool in_order(const actor_record& record, const std::string& from, std::uint64_t sequence) {
    if (from.starts_with(client_prefix) || from == timer_sender) {
        return true;
    }
    std::uint64_t last = 0;
    if (const auto found = record.senders.find(from); found != record.senders.end()) {
        last = found->second.sequence;
    }
    for (const auto& waiting : record.mailbox) {
        if (waiting.from == from) {
            last = std::max(last, waiting.sequence);
        }
    }
    // A sender this record forgot (senders_max) starts afresh, so it is never stuck.
    return last == 0 || sequence == last + 1;
}

json apply_step(actor_record& record, const json& step, std::uint64_t index,
                const record_limits& limits) {
    if (!step.is_object()) {
        return failure("a step must be an object");
    }
    const std::string kind = field_or<std::string>(step, "step", "");
    json answer;
    if (kind == "create") {
        if (auto checked = check_step(step); !checked) {
            return failure(checked.failure().message);
        }
        auto created = record_from_json(step.value("record", json()), limits);
        if (!created) {
            return failure(created.failure().message);
        }
        record = std::move(*created);
        answer = step.value("answer", success());
        if (auto added = add_sends(record, array_at(step, "sends")); !added) {
            return failure(added.failure().message);
        }
        if (auto added = add_timers(record, step); !added) {
            return failure(added.failure().message);
        }
        if (auto from = field<std::string>(step, "from"); from) {
            remember(record, *from, field_or<std::uint64_t>(step, "sequence", 0), answer, index,
                     limits);
        }
    } else if (kind == "handled") {
        answer = apply_handled(record, step, index, limits);
    } else if (kind == "queued") {
        auto from = field<std::string>(step, "from");
        auto sequence = field<std::uint64_t>(step, "sequence");
        if (!from || !sequence) {
            return failure("a queued step needs from and sequence");
        }
        record.mailbox.push_back(queued{*from, *sequence, step.value("body", json())});
        answer = {{"ok", true}, {"queued", true}};
    } else if (kind == "duplicate") {
        answer = duplicate_answer(record, field_or<std::string>(step, "from", ""),
                                  field_or<std::uint64_t>(step, "sequence", 0))
                     .value_or(success());
    } else if (kind == "ack") {
        const std::string to = field_or<std::string>(step, "to", "");
        const auto through = field_or<std::uint64_t>(step, "sequence", 0);
        std::erase_if(record.outbox, [&](const outgoing& sent) {
            return sent.to == to && sent.sequence <= through;
        });
        answer = success();
    } else if (kind == "steer") {
        answer = apply_steer(record, step);
    } else if (kind == "inspect") {
        answer = inspection(record);
        if (field_or<bool>(step, "program", false)) {
            answer["program"] = record.program;
        }
    } else {
        return failure("unknown step \"" + kind + "\"");
    }
    record.step_index = index;
    return answer;
}

} // namespace reef::actors
