#include "overlay/long_poll.h"

#include <map>
#include <utility>

namespace zl::overlay {

void LongPoll::Park(uint64_t since, MonoTime deadline,
                    std::shared_ptr<HttpResponder> responder) {
  std::lock_guard lock(mu_);
  waiters_.push_back(Waiter{since, deadline, std::move(responder)});
}

void LongPoll::Take(const std::function<bool(const Waiter&)>& take, const Answer& answer) {
  std::vector<Waiter> taken;
  {
    std::lock_guard lock(mu_);
    std::vector<Waiter> kept;
    kept.reserve(waiters_.size());
    for (auto& w : waiters_) {
      if (w.responder->closed()) continue;  // the client went away
      (take(w) ? taken : kept).push_back(std::move(w));
    }
    waiters_.swap(kept);
  }
  std::map<uint64_t, HttpResponse> answers;
  for (auto& w : taken) {
    auto it = answers.find(w.since);
    if (it == answers.end()) it = answers.emplace(w.since, answer(w.since)).first;
    w.responder->Respond(it->second);
  }
}

void LongPoll::Wake(uint64_t current, const Answer& answer) {
  Take([current](const Waiter& w) { return w.since < current; }, answer);
}

void LongPoll::ExpireDue(MonoTime now, const Answer& answer) {
  Take([now](const Waiter& w) { return w.deadline <= now; }, answer);
}

void LongPoll::AnswerAll(const HttpResponse& response) {
  Take([](const Waiter&) { return true; }, [&](uint64_t) { return response; });
}

size_t LongPoll::parked() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

}  // namespace zl::overlay
