// Replica-group commits with real durable storage, in one process (bench/README.md,
// "replica_commit").
//
// One group of 3 member cores, each member with its own runtime::sqlite_replica_storage in its own
// temporary directory. The driver loop is reefd's, one "round" at a time: for every member, take
// its effects, stage every persist in its storage, sync() once (group commit: one transaction,
// one fsync), then execute the rest in order (sends go to an in-memory queue, applies are
// counted); then deliver the queue. A client at the leader keeps B commands outstanding (closed
// loop); a command's latency runs from submit to the leader's apply of it.
//
// The limit: with an instant network, one command needs the leader's fsync (it syncs its entries
// before sending the append) and then one follower's fsync (it syncs before replying), in
// sequence. So B=1 cannot beat about 2 x the raw fsync, measured here in the same directory
// (4 KiB write + fdatasync) and printed as a ratio. The leader applies before its new commit
// index is synced (the stored commit index is only a lower bound), so no third fsync stands in
// a commit's path.
//
// The 3 members stand for 3 machines: their syncs of one round run on one thread each, side by
// side (--parallel-sync 0 runs them one after the other, as one disk queue would).
//
// Exits 1 when a command is lost (some member applied fewer commands than were submitted) or the
// storage fails.
//
// Usage: replica_commit [--seconds 3] [--commits 20000] [--batch B (default: 1, 8 and 64)]
//                       [--fsync-samples 2000] [--dir PATH (default: $TMPDIR, else .)]

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "reef/replica/group.hpp"
#include "reef/runtime/replica_storage_sqlite.hpp"
#include "replica_bench_support.hpp"

namespace {

using reef::instant;
using reef::node_id;
using reef::bench::flag;
using reef::bench::member_id;
using reef::bench::percentile;
namespace replica = reef::replica;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t member_count = 3;
constexpr std::uint64_t client = 1;

std::int64_t elapsed_ns(clock_type::time_point from, clock_type::time_point to) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count();
}

instant now_instant() {
    return instant::from_ns(elapsed_ns(clock_type::time_point{}, clock_type::now()));
}

double micros(std::int64_t ns) { return static_cast<double>(ns) / 1000.0; }

std::string text_flag(int argc, char** argv, const char* name, std::string fallback) {
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return fallback;
}

/// A directory made with mkdtemp under `base`, removed with everything in it on destruction.
class temp_dir {
public:
    explicit temp_dir(const std::string& base) {
        std::string pattern = base + "/reef-replica-commit.XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) {
            std::fprintf(stderr, "mkdtemp %s: %s\n", pattern.c_str(), std::strerror(errno));
            std::exit(2);
        }
        path_ = pattern;
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::string& path() const { return path_; }

private:
    std::string path_;
};

/// The floor: `samples` appends of 4 KiB, each followed by fdatasync, in `dir`. Nanoseconds each.
std::vector<std::int64_t> fsync_floor(const std::string& dir, std::size_t samples) {
    const std::string path = dir + "/fsync-floor";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        std::fprintf(stderr, "open %s: %s\n", path.c_str(), std::strerror(errno));
        std::exit(2);
    }
    std::array<char, 4096> block{};
    block.fill('r');
    std::vector<std::int64_t> taken;
    taken.reserve(samples);
    for (std::size_t i = 0; i < samples; ++i) {
        const auto start = clock_type::now();
        if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) ||
            ::fdatasync(fd) != 0) {
            std::fprintf(stderr, "write+fdatasync %s: %s\n", path.c_str(), std::strerror(errno));
            std::exit(2);
        }
        taken.push_back(elapsed_ns(start, clock_type::now()));
    }
    ::close(fd);
    return taken;
}

struct member {
    std::unique_ptr<temp_dir> dir;
    std::unique_ptr<reef::runtime::sqlite_replica_storage> storage;
    std::unique_ptr<replica::group> core;
    std::uint64_t applied_commands = 0;
    std::uint64_t last_applied_epoch = 0;
    std::uint64_t syncs = 0;
};

struct message_in_flight {
    std::size_t from = 0;
    std::size_t to = 0;
    replica::message body;
};

