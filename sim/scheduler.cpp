#include "sim/scheduler.hpp"

#include <algorithm>
#include <functional>

#include "reef/base/assert.hpp"

namespace reef::sim {

namespace {

// std::push_heap builds a max-heap, so "greater" puts the earliest event on top.
bool later(const event& a, const event& b) {
    if (a.at != b.at) {
        return a.at > b.at;
    }
    return a.sequence > b.sequence;
}

} // namespace

event_queue::event_queue(std::size_t capacity) : capacity_(capacity) {
    REEF_ASSERT(capacity > 0);
}

bool event_queue::try_push(const event& item) {
    if (heap_.size() >= capacity_) {
        return false;
    }
    heap_.push_back(item);
    std::push_heap(heap_.begin(), heap_.end(), later);
    REEF_ASSERT(heap_.size() <= capacity_);
    return true;
}

event event_queue::pop() {
    REEF_ASSERT(!heap_.empty());
    std::pop_heap(heap_.begin(), heap_.end(), later);
    const event item = heap_.back();
    heap_.pop_back();
    return item;
}

const event& event_queue::top() const {
    REEF_ASSERT(!heap_.empty());
    return heap_.front();
}

timer_heap::timer_heap(std::size_t nodes_count) : position_(nodes_count, position_none) {
    REEF_ASSERT(nodes_count < position_none);
    heap_.reserve(nodes_count);
}

bool timer_heap::before(const entry& a, const entry& b) {
    if (a.at != b.at) {
        return a.at < b.at;
    }
    return a.sequence < b.sequence;
}

void timer_heap::place(std::size_t index, const entry& item) {
    heap_[index] = item;
    position_[item.node] = static_cast<std::uint32_t>(index);
}

void timer_heap::sift_up(std::size_t index) {
    const entry item = heap_[index];
    while (index > 0) {
        const std::size_t parent = (index - 1) / 2;
        if (!before(item, heap_[parent])) {
            break;
        }
        place(index, heap_[parent]);
        index = parent;
    }
    place(index, item);
}

void timer_heap::sift_down(std::size_t index) {
    const entry item = heap_[index];
    const std::size_t count = heap_.size();
    while (true) {
        const std::size_t left = 2 * index + 1;
        if (left >= count) {
            break;
        }
        std::size_t child = left;
        if (left + 1 < count && before(heap_[left + 1], heap_[left])) {
            child = left + 1;
        }
        if (!before(heap_[child], item)) {
            break;
        }
        place(index, heap_[child]);
        index = child;
    }
    place(index, item);
}

void timer_heap::remove_at(std::size_t index) {
    REEF_ASSERT(index < heap_.size());
    position_[heap_[index].node] = position_none;
    const entry last = heap_.back();
    heap_.pop_back();
    if (index == heap_.size()) {
        return;
    }
    place(index, last);
    sift_up(index);
    sift_down(position_[last.node]);
}

void timer_heap::arm(node_index node, instant at, std::uint64_t sequence) {
    REEF_ASSERT(node < position_.size());
    const entry item{at, sequence, node};
    const std::uint32_t position = position_[node];
    if (position == position_none) {
        heap_.push_back(item);
        place(heap_.size() - 1, item);
        sift_up(heap_.size() - 1);
    } else {
        place(position, item);
        sift_up(position);
        sift_down(position_[node]);
    }
    REEF_ASSERT(armed(node));
}

void timer_heap::cancel(node_index node) {
    REEF_ASSERT(node < position_.size());
    if (position_[node] != position_none) {
        remove_at(position_[node]);
    }
    REEF_ASSERT(!armed(node));
}

bool timer_heap::armed(node_index node) const {
    REEF_ASSERT(node < position_.size());
    return position_[node] != position_none;
}

instant timer_heap::deadline(node_index node) const {
    return armed(node) ? heap_[position_[node]].at : instant::never();
}

const timer_heap::entry& timer_heap::top() const {
    REEF_ASSERT(!heap_.empty());
    return heap_.front();
}

timer_heap::entry timer_heap::pop() {
    REEF_ASSERT(!heap_.empty());
    const entry item = heap_.front();
    remove_at(0);
    REEF_ASSERT(!armed(item.node));
    return item;
}

void timer_heap::check_invariants() const {
    std::size_t armed_count = 0;
    for (std::size_t node = 0; node < position_.size(); ++node) {
        if (position_[node] == position_none) {
            continue;
        }
        ++armed_count;
        REEF_ASSERT(position_[node] < heap_.size());
        REEF_ASSERT(heap_[position_[node]].node == node);
    }
    REEF_ASSERT(armed_count == heap_.size());
    for (std::size_t index = 1; index < heap_.size(); ++index) {
        REEF_ASSERT(!before(heap_[index], heap_[(index - 1) / 2]));
    }
}

scheduler::scheduler(std::size_t nodes_count, std::size_t events_max)
    : events_(events_max), timers_(nodes_count) {}

bool scheduler::schedule(instant at, event_kind kind, node_index node, std::uint32_t life,
                         std::uint32_t payload) {
    REEF_ASSERT(at >= now_);
    REEF_ASSERT(at != instant::never());
    return events_.try_push(event{at, sequence_++, kind, node, life, payload});
}

void scheduler::arm_timer(node_index node, instant at) {
    REEF_ASSERT(at >= now_);
    REEF_ASSERT(at != instant::never());
    timers_.arm(node, at, sequence_++);
}

void scheduler::cancel_timer(node_index node) { timers_.cancel(node); }

std::optional<scheduler::fired> scheduler::pop_until(instant limit) {
    const bool have_event = !events_.empty() && events_.top().at <= limit;
    const bool have_timer = !timers_.empty() && timers_.top().at <= limit;
    if (!have_event && !have_timer) {
        return std::nullopt;
    }
    bool take_timer = have_timer;
    if (have_event && have_timer) {
        const event& next_event = events_.top();
        const timer_heap::entry& next_timer = timers_.top();
        take_timer = next_timer.at < next_event.at ||
                     (next_timer.at == next_event.at && next_timer.sequence < next_event.sequence);
    }
    fired result;
    result.is_timer = take_timer;
    if (take_timer) {
        result.timer = timers_.pop();
        REEF_ASSERT(result.timer.at >= now_);
        now_ = result.timer.at;
    } else {
        result.item = events_.pop();
        REEF_ASSERT(result.item.at >= now_);
        now_ = result.item.at;
    }
    return result;
}

void scheduler::advance_to(instant to) {
    REEF_ASSERT(to >= now_);
    REEF_ASSERT(events_.empty() || events_.top().at >= to);
    REEF_ASSERT(timers_.empty() || timers_.top().at >= to);
    now_ = to;
}

} // namespace reef::sim
