#include "reef/runtime/replica_storage_sqlite.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/replica_storage_contract.hpp"

namespace reef::runtime {
namespace {

id256 id_with(std::uint8_t first, std::uint8_t last) {
    id256::bytes_type bytes{};
    bytes[0] = first;
    bytes[31] = last;
    return id256{bytes};
}
node_id node_of(std::uint8_t n) { return id_with(n, 0); }
replica::group_id group_of(std::uint8_t n) { return id_with(0, n); }

using replica::contract::make_entries;
using replica::contract::make_id;

/// A fresh directory under the system's temporary directory, removed with its contents.
class temp_dir {
public:
    temp_dir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "reef-replica-XXXXXX").string();
        REEF_ASSERT(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

/// Runs SQL on its own connection to `path` (another process's view of the file).
void exec_sql(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    char* message = nullptr;
    const int executed = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    EXPECT_EQ(executed, SQLITE_OK) << (message != nullptr ? message : "");
    sqlite3_free(message);
    sqlite3_close(db);
}

std::unique_ptr<sqlite_replica_storage> open_ok(const std::string& path) {
    auto opened = sqlite_replica_storage::open(path);
    EXPECT_TRUE(opened.ok()) << opened.failure().describe();
    return opened.ok() ? std::move(opened).value() : nullptr;
}

struct sqlite_harness {
    replica::storage& storage() { return *store; }
    /// Destroying the object without sync() is what a crash does to the staged writes.
    void crash() {
        store.reset();
        store = open_ok(dir.file("replica.db"));
    }
    /// Triggers that abort every write make the next sync() fail inside its transaction.
    void fail_syncs(bool on) {
        std::string sql;
        for (const char* table : {"groups", "entries"}) {
            for (const char* action : {"INSERT", "UPDATE", "DELETE"}) {
                const std::string name = std::string("fault_") + table + "_" + action;
                sql += on ? "CREATE TRIGGER " + name + " BEFORE " + action + " ON " + table +
                                " BEGIN SELECT RAISE(ABORT, 'injected fault'); END;"
                          : "DROP TRIGGER " + name + ";";
            }
        }
        exec_sql(dir.file("replica.db"), sql);
    }

    temp_dir dir;
    std::unique_ptr<sqlite_replica_storage> store = open_ok(dir.file("replica.db"));
};

} // namespace
} // namespace reef::runtime

namespace reef::replica::contract {
INSTANTIATE_TYPED_TEST_SUITE_P(sqlite, replica_storage_contract,
                               ::testing::Types<runtime::sqlite_harness>);
} // namespace reef::replica::contract

namespace reef::runtime {
namespace {

TEST(sqlite_replica_storage, reopened_file_holds_many_groups_from_one_sync) {
    temp_dir dir;
    const std::string path = dir.file("replica.db");
    {
        auto store = open_ok(path);
        for (std::uint8_t g = 0; g < 200; ++g) {
            store->save_promise(make_id(g, 1), g, std::vector<node_id>{make_id(g)});
            store->append(make_id(g, 1), make_entries(1, 50, g));
            store->save_commit(make_id(g, 1), 25);
        }
        EXPECT_GT(store->staged_bytes(), 0U);
        ASSERT_TRUE(store->sync().ok());
        EXPECT_EQ(store->staged_bytes(), 0U);
    }
    auto store = open_ok(path);
    ASSERT_EQ(store->groups().value().size(), 200U);
    for (std::uint8_t g = 0; g < 200; ++g) {
        const auto state = store->load(make_id(g, 1)).value();
        ASSERT_TRUE(state.has_value());
        EXPECT_EQ(state->promised_epoch, g);
        EXPECT_EQ(state->members, std::vector<node_id>{make_id(g)});
        EXPECT_EQ(state->log, make_entries(1, 50, g));
        EXPECT_EQ(state->commit_index, 25U);
    }
}

TEST(sqlite_replica_storage, uses_wal) {
    temp_dir dir;
    const std::string path = dir.file("replica.db");
    auto store = open_ok(path);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* statement = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &statement, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)), "wal");
    sqlite3_finalize(statement);
    sqlite3_close(db);
}

TEST(sqlite_replica_storage, refuses_a_file_that_is_not_a_database) {
    temp_dir dir;
    const std::string path = dir.file("replica.db");
    std::ofstream(path) << std::string(4096, 'x');
    auto opened = sqlite_replica_storage::open(path);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.failure().code, errc::io_error);
    EXPECT_NE(opened.failure().message.find(path), std::string::npos);
    EXPECT_NE(opened.failure().message.find("not a database"), std::string::npos)
        << opened.failure().message;
}

TEST(sqlite_replica_storage, refuses_another_schema_version) {
    temp_dir dir;
    const std::string path = dir.file("replica.db");
    ASSERT_NE(open_ok(path), nullptr);
    exec_sql(path, "UPDATE meta SET value = 99 WHERE key = 'schema_version'");
    auto opened = sqlite_replica_storage::open(path);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.failure().code, errc::failed_precondition);
    EXPECT_NE(opened.failure().message.find(path), std::string::npos);
    EXPECT_NE(opened.failure().message.find("schema version 99, this build reads 2"),
              std::string::npos)
        << opened.failure().message;
}

