#include "reef/runtime/command_runner.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <map>
#include <optional>

namespace reef::runtime {
namespace {

/// Runs commands and the io_context until every started run has reported (or `limit` passes).
class harness {
public:
    explicit harness(std::size_t output_max = 1024)
        : runner_(io_, output_max, [this](std::uint64_t run, const result<std::string>& out) {
              outcomes_.emplace(run, out);
          }) {}

    void run_for(std::chrono::milliseconds limit) {
        asio::steady_timer deadline(io_, limit);
        deadline.async_wait([this](auto) { io_.stop(); });
        while (!io_.stopped() && runner_.running() > 0) {
            io_.run_one();
        }
        io_.restart();
    }

    command_runner runner_;
    std::map<std::uint64_t, result<std::string>> outcomes_;

private:
    asio::io_context io_;
};

TEST(command_runner, captures_standard_output) {
    harness test;
    test.runner_.start(1, {"printf", "%s-%s\\n", "10", "20"});
    test.runner_.start(2, {"sh", "-c", "head -c 3000 /dev/zero | tr '\\\\0' x"});
    test.run_for(std::chrono::seconds(20));
    ASSERT_TRUE(test.outcomes_.at(1).ok());
    EXPECT_EQ(*test.outcomes_.at(1), "10-20\n");
    ASSERT_FALSE(test.outcomes_.at(2).ok()); // 3000 bytes > 1024
    EXPECT_NE(test.outcomes_.at(2).failure().message.find("more than 1024"), std::string::npos);
}

TEST(command_runner, a_failing_command_says_how_with_its_error_output) {
    harness test;
    test.runner_.start(1, {"sh", "-c", "echo cannot go on >&2; exit 3"});
    test.runner_.start(2, {"/nonexistent/reef-command"});
    test.runner_.start(3, {"sh", "-c", "kill -9 $$"});
    test.run_for(std::chrono::seconds(20));
    ASSERT_FALSE(test.outcomes_.at(1).ok());
    EXPECT_NE(test.outcomes_.at(1).failure().message.find("exited 3: cannot go on"),
              std::string::npos);
    ASSERT_FALSE(test.outcomes_.at(2).ok());
    EXPECT_NE(test.outcomes_.at(2).failure().message.find("cannot start"), std::string::npos);
    ASSERT_FALSE(test.outcomes_.at(3).ok());
    EXPECT_NE(test.outcomes_.at(3).failure().message.find("killed by signal"),
              std::string::npos);
}

TEST(command_runner, stop_kills_the_command_and_what_it_started) {
    harness test;
    test.runner_.start(1, {"sh", "-c", "sleep 600 & sleep 600; echo never"});
    test.run_for(std::chrono::milliseconds(200));
    EXPECT_EQ(test.runner_.running(), 1U);
    test.runner_.stop(1);
    test.run_for(std::chrono::seconds(20));
    EXPECT_EQ(test.runner_.running(), 0U); // both sleeps died: the pipes closed
    EXPECT_TRUE(test.outcomes_.empty());   // a stopped run reports nothing
}

} // namespace
} // namespace reef::runtime
