#pragma once
// LongPoll: HTTP requests parked until something newer than what they have
// seen exists, or until their deadline (watch requests on the control node,
// `events` on every node).
//
// A parked request waits with `since` (the last revision or sequence number
// the client saw). Wake(current, answer) answers every request whose `since`
// is older than `current`, calling answer(since) once per distinct `since`
// (thousands of watchers behind by the same revision cost one answer).
// ExpireDue(now, answer) answers those whose deadline has passed, and drops
// those whose client went away.
//
// Thread safety: all methods may be called from any thread. `answer` runs
// without the lock held.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "base/clock.h"
#include "overlay/http_server.h"

namespace zl::overlay {

class LongPoll {
 public:
  using Answer = std::function<HttpResponse(uint64_t since)>;

  void Park(uint64_t since, MonoTime deadline, std::shared_ptr<HttpResponder> responder);
  void Wake(uint64_t current, const Answer& answer);
  void ExpireDue(MonoTime now, const Answer& answer);
  // Answers everything parked (shutdown).
  void AnswerAll(const HttpResponse& response);
  size_t parked() const;

 private:
  struct Waiter {
    uint64_t since;
    MonoTime deadline;
    std::shared_ptr<HttpResponder> responder;
  };
  // Removes the waiters matching `take` and answers them, one answer per
  // distinct `since`.
  void Take(const std::function<bool(const Waiter&)>& take, const Answer& answer);

  mutable std::mutex mu_;
  std::vector<Waiter> waiters_;
};

}  // namespace zl::overlay
