#include "reef/runtime/replica_storage_sqlite.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <set>
#include <type_traits>

#include "reef/replica/member_set.hpp"
#include <utility>

#include "reef/base/assert.hpp"

namespace reef::runtime {
namespace {

constexpr const char* schema_sql = R"sql(
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
CREATE TABLE groups (
    group_id BLOB PRIMARY KEY,
    promised_epoch INTEGER NOT NULL DEFAULT 0,
    members BLOB NOT NULL DEFAULT x'',
    commit_index INTEGER NOT NULL DEFAULT 0,
    snapshot_index INTEGER NOT NULL DEFAULT 0,
    snapshot_epoch INTEGER NOT NULL DEFAULT 0,
    snapshot_state BLOB,
    snapshot_members BLOB NOT NULL DEFAULT x''
) STRICT, WITHOUT ROWID;
CREATE TABLE entries (
    group_id BLOB NOT NULL,
    idx INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    client INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    command BLOB NOT NULL,
    PRIMARY KEY (group_id, idx)
) STRICT, WITHOUT ROWID;
)sql";

constexpr std::uint64_t sql_integer_max = std::numeric_limits<std::int64_t>::max();

error open_error(const std::string& path, const std::string& what, sqlite3* db) {
    const char* message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    return make_error(errc::io_error, path + ": " + what + ": " + message);
}

error corrupt(const std::string& path, const std::string& what) {
    return make_error(errc::io_error, path + ": corrupt replica store: " + what);
}

/// Runs one statement of `sql` and returns the first column of its first row as text, if any.
result<std::optional<std::string>> query_text(sqlite3* db, const std::string& path,
                                              const char* sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) {
        return open_error(path, sql, db);
    }
    std::optional<std::string> first;
    const int stepped = sqlite3_step(raw);
    if (stepped == SQLITE_ROW && sqlite3_column_type(raw, 0) != SQLITE_NULL) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
        first = std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(raw, 0)));
    }
    if (stepped != SQLITE_ROW && stepped != SQLITE_DONE) {
        error failed = open_error(path, sql, db);
        sqlite3_finalize(raw);
        return failed;
    }
    sqlite3_finalize(raw);
    return first;
}

status exec(sqlite3* db, const std::string& path, const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message != nullptr ? message : sqlite3_errmsg(db);
        sqlite3_free(message);
        return make_error(errc::io_error, path + ": " + text);
    }
    return {};
}

