// Culvert's TLS 1.3 client against OpenSSL's server on loopback: every cipher suite, a
// HelloRetryRequest to P-256 and P-384, pinned and CA-checked certificates (ECDSA and RSA-PSS),
// KeyUpdate both ways, the exporter the tunnel authenticates with, and servers it must refuse.
#include "tls13/client_stream.h"

#include <gtest/gtest.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/write.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/await.h"
#include "transport/tls/certificate.h"
#include "transport/tls/context.h"
#include "transport/tls/tls_stream.h"

namespace culvert::tls13 {
namespace {

namespace fs = std::filesystem;

std::string pem_of(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}
std::string pem_of(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `cn`, signed by `issuer_key` (self-signed when issuer is null).
X509Ptr make_certificate(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, bool ca, const char* san) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(std::rand() & 0xffffff));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer ? issuer : cert.get();
  add_extension(cert.get(), signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_extension(cert.get(), signer, NID_key_usage,
                ca ? "critical,keyCertSign" : "critical,digitalSignature,keyEncipherment");
  if (!ca) add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
  if (san) add_extension(cert.get(), signer, NID_subject_alt_name, san);
  X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256());
  return cert;
}

class Tls13ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("culvert-tls13-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    auto cert = tls::generate_self_signed("127.0.0.1", 30).value();
    std::ofstream(dir_ / "pinned.pem") << cert.certificate_pem;
    std::ofstream(dir_ / "pinned.key") << cert.key_pem;
    pin_ = cert.spki_sha256;

    // A test CA and an RSA server certificate for "localhost" that it signed.
    EvpPkeyPtr ca_key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    X509Ptr ca = make_certificate(ca_key.get(), "Culvert Test CA", nullptr, nullptr, true, nullptr);
    EvpPkeyPtr rsa(EVP_RSA_gen(2048));
    X509Ptr leaf = make_certificate(rsa.get(), "localhost", ca.get(), ca_key.get(), false, "DNS:localhost");
    std::ofstream(dir_ / "ca.pem") << pem_of(ca.get());
    std::ofstream(dir_ / "chain.pem") << pem_of(leaf.get()) << pem_of(ca.get());
    std::ofstream(dir_ / "chain.key") << pem_of(rsa.get());
  }
  void TearDown() override { fs::remove_all(dir_); }

  struct ServerSetup {
    std::string cert = "pinned.pem";
    std::string key = "pinned.key";
    std::string suites;  // empty: OpenSSL's default
    std::string groups;  // empty: OpenSSL's default
    bool tls12_only = false;
    bool key_update = false;  // the server asks for a KeyUpdate before echoing
  };

  struct Outcome {
    std::error_code client_error;
    HandshakeSummary summary;
    Bytes echoed;
    bool exporters_match = false;
  };

