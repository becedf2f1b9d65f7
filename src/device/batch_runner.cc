#include "device/batch_runner.h"

#include <algorithm>
#include <string>

#include "base/thread_name.h"

namespace zl::device {
namespace {

using SteadyClock = std::chrono::steady_clock;

// How long a sleeper waits before it looks again on its own (a missed
// wake-up cannot happen; this only bounds the damage of a bug).
constexpr auto kSleepSlice = std::chrono::seconds(1);
// How long Run waits for a worker to take the first chunk
// (worker_first_for_testing).
constexpr auto kWorkerFirstWait = std::chrono::seconds(1);

// A hint to the core that this is a busy-wait loop.
inline void CpuRelax() {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  __builtin_ia32_pause();
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
  asm volatile("yield");
#else
  std::this_thread::yield();
#endif
}

// Spins until `done()` or `budget` has passed; returns done().
template <typename Pred>
bool SpinFor(std::chrono::nanoseconds budget, Pred done) {
  if (done()) return true;
  if (budget <= std::chrono::nanoseconds::zero()) return false;
  const auto deadline = SteadyClock::now() + budget;
  for (;;) {
    for (int i = 0; i < 16; ++i) {
      CpuRelax();
      if (done()) return true;
    }
    if (SteadyClock::now() >= deadline) return done();
  }
}

}  // namespace

BatchRunner::BatchRunner(BatchRunnerOptions options) : options_(options) {}

BatchRunner::~BatchRunner() { Stop(); }

void BatchRunner::Start() {
  if (started_) return;
  started_ = true;
  threads_.reserve(options_.workers);
  for (size_t i = 0; i < options_.workers; ++i) {
    threads_.emplace_back([this, i] {
      SetThreadName("zl-crypto-" + std::to_string(i + 1));
      WorkerMain(i + 1);
    });
  }
}

void BatchRunner::Stop() {
  stop_.store(true, std::memory_order_seq_cst);
  {
    MutexLock lock(mu_);
    work_cv_.NotifyAll();
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void BatchRunner::Run(size_t count, BatchJob& job) {
  if (threads_.empty() || count < std::max<size_t>(options_.min_split, 1) ||
      stop_.load(std::memory_order_relaxed)) {
    job.Process(0, 0, count);
    return;
  }
  job_ = &job;
  count_ = count;
  next_.store(0, std::memory_order_relaxed);
  // Publishes the batch (and what the caller wrote before it). seq_cst
  // against sleepers_: either a worker about to sleep sees the batch, or
  // this sees it and wakes it.
  open_.store(++last_batch_, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    MutexLock lock(mu_);
    work_cv_.NotifyAll();
  }
  split_batches_.fetch_add(1, std::memory_order_relaxed);
  if (options_.worker_first_for_testing) {
    const auto deadline = SteadyClock::now() + kWorkerFirstWait;
    while (next_.load(std::memory_order_relaxed) == 0 && SteadyClock::now() < deadline) {
      std::this_thread::yield();
    }
  }
  Drain(0);
  // Closed: a worker that enters from now on leaves at once. seq_cst
  // against the workers' entry (inside_, then open_): either a worker sees
  // it closed, or Join sees it inside.
  open_.store(0, std::memory_order_seq_cst);
  Join();
  job_ = nullptr;
}

size_t BatchRunner::Drain(size_t thread) {
  const size_t chunk = std::max<size_t>(options_.chunk, 1);
  const size_t count = count_;
  BatchJob& job = *job_;
  size_t done = 0;
  for (;;) {
    const size_t begin = next_.fetch_add(chunk, std::memory_order_relaxed);
    if (begin >= count) break;
    const size_t end = std::min(begin + chunk, count);
    job.Process(thread, begin, end);
    done += end - begin;
  }
  return done;
}

void BatchRunner::Join() {
  auto all_out = [this] { return inside_.load(std::memory_order_seq_cst) == 0; };
  if (SpinFor(options_.join_spin, all_out)) return;
  run_waiting_.store(true, std::memory_order_seq_cst);
  {
    MutexLock lock(mu_);
    while (!done_cv_.WaitFor(mu_, kSleepSlice, all_out)) {
    }
  }
  run_waiting_.store(false, std::memory_order_relaxed);
}

uint64_t BatchRunner::WaitForBatch(uint64_t seen) {
  auto ready = [this, seen] {
    if (stop_.load(std::memory_order_relaxed)) return true;
    const uint64_t open = open_.load(std::memory_order_seq_cst);
    return open != 0 && open != seen;
  };
  for (;;) {
    if (!SpinFor(options_.worker_spin, ready)) {
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      {
        MutexLock lock(mu_);
        while (!work_cv_.WaitFor(mu_, kSleepSlice, ready)) {
        }
      }
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
    if (stop_.load(std::memory_order_relaxed)) return 0;
    const uint64_t open = open_.load(std::memory_order_seq_cst);
    if (open != 0 && open != seen) return open;
    // Closed again before we looked: wait for the next one.
  }
}

void BatchRunner::WorkerMain(size_t thread) {
  uint64_t seen = 0;
  for (;;) {
    const uint64_t batch = WaitForBatch(seen);
    if (batch == 0) return;
    seen = batch;
    inside_.fetch_add(1, std::memory_order_seq_cst);
    // Still open: Run waits for us before it touches the batch again.
    if (open_.load(std::memory_order_seq_cst) == batch) {
      if (const size_t done = Drain(thread); done > 0) {
        worker_items_.fetch_add(done, std::memory_order_relaxed);
      }
    }
    // seq_cst against run_waiting_: either Run sees us out, or we see it
    // waiting and wake it.
    if (inside_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        run_waiting_.load(std::memory_order_seq_cst)) {
      MutexLock lock(mu_);
      done_cv_.NotifyAll();
    }
  }
}

}  // namespace zl::device
