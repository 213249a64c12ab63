#pragma once
// reefd's event loop: one node driven by one single-threaded asio io_context.
//
//   peer_network --payload--> node::on_payload --effects--> peer_network::send, logs, fsync
//   control_server --request--> control::handle --command--> node::join / leave
//   control_server --request--> control::handle --dht command--> node::dht_put / get / closest,
//     and the node's dht_done effect --control::dht_reply--> the request's responder
//   control_server --request--> control::handle --kv command--> node::kv_submit, and the node's
//     kv_done effect --control::kv_reply--> the request's responder
//   node's replica_write effects --> sqlite_replica_storage (DATA_DIR/replica.db)
//   one steady_timer, always armed at node::next_deadline() (or the shutdown deadline)
//
// Effects are drained after every input, in order (a persisted incarnation before the sends
// that follow it). Replica writes are staged in the replica store; every effect that follows a
// staged write, of the same input or of a later one, is held, in order, and one flush posted to
// the io_context syncs the writes (one transaction, one fsync) and then executes what was held.
// The inputs that are ready before the flush runs stage and hold theirs too, so they share its
// fsync: group commit across inputs. A flush runs at once when the held effects or the staged
// bytes reach their bound, and before a stop. A failed sync stops the daemon at once
// (fail-stop), so nothing that is not durable is ever sent or acknowledged. At start, every group
// in the store is loaded and handed to the node (replica_recover) before it joins.
//
// A graceful leave (SIGTERM, SIGINT, POST /v1/leave) announces the leave, keeps
// gossiping for three probe periods so the announcement spreads, then closes the listeners.
//
// Thread-safety: everything runs on the io_context's thread; construct, call and destroy the
// daemon there, and destroy it only after the io_context has stopped running its handlers.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "reef/base/result.hpp"
#include "reef/jobs/kernels.hpp"
#include "reef/runtime/settings.hpp"

namespace asio {
class io_context;
} // namespace asio

namespace reef::node {
class node;
} // namespace reef::node

namespace reef::runtime {

class daemon {
public:
    /// Open and lock the data dir, load the identity and the cluster key, bump the incarnation,
    /// save the effective settings, bind the peer and control listeners, and join the seeds.
    /// Every failure is an error whose message says what and where ("cannot listen on
    /// 127.0.0.1:7401: address already in use", "cluster key file X: ...").
    static result<std::unique_ptr<daemon>> start(asio::io_context& io, const settings& effective);

    ~daemon();
    daemon(const daemon&) = delete;
    daemon& operator=(const daemon&) = delete;

    /// Announce a graceful leave and stop after the grace period. Repeated calls are ignored.
    void leave(std::string_view reason);
    /// Stop at once without waiting for the leave to spread.
    void stop_now();
    /// Called once, on the io thread, when the daemon has stopped (listeners closed).
    void set_stopped_handler(std::function<void()> on_stopped);
    bool stopped() const;
    /// The daemon stopped because its replica store failed (run_daemon then exits 1).
    bool failed() const;

    const node::node& local_node() const;
    /// Adds a kernel this node can compute for jobs (the SDK's native tasks). On the io thread.
    [[nodiscard]] status register_kernel(jobs::kernel added);
    /// The address peers reach this node at.
    const std::string& address() const;
    std::string control_socket_path() const;
    /// The bound TCP control address, empty without one.
    std::string control_tcp_address() const;

    struct impl;
    /// Use start(); this only adopts a started state.
    explicit daemon(std::unique_ptr<impl> state);

private:
    std::unique_ptr<impl> impl_;
};

/// A whole reefd life after its settings are resolved: start, serve until a leave (signal or
/// control API), stop. Returns the process exit code: 0 after a clean stop, 1 when the daemon
/// could not start (the reason is logged).
int run_daemon(const settings& effective);

} // namespace reef::runtime