/// One group of 3 members with SQLite storage, driven round by round.
class cluster {
public:
    cluster(const std::string& base, std::uint64_t seed, bool parallel_sync)
        : parallel_sync_(parallel_sync) {
        for (std::size_t m = 0; m < member_count; ++m) {
            ids_.push_back(member_id(static_cast<std::uint8_t>(m + 1)));
        }
        reef::id256::bytes_type group_bytes{};
        group_bytes[0] = 0x42;
        const instant now = now_instant();
        for (std::size_t m = 0; m < member_count; ++m) {
            member one;
            one.dir = std::make_unique<temp_dir>(base);
            auto opened = reef::runtime::sqlite_replica_storage::open(one.dir->path() +
                                                                      "/replica.db");
            if (!opened.ok()) {
                std::fprintf(stderr, "%s\n", opened.failure().describe().c_str());
                std::exit(2);
            }
            one.storage = std::move(opened).value();
            one.core = std::make_unique<replica::group>(replica::group_config{},
                                                        reef::id256{group_bytes}, ids_[m], ids_,
                                                        std::nullopt, seed * 3 + m, now);
            members_.push_back(std::move(one));
        }
    }

    /// Epoch 0 is led by the first member.
    replica::group& leader() { return *members_[0].core; }
    const std::vector<member>& members() const { return members_; }
    std::uint64_t role_changes() const { return role_changes_; }

    /// One round of the driver loop. `on_leader_apply` sees each command the leader applies.
    /// Returns false when nothing happened (no effect, no message).
    template <typename OnApply>
    bool round(OnApply&& on_leader_apply) {
        const instant now = now_instant();
        std::array<std::vector<replica::effect>, member_count> drained;
        bool active = false;
        for (std::size_t m = 0; m < member_count; ++m) {
            replica::group& core = *members_[m].core;
            if (core.next_deadline() <= now) {
                core.on_tick(now);
            }
            drained[m] = core.take_effects();
            active = active || !drained[m].empty();
        }
        // Persist first: every persist of a member's drain is durable before any of its other
        // effects executes (one sync per member per round). The members stand for 3 machines,
        // so their syncs of one round run side by side (one thread each; every storage is still
        // used by one thread at a time), unless parallel_sync is off.
        std::vector<std::size_t> syncing;
        for (std::size_t m = 0; m < member_count; ++m) {
            if (stage_persists(members_[m], drained[m])) {
                syncing.push_back(m);
            }
        }
        std::array<reef::status, member_count> synced{};
        auto sync_one = [&](std::size_t m) { synced[m] = members_[m].storage->sync(); };
        if (parallel_sync_ && syncing.size() > 1) {
            std::vector<std::thread> others;
            for (std::size_t i = 1; i < syncing.size(); ++i) {
                others.emplace_back(sync_one, syncing[i]);
            }
            sync_one(syncing[0]);
            for (auto& other : others) {
                other.join();
            }
        } else {
            for (const std::size_t m : syncing) {
                sync_one(m);
            }
        }
        for (const std::size_t m : syncing) {
            if (!synced[m].ok()) {
                std::fprintf(stderr, "sync: %s\n", synced[m].failure().describe().c_str());
                std::exit(2);
            }
            ++members_[m].syncs;
        }
        for (std::size_t m = 0; m < member_count; ++m) {
            execute(m, drained[m], on_leader_apply);
        }
        std::vector<message_in_flight> delivering;
        delivering.swap(queue_);
        for (auto& item : delivering) {
            members_[item.to].core->on_message(now, ids_[item.from], item.body);
        }
        return active || !delivering.empty();
    }

private:
    static bool stage_persists(member& one, const std::vector<replica::effect>& drained) {
        const replica::group_id& id = one.core->id();
        bool staged = false;
        for (const auto& produced : drained) {
            if (const auto* promise = std::get_if<replica::persist_promise>(&produced)) {
                one.storage->save_promise(id, promise->epoch, promise->members);
            } else if (const auto* entries = std::get_if<replica::persist_entries>(&produced)) {
                one.storage->append(id, entries->entries);
            } else if (const auto* commit = std::get_if<replica::persist_commit>(&produced)) {
                one.storage->save_commit(id, commit->commit_index);
            } else if (const auto* snap = std::get_if<replica::persist_snapshot>(&produced)) {
                one.storage->save_snapshot(id, snap->base);
            } else {
                continue;
            }
            staged = true;
        }
        return staged;
    }

