// The embedded node in-process: start and stop, errors at start, task registration, and jobs
// submitted through spawn().

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numbers>
#include <string>

#include <gtest/gtest.h>

#include "reef/sdk.hpp"

namespace reef::sdk {
namespace {

namespace fs = std::filesystem;

class NodeTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "reef-sdk-test-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        root_ = pattern;
    }
    void TearDown() override {
        std::error_code ignored;
        fs::remove_all(root_, ignored);
    }
    std::string dir(const std::string& name) const { return (root_ / name).string(); }

    fs::path root_;
};

TEST_F(NodeTest, StartsAndStops) {
    auto node = init(dir("a"), 0);
    EXPECT_EQ(node->id().size(), 64U);
    EXPECT_EQ(node->address().rfind("127.0.0.1:", 0), 0U) << node->address();
    EXPECT_TRUE(fs::exists(node->control_socket()));
    EXPECT_TRUE(fs::exists(dir("a") + "/cluster.key"));
    node->stop();
    node->stop();
    EXPECT_FALSE(fs::exists(node->control_socket()));
    EXPECT_THROW(node->spawn("pi", 10).get(), error);
    EXPECT_THROW(node->register_task("late", [](auto, auto, auto) { return 0.0; }), error);
}

TEST_F(NodeTest, RestartsOnItsDataDirAsTheSameNode) {
    std::string first_id;
    {
        auto node = init(dir("a"), 0);
        first_id = node->id();
    }
    auto again = init(dir("a"), 0);
    EXPECT_EQ(again->id(), first_id);
}

TEST_F(NodeTest, ReportsWhyItCannotStart) {
    auto running = init(dir("a"), 0);
    EXPECT_THROW(init(dir("a"), 0), error); // the data dir is locked
    node_options joining;
    joining.data_dir = dir("b");
    joining.join = {running->address()};
    try {
        (void)node::start(joining);
        FAIL() << "a joining node without the cluster key started";
    } catch (const error& failure) {
        EXPECT_NE(std::string(failure.what()).find("cluster key file"), std::string::npos)
            << failure.what();
    }
    node_options bad;
    bad.data_dir = dir("c");
    bad.listen = "nonsense";
    EXPECT_THROW(node::start(bad), error);
    bad.listen = "127.0.0.1:0";
    bad.log_level = "loud";
    EXPECT_THROW(node::start(bad), error);
    EXPECT_THROW(node::start(node_options{}), error); // no data dir
}

TEST_F(NodeTest, RegistersTasksOnce) {
    auto node = init(dir("a"), 0);
    const auto zero = [](std::uint64_t, std::uint64_t, std::uint64_t) { return 0.0; };
    node->register_task("zero", zero);
    EXPECT_THROW(node->register_task("zero", zero), error);
    EXPECT_THROW(node->register_task("", zero), error);
    EXPECT_THROW(node->register_task(std::string(65, 'x'), zero), error);
    EXPECT_THROW(node->register_task("empty", task_function{}), error);
}

/// A future's result, failing the test instead of hanging when it does not come.
job_result result_of(std::future<job_result>& pending) {
    if (pending.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
        throw error("no result within 120 s");
    }
    return pending.get();
}

TEST_F(NodeTest, TwoEmbeddedNodesComputeJobs) {
    auto first = init(dir("a"), 0);
    node_options options;
    options.data_dir = dir("b");
    options.join = {first->address()};
    options.cluster_key_file = dir("a") + "/cluster.key";
    auto second = node::start(options);
    const auto count = [](std::uint64_t, std::uint64_t begin, std::uint64_t end) {
        return static_cast<double>(end - begin);
    };
    first->register_task("count", count);
    second->register_task("count", count);

    auto pi = second->spawn("pi", 400'000, 3);
    auto counted = first->spawn("count", 123'456);
    const job_result estimate = result_of(pi);
    EXPECT_NEAR(estimate.value, std::numbers::pi, 0.01);
    EXPECT_EQ(estimate.samples, 400'000U);
    EXPECT_EQ(estimate.task, "pi");
    EXPECT_FALSE(estimate.job.empty());
    const job_result total = result_of(counted);
    EXPECT_EQ(total.value, 123'456.0);
    EXPECT_EQ(total.sum, 123'456.0);
    EXPECT_EQ(total.samples, 123'456U);
    EXPECT_GT(estimate.seconds, 0.0);
}

} // namespace
} // namespace reef::sdk