/// Creates the schema in an empty file, or checks that a non-empty one is ours, at our version.
status check_or_create_schema(sqlite3* db, const std::string& path) {
    auto tables = query_text(db, path, "SELECT count(*) FROM sqlite_schema");
    if (!tables.ok()) {
        return tables.failure();
    }
    if (tables.value() == "0") {
        const std::string create =
            std::string("BEGIN IMMEDIATE;") + schema_sql +
            "INSERT INTO meta (key, value) VALUES ('schema_version', " +
            std::to_string(sqlite_replica_storage::schema_version) + "); COMMIT;";
        if (status created = exec(db, path, create.c_str()); !created.ok()) {
            (void)exec(db, path, "ROLLBACK");
            return make_error(errc::io_error, "creating the schema: " + created.failure().message);
        }
        return {};
    }
    auto has_meta = query_text(
        db, path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'meta'");
    if (!has_meta.ok()) {
        return has_meta.failure();
    }
    if (has_meta.value() != "1") {
        return make_error(errc::failed_precondition,
                          path + ": a SQLite database, but not a replica store (no meta table)");
    }
    auto version =
        query_text(db, path, "SELECT value FROM meta WHERE key = 'schema_version'");
    if (!version.ok()) {
        return version.failure();
    }
    const std::string expected = std::to_string(sqlite_replica_storage::schema_version);
    if (version.value() == "1") {
        // Version 2 added the snapshot's member set; a version-1 snapshot had none (the set the
        // group was created with), which is what the column's default says.
        const char* upgrade =
            "BEGIN IMMEDIATE;"
            "ALTER TABLE groups ADD COLUMN snapshot_members BLOB NOT NULL DEFAULT x'';"
            "UPDATE meta SET value = 2 WHERE key = 'schema_version'; COMMIT;";
        if (status upgraded = exec(db, path, upgrade); !upgraded.ok()) {
            (void)exec(db, path, "ROLLBACK");
            return make_error(errc::io_error,
                              "upgrading the replica store to schema version 2: " +
                                  upgraded.failure().message);
        }
        return {};
    }
    if (version.value() != expected) {
        return make_error(errc::failed_precondition,
                          path + ": replica store schema version " +
                              version.value().value_or("(none)") + ", this build reads " +
                              expected);
    }
    return {};
}

/// WAL, and synchronous=FULL: a COMMIT returns only after the WAL is fsynced.
status configure(sqlite3* db, const std::string& path) {
    auto mode = query_text(db, path, "PRAGMA journal_mode = WAL");
    if (!mode.ok()) {
        return mode.failure();
    }
    if (mode.value() != "wal") {
        return make_error(errc::io_error, path + ": cannot switch to WAL (journal mode " +
                                              mode.value().value_or("?") + ")");
    }
    if (status set = exec(db, path, "PRAGMA synchronous = FULL"); !set.ok()) {
        return set;
    }
    auto synchronous = query_text(db, path, "PRAGMA synchronous");
    if (!synchronous.ok()) {
        return synchronous.failure();
    }
    REEF_ASSERT(synchronous.value() == "2"); // FULL
    return {};
}

void bind_id(sqlite3_stmt* statement, int column, const id256& id) {
    sqlite3_bind_blob(statement, column, id.bytes().data(), static_cast<int>(id256::size_bytes),
                      SQLITE_STATIC);
}

/// Indexes, epochs and commit indexes: compared in SQL, so they must fit a signed integer.
void bind_number(sqlite3_stmt* statement, int column, std::uint64_t value) {
    REEF_ASSERT(value <= sql_integer_max);
    sqlite3_bind_int64(statement, column, static_cast<sqlite3_int64>(value));
}

/// Client ids and sequence numbers: only stored, so kept bit for bit.
void bind_bits(sqlite3_stmt* statement, int column, std::uint64_t value) {
    sqlite3_bind_int64(statement, column, std::bit_cast<sqlite3_int64>(value));
}

/// Never NULL, even when empty (SQLite binds a null pointer as NULL).
void bind_bytes(sqlite3_stmt* statement, int column, const void* data, std::size_t size) {
    static const char empty = 0;
    sqlite3_bind_blob64(statement, column, size == 0 ? &empty : data, size, SQLITE_STATIC);
}

std::string column_bytes(sqlite3_stmt* statement, int column) {
    const void* data = sqlite3_column_blob(statement, column);
    const auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement, column));
    return size == 0 ? std::string() : std::string(static_cast<const char*>(data), size);
}

std::optional<std::uint64_t> column_number(sqlite3_stmt* statement, int column) {
    const sqlite3_int64 value = sqlite3_column_int64(statement, column);
    if (value < 0) {
        return std::nullopt;
    }
    return static_cast<std::uint64_t>(value);
}

std::uint64_t column_bits(sqlite3_stmt* statement, int column) {
    return std::bit_cast<std::uint64_t>(sqlite3_column_int64(statement, column));
}

/// Resets a statement when it leaves scope, so a failed step never leaves it half-run.
class reset_guard {
public:
    explicit reset_guard(sqlite3_stmt* statement) : statement_(statement) {}
    ~reset_guard() {
        sqlite3_reset(statement_);
        sqlite3_clear_bindings(statement_);
    }
    reset_guard(const reset_guard&) = delete;
    reset_guard& operator=(const reset_guard&) = delete;

private:
    sqlite3_stmt* statement_;
};

} // namespace

void sqlite_replica_storage::statement_deleter::operator()(sqlite3_stmt* statement) const {
    sqlite3_finalize(statement);
}

void sqlite_replica_storage::connection_deleter::operator()(sqlite3* db) const {
    // Every statement is finalized first (members are destroyed in reverse order), so this
    // cannot fail with SQLITE_BUSY.
    const int closed = sqlite3_close(db);
    REEF_ASSERT(closed == SQLITE_OK);
}

