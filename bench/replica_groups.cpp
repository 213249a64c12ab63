// Replica groups at rest and at work, in one process (bench/README.md, "replica_groups").
//
//  1. Idle groups: create G groups of 3 members (3 cores each, one per member), commit one entry
//     in each, deliver everything, and measure the heap per group (all three members' cores) and
//     how many cores still have a deadline (an idle group must have none: no per-group timers).
//  2. Commit path without I/O: one 3-member group, commands submitted in batches and delivered
//     through an in-memory queue; prints commits/s of the protocol alone, the ceiling that fsync
//     and the network then lower.
//
// Usage: replica_groups [--groups G] [--commits N] [--batch B]

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "reef/replica/group.hpp"
#include "replica_bench_support.hpp"

namespace {

using reef::instant;
using reef::node_id;
using reef::bench::flag;
using reef::bench::member_id;
namespace replica = reef::replica;

std::size_t heap_bytes() {
    const struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

struct message_in_flight {
    std::size_t group = 0;
    std::size_t from = 0;
    std::size_t to = 0;
    replica::message body;
};

/// G groups x 3 members; effects executed at once (persists dropped: no I/O in this bench).
class world {
public:
    explicit world(std::size_t groups) {
        members_ = {member_id(1), member_id(2), member_id(3)};
        cores_.reserve(groups * 3);
        for (std::size_t g = 0; g < groups; ++g) {
            reef::id256::bytes_type bytes{};
            std::memcpy(bytes.data(), &g, sizeof(g));
            for (std::size_t m = 0; m < 3; ++m) {
                cores_.push_back(std::make_unique<replica::group>(
                    replica::group_config{}, reef::id256{bytes}, members_[m], members_,
                    std::nullopt, g * 3 + m, now_));
            }
        }
    }

    replica::group& core(std::size_t group, std::size_t member) {
        return *cores_[group * 3 + member];
    }

    void drain(std::size_t group, std::size_t member) {
        for (auto& produced : core(group, member).take_effects()) {
            if (auto* out = std::get_if<replica::send>(&produced)) {
                const std::size_t to = out->to == members_[0] ? 0 : out->to == members_[1] ? 1 : 2;
                queue_.push_back({group, member, to, std::move(out->body)});
            } else if (std::holds_alternative<replica::apply>(produced)) {
                ++applied_;
            }
        }
    }

    void deliver_all() {
        while (!queue_.empty()) {
            auto item = std::move(queue_.front());
            queue_.pop_front();
            core(item.group, item.to).on_message(now_, members_[item.from], item.body);
            drain(item.group, item.to);
        }
    }

    std::size_t with_deadline() const {
        std::size_t count = 0;
        for (const auto& one : cores_) {
            count += one->next_deadline() != instant::never() ? 1 : 0;
        }
        return count;
    }

    std::size_t applied() const { return applied_; }
    instant now() const { return now_; }

private:
    instant now_ = instant::from_ns(1'000'000'000);
    std::vector<node_id> members_;
    std::vector<std::unique_ptr<replica::group>> cores_;
    std::deque<message_in_flight> queue_;
    std::size_t applied_ = 0;
};

} // namespace

int main(int argc, char** argv) {
    const std::size_t groups = flag(argc, argv, "--groups", 10'000);
    const std::size_t commits = flag(argc, argv, "--commits", 200'000);
    const std::size_t batch = flag(argc, argv, "--batch", 64);

    const std::size_t before = heap_bytes();
    auto idle = std::make_unique<world>(groups);
    for (std::size_t g = 0; g < groups; ++g) {
        (void)idle->core(g, 0).submit(idle->now(), {1, 1}, "incr");
        idle->drain(g, 0);
    }
    idle->deliver_all();
    const std::size_t after = heap_bytes();
    std::printf("replica.idle.groups: %zu count\n", groups);
    std::printf("replica.idle.applied: %zu entries (3 per group expected)\n", idle->applied());
    std::printf("replica.idle.heap_per_group: %.0f bytes (3 member cores, 1 entry each)\n",
                static_cast<double>(after - before) / static_cast<double>(groups));
    std::printf("replica.idle.cores_with_a_deadline: %zu of %zu (0 = no per-group timers)\n",
                idle->with_deadline(), groups * 3);
    idle.reset();

    world busy(1);
    const auto start = std::chrono::steady_clock::now();
    std::size_t submitted = 0;
    while (submitted < commits) {
        for (std::size_t i = 0; i < batch && submitted < commits; ++i) {
            ++submitted;
            (void)busy.core(0, 0).submit(busy.now(), {1, submitted}, "incr");
        }
        busy.drain(0, 0);
        busy.deliver_all();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("replica.protocol_only.commits_per_second: %.0f (batch %zu, 3 members, no I/O)\n",
                static_cast<double>(busy.applied()) / 3.0 / seconds, batch);
    return busy.applied() == commits * 3 ? 0 : 1;
}
