#pragma once
// Reef's C++ SDK: a Reef node embedded in any C++ program (docs/sdk.md).
//
//   auto node = reef::sdk::init("worker-1", 7401);          // or node::start(node_options)
//   node->register_task("sum_squares", [](std::uint64_t, std::uint64_t begin,
//                                         std::uint64_t end) { ... return partial; });
//   std::future<reef::sdk::job_result> pi = node->spawn("pi", 10'000'000, 42);
//   std::printf("%f\n", pi.get().value);
//
// The node is the same node `reefd` runs: it joins a cluster, gossips, stores replicas and runs
// jobs, on one internal event-loop thread (plus the job runner threads). A job is a range
// [0, n) of samples computed in chunks by every member that has its task; the partial results of
// the chunks are summed.
//
// Errors: start(), init() and register_task() throw reef::sdk::error with a message saying what
// and where ("cannot listen on 127.0.0.1:7401: address already in use"). spawn() never throws
// for a failed job: the failure is stored in the future, whose get() throws reef::sdk::error.
//
// Thread-safety: every member function may be called from any thread. A task runs on runner
// threads, possibly several chunks at once, so it must be thread-safe (a pure function of its
// arguments is). The SDK installs no signal handlers.

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace reef::sdk {

/// Every failure the SDK reports.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A job kernel: the partial result of samples [begin, end) of a job with `seed`. It must
/// depend only on its arguments (a chunk may be computed again elsewhere after a failure), and
/// partial results must add up: run(s, a, c) == run(s, a, b) + run(s, b, c).
using task_function =
    std::function<double(std::uint64_t seed, std::uint64_t begin, std::uint64_t end)>;

struct node_options {
    /// This node's directory: its identity key, settings and control socket (created 0700).
    /// Required unless `config_file` gives it. Starting again on the same directory restarts the
    /// same node.
    std::string data_dir;
    /// HOST:PORT to accept peers on; port 0 picks a free port.
    std::string listen = "127.0.0.1:0";
    /// HOST:PORT peers dial; empty: the listen host and the bound port.
    std::string advertise;
    /// Members (HOST:PORT) to join the cluster through; empty: start a new cluster (or rejoin
    /// the seeds of the previous start on this data dir).
    std::vector<std::string> join;
    /// The cluster's key file (`reef init` makes one); empty: DATA_DIR/cluster.key. Every member
    /// of a cluster uses the same key.
    std::string cluster_key_file;
    /// Create the key file when it does not exist and `join` is empty (the first node).
    bool create_cluster_key = true;
    /// A reefd TOML config file (`reefd --help`); the fields set above win over it.
    std::string config_file;
    /// debug, info, warn or error (process-wide: Reef's log goes to stderr).
    std::string log_level = "warn";
};

/// A finished job.
struct job_result {
    std::string job;  // the job's id (`reef job show ID`)
    std::string task; // the kernel it ran
    /// The answer: for "pi" the estimate 4 * hits / samples, for any other task the sum of its
    /// partial results.
    double value = 0;
    /// The sum of the partial results (for "pi", the number of hits).
    double sum = 0;
    std::uint64_t samples = 0; // samples computed: n
    double seconds = 0;        // from submission to the result, wall-clock
};

class node {
public:
    /// Start a node and join the cluster given by `options`; returns once the node listens.
    /// Throws reef::sdk::error.
    static std::unique_ptr<node> start(const node_options& options);

    /// Stops the node (stop()).
    ~node();
    node(const node&) = delete;
    node& operator=(const node&) = delete;

    /// Make a native task available to the jobs of the cluster under `name`: this node then
    /// computes chunks of every job of that task. Other nodes compute only the tasks they have
    /// registered. Throws reef::sdk::error for a name that is empty, longer than 64 bytes or
    /// already registered ("pi" is built in), an empty function, or a 65th task.
    void register_task(std::string name, task_function run);

    /// Submit a job of `n` samples of `task` ([0, n) with `seed`) through this node and return
    /// its result once the cluster has computed it. The future fails (get() throws
    /// reef::sdk::error) when the node refuses the job (bad name or n), the job is cancelled
    /// (`reef job cancel ID`), or the node stops first, and at once when 256 spawns are already
    /// waiting. A job whose task no member has registered waits until one registers it.
    std::future<job_result> spawn(std::string task, std::uint64_t n, std::uint64_t seed = 1);

    /// This node's id in hex (as `reef status` shows it).
    const std::string& id() const;
    /// The HOST:PORT other nodes join through.
    const std::string& address() const;
    /// The control API's Unix socket: `reef --node PATH status` talks to this node.
    const std::string& control_socket() const;

    /// Leave the cluster gracefully (the members see the node as `left`) and stop; blocks for
    /// the leave's grace period (a few seconds). Pending spawns fail. Repeated calls do nothing.
    void stop();

    struct impl;
    /// Use start(); this only adopts a started state.
    explicit node(std::unique_ptr<impl> state);

private:
    std::unique_ptr<impl> impl_;
};

/// The short form: a node whose data dir is `id_or_data_dir` when that contains a '/', else
/// $XDG_DATA_HOME/reef/sdk/ID (~/.local/share/reef/sdk/ID), listening on 127.0.0.1:`port`
/// (0: any free port) and joining `join` (empty: a new cluster, with DATA_DIR/cluster.key).
std::unique_ptr<node> init(const std::string& id_or_data_dir, std::uint16_t port,
                           std::vector<std::string> join = {},
                           std::string cluster_key_file = {});

} // namespace reef::sdk
