#pragma once
// The simulator's virtual clock and event queue.
//
// Thread-safety: none; the simulator is single-threaded.
// Invariants:
//  - virtual time never goes backwards;
//  - events and timers fire in (time, sequence) order, where the sequence number is taken from one
//    counter at scheduling time, so two things due at the same instant run in the order they were
//    scheduled and a run is reproducible from its seed;
//  - each node has at most one pending timer (re-arming moves it, it never duplicates it);
//  - the event queue is bounded: scheduling into a full queue is refused, never grown.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "reef/base/time.hpp"

namespace reef::sim {

using node_index = std::uint32_t;

enum class event_kind : std::uint8_t {
    arrive,  // a message reaches a node's network interface
    process, // a node's CPU finishes handling one queued input (a message or a tick)
};

struct event {
    instant at;
    std::uint64_t sequence = 0;
    event_kind kind = event_kind::arrive;
    node_index node = 0;
    std::uint32_t life = 0;    // the node's life (restart count) the event belongs to
    std::uint32_t payload = 0; // index into the driver's payload table
};

/// Min-heap of events on (at, sequence), with a hard capacity.
class event_queue {
public:
    explicit event_queue(std::size_t capacity);

    /// False (and nothing is queued) when the queue is full.
    [[nodiscard]] bool try_push(const event& item);
    event pop();
    const event& top() const;
    bool empty() const { return heap_.empty(); }
    std::size_t size() const { return heap_.size(); }
    std::size_t capacity() const { return capacity_; }

private:
    std::vector<event> heap_;
    std::size_t capacity_;
};

/// One timer per node in an indexed min-heap on (at, sequence): arming a node that already has a
/// timer moves that timer instead of adding a second one.
class timer_heap {
public:
    struct entry {
        instant at;
        std::uint64_t sequence = 0;
        node_index node = 0;
    };

    explicit timer_heap(std::size_t nodes_count);

    void arm(node_index node, instant at, std::uint64_t sequence);
    void cancel(node_index node);
    bool armed(node_index node) const;
    /// The armed deadline of `node`; instant::never() when it has none.
    instant deadline(node_index node) const;

    bool empty() const { return heap_.empty(); }
    std::size_t size() const { return heap_.size(); }
    const entry& top() const;
    entry pop();

    void check_invariants() const;

private:
    static constexpr std::uint32_t position_none = std::numeric_limits<std::uint32_t>::max();
    static bool before(const entry& a, const entry& b);
    void sift_up(std::size_t index);
    void sift_down(std::size_t index);
    void place(std::size_t index, const entry& item);
    void remove_at(std::size_t index);

    std::vector<entry> heap_;
    std::vector<std::uint32_t> position_; // heap index of each node's timer, or position_none
};

/// The virtual clock plus the two queues it drains.
class scheduler {
public:
    struct fired {
        bool is_timer = false;
        event item;              // when !is_timer
        timer_heap::entry timer; // when is_timer
    };

    scheduler(std::size_t nodes_count, std::size_t events_max);

    instant now() const { return now_; }

    /// Queue an event at `at` (>= now). False when the event queue is full.
    [[nodiscard]] bool schedule(instant at, event_kind kind, node_index node, std::uint32_t life,
                                std::uint32_t payload);
    /// Set `node`'s one timer to `at` (>= now), replacing any earlier setting.
    void arm_timer(node_index node, instant at);
    void cancel_timer(node_index node);
    bool timer_armed(node_index node) const { return timers_.armed(node); }
    instant timer_deadline(node_index node) const { return timers_.deadline(node); }

    /// The next event or timer due at or before `limit`, in (time, sequence) order; the clock moves
    /// to its time. Nothing (and the clock stays) when nothing is due by `limit`.
    std::optional<fired> pop_until(instant limit);
    /// Move the clock forward to `to` (never backwards).
    void advance_to(instant to);

    std::size_t events_pending() const { return events_.size(); }
    std::size_t timers_pending() const { return timers_.size(); }

private:
    instant now_;
    std::uint64_t sequence_ = 0;
    event_queue events_;
    timer_heap timers_;
};

} // namespace reef::sim
