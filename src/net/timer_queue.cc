#include "net/timer_queue.h"

#include <algorithm>
#include <vector>

namespace zl::net {
namespace {

Duration NonNegative(Duration d) { return std::max(d, Duration::zero()); }

}  // namespace

TimerId TimerQueue::Add(MonoTime now, Duration first, Duration interval,
                        Task callback) {
  const uint64_t id = next_id_++;
  const MonoTime deadline = now + NonNegative(first);
  timers_.emplace(id, Timer{deadline, NonNegative(interval),
                            std::make_shared<Task>(std::move(callback))});
  queue_.emplace(Key{deadline, id}, id);
  Rearm();
  return TimerId{id};
}

bool TimerQueue::Reset(TimerId id, MonoTime now, Duration first,
                       Duration interval) {
  auto it = timers_.find(id.value);
  if (it == timers_.end()) return false;
  Timer& timer = it->second;
  queue_.erase(Key{timer.deadline, id.value});
  timer.deadline = now + NonNegative(first);
  timer.interval = NonNegative(interval);
  queue_.emplace(Key{timer.deadline, id.value}, id.value);
  Rearm();
  return true;
}

void TimerQueue::Cancel(TimerId id) {
  auto it = timers_.find(id.value);
  if (it == timers_.end()) return;
  queue_.erase(Key{it->second.deadline, id.value});
  timers_.erase(it);
}

std::optional<MonoTime> TimerQueue::NextDeadline() const {
  if (queue_.empty()) return std::nullopt;
  return queue_.begin()->first.first;
}

void TimerQueue::Rearm() {
  const std::optional<MonoTime> next = NextDeadline();
  if (next == armed_) return;
  armed_ = next;
  arm_(next);
}

void TimerQueue::RunDue(MonoTime now) {
  armed_.reset();  // it fired
  std::vector<uint64_t> due;
  for (auto it = queue_.begin(); it != queue_.end() && it->first.first <= now;
       ++it) {
    due.push_back(it->second);
  }
  for (uint64_t id : due) {
    auto it = timers_.find(id);
    // Cancelled, or re-armed for later, by an earlier callback of this call.
    if (it == timers_.end() || it->second.deadline > now) continue;
    std::shared_ptr<Task> callback = it->second.callback;
    Timer& timer = it->second;
    if (timer.interval == Duration::zero()) {
      Cancel(TimerId{id});
    } else {
      queue_.erase(Key{timer.deadline, id});
      // Skip ticks missed while the loop was busy rather than firing a burst.
      const auto missed = (now - timer.deadline) / timer.interval;
      timer.deadline += (missed + 1) * timer.interval;
      queue_.emplace(Key{timer.deadline, id}, id);
    }
    (*callback)();
  }
  Rearm();
}

}  // namespace zl::net