  // One connection: the client sends `payload`, half-closes, and reads the echo to the end.
  Outcome run(const ServerSetup& setup, ClientConfig config, Bytes payload, bool client_key_update = false) {
    asio::io_context io;
    tls::ServerTlsOptions options;
    options.certificate_file = (dir_ / setup.cert).string();
    options.key_file = (dir_ / setup.key).string();
    options.alpn = {"h2", "http/1.1"};
    auto server_ctx = tls::make_server_context(options).value();
    if (!setup.suites.empty()) SSL_CTX_set_ciphersuites(server_ctx.ctx.get(), setup.suites.c_str());
    if (!setup.groups.empty()) SSL_CTX_set1_groups_list(server_ctx.ctx.get(), setup.groups.c_str());
    if (setup.tls12_only) SSL_CTX_set_max_proto_version(server_ctx.ctx.get(), TLS1_2_VERSION);

    asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    auto port = acceptor.local_endpoint().port();
    std::array<std::uint8_t, 32> server_exporter{};
    Outcome outcome;

    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
          if (ec) co_return;
          tls::TlsStream server(std::move(socket), SSL_new(server_ctx.ctx.get()));
          SSL_set_accept_state(server.native_handle());
          if (co_await server.handshake()) co_return;
          if (auto e = server.export_key("EXPORTER-culvert-test")) server_exporter = *e;
          if (setup.key_update) SSL_key_update(server.native_handle(), SSL_KEY_UPDATE_REQUESTED);
          std::vector<std::uint8_t> buf(20000);
          for (;;) {
            auto [rec, n] = co_await server.read_some(asio::buffer(buf));
            if (rec) break;
            if (co_await server.write_all(asio::buffer(buf.data(), n))) co_return;
          }
          co_await server.shutdown_send();
        },
        asio::detached);

    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          asio::ip::tcp::socket socket(io);
          auto [ec] = co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), port}, use_tuple);
          if (ec) co_return;
          ClientStream client(std::move(socket), config);
          outcome.client_error = co_await client.handshake();
          if (outcome.client_error) co_return;
          outcome.summary = client.summary();
          auto exporter = client.export_key("EXPORTER-culvert-test");
          if (client_key_update) client.request_key_update();
          // Write in pieces while reading, so both KeyUpdates meet data in flight.
          asio::co_spawn(
              io,
              [&client, &payload]() -> asio::awaitable<void> {
                for (std::size_t at = 0; at < payload.size(); at += 100000) {
                  std::size_t n = std::min<std::size_t>(100000, payload.size() - at);
                  if (co_await client.write_all(asio::buffer(payload.data() + at, n))) co_return;
                }
                co_await client.shutdown_send();
              },
              asio::detached);
          std::vector<std::uint8_t> buf(16384);
          for (;;) {
            auto [rec, n] = co_await client.read_some(asio::buffer(buf));
            outcome.echoed.insert(outcome.echoed.end(), buf.data(), buf.data() + n);
            if (rec) break;
          }
          outcome.exporters_match = exporter && *exporter == server_exporter;
        },
        asio::detached);
    io.run_for(std::chrono::seconds(20));
    return outcome;
  }

  ClientConfig pinned() const {
    ClientConfig c;
    c.verifier = CertificateVerifier::create({"127.0.0.1", pin_}).value();
    return c;
  }

  static Bytes payload(std::size_t n) {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 131 + (i >> 9));
    return b;
  }

  fs::path dir_;
  std::array<std::uint8_t, 32> pin_{};
};

TEST_F(Tls13ClientTest, DefaultHandshakeEchoesOneMebibyteAndAgreesOnTheExporter) {
  Bytes data = payload(1 << 20);
  auto out = run({}, pinned(), data);
  ASSERT_FALSE(out.client_error) << out.client_error.message();
  EXPECT_EQ(out.summary.cipher_suite, 0x1302);   // nginx's server order (OpenSSL's default): AES-256-GCM
  EXPECT_EQ(out.summary.group, group::kX25519);  // OpenSSL 3.0 has no X25519MLKEM768
  EXPECT_EQ(out.summary.alpn, "h2");
  EXPECT_FALSE(out.summary.hello_retry);
  EXPECT_TRUE(out.exporters_match);
  EXPECT_EQ(out.echoed, data);
}

