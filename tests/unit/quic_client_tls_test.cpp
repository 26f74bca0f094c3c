// The QUIC TLS client's refusals, each with the alert RFC 9001 and RFC 8446 name. The happy path
// runs against a QUIC server we did not write (tests/integration/test_quic.py).
#include "quic/client_tls.h"

#include <gtest/gtest.h>

#include "tls13/client_hello.h"
#include "tls13/key_share.h"
#include "tls13/record_channel.h"

namespace culvert::quic {
namespace {

Bytes message(std::uint8_t type, const Bytes& body) {
  Bytes out{type, static_cast<std::uint8_t>(body.size() >> 16), static_cast<std::uint8_t>(body.size() >> 8),
            static_cast<std::uint8_t>(body.size())};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

void u16(Bytes& out, std::size_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

// A ServerHello choosing AES-128-GCM and X25519 with a fresh share: enough for the client to
// derive Handshake secrets, which is as far as these tests need it to go.
Bytes server_hello() {
  auto share = tls13::KeyShare::generate(tls13::group::kX25519);
  Bytes body{0x03, 0x03};
  body.insert(body.end(), 32, 0x42);  // random
  body.push_back(0);                  // no legacy session id over QUIC
  u16(body, 0x1301);
  body.push_back(0);
  Bytes extensions;
  u16(extensions, 0x002b);
  u16(extensions, 2);
  u16(extensions, 0x0304);
  u16(extensions, 0x0033);
  u16(extensions, 4 + share->public_bytes().size());
  u16(extensions, 0x001d);
  u16(extensions, share->public_bytes().size());
  extensions.insert(extensions.end(), share->public_bytes().begin(), share->public_bytes().end());
  u16(body, extensions.size());
  body.insert(body.end(), extensions.begin(), extensions.end());
  return message(2, body);
}

Bytes encrypted_extensions(const std::string& alpn, bool with_parameters) {
  Bytes extensions;
  if (!alpn.empty()) {
    u16(extensions, 0x0010);
    u16(extensions, 3 + alpn.size());
    u16(extensions, 1 + alpn.size());
    extensions.push_back(static_cast<std::uint8_t>(alpn.size()));
    extensions.insert(extensions.end(), alpn.begin(), alpn.end());
  }
  if (with_parameters) {
    u16(extensions, 0x0039);
    u16(extensions, 4);
    extensions.insert(extensions.end(), {0x01, 0x02, 0x75, 0x30});
  }
  Bytes body;
  u16(body, extensions.size());
  body.insert(body.end(), extensions.begin(), extensions.end());
  return message(8, body);
}

struct Client {
  ClientTls tls{[] {
    ClientTlsConfig config;
    config.server_name = "quic.example.test";
    config.accept_any_certificate = true;
    config.transport_parameters = {0x01, 0x02, 0x75, 0x30};
    return config;
  }()};
  TlsEvents events;
  Client() { EXPECT_TRUE(tls.start(events)); }
  Result<void> feed(Level level, const Bytes& bytes) {
    TlsEvents out;
    auto r = tls.receive(level, bytes, out);
    if (out.handshake_keys) events.handshake_keys = out.handshake_keys;
    return r;
  }
};

TEST(QuicClientTls, StartsWithChromiumsQuicHelloAtTheInitialLevel) {
  Client c;
  ASSERT_EQ(c.events.send.size(), 1u);
  EXPECT_EQ(c.events.send[0].first, Level::initial);
  EXPECT_EQ(c.events.send[0].second[0], 1);  // ClientHello
  TlsEvents again;
  EXPECT_FALSE(c.tls.start(again));
}

TEST(QuicClientTls, AServerHelloGivesHandshakeSecrets) {
  Client c;
  ASSERT_TRUE(c.feed(Level::initial, server_hello()));
  ASSERT_TRUE(c.events.handshake_keys);
  EXPECT_EQ(c.events.handshake_keys->suite->id, 0x1301);
  EXPECT_EQ(c.events.handshake_keys->rx.size(), 32u);
  EXPECT_NE(c.events.handshake_keys->rx, c.events.handshake_keys->tx);
  EXPECT_EQ(c.tls.group(), tls13::group::kX25519);
}

TEST(QuicClientTls, AServerHelloSplitAcrossFramesIsPutTogether) {
  Client c;
  Bytes hello = server_hello();
  ASSERT_TRUE(c.feed(Level::initial, Bytes(hello.begin(), hello.begin() + 10)));
  EXPECT_FALSE(c.events.handshake_keys);
  ASSERT_TRUE(c.feed(Level::initial, Bytes(hello.begin() + 10, hello.end())));
  EXPECT_TRUE(c.events.handshake_keys);
}

TEST(QuicClientTls, AMessageAtTheWrongLevelIsUnexpected) {
  Client c;
  EXPECT_FALSE(c.feed(Level::handshake, server_hello()));
  EXPECT_EQ(c.tls.alert(), tls13::alert::kUnexpectedMessage);
}

TEST(QuicClientTls, GarbageIsADecodeError) {
  Client c;
  EXPECT_FALSE(c.feed(Level::initial, message(2, Bytes(7, 0xff))));
  EXPECT_EQ(c.tls.alert(), tls13::alert::kDecodeError);
}

TEST(QuicClientTls, AServerWithoutTransportParametersIsRefused) {
  Client c;
  ASSERT_TRUE(c.feed(Level::initial, server_hello()));
  EXPECT_FALSE(c.feed(Level::handshake, encrypted_extensions("h3", false)));
  EXPECT_EQ(c.tls.alert(), tls13::alert::kMissingExtension);
}

TEST(QuicClientTls, AProtocolThatWasNotOfferedIsRefused) {
  for (const char* alpn : {"h2", ""}) {
    Client c;
    ASSERT_TRUE(c.feed(Level::initial, server_hello()));
    EXPECT_FALSE(c.feed(Level::handshake, encrypted_extensions(alpn, true))) << alpn;
    EXPECT_EQ(c.tls.alert(), tls13::alert::kNoApplicationProtocol) << alpn;
  }
}

TEST(QuicClientTls, TheServersParametersAreKeptAndACertificateIsAwaited) {
  Client c;
  ASSERT_TRUE(c.feed(Level::initial, server_hello()));
  ASSERT_TRUE(c.feed(Level::handshake, encrypted_extensions("h3", true)));
  EXPECT_EQ(c.tls.alpn(), "h3");
  EXPECT_EQ(c.tls.peer_transport_parameters(), (Bytes{0x01, 0x02, 0x75, 0x30}));
  // A Finished where the Certificate belongs.
  EXPECT_FALSE(c.feed(Level::handshake, message(20, Bytes(32, 0))));
  EXPECT_EQ(c.tls.alert(), tls13::alert::kUnexpectedMessage);
  EXPECT_FALSE(c.tls.export_key("EXPORTER-test"));
}

TEST(QuicClientTls, NothingIsAcceptedAfterARefusal) {
  Client c;
  EXPECT_FALSE(c.feed(Level::handshake, server_hello()));
  EXPECT_FALSE(c.feed(Level::initial, server_hello()));
}

}  // namespace
}  // namespace culvert::quic
