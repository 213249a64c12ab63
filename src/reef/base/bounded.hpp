#pragma once
// Containers with a hard capacity. A full container refuses new elements (the caller turns that
// into backpressure or a clear error); it never grows without bound and never drops silently.

#include <cstddef>
#include <deque>
#include <utility>

#include "reef/base/assert.hpp"

namespace reef {

template <typename T>
class bounded_queue {
public:
    explicit bounded_queue(std::size_t capacity) : capacity_(capacity) {
        REEF_ASSERT(capacity > 0);
    }

    /// False (and the element is not taken) when the queue is full.
    [[nodiscard]] bool try_push(T value) {
        if (items_.size() >= capacity_) {
            return false;
        }
        items_.push_back(std::move(value));
        REEF_ASSERT(items_.size() <= capacity_);
        return true;
    }

    T pop() {
        REEF_ASSERT(!items_.empty());
        T value = std::move(items_.front());
        items_.pop_front();
        return value;
    }

    const T& front() const {
        REEF_ASSERT(!items_.empty());
        return items_.front();
    }
    bool empty() const { return items_.empty(); }
    bool full() const { return items_.size() >= capacity_; }
    std::size_t size() const { return items_.size(); }
    std::size_t capacity() const { return capacity_; }
    void clear() { items_.clear(); }

private:
    std::deque<T> items_;
    std::size_t capacity_;
};

} // namespace reef
