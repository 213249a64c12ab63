#include "reef/runtime/daemon.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include "reef/membership/swim.hpp"
#include "reef/node/node.hpp"
#include "reef/runtime/data_dir.hpp"
#include "reef/runtime/identity_store.hpp"

namespace reef::runtime {
namespace {

namespace fs = std::filesystem;

// Generous bound for a condition on a real loopback cluster; it stops a broken test, it is not
// what the test measures.
constexpr auto wait_max = std::chrono::seconds(60);

class daemon_test : public ::testing::Test {
protected:
    fs::path root;
    asio::io_context io;

    void SetUp() override {
        root = fs::path("/tmp") / ("reef-daemon-" + std::to_string(::getpid()) + "-" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root);
        fs::create_directories(root);
        auto key = create_cluster_key((root / "cluster.key").string());
        ASSERT_TRUE(key.ok()) << key.failure().describe();
    }
    void TearDown() override { fs::remove_all(root); }

    settings settings_for(const std::string& name, std::vector<std::string> join = {}) const {
        settings out;
        out.data_dir = (root / name).string();
        out.listen = "127.0.0.1:0";
        out.cluster_key = (root / "cluster.key").string();
        out.join = std::move(join);
        return out;
    }

    std::unique_ptr<daemon> start(const settings& effective) {
        auto started = daemon::start(io, effective);
        EXPECT_TRUE(started.ok()) << started.failure().describe();
        return started.ok() ? std::move(*started) : nullptr;
    }

    // Runs the loop until two nodes see each other (a cluster of two).
    bool both_joined(const daemon& a, const daemon& b) {
        return run_until([&] {
            return a.local_node().cluster_size() == 2 && b.local_node().cluster_size() == 2;
        });
    }

    // Runs the loop until `done` holds (checked every 20 ms) or the bound passes.
    bool run_until(const std::function<bool()>& done) {
        bool reached = false;
        const auto give_up = std::chrono::steady_clock::now() + wait_max;
        asio::steady_timer poll(io);
        std::function<void()> check = [&] {
            if (done()) {
                reached = true;
                io.stop();
                return;
            }
            if (std::chrono::steady_clock::now() >= give_up) {
                io.stop();
                return;
            }
            poll.expires_after(std::chrono::milliseconds(20));
            poll.async_wait([&](const std::error_code& failure) {
                if (!failure) {
                    check();
                }
            });
        };
        check();
        io.restart();
        io.run();
        return reached;
    }

    // One HTTP exchange with `target`'s control socket, driven by the test's loop; the raw reply.
    std::string ask(const daemon& target, const std::string& method, const std::string& path,
                    const std::string& body) {
        asio::local::stream_protocol::socket socket(io);
        socket.connect(asio::local::stream_protocol::endpoint(target.control_socket_path()));
        const std::string text = method + " " + path + " HTTP/1.1\r\nHost: reef\r\n" +
                                 "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                                 body;
        std::string reply;
        bool done = false;
        asio::async_write(socket, asio::buffer(text), [](const std::error_code&, std::size_t) {});
        asio::async_read(socket, asio::dynamic_buffer(reply),
                         [&](const std::error_code&, std::size_t) { done = true; });
        EXPECT_TRUE(run_until([&] { return done; }));
        return reply;
    }