TEST_F(Tls13ClientTest, EveryCipherSuiteWorks) {
  for (std::string suite : {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
    ServerSetup setup;
    setup.suites = suite;
    Bytes data = payload(70000);
    auto out = run(setup, pinned(), data);
    ASSERT_FALSE(out.client_error) << suite;
    EXPECT_EQ(out.echoed, data) << suite;
    EXPECT_TRUE(out.exporters_match) << suite;
  }
}

TEST_F(Tls13ClientTest, HelloRetryRequestToAGroupWithoutAShare) {
  for (auto [groups, expected] : {std::pair{"P-256", group::kSecp256r1}, std::pair{"P-384", group::kSecp384r1}}) {
    ServerSetup setup;
    setup.groups = groups;
    Bytes data = payload(5000);
    auto out = run(setup, pinned(), data);
    ASSERT_FALSE(out.client_error) << groups;
    EXPECT_TRUE(out.summary.hello_retry);
    EXPECT_EQ(out.summary.group, expected);
    EXPECT_EQ(out.echoed, data);
  }
}

TEST_F(Tls13ClientTest, KeyUpdatesInBothDirectionsKeepTheDataFlowing) {
  ServerSetup setup;
  setup.key_update = true;
  Bytes data = payload(3 << 20);
  auto out = run(setup, pinned(), data, /*client_key_update=*/true);
  ASSERT_FALSE(out.client_error);
  EXPECT_EQ(out.echoed.size(), data.size());
  EXPECT_EQ(out.echoed, data);
}

TEST_F(Tls13ClientTest, CaChainWithRsaPssAndHostnameIsChecked) {
  ASSERT_EQ(::setenv("SSL_CERT_FILE", (dir_ / "ca.pem").c_str(), 1), 0);
  ServerSetup setup;
  setup.cert = "chain.pem";
  setup.key = "chain.key";
  ClientConfig good;
  good.server_name = "localhost";
  good.verifier = CertificateVerifier::create({"localhost", std::nullopt}).value();
  auto out = run(setup, good, payload(1000));
  EXPECT_FALSE(out.client_error) << out.client_error.message();
  EXPECT_EQ(out.echoed.size(), 1000u);

  ClientConfig wrong_name = good;
  wrong_name.verifier = CertificateVerifier::create({"example.org", std::nullopt}).value();
  EXPECT_EQ(run(setup, wrong_name, payload(10)).client_error, make_error_code(Errc::untrusted_certificate));
  EXPECT_NE(wrong_name.verifier->last_failure().find("checked for example.org"), std::string::npos)
      << wrong_name.verifier->last_failure();
  ::unsetenv("SSL_CERT_FILE");
  // The system store does not trust the test CA.
  ClientConfig system_store = good;
  system_store.verifier = CertificateVerifier::create({"localhost", std::nullopt}).value();
  EXPECT_EQ(run(setup, system_store, payload(10)).client_error, make_error_code(Errc::untrusted_certificate));
}

TEST_F(Tls13ClientTest, WrongPinIsReportedAsSuch) {
  ClientConfig config;
  std::array<std::uint8_t, 32> other = pin_;
  other[0] ^= 1;
  config.verifier = CertificateVerifier::create({"127.0.0.1", other}).value();
  EXPECT_EQ(run({}, config, payload(10)).client_error, make_error_code(Errc::pin_mismatch));
}

TEST_F(Tls13ClientTest, ServerThatOnlySpeaksTls12IsRefused) {
  ServerSetup setup;
  setup.tls12_only = true;
  EXPECT_EQ(run(setup, pinned(), payload(10)).client_error, make_error_code(Errc::tls_failed));
}

TEST(Tls13ClientHostile, ServerAnsweringWithGarbageFailsCleanly) {
  for (std::string answer :
       {std::string("HTTP/1.1 400 Bad Request\r\n\r\n"), std::string("\x16\x03\x03\x00\x02\x02\x00", 7),
        std::string("\x16\x03\x03\xff\xff", 5), std::string("\x15\x03\x03\x00\x02\x02\x28", 7)}) {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    auto port = acceptor.local_endpoint().port();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
          if (ec) co_return;
          std::uint8_t buf[4096];
          co_await socket.async_read_some(asio::buffer(buf), use_tuple);
          co_await asio::async_write(socket, asio::buffer(answer), use_tuple);
          socket.shutdown(asio::ip::tcp::socket::shutdown_send);
          co_await socket.async_read_some(asio::buffer(buf), use_tuple);
        },
        asio::detached);
    std::error_code result;
    bool finished = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          asio::ip::tcp::socket socket(io);
          co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), port}, use_tuple);
          ClientConfig config;
          config.verifier = CertificateVerifier::create({"127.0.0.1", std::array<std::uint8_t, 32>{}}).value();
          ClientStream client(std::move(socket), config);
          result = co_await client.handshake();
          finished = true;
        },
        asio::detached);
    io.run_for(std::chrono::seconds(10));
    EXPECT_TRUE(finished);
    EXPECT_TRUE(result) << answer.size();
  }
}

}  // namespace
}  // namespace culvert::tls13
