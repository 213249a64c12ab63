#include "reef/runtime/daemon.hpp"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <variant>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <fmt/format.h>

#include "reef/base/address.hpp"
#include "reef/control/api.hpp"
#include "reef/control/dht_api.hpp"
#include "reef/control/actors_api.hpp"
#include "reef/jobs/exec_job.hpp"
#include "reef/runtime/command_runner.hpp"
#include "reef/runtime/job_runner.hpp"
#include "reef/control/jobs_api.hpp"
#include "reef/control/kv_api.hpp"
#include "reef/crypto/cluster_key.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/dht/record.hpp"
#include "reef/node/node.hpp"
#include "reef/runtime/control_server.hpp"
#include "reef/runtime/data_dir.hpp"
#include "reef/runtime/entropy.hpp"
#include "reef/runtime/identity_store.hpp"
#include "reef/runtime/log.hpp"
#include "reef/runtime/peer_network.hpp"
#include "reef/runtime/replica_storage_sqlite.hpp"

namespace reef::runtime {

namespace {

/// Runner threads for job chunks: REEF_JOB_SLOTS when set (1..1024; tests give each node one),
/// else one per core.
std::size_t job_slots() {
    if (const char* text = std::getenv("REEF_JOB_SLOTS"); text != nullptr) {
        char* end = nullptr;
        const unsigned long value = std::strtoul(text, &end, 10);
        if (end != text && *end == '\0' && value >= 1 && value <= 1024) {
            return value;
        }
        log_warn("REEF_JOB_SLOTS={} is not 1..1024; using one slot per core", text);
    }
    return std::max(1U, std::thread::hardware_concurrency());
}


/// Probe periods a leaving node keeps gossiping before it closes, so the leave spreads.
constexpr std::int64_t leave_grace_periods = 3;
/// Seed addresses remembered for "warn once" about being unreachable.
constexpr std::size_t seed_warnings_max = 64;
/// Lines of a Lua job's print() logged per run.
constexpr std::size_t lua_run_log_lines_max = 100;
/// After the stop, how long queued payloads (the last leave gossip) may take to flush.
constexpr auto flush_max = std::chrono::seconds(1);
/// Bounds of one group commit across inputs: reached, the daemon syncs at once instead of
/// waiting for the inputs that are ready, so the latency a sync adds and the memory stay bounded.
constexpr std::size_t held_effects_max = 4096;
constexpr std::size_t flush_staged_bytes_max = std::size_t{8} << 20U;
static_assert(flush_staged_bytes_max * 4 <= sqlite_replica_storage_config{}.staged_bytes_max,
              "the store must have room for one more input's writes beyond the bound");

template <typename... Ts>
struct overloaded : Ts... {
    using Ts::operator()...;
};
template <typename... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

/// Instants count from the first clock read of the process, so "since" and uptime figures
/// start at zero rather than at the machine's boot.
std::chrono::steady_clock::time_point process_epoch() {
    static const auto epoch = std::chrono::steady_clock::now();
    return epoch;
}

instant clock_now() {
    const auto since = std::chrono::steady_clock::now() - process_epoch();
    return instant::from_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(since).count());
}

/// Wall-clock unix seconds, for record expiries (the node derives later values from `instant`).
std::uint64_t unix_seconds_now() {
    const auto since = std::chrono::system_clock::now().time_since_epoch();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since).count();
    return seconds > 0 ? static_cast<std::uint64_t>(seconds) : 0;
}

std::chrono::steady_clock::time_point to_time_point(instant at) {
    return process_epoch() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                 std::chrono::nanoseconds(at.ns()));
}

control::network_facts facts_of(const network_stats& stats) {
    control::network_facts out;
    out.sessions_open = stats.sessions_open;
    out.sessions_established = stats.sessions_established;
    out.handshakes_refused = stats.handshakes_refused;
    out.frames_rejected = stats.frames_rejected;
    out.payloads_sent = stats.payloads_sent;
    out.payloads_received = stats.payloads_received;
    out.payloads_dropped = stats.payloads_dropped;
    return out;
}

