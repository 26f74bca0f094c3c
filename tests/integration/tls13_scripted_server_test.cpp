// The client against a TLS 1.3 server scripted here from the same primitives (key schedule,
// records, ML-KEM encapsulation): what no server on Debian 12 can do — choose X25519MLKEM768, send
// a brotli CompressedCertificate — and what a broken or hostile server does wrong (a bad Finished,
// an unsolicited extension, a share for a group never offered, ALPS).
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "core/await.h"
#include "crypto/crypto.h"
#include "tls13/client_stream.h"
#include "transport/tls/certificate.h"

namespace culvert::tls13 {
namespace {

struct Script {
  std::uint16_t group = group::kX25519MlKem768;
  bool compress_certificate = false;
  bool corrupt_finished = false;
  bool unsolicited_extension = false;  // record_size_limit in EncryptedExtensions, never offered
  bool alps = false;
  bool share_for_unoffered_group = false;  // P-256 share without a HelloRetryRequest
};

class ScriptedServer {
 public:
  explicit ScriptedServer(Script script) : script_(script) {
    auto generated = tls::generate_self_signed("127.0.0.1", 2).value();
    pin = generated.spki_sha256;
    BIO* bio = BIO_new_mem_buf(generated.certificate_pem.data(), static_cast<int>(generated.certificate_pem.size()));
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    unsigned char* der = nullptr;
    int n = i2d_X509(cert, &der);
    certificate_der_.assign(der, der + n);
    OPENSSL_free(der);
    X509_free(cert);
    bio = BIO_new_mem_buf(generated.key_pem.data(), static_cast<int>(generated.key_pem.size()));
    key_.reset(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
  }

  std::array<std::uint8_t, 32> pin{};
  bool client_finished_ok = false;
  std::string echoed;

  asio::awaitable<void> serve(asio::ip::tcp::socket socket) {
    const CipherSuite& suite = *find_cipher_suite(0x1301);
    Bytes hello = co_await read_record(socket);
    if (hello.size() < 4) co_return;
    // Find the client's share for the script's group and the session id.
    Reader r(ByteSpan(hello).subspan(4));
    r.u16();
    r.take(32);
    auto sid = r.prefixed(1).value();
    r.prefixed(2);
    r.prefixed(1);
    Reader e(r.prefixed(2).value());
    Bytes client_share;
    while (e.remaining() > 0) {
      auto type = e.u16().value();
      auto body = e.prefixed(2).value();
      if (type != ext::kKeyShare) continue;
      Reader l(Reader(body).prefixed(2).value());
      while (l.remaining() > 0) {
        auto g = l.u16().value();
        auto key = l.prefixed(2).value();
        if (g == script_.group) client_share.assign(key.begin(), key.end());
      }
    }
    Bytes server_share, shared;
    std::uint16_t group = script_.group;
    if (group == group::kX25519MlKem768) {
      auto enc = encapsulate_x25519_mlkem768(client_share).value();
      server_share = enc.server_share;
      shared = enc.shared_secret;
    } else {
      auto mine = KeyShare::generate(script_.share_for_unoffered_group ? group::kSecp256r1 : group).value();
      server_share = mine.public_bytes();
      if (script_.share_for_unoffered_group) {
        group = group::kSecp256r1;
        shared = Bytes(32, 1);
      } else {
        shared = mine.agree(client_share).value();
      }
    }

    Bytes sh_body;
    Writer w(sh_body);
    w.u16(0x0303);
    w.bytes(crypto::random_bytes(32));
    w.u8(static_cast<std::uint8_t>(sid.size()));
    w.bytes(sid);
    w.u16(suite.id);
    w.u8(0);
    std::size_t exts = w.open_prefix(2);
    w.u16(ext::kSupportedVersions);
    w.u16(2);
    w.u16(0x0304);
    w.u16(ext::kKeyShare);
    w.u16(static_cast<std::uint16_t>(4 + server_share.size()));
    w.u16(group);
    w.u16(static_cast<std::uint16_t>(server_share.size()));
    w.bytes(server_share);
    w.close_prefix(exts, 2);
    Bytes sh = encode_handshake_message(msg::kServerHello, sh_body);
    Bytes transcript = hello;
    transcript.insert(transcript.end(), sh.begin(), sh.end());
    auto secrets = derive_handshake_secrets(suite, shared, hash(suite, transcript));

    Bytes flight = {kHandshake, 3, 3, static_cast<std::uint8_t>(sh.size() >> 8), static_cast<std::uint8_t>(sh.size())};
    flight.insert(flight.end(), sh.begin(), sh.end());
    flight.insert(flight.end(), {kChangeCipherSpec, 3, 3, 0, 1, 1});
    RecordProtection seal(suite, secrets.server_handshake_traffic, true);
    Bytes encrypted_messages;
    auto add = [&](const Bytes& m) {
      transcript.insert(transcript.end(), m.begin(), m.end());
      encrypted_messages.insert(encrypted_messages.end(), m.begin(), m.end());
    };

    Bytes ee_body;
    Writer ee(ee_body);
    std::size_t ee_list = ee.open_prefix(2);
    ee.u16(ext::kAlpn);
    ee.u16(11);
    ee.u16(9);
    ee.u8(8);
    ee.text("http/1.1");
    if (script_.unsolicited_extension) {
      ee.u16(0x001c);  // record_size_limit
      ee.u16(2);
      ee.u16(16385);
    }
    if (script_.alps) {
      ee.u16(ext::kApplicationSettings);
      ee.u16(0);
    }
    ee.close_prefix(ee_list, 2);
    add(encode_handshake_message(msg::kEncryptedExtensions, ee_body));

    Bytes cert_body = encode_certificate({certificate_der_});
    if (script_.compress_certificate) {
      add(encode_handshake_message(msg::kCompressedCertificate, compress_certificate(cert_body)));
    } else {
      add(encode_handshake_message(msg::kCertificate, cert_body));
    }

    add(encode_handshake_message(msg::kCertificateVerify,
                                 sign_certificate_verify(key_.get(), hash(suite, transcript)).value()));

    Bytes verify_data = finished_mac(suite, secrets.server_handshake_traffic, hash(suite, transcript));
    if (script_.corrupt_finished) verify_data[0] ^= 1;
    add(encode_handshake_message(msg::kFinished, verify_data));
    seal.seal(kHandshake, encrypted_messages, flight);
    co_await asio::async_write(socket, asio::buffer(flight), use_tuple);

    auto application = derive_application_secrets(suite, secrets.master, hash(suite, transcript));
    Bytes expected_client_finished = finished_mac(suite, secrets.client_handshake_traffic, hash(suite, transcript));
    // The client's ChangeCipherSpec, then its Finished under the client handshake keys.
    Bytes ccs = co_await read_raw_record(socket);
    if (ccs.size() != 6 || ccs[0] != kChangeCipherSpec) co_return;
    Bytes record = co_await read_raw_record(socket);
    if (record.size() < 6 || record[0] != kApplicationData) co_return;  // an alert: the client gave up
    RecordProtection client_hs(suite, secrets.client_handshake_traffic, false);
    std::size_t n = 0;
    auto type = client_hs.open(ByteSpan(record).first(5), std::span(record).subspan(5), &n);
    if (!type || *type != kHandshake) co_return;
    client_finished_ok =
        Bytes(record.begin() + 9, record.begin() + 5 + static_cast<std::ptrdiff_t>(n)) == expected_client_finished;

    // Echo one application record back.
    RecordProtection client_app(suite, application.client_application_traffic, false);
    RecordProtection server_app(suite, application.server_application_traffic, true);
    record = co_await read_raw_record(socket);
    if (record.size() < 6) co_return;
    type = client_app.open(ByteSpan(record).first(5), std::span(record).subspan(5), &n);
    if (!type) co_return;
    echoed.assign(reinterpret_cast<const char*>(record.data() + 5), n);
    Bytes out;
    server_app.seal(kApplicationData, ByteSpan(record.data() + 5, n), out);
    std::uint8_t close_notify[2] = {1, 0};
    server_app.seal(kAlert, close_notify, out);
    co_await asio::async_write(socket, asio::buffer(out), use_tuple);
  }

 private:
  static asio::awaitable<Bytes> read_raw_record(asio::ip::tcp::socket& socket) {
    Bytes header(5);
    auto [ec, n] = co_await asio::async_read(socket, asio::buffer(header), use_tuple);
    if (ec) co_return Bytes{};
    Bytes body((header[3] << 8) | header[4]);
    auto [ec2, m] = co_await asio::async_read(socket, asio::buffer(body), use_tuple);
    if (ec2) co_return Bytes{};
    header.insert(header.end(), body.begin(), body.end());
    co_return header;
  }
  // The handshake message carried by one plaintext record.
  static asio::awaitable<Bytes> read_record(asio::ip::tcp::socket& socket) {
    Bytes r = co_await read_raw_record(socket);
    if (r.size() < 5) co_return Bytes{};
    co_return Bytes(r.begin() + 5, r.end());
  }

  Script script_;
  Bytes certificate_der_;
  EvpPkeyPtr key_;
};

struct Result2 {
  std::error_code error;
  HandshakeSummary summary;
  std::string reply;
  bool server_saw_valid_finished = false;
  std::string server_echoed;
};

Result2 run(Script script) {
  asio::io_context io;
  ScriptedServer server(script);
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = acceptor.local_endpoint().port();
  Result2 out;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (!ec) co_await server.serve(std::move(socket));
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::ip::tcp::socket socket(io);
        co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), port}, use_tuple);
        ClientConfig config;
        config.verifier = CertificateVerifier::create({"127.0.0.1", server.pin}).value();
        ClientStream client(std::move(socket), config);
        out.error = co_await client.handshake();
        if (out.error) co_return;
        out.summary = client.summary();
        std::string hello = "hello over a hybrid key";
        if (co_await client.write_all(asio::buffer(hello))) co_return;
        char buf[256];
        for (;;) {
          auto [ec, n] = co_await client.read_some(asio::buffer(buf));
          out.reply.append(buf, n);
          if (ec) break;
        }
      },
      asio::detached);
  io.run_for(std::chrono::seconds(10));
  out.server_saw_valid_finished = server.client_finished_ok;
  out.server_echoed = server.echoed;
  return out;
}