    template <typename OnApply>
    void execute(std::size_t m, std::vector<replica::effect>& drained, OnApply& on_leader_apply) {
        member& one = members_[m];
        for (auto& produced : drained) {
            if (auto* out = std::get_if<replica::send>(&produced)) {
                std::size_t to = 0;
                while (to < member_count && ids_[to] != out->to) {
                    ++to;
                }
                queue_.push_back({m, to, std::move(out->body)});
            } else if (const auto* applied = std::get_if<replica::apply>(&produced)) {
                one.last_applied_epoch = applied->committed.epoch;
                if (applied->committed.request.client == client) {
                    ++one.applied_commands;
                    if (m == 0) {
                        on_leader_apply(applied->committed.request.sequence);
                    }
                }
            } else if (const auto* due = std::get_if<replica::compaction_due>(&produced)) {
                // The application's state is opaque here: the snapshot only carries the position.
                one.core->compact(replica::snapshot{due->applied_index, one.last_applied_epoch,
                                                    std::string{}});
            } else if (std::holds_alternative<replica::role_changed>(produced)) {
                ++role_changes_;
            }
        }
    }

    bool parallel_sync_ = true;
    std::vector<node_id> ids_;
    std::vector<member> members_;
    std::vector<message_in_flight> queue_;
    std::uint64_t role_changes_ = 0;
};

struct phase_result {
    std::size_t batch = 0;
    std::uint64_t submitted = 0;
    double seconds = 0;
    std::vector<std::int64_t> latencies_ns;
    std::uint64_t rounds = 0;
    std::uint64_t syncs = 0;
    bool lost = false;
};

/// Closed loop with `batch` commands outstanding until `seconds` or `commits`, then drained.
phase_result run_phase(const std::string& base, std::size_t batch, double seconds,
                       std::uint64_t commits, bool parallel_sync) {
    cluster group(base, batch, parallel_sync);
    phase_result out;
    out.batch = batch;
    // submitted_at[sequence - 1]: when that command was submitted.
    std::vector<clock_type::time_point> submitted_at;
    submitted_at.reserve(commits);
    bool submitting = true;
    std::uint64_t completed = 0;
    const auto start = clock_type::now();
    auto submit_one = [&] {
        const std::uint64_t sequence = submitted_at.size() + 1;
        submitted_at.push_back(clock_type::now());
        auto appended = group.leader().submit(now_instant(), {client, sequence}, "incr");
        if (!appended.ok()) {
            std::fprintf(stderr, "submit: %s\n", appended.failure().describe().c_str());
            std::exit(2);
        }
    };
    auto on_leader_apply = [&](std::uint64_t sequence) {
        const auto applied_at = clock_type::now();
        out.latencies_ns.push_back(elapsed_ns(submitted_at[sequence - 1], applied_at));
        ++completed;
        if (submitting && (submitted_at.size() >= commits ||
                           elapsed_ns(start, applied_at) >= static_cast<std::int64_t>(
                                                                seconds * 1e9))) {
            submitting = false;
        }
        if (submitting) {
            submit_one();
        }
    };
    for (std::size_t i = 0; i < batch; ++i) {
        submit_one();
    }
    while (completed < submitted_at.size()) {
        (void)group.round(on_leader_apply);
        ++out.rounds;
    }
    out.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    // Let the followers learn the last commit index and apply; bounded, in case of a bug.
    for (std::size_t idle = 0, spins = 0; idle < 3 && spins < 100'000; ++spins) {
        idle = group.round(on_leader_apply) ? 0 : idle + 1;
    }
    out.submitted = submitted_at.size();
    for (const member& one : group.members()) {
        out.syncs += one.syncs;
        if (one.applied_commands != out.submitted) {
            std::fprintf(stderr, "lost commands at batch %zu: a member applied %llu of %llu\n",
                         batch, static_cast<unsigned long long>(one.applied_commands),
                         static_cast<unsigned long long>(out.submitted));
            out.lost = true;
        }
    }
    if (group.role_changes() != 0) {
        std::fprintf(stderr, "unexpected role changes at batch %zu: %llu\n", batch,
                     static_cast<unsigned long long>(group.role_changes()));
    }
    return out;
}

} // namespace