result<std::unique_ptr<sqlite_replica_storage>> sqlite_replica_storage::open(
    const std::string& path, const sqlite_replica_storage_config& limits) {
    REEF_ASSERT(!path.empty());
    REEF_ASSERT(limits.staged_bytes_max > 0);
    sqlite3* raw = nullptr;
    const int opened = sqlite3_open_v2(
        path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
        nullptr);
    connection db(raw); // closed on every path, even when the open failed
    if (opened != SQLITE_OK) {
        return open_error(path, "open", raw);
    }
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, static_cast<int>(limits.busy_timeout_ms));
    if (status configured = configure(raw, path); !configured.ok()) {
        return configured.failure();
    }
    if (status checked = check_or_create_schema(raw, path); !checked.ok()) {
        return checked.failure();
    }
    auto store = std::make_unique<sqlite_replica_storage>(open_key{}, path, limits, std::move(db));
    if (status prepared = store->prepare_statements(); !prepared.ok()) {
        return prepared.failure();
    }
    return store;
}

sqlite_replica_storage::sqlite_replica_storage(open_key /*key*/, std::string path,
                                               const sqlite_replica_storage_config& limits,
                                               connection db)
    : path_(std::move(path)), limits_(limits), db_(std::move(db)) {
    REEF_ASSERT(db_ != nullptr);
}

// Staged writes that were never synced are dropped, as in a crash.
sqlite_replica_storage::~sqlite_replica_storage() = default;

status sqlite_replica_storage::prepare_statements() {
    const std::pair<statement*, const char*> all[] = {
        {&begin_, "BEGIN IMMEDIATE"},
        {&commit_, "COMMIT"},
        {&rollback_, "ROLLBACK"},
        {&ensure_group_, "INSERT INTO groups (group_id) VALUES (?1) ON CONFLICT DO NOTHING"},
        {&delete_group_, "DELETE FROM groups WHERE group_id = ?1"},
        {&delete_group_entries_, "DELETE FROM entries WHERE group_id = ?1"},
        {&set_promise_,
         "UPDATE groups SET promised_epoch = ?2, members = ?3 WHERE group_id = ?1"},
        {&set_commit_,
         "UPDATE groups SET commit_index = max(commit_index, ?2) WHERE group_id = ?1"},
        {&set_snapshot_,
         "UPDATE groups SET snapshot_index = ?2, snapshot_epoch = ?3, snapshot_state = ?4, "
         "snapshot_members = ?5, commit_index = max(commit_index, ?2) WHERE group_id = ?1 AND "
         "(snapshot_state IS NULL OR snapshot_index < ?2)"},
        {&snapshot_index_,
         "SELECT snapshot_index, snapshot_state IS NOT NULL FROM groups WHERE group_id = ?1"},
        {&delete_entries_from_, "DELETE FROM entries WHERE group_id = ?1 AND idx >= ?2"},
        {&delete_entries_through_, "DELETE FROM entries WHERE group_id = ?1 AND idx <= ?2"},
        {&insert_entry_,
         "INSERT INTO entries (group_id, idx, epoch, client, sequence, command) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
        {&select_group_,
         "SELECT promised_epoch, members, commit_index, snapshot_index, snapshot_epoch, "
         "snapshot_state, snapshot_members FROM groups WHERE group_id = ?1"},
        {&select_entries_,
         "SELECT idx, epoch, client, sequence, command FROM entries WHERE group_id = ?1 "
         "ORDER BY idx"},
        {&select_groups_, "SELECT group_id FROM groups ORDER BY group_id"},
    };
    for (const auto& [target, sql] : all) {
        sqlite3_stmt* raw = nullptr;
        if (sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) !=
            SQLITE_OK) {
            return sqlite_error(sql);
        }
        target->reset(raw);
    }
    return {};
}

error sqlite_replica_storage::sqlite_error(const char* what) const {
    return make_error(errc::io_error, path_ + ": " + what + ": " + sqlite3_errmsg(db_.get()));
}

status sqlite_replica_storage::run(sqlite3_stmt* statement, const char* what) {
    const reset_guard guard(statement);
    const int stepped = sqlite3_step(statement);
    if (stepped != SQLITE_DONE) {
        REEF_ASSERT(stepped != SQLITE_ROW); // only statements without result rows come here
        return sqlite_error(what);
    }
    return {};
}

// ---- staging --------------------------------------------------------------------------------

void sqlite_replica_storage::stage(const replica::group_id& group, operation op,
                                   std::size_t size_bytes) {
    staged_[group].push_back(std::move(op));
    staged_bytes_ += size_bytes + sizeof(operation);
    // The driver syncs after every batch; this much unsynced data means it stopped doing so.
    REEF_ASSERT(staged_bytes_ <= limits_.staged_bytes_max);
}

