#pragma once
// A node's simulated disk: what survives a crash. Only what was fsynced survives; a write whose
// fsync had not completed when the machine died is lost (FoundationDB's AsyncFileNonDurable, in
// miniature). The membership driver keeps one value on it: the incarnation file that reefd bumps
// and fsyncs at every start (docs/ARCHITECTURE.md, "One node on disk").
//
// Thread-safety: none. Invariant: the durable value is always one that was written.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "reef/base/assert.hpp"
#include "reef/base/time.hpp"

namespace reef::sim {

class sim_disk {
public:
    /// Writes whose fsync is still running; a further write waits for the oldest to settle.
    static constexpr std::size_t pending_max = 16;

    /// The value a running process reads back (its own latest write, durable or not).
    std::uint64_t read() const { return pending_.empty() ? durable_ : pending_.back().value; }
    /// What a crash at `at` would leave on the disk. fsyncs complete in write order.
    std::uint64_t durable_at(instant at) const {
        std::uint64_t value = durable_;
        for (const pending_write& write : pending_) {
            if (write.synced_at > at) {
                break;
            }
            value = write.value;
        }
        return value;
    }

    /// Write `value` at `now`; its fsync completes at `synced_at` (never before an earlier one's).
    void write(std::uint64_t value, instant now, instant synced_at) {
        REEF_ASSERT(synced_at >= now);
        settle(now);
        if (!pending_.empty()) {
            synced_at = max(synced_at, pending_.back().synced_at);
        }
        REEF_ASSERT(pending_.size() < pending_max);
        pending_.push_back(pending_write{value, synced_at});
        ++writes_;
        REEF_ASSERT(read() == value);
    }
    /// The machine died at `at`: unsynced writes are gone.
    void crash(instant at) {
        const std::uint64_t survived = durable_at(at);
        for (const pending_write& write : pending_) {
            if (write.synced_at > at) {
                ++writes_lost_;
            }
        }
        durable_ = survived;
        pending_.clear();
        REEF_ASSERT(read() == survived);
    }

    std::uint64_t writes() const { return writes_; }
    std::uint64_t writes_lost() const { return writes_lost_; }

private:
    struct pending_write {
        std::uint64_t value = 0;
        instant synced_at;
    };
    void settle(instant now) {
        std::size_t done = 0;
        while (done < pending_.size() && pending_[done].synced_at <= now) {
            durable_ = pending_[done].value;
            ++done;
        }
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(done));
    }

    std::uint64_t durable_ = 0;
    std::vector<pending_write> pending_;
    std::uint64_t writes_ = 0;
    std::uint64_t writes_lost_ = 0;
};

} // namespace reef::sim
