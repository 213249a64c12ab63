// The embedded node: reefd's daemon on an io_context run by one internal thread, and job
// submission through the node's own control socket.
//
//   caller threads --post--> io thread: daemon (start, register_kernel, leave, destroy)
//   spawn thread (one per pending job) --HTTP over control.sock--> the daemon's control API
//
// The daemon is created, called and destroyed only on the io thread. stop() wakes the spawn
// threads (their futures fail), asks the daemon to leave, and joins every thread.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <nlohmann/json.hpp>

#include "control_call.hpp"
#include "reef/jobs/kernels.hpp"
#include "reef/node/node.hpp"
#include "reef/runtime/daemon.hpp"
#include "reef/runtime/identity_store.hpp"
#include "reef/runtime/log.hpp"
#include "reef/runtime/settings.hpp"
#include "reef/sdk.hpp"

namespace reef::sdk {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

/// Each control call; the node answers job requests at once.
constexpr milliseconds call_timeout{10000};
/// Job state polling starts fast (small jobs) and backs off to this.
constexpr milliseconds poll_first{10};
constexpr milliseconds poll_max{200};
/// Consecutive failed polls before a spawn gives up (the node is unreachable).
constexpr int poll_failures_max = 5;
/// After the daemon stops, the io thread runs a little longer so the leave gossip is sent.
constexpr milliseconds flush_max{500};
/// Most spawns waiting for their results at once (each has a polling thread).
constexpr std::size_t pending_spawns_max = 256;

runtime::settings resolve(const node_options& options) {
    runtime::settings_layer flags;
    if (!options.data_dir.empty()) {
        flags.data_dir = options.data_dir;
    }
    flags.listen = options.listen;
    if (!options.advertise.empty()) {
        flags.advertise = options.advertise;
    }
    if (!options.join.empty()) {
        flags.join = options.join;
    }
    if (!options.cluster_key_file.empty()) {
        flags.cluster_key = options.cluster_key_file;
    } else if (!options.data_dir.empty()) {
        flags.cluster_key = (fs::path(options.data_dir) / "cluster.key").string();
    }
    flags.log_level = options.log_level;
    std::optional<std::string> config;
    if (!options.config_file.empty()) {
        config = options.config_file;
    }
    if (!flags.data_dir && !config) {
        throw error("node_options: data_dir is empty (and no config_file gives one)");
    }
    auto resolved = runtime::resolve_settings(flags, config);
    if (!resolved) {
        throw error(resolved.failure().message);
    }
    return *resolved;
}

/// The first node of a cluster makes the cluster's key; a joining node must be given it.
void ensure_cluster_key(const runtime::settings& effective, const node_options& options) {
    std::error_code failure;
    if (fs::exists(effective.cluster_key, failure)) {
        return;
    }
    if (!options.create_cluster_key || !effective.join.empty()) {
        throw error("cluster key file " + effective.cluster_key +
                    " does not exist (a node joining a cluster needs the cluster's key file: "
                    "copy it from a member, or make one with `reef init`)");
    }
    auto created = runtime::create_cluster_key(effective.cluster_key);
    if (!created) {
        throw error("cluster key file " + effective.cluster_key + ": " +
                    created.failure().message);
    }
}

std::string default_data_dir(const std::string& id) {
    const char* xdg = std::getenv("XDG_DATA_HOME");
    if (xdg != nullptr && *xdg == '/') {
        return (fs::path(xdg) / "reef" / "sdk" / id).string();
    }
    const char* home = std::getenv("HOME");
    if (home == nullptr || *home == '\0') {
        throw error("init(\"" + id + "\", ...): HOME is not set; pass a data dir path instead");
    }
    return (fs::path(home) / ".local" / "share" / "reef" / "sdk" / id).string();
}

std::string id_text(const nlohmann::json& id) {
    if (id.is_string()) {
        return id.get<std::string>();
    }
    if (id.is_number_unsigned() || id.is_number_integer()) {
        return id.dump();
    }
    throw error("POST /v1/jobs/start: the answer has no job id");
}

double number_or(const nlohmann::json& state, const char* key, double fallback) {
    const auto found = state.find(key);
    return found != state.end() && found->is_number() ? found->get<double>() : fallback;
}

} // namespace