void sqlite_replica_storage::save_promise(const replica::group_id& group,
                                          std::uint64_t promised_epoch,
                                          std::span<const node_id> members) {
    REEF_ASSERT(promised_epoch <= sql_integer_max);
    REEF_ASSERT(std::is_sorted(members.begin(), members.end()));
    stage(group, promise_op{promised_epoch, {members.begin(), members.end()}},
          members.size() * id256::size_bytes);
}

void sqlite_replica_storage::append(const replica::group_id& group,
                                    std::span<const replica::entry> entries) {
    if (entries.empty()) {
        return;
    }
    std::size_t size_bytes = 0;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        REEF_ASSERT(entries[i].index >= 1);
        REEF_ASSERT(entries[i].index <= sql_integer_max);
        REEF_ASSERT(entries[i].epoch <= sql_integer_max);
        REEF_ASSERT(i == 0 || entries[i].index == entries[i - 1].index + 1);
        size_bytes += sizeof(replica::entry) + entries[i].command.size();
    }
    stage(group, append_op{{entries.begin(), entries.end()}}, size_bytes);
}

void sqlite_replica_storage::save_commit(const replica::group_id& group,
                                         std::uint64_t commit_index) {
    REEF_ASSERT(commit_index <= sql_integer_max);
    stage(group, commit_op{commit_index}, 0);
}

void sqlite_replica_storage::save_snapshot(const replica::group_id& group,
                                           const replica::snapshot& base) {
    REEF_ASSERT(base.last_index <= sql_integer_max);
    REEF_ASSERT(base.last_epoch <= sql_integer_max);
    stage(group, snapshot_op{base}, base.state.size());
}

void sqlite_replica_storage::drop(const replica::group_id& group) {
    // Earlier staged writes of the group are moot; the drop alone says what sync() must do.
    auto& ops = staged_[group];
    ops.clear();
    ops.emplace_back(drop_op{});
    REEF_ASSERT(staged_.contains(group));
}

// ---- sync -----------------------------------------------------------------------------------

status sqlite_replica_storage::sync() {
    if (staged_.empty()) {
        return {};
    }
    REEF_ASSERT(sqlite3_get_autocommit(db_.get()) != 0); // no transaction left open
    if (status begun = run(begin_.get(), "BEGIN IMMEDIATE"); !begun.ok()) {
        return begun;
    }
    status written = write_staged();
    if (written.ok()) {
        written = run(commit_.get(), "COMMIT");
    }
    if (!written.ok()) {
        // SQLite may already have rolled back (after an I/O error); the staged operations stay
        // either way, and replaying them is idempotent.
        if (sqlite3_get_autocommit(db_.get()) == 0) {
            (void)run(rollback_.get(), "ROLLBACK");
        }
        return written;
    }
    staged_.clear();
    staged_bytes_ = 0;
    REEF_ASSERT(sqlite3_get_autocommit(db_.get()) != 0);
    return {};
}

status sqlite_replica_storage::write_staged() {
    for (const auto& [group, ops] : staged_) {
        REEF_ASSERT(!ops.empty());
        for (const operation& op : ops) {
            if (status written = write_operation(group, op); !written.ok()) {
                return written;
            }
        }
    }
    return {};
}

status sqlite_replica_storage::write_operation(const replica::group_id& group,
                                               const operation& op) {
    if (std::holds_alternative<drop_op>(op)) {
        bind_id(delete_group_entries_.get(), 1, group);
        if (status deleted = run(delete_group_entries_.get(), "drop entries"); !deleted.ok()) {
            return deleted;
        }
        bind_id(delete_group_.get(), 1, group);
        return run(delete_group_.get(), "drop group");
    }
    bind_id(ensure_group_.get(), 1, group);
    if (status ensured = run(ensure_group_.get(), "insert group"); !ensured.ok()) {
        return ensured;
    }
    if (const auto* promise = std::get_if<promise_op>(&op)) {
        bind_id(set_promise_.get(), 1, group);
        bind_number(set_promise_.get(), 2, promise->promised_epoch);
        bind_bytes(set_promise_.get(), 3, promise->members.data(),
                   promise->members.size() * id256::size_bytes);
        return run(set_promise_.get(), "save promise");
    }
    if (const auto* commit = std::get_if<commit_op>(&op)) {
        bind_id(set_commit_.get(), 1, group);
        bind_number(set_commit_.get(), 2, commit->commit_index);
        return run(set_commit_.get(), "save commit index");
    }
    if (const auto* snapshot = std::get_if<snapshot_op>(&op)) {
        return write_snapshot(group, *snapshot);
    }
    return write_append(group, std::get<append_op>(op));
}