    // Sends every request at once to `target`'s control socket, each on its own connection, and
    // runs the loop until all are answered; the raw replies, in the order of `bodies`.
    std::vector<std::string> ask_together(const daemon& target, const std::string& path,
                                          const std::vector<std::string>& bodies) {
        std::vector<std::unique_ptr<asio::local::stream_protocol::socket>> sockets;
        std::vector<std::string> texts;
        std::vector<std::string> replies(bodies.size());
        std::size_t done = 0;
        for (const auto& body : bodies) {
            texts.push_back("POST " + path + " HTTP/1.1\r\nHost: reef\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body);
        }
        for (std::size_t i = 0; i < bodies.size(); ++i) {
            auto socket = std::make_unique<asio::local::stream_protocol::socket>(io);
            socket->connect(asio::local::stream_protocol::endpoint(target.control_socket_path()));
            asio::async_write(*socket, asio::buffer(texts[i]),
                              [](const std::error_code&, std::size_t) {});
            asio::async_read(*socket, asio::dynamic_buffer(replies[i]),
                             [&](const std::error_code&, std::size_t) { ++done; });
            sockets.push_back(std::move(socket));
        }
        EXPECT_TRUE(run_until([&] { return done == bodies.size(); }));
        return replies;
    }

    static std::optional<membership::member_state> state_of(const daemon& viewer,
                                                            const daemon& viewed) {
        for (const auto& member : viewer.local_node().members()) {
            if (member.update.id == viewed.local_node().self()) {
                return member.update.state;
            }
        }
        return std::nullopt;
    }
};

TEST_F(daemon_test, two_daemons_join_and_a_leave_is_seen_as_left) {
    auto first = start(settings_for("a"));
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(first->address().rfind("127.0.0.1:", 0), 0U);
    EXPECT_NE(first->address(), "127.0.0.1:0");
    EXPECT_TRUE(fs::exists(first->control_socket_path()));
    auto second = start(settings_for("b", {first->address()}));
    ASSERT_NE(second, nullptr);

    ASSERT_TRUE(both_joined(*first, *second));
    EXPECT_EQ(state_of(*first, *second), membership::member_state::alive);

    bool stopped = false;
    second->set_stopped_handler([&] { stopped = true; });
    second->leave("test");
    EXPECT_TRUE(second->local_node().has_left());
    ASSERT_TRUE(run_until([&] {
        return stopped && state_of(*first, *second) == membership::member_state::left;
    }));
    EXPECT_TRUE(second->stopped());
    EXPECT_FALSE(fs::exists(second->control_socket_path()));
    EXPECT_EQ(first->local_node().cluster_size(), 1U);
    // The effective settings were saved for a restart with only --data-dir.
    EXPECT_TRUE(fs::exists(root / "b" / "settings.toml"));
}

TEST_F(daemon_test, a_record_put_on_one_node_is_read_on_another_through_the_control_api) {
    auto first = start(settings_for("a"));
    ASSERT_NE(first, nullptr);
    auto second = start(settings_for("b", {first->address()}));
    ASSERT_NE(second, nullptr);
    ASSERT_TRUE(run_until([&] {
        return first->local_node().dht().table().size() == 1 &&
               second->local_node().dht().table().size() == 1;
    }));
    const std::string put =
        ask(*first, "POST", "/v1/dht/put", R"({"name": "greeting", "value": "hello"})");
    ASSERT_EQ(put.rfind("HTTP/1.1 200", 0), 0U) << put;
    const std::string publisher = first->local_node().self().hex();
    EXPECT_NE(put.find("\"reference\":\"" + publisher + "/greeting\""), std::string::npos)
        << put;
    const std::string got =
        ask(*second, "POST", "/v1/dht/get",
            R"({"publisher": ")" + publisher + R"(", "name": "greeting"})");
    ASSERT_EQ(got.rfind("HTTP/1.1 200", 0), 0U) << got;
    EXPECT_NE(got.find("\"value\":\"hello\""), std::string::npos) << got;
    const std::string missing = ask(*second, "POST", "/v1/dht/get",
                                    R"({"publisher": ")" + publisher + R"(", "name": "nope"})");
    EXPECT_EQ(missing.rfind("HTTP/1.1 404", 0), 0U) << missing;
    const std::string bad = ask(*second, "POST", "/v1/dht/get", R"({"key": "zz"})");
    EXPECT_EQ(bad.rfind("HTTP/1.1 400", 0), 0U) << bad;
    EXPECT_NE(bad.find("key must be 64 hex digits"), std::string::npos) << bad;
    const std::string closest =
        ask(*second, "POST", "/v1/dht/closest", R"({"target": ")" + publisher + R"("})");
    ASSERT_EQ(closest.rfind("HTTP/1.1 200", 0), 0U) << closest;
    EXPECT_NE(closest.find(publisher), std::string::npos) << closest;
}

TEST_F(daemon_test, kv_answers_come_through_the_control_api_and_survive_a_restart) {
    auto first = start(settings_for("a"));
    ASSERT_NE(first, nullptr);
    {
        auto second = start(settings_for("b", {first->address()}));
        ASSERT_NE(second, nullptr);
        ASSERT_TRUE(both_joined(*first, *second));
        for (int round = 1; round <= 3; ++round) {
            const auto& asked = round % 2 == 0 ? *first : *second;
            const std::string added = ask(asked, "POST", "/v1/kv", R"({"op": "incr", "key": "c"})");
            ASSERT_EQ(added.rfind("HTTP/1.1 200", 0), 0U) << added;
            EXPECT_NE(added.find("\"value\":\"" + std::to_string(round) + "\""),
                      std::string::npos)
                << added;
        }
        const std::string swapped =
            ask(*first, "POST", "/v1/kv",
                R"({"op": "cas", "key": "c", "expected": "9", "value": "x"})");
        ASSERT_EQ(swapped.rfind("HTTP/1.1 200", 0), 0U) << swapped;
        EXPECT_NE(swapped.find("\"ok\":false"), std::string::npos) << swapped;
        const std::string bad = ask(*first, "POST", "/v1/kv", R"({"op": "get", "key": ""})");
        EXPECT_EQ(bad.rfind("HTTP/1.1 400", 0), 0U) << bad;
        const std::string status = ask(*first, "GET", "/v1/status", "");
        const auto replica_facts = status.find("\"replica\":{");
        ASSERT_NE(replica_facts, std::string::npos) << status;
        EXPECT_NE(status.find("\"groups\":1,", replica_facts), std::string::npos) << status;
        second->stop_now();
    }
    EXPECT_TRUE(fs::exists(root / "b" / "replica.db"));
    // Both were members of the key's group (only two nodes): b recovers it from replica.db.
    auto again = start(settings_for("b", {first->address()}));
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->local_node().replicas().groups_count(), 1U);
    ASSERT_TRUE(run_until([&] { return again->local_node().cluster_size() == 2; }));
    const std::string got = ask(*again, "POST", "/v1/kv", R"({"op": "get", "key": "c"})");
    ASSERT_EQ(got.rfind("HTTP/1.1 200", 0), 0U) << got;
    EXPECT_NE(got.find("\"value\":\"3\""), std::string::npos) << got;
}

TEST_F(daemon_test, kv_requests_that_arrive_together_are_all_answered_and_durable) {
    auto first = start(settings_for("a"));
    ASSERT_NE(first, nullptr);
    {
        auto second = start(settings_for("b", {first->address()}));
        ASSERT_NE(second, nullptr);
        ASSERT_TRUE(both_joined(*first, *second));
        // Many inputs ready at once share syncs; each answer still follows its own write. Every
        // increment names its own client: one client has one request outstanding at a time.
        constexpr int increments = 24;
        const auto bodies_from = [&](int first_client) {
            std::vector<std::string> bodies;
            for (int i = 0; i < increments; ++i) {
                bodies.push_back(R"({"op": "incr", "key": "shared", "request": {"client": )" +
                                 std::to_string(first_client + i) + R"(, "sequence": 1}})");
                bodies.push_back(R"({"op": "put", "key": "k)" + std::to_string(i) +
                                 R"(", "value": "v"})");
            }
            return bodies;
        };
        std::set<std::string> counted;
        for (const auto* asked : {first.get(), second.get()}) {
            const auto replies =
                ask_together(*asked, "/v1/kv", bodies_from(asked == first.get() ? 1 : 1001));
            for (std::size_t i = 0; i < replies.size(); ++i) {
                ASSERT_EQ(replies[i].rfind("HTTP/1.1 200", 0), 0U) << replies[i];
                const auto at = replies[i].find("\"value\":\"");
                if (i % 2 == 0 && at != std::string::npos) {
                    const auto from = at + std::string_view("\"value\":\"").size();
                    counted.insert(replies[i].substr(from, replies[i].find('"', from) - from));
                }
            }
        }
        // Every increment was applied once and answered with its own value.
        EXPECT_EQ(counted.size(), std::size_t{2 * increments});
        second->stop_now();
    }
    auto again = start(settings_for("b", {first->address()}));
    ASSERT_NE(again, nullptr);
    ASSERT_TRUE(run_until([&] { return again->local_node().cluster_size() == 2; }));
    const std::string got = ask(*again, "POST", "/v1/kv", R"({"op": "get", "key": "shared"})");
    ASSERT_EQ(got.rfind("HTTP/1.1 200", 0), 0U) << got;
    EXPECT_NE(got.find("\"value\":\"48\""), std::string::npos) << got;
}

