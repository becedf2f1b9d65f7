#include "device/batch_runner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>
#include <vector>

namespace zl::device {
namespace {

constexpr size_t kMaxItems = 256;

// Records which thread processed each item, and how many times.
class RecordingJob final : public BatchJob {
 public:
  explicit RecordingJob(size_t threads) : threads_(threads) { Reset(); }

  void Reset() {
    for (auto& t : times_) t.store(0);
    for (auto& t : thread_) t = SIZE_MAX;
    bad_thread_.store(false);
  }
  void Process(size_t thread, size_t begin, size_t end) override {
    if (thread >= threads_) bad_thread_.store(true);
    for (size_t i = begin; i < end; ++i) {
      times_[i].fetch_add(1);
      thread_[i] = thread;  // plain: Run's return makes it visible
    }
    if (delay_on_workers_ && thread != 0) std::this_thread::sleep_for(*delay_on_workers_);
  }

  int times(size_t i) const { return times_[i].load(); }
  size_t thread(size_t i) const { return thread_[i]; }
  bool bad_thread() const { return bad_thread_.load(); }
  void set_delay_on_workers(std::chrono::milliseconds d) { delay_on_workers_ = d; }

 private:
  const size_t threads_;
  std::atomic<int> times_[kMaxItems];
  size_t thread_[kMaxItems];
  std::atomic<bool> bad_thread_{false};
  std::optional<std::chrono::milliseconds> delay_on_workers_;
};

// One worker, which claims the first chunk of every batch (so it surely
// takes part).
BatchRunnerOptions OneWorkerThatGoesFirst() {
  BatchRunnerOptions o;
  o.workers = 1;
  o.worker_first_for_testing = true;
  return o;
}

TEST(BatchRunnerTest, BatchBelowTheSplitSizeStaysOnTheCaller) {
  BatchRunnerOptions o;
  o.workers = 1;
  o.min_split = 8;
  o.worker_first_for_testing = true;  // would make a worker take part
  BatchRunner runner(o);
  runner.Start();
  RecordingJob job(2);
  for (int round = 0; round < 50; ++round) {
    runner.Run(7, job);
    for (size_t i = 0; i < 7; ++i) ASSERT_EQ(job.thread(i), 0u) << i;
  }
  EXPECT_EQ(runner.split_batches(), 0u);
  EXPECT_EQ(runner.worker_items(), 0u);
}

TEST(BatchRunnerTest, EveryItemOfEveryBatchIsProcessedExactlyOnce) {
  for (size_t workers : {1, 3}) {
    BatchRunnerOptions o;
    o.workers = workers;
    BatchRunner runner(o);
    runner.Start();
    RecordingJob job(workers + 1);
    size_t items = 0;
    for (size_t round = 0; round < 400; ++round) {
      const size_t count = 1 + (round * 37) % kMaxItems;
      job.Reset();
      runner.Run(count, job);
      for (size_t i = 0; i < count; ++i) ASSERT_EQ(job.times(i), 1) << round << " " << i;
      for (size_t i = count; i < kMaxItems; ++i) ASSERT_EQ(job.times(i), 0) << round << " " << i;
      if (count >= o.min_split) items += count;
    }
    EXPECT_FALSE(job.bad_thread());
    EXPECT_GT(runner.split_batches(), 0u);
    EXPECT_LE(runner.worker_items(), items);
  }
}

TEST(BatchRunnerTest, WorkersTakePartAndTheCallerSeesTheirResults) {
  BatchRunner runner(OneWorkerThatGoesFirst());
  runner.Start();
  RecordingJob job(2);
  runner.Run(64, job);
  bool a_worker_did_some = false;
  for (size_t i = 0; i < 64; ++i) {
    ASSERT_EQ(job.times(i), 1);
    a_worker_did_some |= job.thread(i) == 1;
  }
  EXPECT_TRUE(a_worker_did_some);
  EXPECT_GT(runner.worker_items(), 0u);
  EXPECT_EQ(runner.split_batches(), 1u);
}

// A worker holds its chunks for a while: Run waits for them (spin, then
// block) rather than return with items undone.
TEST(BatchRunnerTest, RunWaitsForASlowWorkersChunk) {
  BatchRunner runner(OneWorkerThatGoesFirst());
  runner.Start();
  RecordingJob job(2);
  job.set_delay_on_workers(std::chrono::milliseconds(20));
  for (int round = 0; round < 3; ++round) {
    job.Reset();
    runner.Run(32, job);
    for (size_t i = 0; i < 32; ++i) ASSERT_EQ(job.times(i), 1) << i;
  }
  EXPECT_GT(runner.worker_items(), 0u);
}

TEST(BatchRunnerTest, StopJoinsSleepingWorkersAndLaterBatchesRunOnTheCaller) {
  BatchRunnerOptions o;
  o.workers = 2;
  BatchRunner runner(o);
  runner.Start();
  RecordingJob job(3);
  runner.Run(64, job);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // past the workers' spin
  runner.Stop();
  runner.Stop();  // idempotent
  const uint64_t worker_items = runner.worker_items();
  job.Reset();
  runner.Run(64, job);
  for (size_t i = 0; i < 64; ++i) {
    ASSERT_EQ(job.times(i), 1);
    ASSERT_EQ(job.thread(i), 0u);
  }
  EXPECT_EQ(runner.worker_items(), worker_items);
}

TEST(BatchRunnerTest, NoWorkersMeansTheCallerDoesEverything) {
  BatchRunnerOptions o;
  o.workers = 0;
  BatchRunner runner(o);
  runner.Start();
  RecordingJob job(1);
  runner.Run(100, job);
  for (size_t i = 0; i < 100; ++i) ASSERT_EQ(job.thread(i), 0u);
  EXPECT_EQ(runner.split_batches(), 0u);
}

}  // namespace
}  // namespace zl::device
