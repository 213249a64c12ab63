#pragma once
// replica::storage on SQLite: one database file (DATA_DIR/replica.db) in WAL mode with
// synchronous=FULL, so a sync() that returned ok has been fsynced. docs/formats/replica-storage.md
// describes the schema and the durability argument.
//
// Writes are staged in memory as an ordered list of operations per group; load() reads the
// durable rows and replays the group's staged operations on them with the apply_* functions of
// storage.hpp (read-your-writes). sync() replays every staged operation of every group as SQL in
// ONE transaction (BEGIN IMMEDIATE ... COMMIT, one fsync: group commit). On failure it rolls back,
// keeps the staged operations for a retry and returns io_error with SQLite's message. Replaying an
// operation list on a state that already holds it gives the same state, so retrying after a
// commit whose outcome is unknown is safe too.
//
// Thread-safety: none; one owner (the node's event loop). The connection is used by one thread.
// Invariants:
//  - the file holds schema version `schema_version` (checked at open; anything else is refused);
//  - staged_bytes_ is the size of the staged operations and stays below staged_bytes_max (the
//    driver syncs after every batch, so exceeding it is a caller bug and asserted);
//  - indexes, epochs and commit indexes are below 2^63 (SQLite integers are signed); client ids
//    and sequence numbers are stored bit for bit.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "reef/base/result.hpp"
#include "reef/replica/storage.hpp"
#include "reef/replica/types.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace reef::runtime {

struct sqlite_replica_storage_config {
    /// Staged bytes beyond which staging is a caller bug (the driver syncs every batch).
    std::size_t staged_bytes_max = std::size_t{64} << 20U;
    /// How long a statement waits for a lock held by another connection to the same file.
    std::uint32_t busy_timeout_ms = 5000;
};

class sqlite_replica_storage final : public replica::storage {
public:
    static constexpr std::int64_t schema_version = 2;

    /// Opens `path`, creating the file and its schema when it does not exist (or is empty). A file
    /// that is not a SQLite database, a database of something else or another schema version is
    /// refused with an error naming the path.
    [[nodiscard]] static result<std::unique_ptr<sqlite_replica_storage>> open(
        const std::string& path, const sqlite_replica_storage_config& limits = {});

    ~sqlite_replica_storage() override;
    sqlite_replica_storage(const sqlite_replica_storage&) = delete;
    sqlite_replica_storage& operator=(const sqlite_replica_storage&) = delete;

    void save_promise(const replica::group_id& group, std::uint64_t promised_epoch,
                      std::span<const node_id> members) override;
    void append(const replica::group_id& group, std::span<const replica::entry> entries) override;
    void save_commit(const replica::group_id& group, std::uint64_t commit_index) override;
    void save_snapshot(const replica::group_id& group, const replica::snapshot& base) override;
    void drop(const replica::group_id& group) override;

    [[nodiscard]] status sync() override;

    [[nodiscard]] result<std::optional<replica::durable_state>> load(
        const replica::group_id& group) override;
    [[nodiscard]] result<std::vector<replica::group_id>> groups() override;

    const std::string& path() const { return path_; }
    std::size_t staged_bytes() const { return staged_bytes_; }

private:
    struct promise_op {
        std::uint64_t promised_epoch = 0;
        std::vector<node_id> members;
    };
    struct append_op {
        std::vector<replica::entry> entries;
    };
    struct commit_op {
        std::uint64_t commit_index = 0;
    };
    struct snapshot_op {
        replica::snapshot base;
    };
    struct drop_op {};
    using operation = std::variant<promise_op, append_op, commit_op, snapshot_op, drop_op>;

    struct statement_deleter {
        void operator()(sqlite3_stmt* statement) const;
    };
    using statement = std::unique_ptr<sqlite3_stmt, statement_deleter>;

    struct connection_deleter {
        void operator()(sqlite3* db) const;
    };
    using connection = std::unique_ptr<sqlite3, connection_deleter>;
    /// Only open() constructs (through make_unique, hence the public constructor).
    struct open_key {
        explicit open_key() = default;
    };

public:
    sqlite_replica_storage(open_key key, std::string path,
                           const sqlite_replica_storage_config& limits, connection db);

private:

    status prepare_statements();
    void stage(const replica::group_id& group, operation op, std::size_t size_bytes);

    status write_staged();
    status write_operation(const replica::group_id& group, const operation& op);
    status write_append(const replica::group_id& group, const append_op& op);
    status write_snapshot(const replica::group_id& group, const snapshot_op& op);

    result<std::optional<replica::durable_state>> load_durable(const replica::group_id& group);
    status load_entries(const replica::group_id& group, replica::durable_state& state);

    /// io_error "<path>: <what>: <SQLite's message>".
    error sqlite_error(const char* what) const;
    /// Runs a statement without result rows to completion and resets it.
    status run(sqlite3_stmt* statement, const char* what);

    std::string path_;
    sqlite_replica_storage_config limits_;
    connection db_;
    std::map<replica::group_id, std::vector<operation>> staged_;
    std::size_t staged_bytes_ = 0;

    statement begin_;
    statement commit_;
    statement rollback_;
    statement ensure_group_;
    statement delete_group_;
    statement delete_group_entries_;
    statement set_promise_;
    statement set_commit_;
    statement set_snapshot_;
    statement snapshot_index_;
    statement delete_entries_from_;
    statement delete_entries_through_;
    statement insert_entry_;
    statement select_group_;
    statement select_entries_;
    statement select_groups_;
};

} // namespace reef::runtime
