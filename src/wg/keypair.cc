#include "wg/keypair.h"

#include <utility>

namespace zl::wg {

void Keypairs::Drop(std::unique_ptr<Keypair>& slot, IndexTable& indices) {
  if (!slot) return;
  indices.Erase(slot->local_index);
  slot.reset();  // the keys wipe themselves
}

void Keypairs::InstallAsInitiator(std::unique_ptr<Keypair> keypair,
                                  IndexTable& indices) {
  Drop(previous_, indices);
  if (next_) {
    // We answered the peer's initiation too; it may already be sending on
    // that keypair, so keep it as previous and drop the stale current.
    previous_ = std::move(next_);
    Drop(current_, indices);
  } else {
    previous_ = std::move(current_);
  }
  current_ = std::move(keypair);
}

void Keypairs::InstallAsResponder(std::unique_ptr<Keypair> keypair,
                                  IndexTable& indices) {
  Drop(next_, indices);
  next_ = std::move(keypair);
  Drop(previous_, indices);
}

bool Keypairs::ConfirmOnReceive(const Keypair* keypair, IndexTable& indices) {
  if (!next_ || next_.get() != keypair) return false;
  Drop(previous_, indices);
  previous_ = std::move(current_);
  current_ = std::move(next_);
  return true;
}

void Keypairs::Clear(IndexTable& indices) {
  Drop(previous_, indices);
  Drop(current_, indices);
  Drop(next_, indices);
}

}  // namespace zl::wg