TEST(sqlite_replica_storage, upgrades_a_version_1_store_and_keeps_its_groups) {
    temp_dir dir;
    const std::string path = dir.file("replica.db");
    const replica::group_id group = group_of(3);
    {
        auto store = open_ok(path);
        ASSERT_NE(store, nullptr);
        const std::vector<node_id> members{node_of(1), node_of(2)};
        store->save_promise(group, 4, members);
        store->save_snapshot(group, replica::snapshot{2, 1, "state", {}});
        ASSERT_TRUE(store->sync().ok());
    }
    // What version 1 wrote: no snapshot_members column.
    exec_sql(path, "ALTER TABLE groups DROP COLUMN snapshot_members");
    exec_sql(path, "UPDATE meta SET value = 1 WHERE key = 'schema_version'");
    auto store = open_ok(path);
    ASSERT_NE(store, nullptr);
    auto loaded = store->load(group);
    ASSERT_TRUE(loaded.ok()) << loaded.failure().describe();
    ASSERT_TRUE(loaded->has_value());
    EXPECT_EQ((*loaded)->promised_epoch, 4U);
    ASSERT_TRUE((*loaded)->base.has_value());
    EXPECT_EQ((*loaded)->base->state, "state");
    EXPECT_TRUE((*loaded)->base->members.empty());
    // The upgraded store keeps a snapshot's member set.
    const std::vector<node_id> later{node_of(1), node_of(5)};
    store->save_snapshot(group, replica::snapshot{3, 1, "next", later});
    ASSERT_TRUE(store->sync().ok());
    store.reset();
    auto reopened = open_ok(path);
    ASSERT_NE(reopened, nullptr);
    auto again = reopened->load(group);
    ASSERT_TRUE(again.ok() && again->has_value());
    EXPECT_EQ((*again)->base->members, later);
}

TEST(sqlite_replica_storage, refuses_corrupt_snapshot_members) {
    temp_dir dir;
    const std::string path = dir.file("replica.db");
    const replica::group_id group = group_of(4);
    {
        auto store = open_ok(path);
        ASSERT_NE(store, nullptr);
        store->save_promise(group, 1, std::vector<node_id>{node_of(1)});
        store->save_snapshot(group, replica::snapshot{1, 1, "s", {node_of(1), node_of(2)}});
        ASSERT_TRUE(store->sync().ok());
    }
    exec_sql(path, "UPDATE groups SET snapshot_members = x'0102'");
    auto store = open_ok(path);
    ASSERT_NE(store, nullptr);
    auto loaded = store->load(group);
    ASSERT_FALSE(loaded.ok());
    EXPECT_NE(loaded.failure().message.find("snapshot members"), std::string::npos)
        << loaded.failure().message;
}

TEST(sqlite_replica_storage, refuses_a_database_of_something_else) {
    temp_dir dir;
    const std::string path = dir.file("other.db");
    exec_sql(path, "CREATE TABLE photos (name TEXT)");
    auto opened = sqlite_replica_storage::open(path);
    ASSERT_FALSE(opened.ok());
    EXPECT_NE(opened.failure().message.find("not a replica store"), std::string::npos)
        << opened.failure().message;
}

TEST(sqlite_replica_storage, reports_a_path_it_cannot_open) {
    temp_dir dir;
    const std::string path = dir.file("missing/replica.db");
    auto opened = sqlite_replica_storage::open(path);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.failure().code, errc::io_error);
    EXPECT_NE(opened.failure().message.find(path), std::string::npos);
}

TEST(sqlite_replica_storage, refuses_a_log_with_a_gap_when_loading) {
    temp_dir dir;
    const std::string path = dir.file("replica.db");
    {
        auto store = open_ok(path);
        store->append(make_id(3), make_entries(1, 3, 1));
        ASSERT_TRUE(store->sync().ok());
    }
    exec_sql(path, "DELETE FROM entries WHERE idx = 2");
    auto store = open_ok(path);
    auto loaded = store->load(make_id(3));
    ASSERT_FALSE(loaded.ok());
    EXPECT_NE(loaded.failure().message.find("gap in its log at 2"), std::string::npos)
        << loaded.failure().message;
}

TEST(sqlite_replica_storage, sync_failure_message_names_the_file_and_the_cause) {
    sqlite_harness harness;
    harness.store->append(make_id(1), make_entries(1, 1, 1));
    harness.fail_syncs(true);
    const status failed = harness.store->sync();
    ASSERT_FALSE(failed.ok());
    EXPECT_NE(failed.failure().message.find(harness.store->path()), std::string::npos);
    EXPECT_NE(failed.failure().message.find("injected fault"), std::string::npos)
        << failed.failure().message;
    EXPECT_GT(harness.store->staged_bytes(), 0U); // kept for the retry
}

/// Manual: entries per second for a few batch sizes, one sync per batch.
/// Run with --gtest_also_run_disabled_tests --gtest_filter='*throughput*'.
TEST(sqlite_replica_storage, DISABLED_throughput) {
    temp_dir dir;
    auto store = open_ok(dir.file("replica.db"));
    std::uint64_t next = 1;
    for (const std::uint64_t batch : {1U, 10U, 1000U}) {
        const std::uint64_t total = batch == 1 ? 2000 : batch == 10 ? 20000 : 200000;
        const auto started = std::chrono::steady_clock::now();
        for (std::uint64_t done = 0; done < total; done += batch) {
            store->append(make_id(1), make_entries(next, next + batch - 1, 1));
            next += batch;
            ASSERT_TRUE(store->sync().ok());
        }
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
        const double seconds = took.count();
        std::printf("batch %5llu: %9.0f entries/s, %7.0f syncs/s\n",
                    static_cast<unsigned long long>(batch), static_cast<double>(total) / seconds,
                    static_cast<double>(total / batch) / seconds);
    }
}

} // namespace
} // namespace reef::runtime
