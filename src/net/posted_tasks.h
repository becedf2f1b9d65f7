#pragma once
// PostedTasks: the queue behind EventLoop::Post, shared by every platform's
// loop. Any thread pushes; the loop thread takes the whole queue when its
// wake-up (eventfd, event) fires and runs it in order.
//
// Push reports whether the queue was empty: only then must the poster wake
// the loop. A non-empty queue already has a wake-up pending, because the loop
// consumes the wake-up *before* it takes the queue: a task pushed after the
// take finds the queue empty and wakes the loop again, so none is stranded.
//
// Thread safety: Push from any thread; TakeAll from the loop thread.
// Ownership: tasks not taken are destroyed with the queue.

#include <functional>
#include <utility>
#include <vector>

#include "base/mutex.h"

namespace zl::net {

class PostedTasks {
 public:
  using Task = std::function<void()>;

  // Queues `task`; true if the queue was empty (the caller wakes the loop).
  bool Push(Task task) {
    MutexLock lock(mu_);
    const bool was_empty = tasks_.empty();
    tasks_.push_back(std::move(task));
    return was_empty;
  }

  // Everything queued so far, in the order pushed.
  std::vector<Task> TakeAll() {
    std::vector<Task> tasks;
    MutexLock lock(mu_);
    tasks.swap(tasks_);
    return tasks;
  }

 private:
  Mutex mu_;
  std::vector<Task> tasks_ GUARDED_BY(mu_);
};

}  // namespace zl::net