TEST_F(daemon_test, a_replica_store_that_cannot_be_opened_names_the_file) {
    const auto where = root / "a";
    fs::create_directories(where);
    {
        std::FILE* garbage = std::fopen((where / "replica.db").c_str(), "wb");
        ASSERT_NE(garbage, nullptr);
        std::fputs("this is not a SQLite database, not even close to one at all\n", garbage);
        std::fclose(garbage);
    }
    auto started = daemon::start(io, settings_for("a"));
    ASSERT_FALSE(started.ok());
    EXPECT_NE(started.failure().message.find("replica.db"), std::string::npos)
        << started.failure().message;
}

TEST_F(daemon_test, a_restarted_node_comes_back_with_a_higher_incarnation) {
    auto first = start(settings_for("a"));
    ASSERT_NE(first, nullptr);
    std::uint64_t before = 0;
    {
        auto second = start(settings_for("b", {first->address()}));
        ASSERT_NE(second, nullptr);
        ASSERT_TRUE(run_until([&] { return first->local_node().cluster_size() == 2; }));
        before = second->local_node().incarnation();
        second->stop_now();
    }
    auto again = start(settings_for("b", {first->address()}));
    ASSERT_NE(again, nullptr);
    EXPECT_GT(again->local_node().incarnation(), before);
    ASSERT_TRUE(run_until([&] {
        for (const auto& member : first->local_node().members()) {
            if (member.update.id == again->local_node().self()) {
                return member.update.state == membership::member_state::alive &&
                       member.update.incarnation > before;
            }
        }
        return false;
    }));
}

