// The QUIC TLS server against the QUIC TLS client, in memory: what each hands to the QUIC stack
// (levels, secrets, transport parameters), the choices a stock OpenSSL server would make, the
// extra secret that only its holder can finish with, and the refusals with their alerts.
// Against a QUIC client we did not write: tests/integration/test_quic.py.
#include "quic/server_tls.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "crypto/crypto.h"
#include "quic/client_tls.h"
#include "server/borrow.h"
#include "store/memory_user_store.h"
#include "tls13/client_hello.h"
#include "tls13/record_channel.h"
#include "transport/tls/certificate.h"

namespace culvert::quic {
namespace {

std::shared_ptr<const tls13::ServerCredentials> credentials() {
  static auto made = [] {
    auto dir = std::filesystem::temp_directory_path() / ("culvert-quic-server-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto cert = tls::generate_self_signed("h3.example.com", 2).value();
    std::ofstream(dir / "cert.pem") << cert.certificate_pem;
    std::ofstream(dir / "key.pem") << cert.key_pem;
    auto loaded = tls::load_server_credentials((dir / "cert.pem").string(), (dir / "key.pem").string()).value();
    std::filesystem::remove_all(dir);
    return std::make_shared<const tls13::ServerCredentials>(std::move(loaded));
  }();
  return made;
}

ClientTlsConfig client_config() {
  ClientTlsConfig c;
  c.server_name = "h3.example.com";
  c.accept_any_certificate = true;
  c.transport_parameters = {0x01, 0x02, 0x67, 0x10};  // max_idle_timeout 10000 ms
  return c;
}

ServerTlsConfig server_config() {
  ServerTlsConfig s;
  s.identity = credentials();
  s.transport_parameters = {0x03, 0x02, 0x45, 0xc0};  // max_udp_payload_size 1472
  return s;
}

// Hands every message one end produced to the other, level by level, until neither has more.
struct Pump {
  ClientTls client;
  ServerTls server;
  TlsEvents client_events, server_events;
  std::vector<TlsEvents> client_log, server_log;

  Pump(ClientTlsConfig c, ServerTlsConfig s) : client(std::move(c)), server(std::move(s)) {}

  // Runs the handshake; the first end that refuses stops it.
  bool run() {
    TlsEvents first;
    if (!client.start(first)) return false;
    std::vector<std::pair<Level, Bytes>> to_server = first.send, to_client;
    client_log.push_back(std::move(first));
    while (!to_server.empty() || !to_client.empty()) {
      for (auto& [level, bytes] : to_server) {
        TlsEvents e;
        if (!server.receive(level, bytes, e)) return false;
        for (auto& s : e.send) to_client.push_back(s);
        server_log.push_back(std::move(e));
      }
      to_server.clear();
      for (auto& [level, bytes] : to_client) {
        TlsEvents e;
        if (!client.receive(level, bytes, e)) return false;
        for (auto& s : e.send) to_server.push_back(s);
        client_log.push_back(std::move(e));
      }
      to_client.clear();
    }
    return true;
  }
};

TEST(QuicServerTls, CompletesWithOurClientAndAgreesOnEverySecret) {
  Pump p(client_config(), server_config());
  ASSERT_TRUE(p.run()) << "client alert " << int(p.client.alert()) << ", server alert " << int(p.server.alert());
  EXPECT_TRUE(p.server.complete());
  EXPECT_EQ(p.client.alpn(), "h3");
  EXPECT_EQ(p.server.alpn(), "h3");
  EXPECT_EQ(p.server.server_name(), "h3.example.com");
  EXPECT_EQ(p.server.peer_transport_parameters(), (Bytes{0x01, 0x02, 0x67, 0x10}));
  EXPECT_EQ(p.client.peer_transport_parameters(), (Bytes{0x03, 0x02, 0x45, 0xc0}));
  // Chromium offers X25519MLKEM768 then X25519, and AES-128-GCM first: the TCP cover's OpenSSL
  // 3.0 has no ML-KEM and prefers its own suite order, so X25519 and AES-256-GCM.
  EXPECT_EQ(p.server.group(), tls13::group::kX25519);
  EXPECT_EQ(p.client.group(), tls13::group::kX25519);
  EXPECT_EQ(p.server.cipher_suite(), 0x1302);
  EXPECT_FALSE(p.server.extra_secret_used());

  // The server's one step gives both levels' keys; the client gets them in two steps.
  ASSERT_EQ(p.server_log.size(), 2u);
  const auto& flight = p.server_log[0];
  ASSERT_TRUE(flight.handshake_keys && flight.application_keys);
  ASSERT_EQ(flight.send.size(), 2u);
  EXPECT_EQ(flight.send[0].first, Level::initial);
  EXPECT_EQ(flight.send[1].first, Level::handshake);
  EXPECT_TRUE(p.server_log[1].complete);
  // Two tickets at 1-RTT, as OpenSSL sends them: lifetime 300 s, 208-byte ticket plus the name.
  ASSERT_EQ(p.server_log[1].send.size(), 1u);
  EXPECT_EQ(p.server_log[1].send[0].first, Level::application);
  const Bytes& tickets = p.server_log[1].send[0].second;
  const std::size_t one = 4 + 4 + 4 + 9 + 2 + 208 + 14 + 4 + 2;  // "h3.example.com" is 14 bytes
  ASSERT_EQ(tickets.size(), 2 * one);
  EXPECT_EQ(tickets[0], tls13::msg::kNewSessionTicket);
  EXPECT_EQ(tickets[4 + 3], 300 & 0xff);
  EXPECT_EQ(tickets[one + 4 + 4 + 4 + 8], 1);  // the second ticket's nonce
  std::optional<LevelSecrets> client_handshake, client_application;
  for (const auto& e : p.client_log) {
    if (e.handshake_keys) client_handshake = e.handshake_keys;
    if (e.application_keys) client_application = e.application_keys;
  }
  ASSERT_TRUE(client_handshake && client_application);
  EXPECT_EQ(client_handshake->tx, flight.handshake_keys->rx);
  EXPECT_EQ(client_handshake->rx, flight.handshake_keys->tx);
  EXPECT_EQ(client_application->tx, flight.application_keys->rx);
  EXPECT_EQ(client_application->rx, flight.application_keys->tx);
  EXPECT_NE(client_application->tx, client_application->rx);
  auto a = p.client.export_key("culvert test");
  auto b = p.server.export_key("culvert test");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
}

TEST(QuicServerTls, AnExtraSecretOnlyItsHolderCanFinishWith) {
  auto config = server_config();
  int calls = 0;
  config.extra_secret = [&](ByteSpan hello, const tls13::ClientHelloInfo& info) {
    ++calls;
    EXPECT_EQ(hello[0], tls13::msg::kClientHello);
    EXPECT_EQ(info.server_name, "h3.example.com");
    return Bytes(32, 0x5a);
  };
  Pump p(client_config(), std::move(config));
  // Our client does not hold the secret: its Finished does not check out, or it cannot read the
  // server's flight at all (the handshake keys differ) — either way nobody completes.
  EXPECT_FALSE(p.run());
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(p.server.complete());
  EXPECT_FALSE(p.server.export_key("x"));
}

TEST(QuicServerTls, AUserProvenInTheRandomFinishesAndEveryoneElseMeetsThePlainServer) {
  MemoryUserStore store;
  User alice = store.add("alice").value();
  auto keys = crypto::x25519_generate();
  BorrowGate gate(keys.private_key, std::chrono::seconds(120));
  std::string who;
  auto config = server_config();
  config.extra_secret = [&](ByteSpan hello, const tls13::ClientHelloInfo&) -> Bytes {
    auto decision = gate.check(hello, store, tls13::HelloCarrier::random);
    if (!decision) return {};
    who = decision->user.name;
    return decision->extra_secret;
  };
  auto user = client_config();
  user.user = tls13::BorrowCredentials{keys.public_key, alice.credential.key_id, alice.credential.secret};
  {
    Pump p(user, config);
    ASSERT_TRUE(p.run()) << "client alert " << int(p.client.alert()) << ", server alert " << int(p.server.alert());
    EXPECT_TRUE(p.server.extra_secret_used());
    EXPECT_EQ(who, "alice");
    EXPECT_EQ(*p.client.export_key("culvert quic"), *p.server.export_key("culvert quic"));
  }
  {
    // A client that is no user (a browser, a prober): the gate finds nothing, the server runs the
    // plain schedule and the handshake completes as with any HTTP/3 site.
    Pump p(client_config(), config);
    who.clear();
    ASSERT_TRUE(p.run());
    EXPECT_FALSE(p.server.extra_secret_used());
    EXPECT_TRUE(who.empty());
  }
  {
    // A wrong secret: the gate says no, the client's schedule has its secret, nobody finishes.
    auto wrong = user;
    wrong.user->secret[0] ^= 1;
    Pump p(wrong, config);
    EXPECT_FALSE(p.run());
    EXPECT_FALSE(p.server.extra_secret_used());
  }
}

TEST(QuicServerTls, AHelloWithoutAUsableShareGetsARetryForOneItSupports) {
  // Only a P-521 share (which the server does not implement), X25519 and P-521 supported: the
  // server asks for X25519 with a HelloRetryRequest, then takes the second hello's X25519 share.
  auto hello = [](std::uint16_t share_group) {
    tls13::ClientHelloSpec spec;
    spec.server_name = "h3.example.com";
    spec.alpn = {"h3"};
    spec.quic_transport_parameters = Bytes{0x01, 0x02, 0x67, 0x10};
    Bytes fake(133, 0x04);  // a P-521 point's length; never read
    auto x25519 = tls13::KeyShare::generate(tls13::group::kX25519);
    spec.key_shares.push_back({share_group, share_group == tls13::group::kX25519 ? x25519->public_bytes() : fake});
    return tls13::build_client_hello(spec, tls13::HelloRandomness::draw());
  };
  constexpr std::uint16_t kSecp521r1 = 0x0019;
  ServerTls server(server_config());
  TlsEvents retry;
  ASSERT_TRUE(server.receive(Level::initial, hello(kSecp521r1), retry)) << int(server.alert());
  ASSERT_EQ(retry.send.size(), 1u);
  EXPECT_FALSE(retry.handshake_keys);
  auto parsed = tls13::parse_server_hello(ByteSpan(retry.send[0].second).subspan(4));
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->hello_retry_request);
  EXPECT_EQ(parsed->key_share_group, tls13::group::kX25519);
  EXPECT_EQ(parsed->cipher_suite, 0x1302);
  TlsEvents flight;
  ASSERT_TRUE(server.receive(Level::initial, hello(tls13::group::kX25519), flight)) << int(server.alert());
  EXPECT_TRUE(flight.handshake_keys);
  EXPECT_EQ(server.group(), tls13::group::kX25519);
  // A second hello that still lacks the group asked for is refused.
  ServerTls other(server_config());
  TlsEvents e;
  ASSERT_TRUE(other.receive(Level::initial, hello(kSecp521r1), e));
  EXPECT_FALSE(other.receive(Level::initial, hello(kSecp521r1), e));
  EXPECT_EQ(other.alert(), tls13::alert::kIllegalParameter);
}

TEST(QuicServerTls, RefusesAHelloWithoutTransportParameters) {
  // A TCP ClientHello (no quic_transport_parameters) is refused with missing_extension.
  tls13::ClientHelloSpec spec;
  spec.server_name = "h3.example.com";
  spec.alpn = {"h3"};
  auto share = tls13::KeyShare::generate(tls13::group::kX25519);
  spec.key_shares.push_back({tls13::group::kX25519, share->public_bytes()});
  Bytes hello = tls13::build_client_hello(spec, tls13::HelloRandomness::draw());
  ServerTls server(server_config());
  TlsEvents e;
  EXPECT_FALSE(server.receive(Level::initial, hello, e));
  EXPECT_TRUE(e.send.empty());
}

TEST(QuicServerTls, RefusesWithTheAlertsTheRfcsName) {
  auto hello_with = [](std::vector<std::string> alpn, std::uint16_t group) {
    tls13::ClientHelloSpec spec;
    spec.server_name = "h3.example.com";
    spec.alpn = std::move(alpn);
    spec.quic_transport_parameters = Bytes{};
    auto share = tls13::KeyShare::generate(group);
    spec.key_shares.push_back({group, share->public_bytes()});
    return tls13::build_client_hello(spec, tls13::HelloRandomness::draw());
  };
  {
    ServerTls server(server_config());
    TlsEvents e;
    EXPECT_FALSE(server.receive(Level::initial, hello_with({"h2"}, tls13::group::kX25519), e));
    EXPECT_EQ(server.alert(), tls13::alert::kNoApplicationProtocol);
  }
  {
    ServerTls server(server_config());
    TlsEvents e;
    EXPECT_FALSE(server.receive(Level::initial, Bytes{0x01, 0x00, 0x00, 0x02, 0x03, 0x03}, e));
    EXPECT_EQ(server.alert(), tls13::alert::kDecodeError);
  }
  {
    // A Finished before any ClientHello, and a ClientHello at the wrong level.
    ServerTls server(server_config());
    TlsEvents e;
    EXPECT_FALSE(server.receive(Level::initial, Bytes{0x14, 0x00, 0x00, 0x00}, e));
    EXPECT_EQ(server.alert(), tls13::alert::kUnexpectedMessage);
    ServerTls other(server_config());
    EXPECT_FALSE(other.receive(Level::handshake, hello_with({"h3"}, tls13::group::kX25519), e));
    EXPECT_EQ(other.alert(), tls13::alert::kUnexpectedMessage);
  }
  {
    // A P-256 share alone is answered with P-256 (a group it implements, no retry needed).
    ServerTls server(server_config());
    TlsEvents e;
    EXPECT_TRUE(server.receive(Level::initial, hello_with({"h3"}, tls13::group::kSecp256r1), e));
    EXPECT_EQ(server.group(), tls13::group::kSecp256r1);
    // ... and a second ClientHello is unexpected.
    EXPECT_FALSE(server.receive(Level::initial, hello_with({"h3"}, tls13::group::kSecp256r1), e));
    EXPECT_EQ(server.alert(), tls13::alert::kUnexpectedMessage);
  }
  {
    // A wrong Finished: decrypt_error.
    Pump p(client_config(), server_config());
    TlsEvents first;
    ASSERT_TRUE(p.client.start(first));
    TlsEvents flight;
    ASSERT_TRUE(p.server.receive(Level::initial, first.send[0].second, flight));
    Bytes finished{0x14, 0x00, 0x00, 0x20};
    finished.resize(4 + 32, 0x00);
    TlsEvents e;
    EXPECT_FALSE(p.server.receive(Level::handshake, finished, e));
    EXPECT_EQ(p.server.alert(), tls13::alert::kDecryptError);
    EXPECT_FALSE(p.server.export_key("x"));
  }
}

}  // namespace
}  // namespace culvert::quic
