#include "overlay/event_log.h"

#include <chrono>

namespace zl::overlay {

uint64_t EventLog::Append(std::string type, nlohmann::json detail) {
  const auto now = std::chrono::system_clock::now();
  std::lock_guard lock(mu_);
  Event e;
  e.seq = next_seq_++;
  e.time_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  e.type = std::move(type);
  e.detail = std::move(detail);
  events_.push_back(std::move(e));
  while (events_.size() > capacity_) events_.pop_front();
  return events_.back().seq;
}

std::vector<Event> EventLog::Since(uint64_t since) const {
  std::lock_guard lock(mu_);
  std::vector<Event> out;
  for (const Event& e : events_) {
    if (e.seq > since) out.push_back(e);
  }
  return out;
}

uint64_t EventLog::last_seq() const {
  std::lock_guard lock(mu_);
  return next_seq_ - 1;
}

nlohmann::json EventToJson(const Event& event) {
  return nlohmann::json{{"seq", event.seq},
                        {"time_ms", event.time_ms},
                        {"type", event.type},
                        {"detail", event.detail}};
}

}  // namespace zl::overlay
