#include "wg/index_table.h"

#include "base/bytes.h"

namespace zl::wg {

uint32_t IndexTable::Allocate(crypto::Rng& rng, Entry entry) {
  for (;;) {
    uint8_t bytes[4];
    rng.Fill(MutableByteSpan(bytes, sizeof(bytes)));
    const uint32_t index = LoadLe32(bytes);
    // 0 is never handed out, so the engine can use it to mean "no index".
    if (index == 0) continue;
    if (entries_.try_emplace(index, entry).second) return index;
  }
}

const IndexTable::Entry* IndexTable::Find(uint32_t index) const {
  auto it = entries_.find(index);
  return it == entries_.end() ? nullptr : &it->second;
}

bool IndexTable::Replace(uint32_t index, Entry entry) {
  auto it = entries_.find(index);
  if (it == entries_.end()) return false;
  it->second = entry;
  return true;
}

bool IndexTable::Erase(uint32_t index) { return entries_.erase(index) != 0; }

}  // namespace zl::wg
