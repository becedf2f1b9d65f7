#pragma once
// EventLog: what happened on this node, for `zlayer-overlay events` and for
// the log: members joining, leaving, changing; peers' health changing; names
// registered and removed; the control node becoming unreachable and back.
//
// Each event gets the next sequence number and a time; the last `capacity`
// events are kept. Readers ask for the events after a sequence number
// (Since); the local API parks `events` requests in a LongPoll until there is
// something new.
//
// Thread safety: all methods may be called from any thread.

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace zl::overlay {

struct Event {
  uint64_t seq = 0;
  int64_t time_ms = 0;    // unix milliseconds
  std::string type;       // "member-joined", "peer-health", ...
  nlohmann::json detail;  // never a secret
};

class EventLog {
 public:
  explicit EventLog(size_t capacity = 1000) : capacity_(capacity) {}

  // Appends and returns the event's sequence number.
  uint64_t Append(std::string type, nlohmann::json detail);
  // Events with seq > `since`, oldest first (those still kept).
  std::vector<Event> Since(uint64_t since) const;
  uint64_t last_seq() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::deque<Event> events_;
  uint64_t next_seq_ = 1;
};

nlohmann::json EventToJson(const Event& event);

}  // namespace zl::overlay
