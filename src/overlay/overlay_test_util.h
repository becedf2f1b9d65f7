#pragma once
// Values for the overlay's tests, written as text: C("10.200.0.0/16"),
// A("fd42::1"). A typo fails the test that wrote it.

#include <gtest/gtest.h>

#include "base/ip.h"

namespace zl::overlay::test_values {

inline Cidr C(const char* text) {
  auto c = Cidr::Parse(text);
  EXPECT_TRUE(c.ok()) << text;
  return c.ok() ? *c : Cidr();
}

inline IpAddress A(const char* text) {
  auto a = IpAddress::Parse(text);
  EXPECT_TRUE(a.ok()) << text;
  return a.ok() ? *a : IpAddress();
}

}  // namespace zl::overlay::test_values