status sqlite_replica_storage::write_append(const replica::group_id& group, const append_op& op) {
    REEF_ASSERT(!op.entries.empty());
    // As apply_append: entries inside the snapshot are final and skipped; the rest replace the
    // log from their first index on.
    std::uint64_t base_index = 0;
    {
        const reset_guard guard(snapshot_index_.get());
        bind_id(snapshot_index_.get(), 1, group);
        if (sqlite3_step(snapshot_index_.get()) != SQLITE_ROW) {
            return sqlite_error("read snapshot index");
        }
        base_index = column_number(snapshot_index_.get(), 0).value_or(0);
    }
    const auto first = std::find_if(op.entries.begin(), op.entries.end(),
                                    [&](const replica::entry& e) { return e.index > base_index; });
    if (first == op.entries.end()) {
        return {};
    }
    bind_id(delete_entries_from_.get(), 1, group);
    bind_number(delete_entries_from_.get(), 2, first->index);
    if (status deleted = run(delete_entries_from_.get(), "truncate log"); !deleted.ok()) {
        return deleted;
    }
    sqlite3_stmt* insert = insert_entry_.get();
    for (auto kept = first; kept != op.entries.end(); ++kept) {
        bind_id(insert, 1, group);
        bind_number(insert, 2, kept->index);
        bind_number(insert, 3, kept->epoch);
        bind_bits(insert, 4, kept->request.client);
        bind_bits(insert, 5, kept->request.sequence);
        bind_bytes(insert, 6, kept->command.data(), kept->command.size());
        if (status inserted = run(insert, "append entry"); !inserted.ok()) {
            return inserted;
        }
    }
    return {};
}

status sqlite_replica_storage::write_snapshot(const replica::group_id& group,
                                              const snapshot_op& op) {
    bind_id(set_snapshot_.get(), 1, group);
    bind_number(set_snapshot_.get(), 2, op.base.last_index);
    bind_number(set_snapshot_.get(), 3, op.base.last_epoch);
    bind_bytes(set_snapshot_.get(), 4, op.base.state.data(), op.base.state.size());
    const std::string members =
        op.base.members.empty() ? std::string() : replica::encode_member_set(op.base.members);
    bind_bytes(set_snapshot_.get(), 5, members.data(), members.size());
    if (status saved = run(set_snapshot_.get(), "save snapshot"); !saved.ok()) {
        return saved;
    }
    if (sqlite3_changes(db_.get()) == 0) {
        return {}; // an older snapshot never replaces a newer one
    }
    bind_id(delete_entries_through_.get(), 1, group);
    bind_number(delete_entries_through_.get(), 2, op.base.last_index);
    return run(delete_entries_through_.get(), "drop entries covered by the snapshot");
}

// ---- reads ----------------------------------------------------------------------------------

result<std::optional<replica::durable_state>> sqlite_replica_storage::load(
    const replica::group_id& group) {
    auto durable = load_durable(group);
    if (!durable.ok()) {
        return durable.failure();
    }
    const auto staged = staged_.find(group);
    if (staged == staged_.end()) {
        return durable;
    }
    std::optional<replica::durable_state> state = std::move(durable).value();
    for (const operation& op : staged->second) {
        if (std::holds_alternative<drop_op>(op)) {
            state.reset();
            continue;
        }
        if (!state) {
            state.emplace();
        }
        std::visit(
            [&](const auto& staged_op) {
                using type = std::decay_t<decltype(staged_op)>;
                if constexpr (std::is_same_v<type, promise_op>) {
                    replica::apply_promise(*state, staged_op.promised_epoch, staged_op.members);
                } else if constexpr (std::is_same_v<type, append_op>) {
                    replica::apply_append(*state, staged_op.entries);
                } else if constexpr (std::is_same_v<type, commit_op>) {
                    replica::apply_commit(*state, staged_op.commit_index);
                } else if constexpr (std::is_same_v<type, snapshot_op>) {
                    replica::apply_snapshot(*state, staged_op.base);
                }
            },
            op);
    }
    return state;
}

