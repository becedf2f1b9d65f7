#include "overlay/long_poll.h"

#include <gtest/gtest.h>

#include <atomic>

namespace zl::overlay {
namespace {

class RecordingResponder : public HttpResponder {
 public:
  void Respond(HttpResponse r) override {
    if (answered) return;
    answered = true;
    response = std::move(r);
  }
  bool closed() const override { return gone; }
  bool answered = false;
  bool gone = false;
  HttpResponse response;
};

MonoTime At(int seconds) { return MonoTime(std::chrono::seconds(seconds)); }

TEST(LongPollTest, WakeAnswersOnlyThoseBehindTheNewRevision) {
  LongPoll poll;
  auto behind = std::make_shared<RecordingResponder>();
  auto current = std::make_shared<RecordingResponder>();
  poll.Park(4, At(30), behind);
  poll.Park(5, At(30), current);
  poll.Wake(5, [](uint64_t since) { return HttpResponse{200, "text/plain", std::to_string(since)}; });
  EXPECT_TRUE(behind->answered);
  EXPECT_EQ(behind->response.body, "4");
  EXPECT_FALSE(current->answered);
  EXPECT_EQ(poll.parked(), 1u);
}

TEST(LongPollTest, OneAnswerPerDistinctSince) {
  LongPoll poll;
  std::vector<std::shared_ptr<RecordingResponder>> rs;
  for (int i = 0; i < 1000; ++i) {
    rs.push_back(std::make_shared<RecordingResponder>());
    poll.Park(i % 2 == 0 ? 7 : 8, At(30), rs.back());
  }
  int computed = 0;
  poll.Wake(9, [&](uint64_t since) {
    ++computed;
    return HttpResponse{200, "text/plain", std::to_string(since)};
  });
  EXPECT_EQ(computed, 2);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(rs[i]->answered);
    EXPECT_EQ(rs[i]->response.body, i % 2 == 0 ? "7" : "8");
  }
  EXPECT_EQ(poll.parked(), 0u);
}

TEST(LongPollTest, ExpireDueAnswersAtTheDeadlineOnly) {
  LongPoll poll;
  auto early = std::make_shared<RecordingResponder>();
  auto late = std::make_shared<RecordingResponder>();
  poll.Park(1, At(10), early);
  poll.Park(1, At(20), late);
  auto answer = [](uint64_t) { return HttpResponse{200, "text/plain", "timeout"}; };
  poll.ExpireDue(At(9), answer);
  EXPECT_FALSE(early->answered);
  poll.ExpireDue(At(10), answer);
  EXPECT_TRUE(early->answered);
  EXPECT_FALSE(late->answered);
}

TEST(LongPollTest, ClientsThatWentAwayAreDroppedUnanswered) {
  LongPoll poll;
  auto gone = std::make_shared<RecordingResponder>();
  gone->gone = true;
  poll.Park(1, At(10), gone);
  poll.Wake(2, [](uint64_t) { return HttpResponse{}; });
  EXPECT_FALSE(gone->answered);
  EXPECT_EQ(poll.parked(), 0u);
}

TEST(LongPollTest, AnswerAllEmptiesTheList) {
  LongPoll poll;
  auto r = std::make_shared<RecordingResponder>();
  poll.Park(1, At(10), r);
  poll.AnswerAll(HttpResponse{503, "application/json", "{}"});
  EXPECT_TRUE(r->answered);
  EXPECT_EQ(r->response.status, 503);
  EXPECT_EQ(poll.parked(), 0u);
}

}  // namespace
}  // namespace zl::overlay
