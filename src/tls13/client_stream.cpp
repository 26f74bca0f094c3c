#include "tls13/client_stream.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <asio/error.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "core/await.h"
#include "crypto/crypto.h"
#include "tls13/borrow_auth.h"

#include <chrono>

namespace culvert::tls13 {
namespace {

bool offered_group(std::uint16_t g) { return std::find(kGroups.begin(), kGroups.end(), g) != kGroups.end(); }

}  // namespace

ClientStream::ClientStream(asio::ip::tcp::socket socket, ClientConfig config)
    : channel_(std::move(socket), true), config_(std::move(config)) {}

ClientStream::~ClientStream() { OPENSSL_cleanse(exporter_master_.data(), exporter_master_.size()); }

Bytes ClientStream::transcript_hash() const { return hash(*suite_, transcript_); }

asio::awaitable<std::error_code> ClientStream::handshake() {
  HelloRandomness randomness = HelloRandomness::draw();
  ClientHelloSpec spec;
  spec.server_name = config_.server_name;
  spec.alpn = config_.alpn;
  std::vector<KeyShare> shares;
  for (std::uint16_t g : {group::kX25519MlKem768, group::kX25519}) {
    auto share = KeyShare::generate(g);
    if (!share) co_return make_error_code(Errc::tls_failed);
    spec.key_shares.push_back({g, share->public_bytes()});
    shares.push_back(std::move(*share));
  }
  if (config_.borrow) randomness.session_id.fill(0);  // filled in below, over the whole hello
  Bytes hello = build_client_hello(spec, randomness);
  Bytes borrow_secret;
  if (config_.borrow) {
    // The standalone X25519 share (shares[1]) meets the server's static key.
    auto shared = shares[1].agree(config_.borrow->server_public_key);
    if (!shared) co_return make_error_code(Errc::bad_link);
    borrow_secret =
        seal_borrow_session_id(hello, *shared, config_.borrow->key_id, config_.borrow->secret, hello_auth_now());
    OPENSSL_cleanse(shared->data(), shared->size());
    std::copy(hello.begin() + kSessionIdOffset, hello.begin() + kSessionIdOffset + 32, randomness.session_id.begin());
  }
  if (auto ec = co_await channel_.write_raw(client_hello_record(hello))) co_return ec;
  transcript_ = hello;

  // ServerHello, or HelloRetryRequest then ServerHello.
  auto message = co_await channel_.next_handshake_message();
  if (!message) co_return co_await channel_.fail(alert::kUnexpectedMessage, Errc::tls_failed);
  if (message->type != msg::kServerHello) co_return co_await channel_.fail(alert::kUnexpectedMessage, Errc::tls_failed);
  auto server_hello = parse_server_hello(message->body());
  if (!server_hello) {
    bool old = server_hello.error() == make_error_code(Errc::unsupported);
    co_return co_await channel_.fail(old ? alert::kProtocolVersion : alert::kDecodeError, Errc::tls_failed);
  }
  bool sent_change_cipher_spec = false;
  if (server_hello->hello_retry_request) {
    summary_.hello_retry = true;
    std::uint16_t wanted = server_hello->key_share_group;
    bool already_sent =
        std::any_of(shares.begin(), shares.end(), [&](const KeyShare& s) { return s.group() == wanted; });
    suite_ = find_cipher_suite(server_hello->cipher_suite);
    if (!suite_ || (wanted != 0 && (!offered_group(wanted) || already_sent)) ||
        server_hello->session_id_echo != Bytes(randomness.session_id.begin(), randomness.session_id.end()))
      co_return co_await channel_.fail(alert::kIllegalParameter, Errc::tls_failed);
    // Transcript: message_hash(Hash(ClientHello1)) || HelloRetryRequest || ClientHello2.
    Bytes first_hash = hash(*suite_, transcript_);
    transcript_ = encode_handshake_message(msg::kMessageHash, first_hash);
    transcript_.insert(transcript_.end(), message->raw.begin(), message->raw.end());
    spec.after_retry = true;
    spec.cookie = server_hello->cookie;
    if (wanted != 0) {
      shares.clear();
      spec.key_shares.clear();
      auto share = KeyShare::generate(wanted);
      if (!share) co_return co_await channel_.fail(alert::kIllegalParameter, Errc::tls_failed);
      spec.key_shares.push_back({wanted, share->public_bytes()});
      shares.push_back(std::move(*share));
    }
    Bytes second = build_client_hello(spec, randomness);
    transcript_.insert(transcript_.end(), second.begin(), second.end());
    Bytes flight(std::begin(kChangeCipherSpecRecord), std::end(kChangeCipherSpecRecord));
    Bytes record = client_hello_record(second);
    record[1] = 0x03;
    record[2] = 0x03;
    flight.insert(flight.end(), record.begin(), record.end());
    sent_change_cipher_spec = true;
    if (auto ec = co_await channel_.write_raw(flight)) co_return ec;
    std::uint16_t retry_suite = server_hello->cipher_suite;
    message = co_await channel_.next_handshake_message();
    if (!message || message->type != msg::kServerHello)
      co_return co_await channel_.fail(alert::kUnexpectedMessage, Errc::tls_failed);
    server_hello = parse_server_hello(message->body());
    if (!server_hello) co_return co_await channel_.fail(alert::kDecodeError, Errc::tls_failed);
    if (server_hello->hello_retry_request || server_hello->cipher_suite != retry_suite)
      co_return co_await channel_.fail(alert::kUnexpectedMessage, Errc::tls_failed);
  }
  transcript_.insert(transcript_.end(), message->raw.begin(), message->raw.end());
  suite_ = find_cipher_suite(server_hello->cipher_suite);
  if (!suite_ || server_hello->session_id_echo != Bytes(randomness.session_id.begin(), randomness.session_id.end()))
    co_return co_await channel_.fail(alert::kIllegalParameter, Errc::tls_failed);
  auto share = std::find_if(shares.begin(), shares.end(),
                            [&](const KeyShare& s) { return s.group() == server_hello->key_share_group; });
  if (share == shares.end()) co_return co_await channel_.fail(alert::kIllegalParameter, Errc::tls_failed);
  auto shared = share->agree(server_hello->key_share);
  if (!shared) co_return co_await channel_.fail(alert::kIllegalParameter, Errc::tls_failed);
  // Borrowed-site mode: only a server that holds the static key can derive the same secrets.
  shared->insert(shared->end(), borrow_secret.begin(), borrow_secret.end());
  summary_.cipher_suite = suite_->id;
  summary_.group = share->group();
  shares.clear();
  if (!channel_.handshake_buffer_empty()) co_return co_await channel_.fail(alert::kUnexpectedMessage, Errc::tls_failed);

  HandshakeSecrets secrets = derive_handshake_secrets(*suite_, *shared, transcript_hash());
  OPENSSL_cleanse(shared->data(), shared->size());
  // From here on our alerts, like our Finished, go under the client handshake keys.
  channel_.set_keys(*suite_, secrets.server_handshake_traffic, secrets.client_handshake_traffic);

  // EncryptedExtensions.
  message = co_await channel_.next_handshake_message();
  if (!message || message->type != msg::kEncryptedExtensions)
    co_return co_await channel_.fail(message ? alert::kUnexpectedMessage : alert::kBadRecordMac, Errc::tls_failed);
  auto extensions = parse_encrypted_extensions(message->body());
  if (!extensions) co_return co_await channel_.fail(alert::kDecodeError, Errc::tls_failed);
  // ALPS would need a client EncryptedExtensions with HTTP/2 settings; servers we talk to never
  // negotiate it, so refuse rather than answer wrongly.
  if (std::find(extensions->extensions.begin(), extensions->extensions.end(), ext::kApplicationSettings) !=
      extensions->extensions.end())
    co_return co_await channel_.fail(alert::kHandshakeFailure, Errc::tls_failed);
  // Only what this client offered: no QUIC parameters over TCP, no protocol it did not ask for.
  bool offered = extensions->alpn.empty() ||
                 std::find(config_.alpn.begin(), config_.alpn.end(), extensions->alpn) != config_.alpn.end();
  if (!offered || std::find(extensions->extensions.begin(), extensions->extensions.end(),
                            ext::kQuicTransportParameters) != extensions->extensions.end())
    co_return co_await channel_.fail(alert::kUnsupportedExtension, Errc::tls_failed);
  summary_.alpn = extensions->alpn;
  transcript_.insert(transcript_.end(), message->raw.begin(), message->raw.end());

  // Certificate (perhaps brotli-compressed) and CertificateVerify.
  message = co_await channel_.next_handshake_message();
  if (!message) co_return co_await channel_.fail(alert::kBadRecordMac, Errc::tls_failed);
  if (message->type == msg::kCertificateRequest)  // client certificates: not supported
    co_return co_await channel_.fail(alert::kHandshakeFailure, Errc::tls_failed);
  Result<std::vector<Bytes>> chain = culvert::fail(Errc::malformed);
  if (message->type == msg::kCertificate) {
    chain = parse_certificate(message->body());
  } else if (message->type == msg::kCompressedCertificate) {
    summary_.compressed_certificate = true;
    auto inflated = decompress_certificate(message->body());
    if (inflated) chain = parse_certificate(*inflated);
  } else {
    co_return co_await channel_.fail(alert::kUnexpectedMessage, Errc::tls_failed);
  }
  if (!chain) co_return co_await channel_.fail(alert::kBadCertificate, Errc::tls_failed);
  transcript_.insert(transcript_.end(), message->raw.begin(), message->raw.end());
  Result<X509Ptr> leaf = culvert::fail(Errc::tls_failed);
  if (config_.borrow || config_.accept_any_certificate) {
    // The certificate only has to be well formed; for borrow the key schedule authenticates the server.
    const unsigned char* p = chain->front().data();
    X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(chain->front().size())));
    if (cert) leaf = std::move(cert);
  } else if (config_.verifier) {
    leaf = config_.verifier->check_chain(*chain);
  }
  if (!leaf) co_return co_await channel_.fail(alert::kBadCertificate, Errc(leaf.error().value()));

  message = co_await channel_.next_handshake_message();
  if (!message || message->type != msg::kCertificateVerify)
    co_return co_await channel_.fail(alert::kUnexpectedMessage, Errc::tls_failed);
  auto verify = parse_certificate_verify(message->body());
  if (!verify) co_return co_await channel_.fail(alert::kDecodeError, Errc::tls_failed);
  if (!verify_server_signature(leaf->get(), verify->scheme, verify->signature, transcript_hash()))
    co_return co_await channel_.fail(alert::kDecryptError, Errc::tls_failed);
  transcript_.insert(transcript_.end(), message->raw.begin(), message->raw.end());

  // Server Finished.
  message = co_await channel_.next_handshake_message();
  if (!message || message->type != msg::kFinished)
    co_return co_await channel_.fail(alert::kUnexpectedMessage, Errc::tls_failed);
  Bytes expected = finished_mac(*suite_, secrets.server_handshake_traffic, transcript_hash());
  if (!crypto::equal_constant_time(expected, message->body()))
    co_return co_await channel_.fail(alert::kDecryptError, Errc::tls_failed);
  transcript_.insert(transcript_.end(), message->raw.begin(), message->raw.end());
  // A handshake message may not straddle the key change.
  if (!channel_.handshake_buffer_empty()) co_return co_await channel_.fail(alert::kUnexpectedMessage, Errc::tls_failed);

  ApplicationSecrets application = derive_application_secrets(*suite_, secrets.master, transcript_hash());
  exporter_master_ = application.exporter_master;

  // Our flight: ChangeCipherSpec (compatibility mode, once) and Finished under the handshake keys.
  Bytes flight;
  if (!sent_change_cipher_spec) flight.assign(std::begin(kChangeCipherSpecRecord), std::end(kChangeCipherSpecRecord));
  Bytes finished = encode_handshake_message(msg::kFinished,
                                            finished_mac(*suite_, secrets.client_handshake_traffic, transcript_hash()));
  channel_.write_protection()->seal(kHandshake, finished, flight);
  if (auto ec = co_await channel_.write_raw(flight)) co_return ec;

  channel_.set_keys(*suite_, application.server_application_traffic, application.client_application_traffic);
  OPENSSL_cleanse(secrets.master.data(), secrets.master.size());
  transcript_.clear();
  transcript_.shrink_to_fit();
  channel_.handshake_finished();
  co_return std::error_code{};
}

Result<std::array<std::uint8_t, 32>> ClientStream::export_key(std::string_view label) const {
  return export_32(suite_, exporter_master_, label);
}

}  // namespace culvert::tls13
