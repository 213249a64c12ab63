// Fuzz target "actors": the actor table, fed hostile bytes three ways:
//  - as a request reaching the leader (prepare): a one-member replica group that leads at once
//    appends what prepare decides, and its committed entries are applied, so spawns, messages,
//    steering and the Lua handlers they run all see hostile input;
//  - as a committed step arriving from the log (apply on a follower's table);
//  - as a snapshot to install.
// Properties besides "no crash":
//  - a record the table holds survives to_json -> record_from_json unchanged (so its snapshot
//    can always be installed elsewhere);
//  - the table's own snapshot of a group installs into a fresh table as the same record;
//  - every answer is a JSON object with a boolean "ok".

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_target.hpp"
#include "reef/actors/actor_table.hpp"
#include "reef/replica/group.hpp"

namespace reef::fuzz {

namespace {

using actors::json;

std::vector<json> seed_requests();

actors::table_config small_limits() {
    actors::table_config limits;
    // Handlers run inside the fuzz loop: keep a runaway short.
    limits.runner.sandbox.instructions_per_call_max = 200'000;
    limits.runner.sandbox.memory_limit_bytes = std::size_t{2} << 20U;
    limits.runner.sandboxes_max = 8;
    return limits;
}

replica::group_id fuzz_group() {
    replica::group_id::bytes_type bytes{};
    bytes[0] = 0xac;
    return replica::group_id{bytes};
}

node_id self_id() {
    node_id::bytes_type bytes{};
    bytes[31] = 1;
    return node_id{bytes};
}

void check_answer(const std::string& answer) {
    if (answer.empty()) {
        return; // a no-op entry
    }
    const json parsed = json::parse(answer, nullptr, false);
    REEF_FUZZ_CHECK(parsed.is_object());
    REEF_FUZZ_CHECK(parsed.contains("ok") && parsed["ok"].is_boolean());
}

void check_round_trip(const actors::actor_table& table, const replica::group_id& group) {
    const auto* held = table.find(group);
    if (held == nullptr || held->name.empty()) {
        return;
    }
    auto back = actors::record_from_json(actors::to_json(*held));
    REEF_FUZZ_CHECK(back.ok());
    REEF_FUZZ_CHECK(*back == *held);
}

struct leader_under_test {
    static constexpr std::uint64_t inputs_per_life = 2000;

    actors::actor_table table{small_limits(), [](const std::string&, std::string_view) {}};
    std::unique_ptr<replica::group> core;
    instant now = instant::from_ns(0);
    std::uint64_t inputs = 0;
    std::uint64_t sequence = 0;
    // Counters for the summary.
    std::uint64_t decoded = 0;
    std::uint64_t appended = 0;
    std::uint64_t answered_now = 0;
    std::uint64_t applied = 0;
    std::uint64_t snapshots = 0;

    void start() {
        table.forget(fuzz_group());
        core = std::make_unique<replica::group>(replica::group_config{}, fuzz_group(), self_id(),
                                                std::vector<node_id>{self_id()}, std::nullopt, 7,
                                                now);
        drain();
        // Each life starts with the actor the seed requests name, so most requests reach it.
        offer(actors::encode_request(seed_requests().front()));
    }

    void drain() {
        for (auto& produced : core->take_effects()) {
            if (auto* done = std::get_if<replica::apply>(&produced)) {
                ++applied;
                check_answer(table.apply(fuzz_group(), done->committed));
            } else if (std::holds_alternative<replica::compaction_due>(produced)) {
                replica::snapshot base{core->applied_index(), core->epoch(),
                                       table.snapshot_state(fuzz_group())};
                actors::actor_table fresh{small_limits(),
                                          [](const std::string&, std::string_view) {}};
                fresh.install(fuzz_group(), base);
                const auto* mine = table.find(fuzz_group());
                const auto* theirs = fresh.find(fuzz_group());
                REEF_FUZZ_CHECK((mine == nullptr) == (theirs == nullptr));
                REEF_FUZZ_CHECK(mine == nullptr || *mine == *theirs);
                ++snapshots;
                core->compact(base);
            }
        }
    }

    void request(std::string command) {
        if (!core || inputs++ % inputs_per_life == 0) {
            start();
        }
        offer(std::move(command));
    }

    void offer(std::string command) {
        now = now + duration::milliseconds(3);
        table.set_clock(now, 1'700'000'000'000ULL + static_cast<std::uint64_t>(now.ns() / 1000000));
        if (actors::decode_request(command).ok()) {
            ++decoded;
        }
        auto prepared = table.prepare(fuzz_group(), *core, {1, ++sequence}, std::move(command));
        if (auto* now_answer = std::get_if<replica::application::answer_now>(&prepared)) {
            ++answered_now;
            check_answer(now_answer->answer);
            return;
        }
        auto& step = std::get<replica::application::append_command>(prepared).command;
        if (core->submit(now, {1, sequence}, std::move(step)).ok()) {
            ++appended;
        }
        drain();
        check_round_trip(table, fuzz_group());
    }
};

leader_under_test& leader() {
    static leader_under_test instance;
    return instance;
}

struct follower_under_test {
    actors::actor_table table{small_limits(), [](const std::string&, std::string_view) {}};
    std::uint64_t index = 0;
    std::uint64_t installed = 0;

    void step(const std::string& bytes) {
        check_answer(table.apply(fuzz_group(), replica::entry{++index, 1, {2, index}, bytes}));
        check_round_trip(table, fuzz_group());
    }