TEST_F(daemon_test, a_second_daemon_on_the_same_data_dir_is_refused) {
    auto first = start(settings_for("a"));
    ASSERT_NE(first, nullptr);
    auto second = daemon::start(io, settings_for("a"));
    ASSERT_FALSE(second.ok());
    EXPECT_NE(second.failure().message.find("in use by another reefd"), std::string::npos)
        << second.failure().message;
}

TEST_F(daemon_test, a_taken_listen_port_is_a_clear_failure) {
    asio::ip::tcp::acceptor taken(io, {asio::ip::make_address("127.0.0.1"), 0});
    settings effective = settings_for("a");
    effective.listen = "127.0.0.1:" + std::to_string(taken.local_endpoint().port());
    auto started = daemon::start(io, effective);
    ASSERT_FALSE(started.ok());
    EXPECT_NE(started.failure().message.find("cannot listen on " + effective.listen),
              std::string::npos)
        << started.failure().message;
    EXPECT_NE(started.failure().message.find("in use"), std::string::npos);
    // A failed start leaves no settings behind to be reused.
    EXPECT_FALSE(fs::exists(root / "a" / "settings.toml"));
    EXPECT_FALSE(fs::exists(root / "a" / "control.sock"));
}

TEST_F(daemon_test, a_missing_cluster_key_names_the_file) {
    settings effective = settings_for("a");
    effective.cluster_key = (root / "absent.key").string();
    auto started = daemon::start(io, effective);
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.failure().message.rfind("cluster key file " + effective.cluster_key, 0), 0U)
        << started.failure().message;
}

TEST_F(daemon_test, a_malformed_cluster_key_names_the_file) {
    settings effective = settings_for("a");
    effective.cluster_key = (root / "bad.key").string();
    ASSERT_TRUE(write_file_durably(effective.cluster_key, "not a key\n", 0600).ok());
    auto started = daemon::start(io, effective);
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.failure().message.rfind("cluster key file " + effective.cluster_key, 0), 0U)
        << started.failure().message;
}

TEST_F(daemon_test, an_unreachable_seed_does_not_stop_the_node) {
    asio::ip::tcp::acceptor reserved(io, {asio::ip::make_address("127.0.0.1"), 0});
    const std::string nowhere = "127.0.0.1:" + std::to_string(reserved.local_endpoint().port());
    reserved.close();
    auto lonely = start(settings_for("a", {nowhere}));
    ASSERT_NE(lonely, nullptr);
    // The seed is retried, and every failure reaches the node without harming it.
    ASSERT_TRUE(run_until([&] { return lonely->local_node().stats().unreachable_reports >= 2; }));
    EXPECT_FALSE(lonely->stopped());
    EXPECT_EQ(lonely->local_node().cluster_size(), 1U);
}

} // namespace
} // namespace reef::runtime
