#pragma once
// BatchRunner: runs one batch of independent per-packet jobs to completion
// on the calling thread (the device's loop thread) and a few worker threads,
// so one peer's encryption or decryption uses every core (issue 11, "both
// cores").
//
// Run(count, job) publishes the batch and wakes the workers once; then the
// caller and every worker that shows up claim chunks of `chunk` items with
// one atomic index until all are claimed, so a worker that wakes late costs
// nothing: the caller just does more. Run returns once every item is done
// (it spins briefly for a worker's chunk in hand, then blocks): one hand-off
// between cores per batch, and the caller owns the order of the results.
// A batch smaller than `min_split` stays on the caller, untouched by any
// worker. After a batch, a worker spins up to `worker_spin` for the next one
// before it sleeps.
//
// The job is told which thread runs each chunk (0: the caller, 1..workers:
// the workers), so it can keep per-thread state (e.g. a wg::PacketSink)
// without locks. Everything the caller wrote before Run is visible to the
// job on every thread, and everything the job wrote is visible to the caller
// when Run returns.
//
// Memory: nothing is allocated by Run. Threads: `workers`, started by Start.
//
// Thread safety: Start, Run and Stop are called by one thread (the owner),
// never concurrently; counters may be read from any thread. Stop joins the
// workers (they are never inside a batch then: Run has returned); after it
// Run does every batch on the caller.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "base/mutex.h"

namespace zl::device {

class BatchJob {
 public:
  virtual ~BatchJob() = default;
  // Processes items [begin, end) on thread `thread` (0: the caller of Run).
  virtual void Process(size_t thread, size_t begin, size_t end) = 0;
};

struct BatchRunnerOptions {
  // Worker threads besides the caller; 0 = the caller does everything.
  size_t workers = 1;
  // Smaller batches are not split.
  size_t min_split = 8;
  // Items claimed at a time.
  size_t chunk = 4;
  // How long a worker waits busily for the next batch before it sleeps.
  std::chrono::nanoseconds worker_spin = std::chrono::microseconds(20);
  // How long Run waits busily for the workers' chunks before it blocks.
  std::chrono::nanoseconds join_spin = std::chrono::microseconds(50);
  // Tests: Run lets a worker claim the first chunk (waiting up to a second
  // for one) before it claims any itself, so the workers surely take part.
  bool worker_first_for_testing = false;
};

class BatchRunner {
 public:
  explicit BatchRunner(BatchRunnerOptions options);
  ~BatchRunner();  // Stop
  BatchRunner(const BatchRunner&) = delete;
  BatchRunner& operator=(const BatchRunner&) = delete;

  size_t workers() const { return options_.workers; }

  // Starts the worker threads.
  void Start();
  // Runs job.Process over [0, count) (see above) and returns when all is
  // done.
  void Run(size_t count, BatchJob& job);
  // Stops and joins the workers. Idempotent.
  void Stop();

  // Batches shared with the workers, and the items the workers processed.
  uint64_t split_batches() const { return split_batches_.load(std::memory_order_relaxed); }
  uint64_t worker_items() const { return worker_items_.load(std::memory_order_relaxed); }

 private:
  void WorkerMain(size_t thread);
  // Waits (spinning, then sleeping) for a batch other than `seen` to open;
  // returns its number, or 0 once stopped.
  uint64_t WaitForBatch(uint64_t seen);
  // Claims and processes chunks of the open batch until none is left;
  // returns how many items this thread processed.
  size_t Drain(size_t thread);
  // Waits until no worker is inside a batch.
  void Join();

  const BatchRunnerOptions options_;
  std::vector<std::thread> threads_;
  bool started_ = false;

  // The open batch, written by Run before it publishes `open_` and read by
  // workers only after they entered it (inside_) and saw it still open.
  BatchJob* job_ = nullptr;
  size_t count_ = 0;
  std::atomic<size_t> next_{0};       // the next unclaimed item
  std::atomic<uint64_t> open_{0};     // the open batch's number; 0: none
  uint64_t last_batch_ = 0;           // Run's
  std::atomic<size_t> inside_{0};     // workers inside a batch (or trying)
  std::atomic<size_t> sleepers_{0};   // workers about to sleep or sleeping
  std::atomic<bool> run_waiting_{false};  // Run blocked in Join
  std::atomic<bool> stop_{false};
  Mutex mu_;           // for the two condition variables only
  CondVar work_cv_;    // workers sleep on it
  CondVar done_cv_;    // Run sleeps on it

  std::atomic<uint64_t> split_batches_{0};
  std::atomic<uint64_t> worker_items_{0};
};

}  // namespace zl::device