void log_member_change(const node::member_changed& change) {
    const auto& update = change.update;
    if (change.is_new) {
        log_info("member {} {} joined as {} (incarnation {})", update.id.short_hex(),
                 update.address, membership::to_string(update.state), update.incarnation);
        return;
    }
    log_info("member {} {} {} -> {} (incarnation {})", update.id.short_hex(), update.address,
             membership::to_string(change.previous), membership::to_string(update.state),
             update.incarnation);
}

std::string_view kind_of(const control::dht_command& asked) {
    return std::visit(overloaded{
                          [](const control::dht_put_command&) { return "put"; },
                          [](const control::dht_get_command&) { return "get"; },
                          [](const control::dht_closest_command&) { return "closest"; },
                          [](const control::dht_find_command&) { return "find"; },
                      },
                      asked);
}

} // namespace

/// A control request waiting for its DHT operation to finish.
struct pending_answer {
    control::dht_command asked;
    control_server::responder respond;
    instant started;
};

/// A control request waiting for its actor request to finish.
struct pending_actor_answer {
    control::actor_command asked;
    control_server::responder respond;
    instant started;
};

/// A control request waiting for its kv request to finish.
struct pending_kv_answer {
    control::kv_command asked;
    control_server::responder respond;
    instant started;
};

struct daemon::impl {
    impl(asio::io_context& context, settings effective, data_dir directory,
         crypto::identity self, crypto::cluster_key cluster)
        : io(context),
          config(std::move(effective)),
          dir(std::move(directory)),
          identity(std::move(self)),
          key(cluster),
          timer(context) {}

    status start();
    status open_replica_store();
    void drain();
    /// Sync the staged replica writes (fail-stop on failure), then execute the held effects.
    void flush_staged();
    void execute(node::effect& effect);
    void stage(const node::replica_write& write);
    /// Make the staged replica writes durable; on failure, stop (fail-stop). False then.
    bool sync_replica_writes();
    void arm_timer();
    void on_timer();
    void on_receive(const node_id& from, const std::string& from_address,
                    std::span<const std::uint8_t> bytes);
    void on_unreachable(const node_id& to, const std::string& address, const error& why);
    void on_control(const control::request& incoming, control_server::responder respond);
    /// False, after answering 503 (stopping) or 429 (too many answers pending), when a request
    /// that answers later cannot be taken now.
    bool admit(const control_server::responder& respond);
    void start_dht(instant now, control::dht_command asked, control_server::responder respond);
    void on_dht_done(const node::dht_done& done);
    void start_kv(instant now, control::kv_command asked, control_server::responder respond);
    void on_kv_done(const node::kv_done& done);
    void start_job_run(node::job_run& run);
    static jobs::lua_job_log run_log(std::uint64_t run);
    void start_actor(instant now, control::actor_command asked,
                     control_server::responder respond);
    void on_actor_done(node::actor_done& done);
    std::size_t pending_total() const {
        return pending.size() + pending_kv.size() + pending_actors.size();
    }
    void leave(std::string_view reason);
    void finish();

