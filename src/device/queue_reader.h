#pragma once
// QueueReader: a thread of its own that waits for one Waitable (a queue of
// a multi-queue TUN, tun_device.h's OpenQueue) on an event loop of its own,
// and calls `drain` on that thread each time it is ready. The device runs
// one per extra TUN queue (device.h, "Threads"); what drain does (read a
// batch, encrypt it, send it) is the device's.
//
// drain answers what comes next:
//   kWait  the queue is empty: wait for readiness again;
//   kMore  more may be waiting that the waitable does not signal (a full
//          batch: the rest of a super-packet): drain again on the next turn
//          of the reader's loop, without waiting;
//   kStop  the queue is done for good (the interface is gone): stop
//          watching it; the thread ends.
// Between two drains the reader checks for Stop, so Stop returns within one
// drain's work (a drain must do bounded work: a few batches).
//
// Thread safety: Create, Start and Stop (and the destructor, which stops)
// are for one owning thread. drain runs on the reader's thread only, never
// after Stop returned. Ownership: the reader borrows the waitable; whoever
// owns it closes it after Stop.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/result.h"
#include "net/event_loop.h"
#include "net/waitable.h"

namespace zl::device {

class QueueReader {
 public:
  enum class Drained { kWait, kMore, kStop };

  // `name`: the thread's (base/thread_name.h), for top -H and perf.
  static Result<std::unique_ptr<QueueReader>> Create(net::Waitable waitable,
                                                     std::function<Drained()> drain,
                                                     std::string name = "zl-tunq");
  ~QueueReader();  // Stop
  QueueReader(const QueueReader&) = delete;
  QueueReader& operator=(const QueueReader&) = delete;

  // Starts the thread (once).
  void Start();
  // Makes the thread end after the drain in hand and joins it. Idempotent;
  // also fine when it was never started.
  void Stop();

 private:
  QueueReader(std::unique_ptr<net::EventLoop> loop, net::Waitable waitable,
              std::function<Drained()> drain, std::string name);
  // On the reader's thread.
  void OnReady();

  std::unique_ptr<net::EventLoop> loop_;
  const net::Waitable waitable_;
  const std::function<Drained()> drain_;
  const std::string name_;
  bool continuation_posted_ = false;  // the reader's thread's
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace zl::device