int main(int argc, char** argv) {
    const double seconds = static_cast<double>(flag(argc, argv, "--seconds", 3));
    const std::uint64_t commits = flag(argc, argv, "--commits", 20'000);
    const std::size_t only_batch = flag(argc, argv, "--batch", 0);
    const std::size_t fsync_samples = flag(argc, argv, "--fsync-samples", 2'000);
    const bool parallel_sync = flag(argc, argv, "--parallel-sync", 1) != 0;
    const char* tmpdir = std::getenv("TMPDIR");
    const std::string base = text_flag(argc, argv, "--dir",
                                       tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : ".");

    std::vector<std::size_t> batches{1, 8, 64};
    if (only_batch != 0) {
        batches = {only_batch};
    }
    std::printf("replica.commit.dir: %s (%s syncs)\n",
                std::filesystem::weakly_canonical(base).c_str(),
                parallel_sync ? "parallel member" : "sequential member");

    // The floor is taken in slices, one before each phase and one after the last, so that load
    // from other work on the machine hits the floor and the phases alike; the B=1 ratio uses the
    // slices on either side of that phase.
    const temp_dir floor_dir(base);
    const std::size_t slice_samples =
        std::max<std::size_t>(fsync_samples / (batches.size() + 1), 1);
    std::vector<std::int64_t> floor_ns;
    std::vector<std::int64_t> around_b1_ns;
    auto floor_slice = [&](bool next_to_b1, const char* when) {
        std::vector<std::int64_t> slice = fsync_floor(floor_dir.path(), slice_samples);
        floor_ns.insert(floor_ns.end(), slice.begin(), slice.end());
        if (next_to_b1) {
            around_b1_ns.insert(around_b1_ns.end(), slice.begin(), slice.end());
        }
        std::printf("replica.commit.fsync_slice_p50: %.0f us (%zu samples, %s)\n",
                    micros(percentile(slice, 50)), slice.size(), when);
    };

    bool lost = false;
    bool previous_was_b1 = false;
    std::optional<std::int64_t> b1_p50;
    for (const std::size_t batch : batches) {
        const std::string when = "before b" + std::to_string(batch);
        floor_slice(batch == 1 || previous_was_b1, when.c_str());
        previous_was_b1 = batch == 1;
        phase_result phase = run_phase(base, batch, seconds, commits, parallel_sync);
        lost = lost || phase.lost;
        const auto done = static_cast<double>(phase.latencies_ns.size());
        const std::int64_t p50 = percentile(phase.latencies_ns, 50);
        if (batch == 1) {
            b1_p50 = p50;
        }
        std::printf("replica.commit.b%zu.commits_per_second: %.0f (%zu outstanding, %llu commits "
                    "in %.2f s, 3 members)\n",
                    batch, done / phase.seconds, batch,
                    static_cast<unsigned long long>(phase.submitted), phase.seconds);
        std::printf("replica.commit.b%zu.latency_p50: %.0f us (submit to the leader's apply)\n",
                    batch, micros(p50));
        std::printf("replica.commit.b%zu.latency_p99: %.0f us\n", batch,
                    micros(percentile(phase.latencies_ns, 99)));
        std::printf("replica.commit.b%zu.syncs_per_commit: %.2f (all 3 members; %llu rounds)\n",
                    batch, static_cast<double>(phase.syncs) / done,
                    static_cast<unsigned long long>(phase.rounds));
    }
    floor_slice(previous_was_b1, "after the last phase");

    std::printf("replica.commit.fsync_p50: %.0f us (4 KiB append + fdatasync, %zu samples in "
                "all)\n",
                micros(percentile(floor_ns, 50)), floor_ns.size());
    std::printf("replica.commit.fsync_p99: %.0f us\n", micros(percentile(floor_ns, 99)));
    const std::int64_t fsync_p50 = percentile(around_b1_ns, 50);
    if (b1_p50 && fsync_p50 > 0) {
        std::printf("replica.commit.b1_p50_vs_two_fsyncs: %.2f x (b1 latency p50 / (2 x %.0f us, "
                    "the fsync p50 of the slices around b1); limit about 1.0: with an in-memory "
                    "network a commit waits for the leader's fsync, then a follower's)\n",
                    static_cast<double>(*b1_p50) / (2.0 * static_cast<double>(fsync_p50)),
                    micros(fsync_p50));
    }
    std::printf("replica.commit.lost: %s\n", lost ? "yes (FAIL)" : "0 commands");
    return lost ? 1 : 0;
}