    asio::io_context& io;
    settings config;
    data_dir dir;
    crypto::identity identity;
    crypto::cluster_key key;
    node::config node_limits;
    std::unique_ptr<peer_network> network;
    std::unique_ptr<node::node> local;
    std::unique_ptr<control_server> control;
    /// The threads that compute this node's job chunks.
    std::unique_ptr<job_runner> runner;
    std::unique_ptr<command_runner> commands;
    /// DHT operation id -> the request waiting for it; kv request id -> likewise. At most
    /// pending_answers_max in both together.
    std::map<dht::operation_id, pending_answer> pending;
    std::map<std::uint64_t, pending_kv_answer> pending_kv;
    std::map<std::uint64_t, pending_actor_answer> pending_actors;
    /// The replica groups' durable state (DATA_DIR/replica.db).
    std::unique_ptr<sqlite_replica_storage> replica_store;
    /// Replica writes staged since the last sync().
    std::size_t writes_staged = 0;
    /// Effects that follow staged writes, in the node's order across inputs; executed by the
    /// next flush. Empty whenever nothing is staged.
    std::vector<node::effect> held;
    /// A flush is posted to the io_context and has not run yet.
    bool flush_posted = false;
    /// A sync failed: the daemon stopped without acknowledging anything not durable.
    bool failed = false;
    std::size_t pending_answers_max = 0;
    std::string address;
    asio::steady_timer timer;
    instant armed = instant::never();
    instant started;
    instant stop_at = instant::never();
    bool leaving = false;
    bool stopped = false;
    std::set<std::string> seeds_warned;
    std::function<void()> on_stopped;
    // Cleared when the daemon is destroyed, so a late timer completion does nothing.
    std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

status daemon::impl::start() {
    started = clock_now();
    auto incarnation = dir.bump_incarnation();
    if (!incarnation) {
        return incarnation.failure();
    }
    network_config net;
    net.listen_address = config.listen;
    // Peers learn the address to dial back from the handshake as well as from gossip.
    net.advertise_address = config.advertise;
    network = std::make_unique<peer_network>(io, net, identity, key, random_seed());
    if (auto listening = network->listen(); !listening) {
        return listening.failure();
    }
    address = config.advertise.empty() ? network->listen_address() : config.advertise;
    if (auto advertised = parse_host_port(address); !advertised) {
        return make_error(errc::invalid_argument, "cannot advertise this address to peers (" +
                                                      advertised.failure().message +
                                                      "); set --advertise");
    }
    control_server_config control_limits;
    control_limits.socket_path = dir.control_socket_path();
    control_limits.tcp_address = config.control;
    // A DHT request is answered when its operation ends, which the node bounds: the server's
    // 504 must never come first.
    REEF_ASSERT(control_limits.answer_timeout > node_limits.dht.operation_timeout);
    REEF_ASSERT(control_limits.answer_timeout > node_limits.replica.request_timeout);
    // Each connection waits for at most one answer.
    pending_answers_max = control_limits.connections_max;
    control = std::make_unique<control_server>(
        io, control_limits,
        [this](const control::request& incoming, control_server::responder respond) {
            on_control(incoming, std::move(respond));
        });
    if (auto serving = control->start(); !serving) {
        return serving.failure();
    }
    // Saved only once the node can run, so a failed start does not replace good settings.
    if (auto saved = write_file_durably(dir.file("settings.toml"), to_toml(config), 0600);
        !saved) {
        return saved.failure();
    }
    if (auto opened = open_replica_store(); !opened) {
        return opened.failure();
    }
    node_limits.job_slots = job_slots();
    node_limits.allow_exec = config.allow_exec;
    local = std::make_unique<node::node>(node_limits, identity, address, *incarnation,
                                         random_seed(), clock_now(), unix_seconds_now());
    runner = std::make_unique<job_runner>(
        io,
        [this](std::uint64_t run, std::uint64_t through, const nlohmann::json& partial) {
            if (!stopped) {
                local->job_progress(clock_now(), run, through, partial);
                drain();
            }
        },
        [this](std::uint64_t run, std::uint64_t through, const nlohmann::json& partial) {
            if (!stopped) {
                local->job_finished(clock_now(), run, through, partial);
                drain();
            }
        },
        [this](std::uint64_t run, const std::string& why) {
            if (!stopped) {
                log_info("job run {} failed: {}", run, why);
                local->job_failed(clock_now(), run, why);
                drain();
            }
        });
    commands = std::make_unique<command_runner>(
        io, jobs::exec_limits::output_size_max,
        [this](std::uint64_t run, const result<std::string>& output) {
            if (stopped) {
                return;
            }
            if (output) {
                local->job_output(clock_now(), run, *output);
            } else {
                log_info("command run {} failed: {}", run, output.failure().message);
                local->job_failed(clock_now(), run, output.failure().message);
            }
            drain();
        });
    // The groups this node stored in an earlier life, before any other input.
    auto stored_groups = replica_store->groups();
    if (!stored_groups) {
        return make_error(stored_groups.failure().code,
                          "replica store: " + stored_groups.failure().message);
    }
    for (const auto& group : *stored_groups) {
        auto state = replica_store->load(group);
        if (!state) {
            return make_error(state.failure().code, "replica store: " + state.failure().message);
        }
        if (*state) {
            local->replica_recover(clock_now(), group, std::move(**state));
        }
    }
    if (!stored_groups->empty()) {
        log_info("recovered {} replica groups from {}", stored_groups->size(),
                 replica_store->path());
    }
    local->attach_replica_store(*replica_store);
    network->set_handlers(
        [this](const node_id& from, const std::string& from_address,
               std::span<const std::uint8_t> bytes) { on_receive(from, from_address, bytes); },
        [this](const node_id& to, const std::string& where, const error& why) {
            on_unreachable(to, where, why);
        });
    const std::string tcp = control->tcp_address();
    log_info("reefd {} listening on {}, control at {}{}, cluster {}", identity.id().short_hex(),
             address, dir.control_socket_path(), tcp.empty() ? "" : " and " + tcp,
             key.fingerprint());
    log_info("node id {}, incarnation {}, data dir {}", identity.id().hex(), *incarnation,
             dir.path());
    if (!config.join.empty()) {
        log_info("joining through {}", fmt::join(config.join, ", "));
        local->join(clock_now(), config.join);
    }
    drain();
    return {};
}

status daemon::impl::open_replica_store() {
    const std::string path = dir.file("replica.db");
    auto opened = sqlite_replica_storage::open(path);
    if (!opened) {
        const std::string& message = opened.failure().message;
        return make_error(opened.failure().code,
                          message.find(path) != std::string::npos
                              ? "replica store: " + message
                              : "replica store " + path + ": " + message);
    }
    replica_store = std::move(*opened);
    return {};
}

void daemon::impl::drain() {
    REEF_ASSERT(local != nullptr);
    if (failed) {
        return;
    }
    REEF_ASSERT(held.size() < held_effects_max);
    REEF_ASSERT(held.empty() || writes_staged > 0);
    // Group commit across inputs: replica writes are staged, and every other effect that follows
    // one waits in `held`, in order, until one flush has synced them all. While writes are
    // staged everything else waits, of this input or a later one: it may depend on them.
    for (auto& effect : local->take_effects()) {
        if (const auto* write = std::get_if<node::replica_write>(&effect)) {
            stage(*write);
        } else if (writes_staged > 0) {
            held.push_back(std::move(effect));
        } else {
            execute(effect);
        }
    }
    if (writes_staged > 0) {
        if (held.size() >= held_effects_max ||
            replica_store->staged_bytes() >= flush_staged_bytes_max) {
            flush_staged();
        } else if (!flush_posted) {
            // Runs after the inputs already ready, which stage and hold theirs too.
            flush_posted = true;
            asio::post(io, [this, token = alive] {
                if (*token) {
                    flush_posted = false;
                    flush_staged();
                }
            });
        }
    }
    arm_timer();
}

void daemon::impl::flush_staged() {
    if (failed || writes_staged == 0) {
        REEF_ASSERT(failed || held.empty());
        return;
    }
    if (!sync_replica_writes()) {
        return;
    }
    // Executing an effect never gives the node an input, so nothing is staged or held meanwhile.
    std::vector<node::effect> ready = std::move(held);
    held.clear();
    for (auto& effect : ready) {
        execute(effect);
    }
    REEF_ASSERT(writes_staged == 0);
    arm_timer();
}

void daemon::impl::stage(const node::replica_write& write) {
    std::visit(overloaded{
                   [&](const replica::persist_promise& promise) {
                       replica_store->save_promise(write.group, promise.epoch, promise.members);
                   },
                   [&](const replica::persist_entries& entries) {
                       replica_store->append(write.group, entries.entries);
                   },
                   [&](const replica::persist_commit& commit) {
                       replica_store->save_commit(write.group, commit.commit_index);
                   },
                   [&](const replica::persist_snapshot& base) {
                       replica_store->save_snapshot(write.group, base.base);
                   },
               },
               write.write);
    ++writes_staged;
}

bool daemon::impl::sync_replica_writes() {
    REEF_ASSERT(writes_staged > 0);
    if (auto synced = replica_store->sync(); !synced) {
        // Fail-stop: whatever follows (sends, answers) may depend on these writes.
        log_error("cannot make {} replica writes durable in {}: {}; stopping", writes_staged,
                  replica_store->path(), synced.failure().describe());
        failed = true;
        finish();
        return false;
    }
    writes_staged = 0;
    return true;
}

void daemon::impl::execute(node::effect& effect) {
    std::visit(
        overloaded{
            [&](node::persist_incarnation& persist) {
                if (auto stored = dir.store_incarnation(persist.incarnation); !stored) {
                    log_error("cannot persist incarnation {}: {}", persist.incarnation,
                              stored.failure().describe());
                }
            },
            [&](node::send_payload& send) {
                if (!stopped) {
                    network->send(send.to, send.address, std::move(send.bytes));
                }
            },
            [&](node::payload_rejected& rejected) {
                log_warn("rejected a payload from {}: {}{}", rejected.from.short_hex(),
                         rejected.reason,
                         rejected.suppressed == 0
                             ? std::string()
                             : fmt::format(" ({} earlier rejections not logged)",
                                           rejected.suppressed));
            },
            [&](node::member_changed& change) { log_member_change(change); },
            [&](node::dht_done& done) { on_dht_done(done); },
            [&](node::kv_done& done) { on_kv_done(done); },
            [&](node::actor_done& done) { on_actor_done(done); },
            [&](node::actor_log& line) { log_info("actor {}: {}", line.actor, line.line); },
            [&](node::job_run& run) { start_job_run(run); },
            [&](node::replica_write&) { REEF_ASSERT(false); }, // staged by drain()
        },
        effect);
}

void daemon::impl::arm_timer() {
    if (stopped) {
        return;
    }
    const instant deadline = min(local->next_deadline(), stop_at);
    if (deadline == armed) {
        return;
    }
    armed = deadline;
    if (deadline == instant::never()) {
        timer.cancel();
        return;
    }
    timer.expires_at(to_time_point(deadline));
    timer.async_wait([this, token = alive](const std::error_code& failure) {
        if (!failure && *token) {
            on_timer();
        }
    });
}

void daemon::impl::on_timer() {
    armed = instant::never();
    if (stopped) {
        return;
    }
    const instant now = clock_now();
    if (now >= stop_at) {
        finish();
        return;
    }
    if (now >= local->next_deadline()) {
        local->on_tick(now);
    }
    drain();
}

void daemon::impl::on_receive(const node_id& from, const std::string& from_address,
                              std::span<const std::uint8_t> bytes) {
    if (stopped) {
        return;
    }
    local->on_payload(clock_now(), from, from_address, bytes);
    drain();
}

void daemon::impl::on_unreachable(const node_id& to, const std::string& where,
                                  const error& why) {
    if (stopped) {
        return;
    }
    if (to.is_zero()) {
        // A seed address: say so once, it is retried quietly.
        if (seeds_warned.size() < seed_warnings_max && seeds_warned.insert(where).second) {
            log_warn("cannot reach {}: {}", where, why.describe());
        } else {
            log_debug("cannot reach {}: {}", where, why.describe());
        }
    } else if (why.code == errc::permission_denied) {
        log_warn("member {} at {} refused: {}", to.short_hex(), where, why.describe());
    } else {
        log_debug("cannot reach member {} at {}: {}", to.short_hex(), where, why.describe());
    }
    local->on_unreachable(clock_now(), to);
    drain();
}

void daemon::impl::on_control(const control::request& incoming,
                              control_server::responder respond) {
    const instant now = clock_now();
    control::runtime_facts facts;
    facts.now = now;
    facts.pid = ::getpid();
    facts.uptime = now - started;
    facts.data_dir = dir.path();
    facts.network = facts_of(network->stats());
    auto outcome = control::handle(incoming, *local, facts);
    if (auto* kv = std::get_if<control::kv_command>(&outcome.action)) {
        start_kv(now, std::move(*kv), std::move(respond));
        return;
    }
    if (auto* actor = std::get_if<control::actor_command>(&outcome.action)) {
        start_actor(now, std::move(*actor), std::move(respond));
        return;
    }
    if (control::answers_later(outcome.action)) {
        start_dht(now, control::as_dht_command(outcome.action), std::move(respond));
        return;
    }
    REEF_ASSERT(outcome.reply.status >= 200);
    respond(std::move(outcome.reply));
    std::visit(overloaded{
                   [](std::monostate) {},
                   [&](const control::join_command& join) {
                       log_info("joining through {} (control API)", join.address);
                       const std::string seeds[] = {join.address};
                       local->join(now, seeds);
                       drain();
                   },
                   [&](const control::leave_command&) { leave("control API request"); },
                   [](const auto&) { REEF_ASSERT(false); },
               },
               outcome.action);
}

bool daemon::impl::admit(const control_server::responder& respond) {
    if (stopped) {
        respond(control::error_response(503, errc::unavailable, "reefd is stopping"));
        return false;
    }
    if (pending_total() >= pending_answers_max) {
        respond(control::error_response(429, errc::resource_exhausted,
                                        "too many requests waiting (at most " +
                                            std::to_string(pending_answers_max) + ")"));
        return false;
    }
    return true;
}

void daemon::impl::start_dht(instant now, control::dht_command asked,
                             control_server::responder respond) {
    if (!admit(respond)) {
        return;
    }
    auto started_op = std::visit(
        overloaded{
            [&](const control::dht_put_command& put) {
                return local->dht_put(now, put.name, put.value, put.ttl_seconds);
            },
            [&](const control::dht_get_command& get) { return local->dht_get(now, get.key); },
            [&](const control::dht_closest_command& closest) {
                return local->dht_closest(now, closest.target);
            },
            [&](const control::dht_find_command& find) {
                return local->dht_get(now, dht::node_addresses_key(find.id));
            },
        },
        asked);
    if (!started_op) {
        log_debug("dht {} refused: {}", kind_of(asked), started_op.failure().describe());
        respond(control::dht_refused(asked, started_op.failure()));
        return;
    }
    log_debug("dht {} started as operation {}", kind_of(asked), *started_op);
    // Registered before the drain: the operation may already be done.
    const bool fresh =
        pending.emplace(*started_op, pending_answer{std::move(asked), std::move(respond), now})
            .second;
    REEF_ASSERT(fresh);
    drain();
}

void daemon::impl::on_dht_done(const node::dht_done& done) {
    const auto waiting = pending.find(done.id);
    if (waiting == pending.end()) {
        log_debug("dht operation {} finished with nobody waiting", done.id);
        return;
    }
    pending_answer answer = std::move(waiting->second);
    pending.erase(waiting);
    control::response reply = control::dht_reply(answer.asked, done);
    log_debug("dht {} operation {} done in {:.0f} ms: {}{}", kind_of(answer.asked), done.id,
              (clock_now() - answer.started).ms(), reply.status,
              done.outcome ? std::string() : " (" + done.outcome.failure().describe() + ")");
    answer.respond(std::move(reply));
}

void daemon::impl::start_kv(instant now, control::kv_command asked,
                            control_server::responder respond) {
    if (!admit(respond)) {
        return;
    }
    auto started_request = local->kv_submit(now, asked.key, asked.body, asked.request);
    if (!started_request) {
        log_debug("kv {} refused: {}", asked.op, started_request.failure().describe());
        respond(control::kv_refused(asked, started_request.failure()));
        // A refusal may still have produced effects (a group created, sends).
        drain();
        return;
    }
    log_debug("kv {} started as request {}", asked.op, *started_request);
    // Registered before the drain: the request may already be done.
    const bool fresh =
        pending_kv
            .emplace(*started_request, pending_kv_answer{std::move(asked), std::move(respond), now})
            .second;
    REEF_ASSERT(fresh);
    drain();
}

void daemon::impl::on_kv_done(const node::kv_done& done) {
    const auto waiting = pending_kv.find(done.id);
    if (waiting == pending_kv.end()) {
        log_debug("kv request {} finished with nobody waiting", done.id);
        return;
    }
    pending_kv_answer answer = std::move(waiting->second);
    pending_kv.erase(waiting);
    control::response reply = control::kv_reply(answer.asked, done.answer);
    log_debug("kv {} request {} done in {:.0f} ms: {}{}", answer.asked.op, done.id,
              (clock_now() - answer.started).ms(), reply.status,
              done.answer ? std::string() : " (" + done.answer.failure().describe() + ")");
    answer.respond(std::move(reply));
}

/// A Lua run's print() lines in this node's log, at most lua_run_log_lines_max per run (a map
/// that prints per sample must not flood it). Called on the run's thread; spdlog is thread-safe.
jobs::lua_job_log daemon::impl::run_log(std::uint64_t run) {
    auto printed = std::make_shared<std::atomic<std::size_t>>(0);
    return [run, printed](std::string_view line) {
        const std::size_t count = printed->fetch_add(1);
        if (count < lua_run_log_lines_max) {
            log_info("job run {}: {}", run, line);
        } else if (count == lua_run_log_lines_max) {
            log_info("job run {}: more lines are dropped", run);
        }
    };
}

void daemon::impl::start_job_run(node::job_run& run) {
    if (stopped) {
        return;
    }
    if (auto* started = std::get_if<jobs::start_run>(&run)) {
        log_debug("job run {}: {} [{}, {})", started->run_id, started->kernel, started->begin,
                  started->end);
        if (started->kernel == jobs::exec_kernel) {
            auto command = jobs::parse_command(started->program);
            if (!command) {
                runner->fail(started->run_id, command.failure().message);
                return;
            }
            commands->start(started->run_id,
                            jobs::substitute(*command, started->begin, started->end));
            return;
        }
        auto computed = jobs::computation::make(local->kernels(), *started, {},
                                                run_log(started->run_id));
        if (!computed) {
            runner->fail(started->run_id, computed.failure().message);
            return;
        }
        runner->start(started->run_id, std::move(*computed), started->begin, started->end);
    } else if (auto* stop = std::get_if<jobs::stop_run>(&run)) {
        runner->stop(stop->run_id);
        commands->stop(stop->run_id);
    } else {
        const auto& shorter = std::get<jobs::shorten_run>(run);
        runner->shorten(shorter.run_id, shorter.end);
    }
}

void daemon::impl::start_actor(instant now, control::actor_command asked,
                               control_server::responder respond) {
    if (!admit(respond)) {
        return;
    }
    auto request = nlohmann::json::parse(asked.request, nullptr, false);
    REEF_ASSERT(!request.is_discarded()); // the control API built it
    auto started_request = local->actor_submit(now, request, asked.may_create);
    if (!started_request) {
        respond(control::is_job_verb(asked.verb)
                    ? control::job_reply(asked, started_request.failure())
                    : control::actor_reply(asked, started_request.failure()));
        drain();
        return;
    }
    log_debug("actor {} {} started as request {}", asked.verb, asked.name, *started_request);
    const bool fresh = pending_actors
                           .emplace(*started_request,
                                    pending_actor_answer{std::move(asked), std::move(respond), now})
                           .second;
    REEF_ASSERT(fresh);
    drain();
}

void daemon::impl::on_actor_done(node::actor_done& done) {
    const auto waiting = pending_actors.find(done.id);
    if (waiting == pending_actors.end()) {
        log_debug("actor request {} finished with nobody waiting", done.id);
        return;
    }
    pending_actor_answer answer = std::move(waiting->second);
    pending_actors.erase(waiting);
    control::response reply = control::is_job_verb(answer.asked.verb)
                                  ? control::job_reply(answer.asked, done.answer)
                                  : control::actor_reply(answer.asked, done.answer);
    log_debug("actor {} {} request {} done in {:.0f} ms: {}", answer.asked.verb, answer.asked.name,
              done.id, (clock_now() - answer.started).ms(), reply.status);
    answer.respond(std::move(reply));
}

void daemon::impl::leave(std::string_view reason) {
    if (leaving || stopped) {
        return;
    }
    leaving = true;
    const duration grace = node_limits.membership.probe_period * leave_grace_periods;
    log_info("leaving the cluster ({}); stopping in {:.1f} s", reason, grace.sec());
    const instant now = clock_now();
    stop_at = now + grace;
    local->leave(now);
    drain();
}

void daemon::impl::finish() {
    if (stopped) {
        return;
    }
    // What is staged is made durable, and what waits on it executed, before the listeners close
    // (a failed sync stops the daemon itself).
    flush_staged();
    if (stopped) {
        return;
    }
    stopped = true;
    timer.cancel();
    if (control) {
        control->close();
    }
    // Their connections are closed: the responders would do nothing.
    pending.clear();
    pending_kv.clear();
    pending_actors.clear();
    runner.reset(); // stops and joins the job threads; what they posted finds nothing to do
    commands.reset(); // kills the commands still running and joins their threads
    if (network) {
        network->close();
    }
    log_info("reefd {} stopped", identity.id().short_hex());
    if (on_stopped) {
        auto handler = std::move(on_stopped);
        handler();
    }
}

result<std::unique_ptr<daemon>> daemon::start(asio::io_context& io, const settings& effective) {
    auto directory = data_dir::open(effective.data_dir);
    if (!directory) {
        return directory.failure();
    }
    auto self = load_or_create_identity(effective.data_dir);
    if (!self) {
        return make_error(self.failure().code,
                          "node key in " + effective.data_dir + ": " + self.failure().message);
    }
    auto cluster = load_cluster_key(effective.cluster_key);
    if (!cluster) {
        const std::string& message = cluster.failure().message;
        return make_error(cluster.failure().code,
                          message.rfind("cluster key file", 0) == 0
                              ? message
                              : "cluster key file " + effective.cluster_key + ": " + message);
    }
    auto state = std::make_unique<impl>(io, effective, std::move(*directory), std::move(*self),
                                        *cluster);
    if (auto started = state->start(); !started) {
        state->stopped = true;
        return started.failure();
    }
    return std::make_unique<daemon>(std::move(state));
}

daemon::daemon(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

daemon::~daemon() {
    *impl_->alive = false;
    impl_->finish();
}

void daemon::leave(std::string_view reason) { impl_->leave(reason); }
void daemon::stop_now() { impl_->finish(); }
void daemon::set_stopped_handler(std::function<void()> on_stopped) {
    impl_->on_stopped = std::move(on_stopped);
}
bool daemon::stopped() const { return impl_->stopped; }
bool daemon::failed() const { return impl_->failed; }
status daemon::register_kernel(jobs::kernel added) {
    return impl_->local->register_kernel(std::move(added));
}

const node::node& daemon::local_node() const { return *impl_->local; }
const std::string& daemon::address() const { return impl_->address; }
std::string daemon::control_socket_path() const { return impl_->dir.control_socket_path(); }
std::string daemon::control_tcp_address() const { return impl_->control->tcp_address(); }

int run_daemon(const settings& effective) {
    // Writes to a closed socket must fail with EPIPE, not kill the daemon.
    std::signal(SIGPIPE, SIG_IGN);
    asio::io_context io;
    auto started = daemon::start(io, effective);
    if (!started) {
        log_error("{}", started.failure().message);
        return 1;
    }
    daemon& running = **started;
    asio::signal_set signals(io, SIGINT, SIGTERM);
    std::function<void(const std::error_code&, int)> on_signal =
        [&](const std::error_code& failure, int number) {
            if (failure) {
                return;
            }
            if (running.stopped()) {
                return;
            }
            const char* name = number == SIGINT ? "SIGINT" : "SIGTERM";
            if (running.local_node().has_left()) {
                log_info("{} again: stopping now", name);
                running.stop_now();
                return;
            }
            running.leave(name);
            signals.async_wait(on_signal);
        };
    signals.async_wait(on_signal);
    running.set_stopped_handler([&] {
        std::error_code ignored;
        signals.cancel(ignored);
        io.stop();
    });
    io.run();
    running.set_stopped_handler(nullptr);
    // Let the last payloads (the leave gossip) flush, within a bound.
    io.restart();
    io.run_for(flush_max);
    return running.failed() ? 1 : 0;
}

} // namespace reef::runtime
