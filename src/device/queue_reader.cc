#include "device/queue_reader.h"

#include "base/thread_name.h"

namespace zl::device {

Result<std::unique_ptr<QueueReader>> QueueReader::Create(net::Waitable waitable,
                                                         std::function<Drained()> drain,
                                                         std::string name) {
  auto loop = net::EventLoop::Create();
  if (!loop.ok()) return loop.error().Wrap("event loop");
  std::unique_ptr<QueueReader> reader(
      new QueueReader(std::move(*loop), waitable, std::move(drain), std::move(name)));
  // Before Run: the creating thread may set the loop up.
  ZL_RETURN_IF_ERROR(reader->loop_->Watch(waitable, net::kReadable,
                                          [r = reader.get()](uint32_t) { r->OnReady(); }));
  return reader;
}

QueueReader::QueueReader(std::unique_ptr<net::EventLoop> loop, net::Waitable waitable,
                         std::function<Drained()> drain, std::string name)
    : loop_(std::move(loop)), waitable_(waitable), drain_(std::move(drain)), name_(std::move(name)) {}

QueueReader::~QueueReader() { Stop(); }

void QueueReader::Start() {
  if (thread_.joinable() || stopping_.load()) return;
  thread_ = std::thread([this] {
    SetThreadName(name_);
    (void)loop_->Run();
  });
}

void QueueReader::Stop() {
  stopping_.store(true, std::memory_order_relaxed);
  loop_->Stop();
  if (thread_.joinable()) thread_.join();
}

void QueueReader::OnReady() {
  if (stopping_.load(std::memory_order_relaxed)) return;
  switch (drain_()) {
    case Drained::kWait:
      return;
    case Drained::kMore:
      // On the next turn, after Stop had its chance to end the loop.
      if (continuation_posted_) return;
      continuation_posted_ = true;
      loop_->Post([this] {
        continuation_posted_ = false;
        OnReady();
      });
      return;
    case Drained::kStop:
      loop_->Unwatch(waitable_);
      loop_->Stop();
      return;
  }
}

}  // namespace zl::device
