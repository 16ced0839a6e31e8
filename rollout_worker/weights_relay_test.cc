#include "rollout_worker/weights_relay.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace maskgrpo::worker {
namespace {

TEST(RelayAdvertiseAddress, ExplicitListenHostOrAnError) {
  EXPECT_EQ(*RelayAdvertiseAddress("127.0.0.1:0", 41234, ""), "127.0.0.1:41234");
  EXPECT_EQ(*RelayAdvertiseAddress("0.0.0.0:50061", 50061, "10.0.0.7:50061"), "10.0.0.7:50061");
  auto wildcard = RelayAdvertiseAddress("0.0.0.0:50061", 50061, "");
  ASSERT_FALSE(wildcard.ok());
  EXPECT_NE(wildcard.status().message().find("set relay_advertise"), std::string::npos);
  EXPECT_FALSE(RelayAdvertiseAddress("no-port", 1, "").ok());
}

TEST(HostIpv4Address, SkipsLoopbackAndNamesTheFailure) {
  // A numeric address resolves to itself without a lookup.
  EXPECT_EQ(*HostIpv4Address("10.1.2.3"), "10.1.2.3");
  // Loopback only (Debian's 127.0.1.1 for its own hostname is the same case): refused.
  auto loopback = HostIpv4Address("127.0.1.1");
  ASSERT_FALSE(loopback.ok());
  EXPECT_NE(loopback.status().message().find("loopback"), std::string::npos);
  auto missing = HostIpv4Address("no-such-host.invalid");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("does not resolve"), std::string::npos);
}

TEST(RelayAdvertiseAddress, AutoIsThisHostsAddressOrAnErrorNamingTheField) {
  // Whatever this machine's name resolves to, "auto" agrees with HostIpv4Address on it.
  char name[256] = {};
  ASSERT_EQ(::gethostname(name, sizeof(name) - 1), 0);
  auto host = HostIpv4Address(name);
  auto advertised = RelayAdvertiseAddress("0.0.0.0:50061", 50061, "auto");
  if (host.ok()) {
    ASSERT_TRUE(advertised.ok()) << advertised.status().ToString();
    EXPECT_EQ(*advertised, *host + ":50061");
  } else {
    ASSERT_FALSE(advertised.ok());
    EXPECT_NE(advertised.status().message().find("relay_advertise auto"), std::string::npos);
    EXPECT_NE(advertised.status().message().find(name), std::string::npos);
  }
}

}  // namespace
}  // namespace maskgrpo::worker