result<std::optional<replica::durable_state>> sqlite_replica_storage::load_durable(
    const replica::group_id& group) {
    replica::durable_state state;
    {
        sqlite3_stmt* select = select_group_.get();
        const reset_guard guard(select);
        bind_id(select, 1, group);
        const int stepped = sqlite3_step(select);
        if (stepped == SQLITE_DONE) {
            return std::optional<replica::durable_state>{};
        }
        if (stepped != SQLITE_ROW) {
            return sqlite_error("load group");
        }
        const auto promised = column_number(select, 0);
        const std::string members = column_bytes(select, 1);
        const auto commit_index = column_number(select, 2);
        const auto snapshot_index = column_number(select, 3);
        const auto snapshot_epoch = column_number(select, 4);
        if (!promised || !commit_index || !snapshot_index || !snapshot_epoch ||
            members.size() % id256::size_bytes != 0) {
            return corrupt(path_, "group " + group.short_hex() + " has an invalid row");
        }
        state.promised_epoch = *promised;
        state.commit_index = *commit_index;
        for (std::size_t at = 0; at < members.size(); at += id256::size_bytes) {
            id256::bytes_type bytes{};
            std::memcpy(bytes.data(), members.data() + at, bytes.size());
            state.members.emplace_back(bytes);
        }
        if (sqlite3_column_type(select, 5) != SQLITE_NULL) {
            state.base = replica::snapshot{*snapshot_index, *snapshot_epoch,
                                           column_bytes(select, 5), {}};
            const std::string base_members = column_bytes(select, 6);
            if (!base_members.empty()) {
                auto decoded = replica::decode_member_set(base_members);
                if (!decoded) {
                    return corrupt(path_, "group " + group.short_hex() + " snapshot members: " +
                                              decoded.failure().message);
                }
                state.base->members = std::move(*decoded);
            }
        }
    }
    if (status loaded = load_entries(group, state); !loaded.ok()) {
        return loaded.failure();
    }
    return std::optional(std::move(state));
}

status sqlite_replica_storage::load_entries(const replica::group_id& group,
                                            replica::durable_state& state) {
    sqlite3_stmt* select = select_entries_.get();
    const reset_guard guard(select);
    bind_id(select, 1, group);
    // The log continues the snapshot densely: anything else would trip apply_append's asserts
    // later, so a damaged file is refused here.
    std::uint64_t expected = (state.base ? state.base->last_index : 0) + 1;
    int stepped = SQLITE_ROW;
    while ((stepped = sqlite3_step(select)) == SQLITE_ROW) {
        const auto index = column_number(select, 0);
        const auto epoch = column_number(select, 1);
        if (!index || !epoch || *index != expected) {
            return corrupt(path_, "group " + group.short_hex() + " has a gap in its log at " +
                                      std::to_string(expected));
        }
        state.log.push_back(replica::entry{
            *index, *epoch, replica::request_id{column_bits(select, 2), column_bits(select, 3)},
            column_bytes(select, 4)});
        ++expected;
    }
    if (stepped != SQLITE_DONE) {
        return sqlite_error("load entries");
    }
    return {};
}

result<std::vector<replica::group_id>> sqlite_replica_storage::groups() {
    std::set<replica::group_id> listed;
    {
        sqlite3_stmt* select = select_groups_.get();
        const reset_guard guard(select);
        int stepped = SQLITE_ROW;
        while ((stepped = sqlite3_step(select)) == SQLITE_ROW) {
            const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(select, 0));
            const auto size = static_cast<std::size_t>(sqlite3_column_bytes(select, 0));
            auto id = id256::from_bytes({data, size});
            if (!id.ok()) {
                return corrupt(path_, "a group id of " + std::to_string(size) + " bytes");
            }
            listed.insert(id.value());
        }
        if (stepped != SQLITE_DONE) {
            return sqlite_error("list groups");
        }
    }
    // A group exists after its staged operations unless the last of them is a drop.
    for (const auto& [group, ops] : staged_) {
        if (std::holds_alternative<drop_op>(ops.back())) {
            listed.erase(group);
        } else {
            listed.insert(group);
        }
    }
    return std::vector<replica::group_id>(listed.begin(), listed.end());
}

} // namespace reef::runtime