struct node::impl {
    asio::io_context io;
    std::unique_ptr<runtime::daemon> daemon; // the io thread's only
    std::thread loop;
    std::atomic<bool> loop_done{false};

    std::string id;
    std::string address;
    std::string control_socket;

    std::mutex mutex;
    std::condition_variable wake; // stop() wakes sleeping spawn threads
    bool stopping = false;
    struct spawn_thread {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };
    std::vector<spawn_thread> spawns;

    /// Runs `work` on the io thread and waits for it; false when the daemon is gone.
    template <typename Work>
    bool run_on_loop(Work work) {
        auto ran = std::make_shared<std::promise<bool>>();
        std::future<bool> result = ran->get_future();
        asio::post(io, [this, ran, work = std::move(work)]() mutable {
            if (!daemon || daemon->stopped()) {
                ran->set_value(false);
                return;
            }
            work(*daemon);
            ran->set_value(true);
        });
        while (result.wait_for(milliseconds(50)) != std::future_status::ready) {
            if (loop_done) {
                return false;
            }
        }
        return result.get();
    }

    /// Sleeps `pause` unless stop() starts; true when stopping.
    bool sleep_unless_stopping(milliseconds pause) {
        std::unique_lock<std::mutex> lock(mutex);
        return wake.wait_for(lock, pause, [this] { return stopping; });
    }

    job_result await_job(const std::string& task, std::uint64_t n, std::uint64_t seed);
};

job_result node::impl::await_job(const std::string& task, std::uint64_t n, std::uint64_t seed) {
    const auto submitted = std::chrono::steady_clock::now();
    const nlohmann::json request = {{"kernel", task}, {"begin", 0}, {"end", n}, {"seed", seed}};
    const nlohmann::json started =
        detail::call_json(control_socket, "POST", "/v1/jobs/start", request, call_timeout);
    const std::string job = id_text(started.value("job", nlohmann::json()));
    const std::string target = "/v1/jobs/state?job=" + detail::percent_encoded(job);
    milliseconds pause = poll_first;
    int failures = 0;
    for (;;) {
        if (sleep_unless_stopping(pause) || loop_done) {
            throw error("job " + job + ": the node stopped before the job finished");
        }
        pause = std::min(pause * 2, poll_max);
        nlohmann::json state;
        try {
            state = detail::call_json(control_socket, "GET", target, nullptr, call_timeout);
            failures = 0;
        } catch (const error&) {
            if (++failures >= poll_failures_max) {
                throw;
            }
            continue;
        }
        const std::string status = state.value("status", "");
        if (status == "running") {
            continue;
        }
        if (status == "cancelled") {
            throw error("job " + job + " was cancelled");
        }
        if (status == "failed") {
            throw error("job " + job + " failed: " + state.value("error", std::string()));
        }
        if (status != "done") {
            throw error("job " + job + ": unexpected status \"" + status + "\"");
        }
        job_result out;
        out.job = job;
        out.task = state.value("kernel", task);
        const double sum = number_or(state, "result", 0);
        out.sum = sum;
        out.value = number_or(state, "value", sum);
        out.samples = state.value("samples_done", std::uint64_t{0});
        out.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - submitted).count();
        return out;
    }
}

