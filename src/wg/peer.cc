#include "wg/peer.h"

namespace zl::wg {

bool StagingQueue::Push(ByteSpan packet) {
  if (slots_.empty()) return true;
  bool dropped = false;
  if (count_ == slots_.size()) {
    Pop();
    dropped = true;
  }
  std::vector<uint8_t>& slot = slots_[(head_ + count_) % slots_.size()];
  slot.assign(packet.begin(), packet.end());  // reuses the slot's capacity
  ++count_;
  return dropped;
}

void StagingQueue::Pop() {
  slots_[head_].clear();
  head_ = (head_ + 1) % slots_.size();
  --count_;
}

void StagingQueue::Clear() {
  while (!empty()) Pop();
  head_ = 0;
}

void Peer::ClearHandshake(IndexTable& indices) {
  if (!handshake.initiator) return;
  indices.Erase(handshake.initiator->sender_index);
  handshake.initiator
      .reset();  // the ephemeral and chaining keys wipe themselves
}

void Peer::AbandonResponse(IndexTable& indices) {
  if (!handshake.responding_index) return;
  indices.Erase(*handshake.responding_index);
  handshake.responding_index.reset();
}

void Peer::ZeroAndFlushAll(IndexTable& indices) {
  keypairs.Clear(indices);
  ClearHandshake(indices);
  AbandonResponse(indices);
  staged.Clear();
}

}  // namespace zl::wg