    void snapshot(const std::string& bytes) {
        table.install(fuzz_group(), replica::snapshot{index, 1, bytes});
        installed += table.find(fuzz_group()) != nullptr ? 1 : 0;
        check_round_trip(table, fuzz_group());
    }
};

follower_under_test& follower() {
    static follower_under_test instance;
    return instance;
}

/// Most mutated bytes are not JSON at all; to reach deeper, such an input instead picks a seed
/// request and replaces one of its fields with a value drawn from the input's bytes (a string,
/// a number, a negative number, null, an array or an object).
std::string structured(std::span<const std::uint8_t> data) {
    static const std::vector<json> seeds = seed_requests();
    json request = seeds[data[0] % seeds.size()];
    std::vector<std::string> keys;
    for (const auto& [key, value] : request.items()) {
        keys.push_back(key);
    }
    const std::string rest(reinterpret_cast<const char*>(data.data()) + 2, data.size() - 2);
    json value;
    switch (data[1] % 6) {
    case 0: value = rest; break;
    case 1: value = rest.size() * 977; break;
    case 2: value = -static_cast<std::int64_t>(rest.size()); break;
    case 3: value = nullptr; break;
    case 4: value = json::array({rest, 1}); break;
    default: value = json{{"add", rest.size()}, {"reef", rest}, {"to", rest}}; break;
    }
    request[keys[data[1] / 6 % keys.size()]] = value;
    return actors::encode_request(request);
}

std::string input_of(std::span<const std::uint8_t> data) {
    const std::string text{reinterpret_cast<const char*>(data.data()), data.size()};
    if (actors::decode_request(text).ok()) {
        return text;
    }
    if (data.size() >= 2 && data[0] % 2 == 0) {
        return structured(data);
    }
    return actors::is_actor_bytes(text) ? text : std::string(1, actors::actor_magic) + text;
}

bytes as_bytes(const std::string& text) { return bytes(text.begin(), text.end()); }

} // namespace

void one_input(std::span<const std::uint8_t> data) {
    const std::string input = input_of(data);
    leader().request(input);
    follower().step(input);
    if (!data.empty() && data.back() % 4 == 0) {
        follower().snapshot(input);
    }
}

namespace {

std::vector<json> seed_requests() {
    const std::string counter =
        "function init(a) return {n = a.start or 0} end\n"
        "function handle(s, m, ctx) s.n = s.n + (m.add or 1)\n"
        "  if m.to then ctx.send(m.to, {hop = true}) end\n"
        "  if m.later then ctx.after(m.later, {add = 1}) end\n"
        "  if m.kid then ctx.spawn('kid', {}) end\n"
        "  if m.boom then error('boom') end\n"
        "  return s end\n"
        "kid = {}\nfunction kid.init() return {} end\nfunction kid.handle(s) return s end\n";
    std::vector<json> requests{
        {{"op", "spawn"}, {"name", "c"}, {"program", counter}, {"args", {{"start", 1}}},
         {"from", "client:01"}, {"sequence", 1}},
        {{"op", "deliver"}, {"name", "c"}, {"from", "client:01"}, {"sequence", 2},
         {"body", {{"add", 2}}}},
        {{"op", "deliver"}, {"name", "c"}, {"from", "other"}, {"sequence", 1},
         {"body", {{"to", "d"}, {"kid", true}}}, {"kind", "message"}},
        {{"op", "deliver"}, {"name", "c"}, {"from", "p"}, {"sequence", 1},
         {"body", {{"reef", "child_failed"}, {"child", "c/kid-1"}, {"error", "x"}}},
         {"kind", "control"}},
        {{"op", "deliver"}, {"name", "c"}, {"from", "client:01"}, {"sequence", 3},
         {"body", {{"boom", true}}}},
        {{"op", "steer"}, {"name", "c"}, {"action", "pause"}},
        {{"op", "steer"}, {"name", "c"}, {"action", "set_state"}, {"state", {{"n", 9}}}},
        {{"op", "steer"}, {"name", "c"}, {"action", "step"}},
        {{"op", "steer"}, {"name", "c"}, {"action", "resume"}},
        {{"op", "inspect"}, {"name", "c"}},
        {{"op", "ack"}, {"name", "c"}, {"to", "d"}, {"sequence", 1}},
        {{"op", "fire"}, {"name", "c"}, {"timer", 1}},
        {{"op", "drain"}, {"name", "c"}},
        {{"step", "handled"}, {"from", "x"}, {"sequence", 1}, {"state", {{"n", 1}}},
         {"sends", json::array({{{"to", "d"}, {"kind", "message"}, {"body", 1}}})}},
        {{"step", "create"}, {"record", {{"name", "c"}, {"program", counter}}}},
        {{"name", "c"}, {"program", counter}, {"state", {{"n", 3}}}, {"paused", true}},
    };
    return requests;
}

} // namespace

std::vector<bytes> seed_corpus() {
    std::vector<bytes> corpus;
    for (const auto& request : seed_requests()) {
        corpus.push_back(as_bytes(actors::encode_request(request)));
    }
    return corpus;
}

std::size_t default_iterations() { return 20000; }

std::string summary(std::uint64_t iterations) {
    const auto& l = leader();
    // A harness whose requests never decode or never reach the log tests only the error paths.
    REEF_FUZZ_CHECK(iterations < 1000 || l.decoded > iterations / 100);
    REEF_FUZZ_CHECK(iterations < 1000 || l.appended > 0);
    REEF_FUZZ_CHECK(iterations < 20000 || l.snapshots > 0);
    return "actors: " + std::to_string(l.decoded) + " of " + std::to_string(iterations) +
           " requests decoded, " + std::to_string(l.appended) + " steps appended, " +
           std::to_string(l.answered_now) + " answered at once, " + std::to_string(l.applied) +
           " entries applied, " + std::to_string(l.snapshots) + " snapshots checked, " +
           std::to_string(follower().installed) + " hostile snapshots installed";
}

} // namespace reef::fuzz