node::node(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

node::~node() { stop(); }

std::unique_ptr<node> node::start(const node_options& options) {
    runtime::log_level level{};
    if (!runtime::parse_log_level(options.log_level, level)) {
        throw error("node_options: log_level must be debug, info, warn or error, got \"" +
                    options.log_level + "\"");
    }
    runtime::settings effective = resolve(options);
    ensure_cluster_key(effective, options);
    runtime::set_log_level(effective.level);

    auto state = std::make_unique<impl>();
    impl* self = state.get();
    std::promise<void> listening;
    std::future<void> started = listening.get_future();
    self->loop = std::thread([self, effective = std::move(effective), &listening] {
        auto made = runtime::daemon::start(self->io, effective);
        if (!made) {
            self->loop_done = true;
            listening.set_exception(std::make_exception_ptr(error(made.failure().message)));
            return;
        }
        self->daemon = std::move(*made);
        self->daemon->set_stopped_handler([self] { self->io.stop(); });
        self->id = self->daemon->local_node().self().hex();
        self->address = self->daemon->address();
        self->control_socket = self->daemon->control_socket_path();
        listening.set_value();
        self->io.run();
        self->daemon->set_stopped_handler(nullptr);
        self->io.restart();
        self->io.run_for(flush_max);
        self->daemon.reset();
        self->loop_done = true;
    });
    try {
        started.get();
    } catch (...) {
        self->loop.join();
        throw;
    }
    return std::make_unique<node>(std::move(state));
}

void node::register_task(std::string name, task_function run) {
    {
        std::lock_guard<std::mutex> lock(impl_->mutex);
        if (impl_->stopping) {
            throw error("register_task(\"" + name + "\"): the node is stopped");
        }
    }
    // The registry checks the name and the function; written on the io thread before the
    // promise in run_on_loop is set, read after it.
    auto refused = std::make_shared<std::optional<std::string>>();
    jobs::kernel kernel{name, std::move(run)};
    const bool ran = impl_->run_on_loop(
        [kernel = std::move(kernel), refused](runtime::daemon& running) mutable {
            const status added = running.register_kernel(std::move(kernel));
            if (!added.ok()) {
                *refused = added.failure().message;
            }
        });
    if (!ran) {
        throw error("register_task(\"" + name + "\"): the node has stopped");
    }
    if (*refused) {
        throw error("register_task(\"" + name + "\"): " + **refused);
    }
}

std::future<job_result> node::spawn(std::string task, std::uint64_t n, std::uint64_t seed) {
    auto outcome = std::make_shared<std::promise<job_result>>();
    std::future<job_result> result = outcome->get_future();
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (impl_->stopping) {
        outcome->set_exception(std::make_exception_ptr(error("spawn: the node is stopped")));
        return result;
    }
    // Threads of finished spawns are joined here, so a long-lived program keeps only the live
    // ones.
    auto& spawns = impl_->spawns;
    for (auto& finished : spawns) {
        if (*finished.done) {
            finished.thread.join();
        }
    }
    std::erase_if(spawns, [](const impl::spawn_thread& s) { return !s.thread.joinable(); });
    if (spawns.size() >= pending_spawns_max) {
        outcome->set_exception(std::make_exception_ptr(
            error("spawn: " + std::to_string(pending_spawns_max) +
                  " spawns are already waiting for their results")));
        return result;
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    impl* self = impl_.get();
    std::thread worker([self, outcome, done, task = std::move(task), n, seed] {
        try {
            outcome->set_value(self->await_job(task, n, seed));
        } catch (const error&) {
            outcome->set_exception(std::current_exception());
        } catch (const std::exception& failure) {
            outcome->set_exception(std::make_exception_ptr(error(failure.what())));
        }
        *done = true;
    });
    spawns.push_back({std::move(worker), std::move(done)});
    return result;
}

const std::string& node::id() const { return impl_->id; }
const std::string& node::address() const { return impl_->address; }
const std::string& node::control_socket() const { return impl_->control_socket; }

void node::stop() {
    if (!impl_) {
        return;
    }
    std::vector<impl::spawn_thread> spawns;
    {
        std::lock_guard<std::mutex> lock(impl_->mutex);
        if (impl_->stopping) {
            return;
        }
        impl_->stopping = true;
        spawns = std::move(impl_->spawns);
    }
    impl_->wake.notify_all();
    for (auto& spawn : spawns) {
        spawn.thread.join();
    }
    asio::post(impl_->io, [self = impl_.get()] {
        if (self->daemon && !self->daemon->stopped()) {
            self->daemon->leave("the program stopped its embedded node");
        }
    });
    if (impl_->loop.joinable()) {
        impl_->loop.join();
    }
}

std::unique_ptr<node> init(const std::string& id_or_data_dir, std::uint16_t port,
                           std::vector<std::string> join, std::string cluster_key_file) {
    if (id_or_data_dir.empty()) {
        throw error("init: the node id is empty");
    }
    node_options options;
    options.data_dir = id_or_data_dir.find('/') != std::string::npos
                           ? id_or_data_dir
                           : default_data_dir(id_or_data_dir);
    options.listen = "127.0.0.1:" + std::to_string(port);
    options.join = std::move(join);
    options.cluster_key_file = std::move(cluster_key_file);
    return node::start(options);
}

} // namespace reef::sdk
