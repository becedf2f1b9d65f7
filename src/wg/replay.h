#pragma once
// ReplayFilter: the sliding-window anti-replay check for the 64-bit counter of
// transport data messages (whitepaper §5.4.6, RFC 6479 ring of words).
//
// The window is a ring of kRingBits bits kept as 64-bit words. One word of the
// ring is always being recycled, so the usable window is kWindowSize =
// kRingBits - 64 counters behind the highest one accepted: the same 8128 as
// the Linux kernel and wireguard-go. A counter is accepted when it is below
// the caller's limit (REJECT_AFTER_MESSAGES), not older than the window and
// not seen before; the state changes only when a counter is accepted.
//
// WireGuard checks the counter only after the packet authenticated, so call
// Accept after a successful decryption, never before (an attacker could
// otherwise advance the window with forged counters). MayAccept, which
// changes nothing, may come before: the engine uses it to spend no
// decryption on a counter already seen or too old.
//
// Thread safety: none; owned by the engine, used under its mutex (one per
// receiving keypair). No allocation: the ring is inline (1 KiB).

#include <array>
#include <cstddef>
#include <cstdint>

namespace zl::wg {

class ReplayFilter {
 public:
  static constexpr size_t kWordBits = 64;
  static constexpr size_t kRingBits = 8192;
  static constexpr size_t kRingWords = kRingBits / kWordBits;
  // How far behind the highest accepted counter a counter may still be.
  static constexpr uint64_t kWindowSize = kRingBits - kWordBits;
  static_assert((kRingWords & (kRingWords - 1)) == 0,
                "ring index is taken with a mask");

  ReplayFilter() = default;

  // True when `counter` is new, inside the window and < `limit`; it is then
  // recorded. False (state unchanged) for a replay, a counter older than the
  // window, or counter >= limit.
  bool Accept(uint64_t counter, uint64_t limit);

  // True when Accept(counter, limit) would accept now. Changes nothing.
  bool MayAccept(uint64_t counter, uint64_t limit) const;

  // Forgets every counter seen (as for a fresh keypair).
  void Reset();

 private:
  // One more than the highest counter accepted, so 0 means "none yet"; bit
  // positions in the ring are likewise counter + 1.
  uint64_t next_ = 0;
  std::array<uint64_t, kRingWords> ring_{};
};

}  // namespace zl::wg