TEST(Tls13ScriptedServer, HybridX25519MlKem768HandshakeCompletes) {
  auto out = run({});
  ASSERT_FALSE(out.error) << out.error.message();
  EXPECT_EQ(out.summary.group, group::kX25519MlKem768);
  EXPECT_EQ(out.summary.alpn, "http/1.1");
  EXPECT_TRUE(out.server_saw_valid_finished);
  EXPECT_EQ(out.server_echoed, "hello over a hybrid key");
  EXPECT_EQ(out.reply, "hello over a hybrid key");
}

TEST(Tls13ScriptedServer, BrotliCompressedCertificateIsAccepted) {
  Script s;
  s.compress_certificate = true;
  auto out = run(s);
  ASSERT_FALSE(out.error) << out.error.message();
  EXPECT_TRUE(out.summary.compressed_certificate);
  EXPECT_TRUE(out.server_saw_valid_finished);
  EXPECT_EQ(out.reply, "hello over a hybrid key");
}

TEST(Tls13ScriptedServer, X25519AloneAlsoCompletes) {
  Script s;
  s.group = group::kX25519;
  auto out = run(s);
  ASSERT_FALSE(out.error);
  EXPECT_EQ(out.summary.group, group::kX25519);
}

TEST(Tls13ScriptedServer, BrokenServersAreRefused) {
  Script finished;
  finished.corrupt_finished = true;
  Script unsolicited;
  unsolicited.unsolicited_extension = true;
  Script alps;
  alps.alps = true;
  Script unoffered;
  unoffered.group = group::kX25519;
  unoffered.share_for_unoffered_group = true;
  for (const Script& s : {finished, unsolicited, alps, unoffered}) {
    auto out = run(s);
    EXPECT_EQ(out.error, make_error_code(Errc::tls_failed));
    EXPECT_FALSE(out.server_saw_valid_finished);
  }
}

}  // namespace
}  // namespace culvert::tls13
