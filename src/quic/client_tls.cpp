#include "quic/client_tls.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "crypto/crypto.h"
#include "tls13/client_hello.h"
#include "tls13/record_channel.h"

namespace culvert::quic {
namespace {

void cleanse(Bytes& secret) { OPENSSL_cleanse(secret.data(), secret.size()); }

}  // namespace

ClientTls::ClientTls(ClientTlsConfig config) : config_(std::move(config)) {}

ClientTls::~ClientTls() {
  cleanse(secrets_.client_handshake_traffic);
  cleanse(secrets_.server_handshake_traffic);
  cleanse(secrets_.master);
  cleanse(exporter_master_);
  cleanse(user_secret_);
}

Bytes ClientTls::transcript_hash() const { return tls13::hash(*suite_, transcript_); }

Result<void> ClientTls::refuse(std::uint8_t alert) {
  alert_ = alert;
  state_ = State::done;
  return fail(Errc::tls_failed);
}

Result<void> ClientTls::start(TlsEvents& out) {
  if (state_ != State::start) return fail(Errc::protocol_violation);
  tls13::ClientHelloSpec spec;
  spec.server_name = config_.server_name;
  spec.alpn = config_.alpn;
  spec.quic_transport_parameters = config_.transport_parameters;
  for (std::uint16_t g : {tls13::group::kX25519MlKem768, tls13::group::kX25519}) {
    auto share = tls13::KeyShare::generate(g);
    if (!share) return refuse(tls13::alert::kInternalError);
    spec.key_shares.push_back({g, share->public_bytes()});
    shares_.push_back(std::move(*share));
  }
  Bytes hello = tls13::build_client_hello(spec, tls13::HelloRandomness::draw());
  if (config_.user) {
    // The standalone X25519 share (the second) meets the server's static key.
    auto shared = shares_[1].agree(config_.user->server_public_key);
    if (!shared) return refuse(tls13::alert::kInternalError);
    user_secret_ = tls13::seal_borrow_session_id(hello, *shared, config_.user->key_id, config_.user->secret,
                                                 tls13::hello_auth_now(), tls13::HelloCarrier::random);
    cleanse(*shared);
  }
  transcript_ = hello;
  out.send.emplace_back(Level::initial, std::move(hello));
  state_ = State::server_hello;
  return {};
}

Result<void> ClientTls::receive(Level level, ByteSpan data, TlsEvents& out) {
  if (alert_ != 0) return fail(Errc::tls_failed);  // refused already: the connection is closing
  if (state_ == State::start) return refuse(tls13::alert::kUnexpectedMessage);
  auto& framer = framers_[static_cast<int>(level)];
  framer.append(data);
  for (;;) {
    auto message = framer.next();
    if (!message) return refuse(tls13::alert::kDecodeError);
    if (!*message) return {};
    if (auto handled = on_message(level, **message, out); !handled) return handled;
  }
}

Result<void> ClientTls::on_message(Level level, const tls13::HandshakeMessage& message, TlsEvents& out) {
  // Each message belongs to one level (RFC 9001 §4.1.3); anything else is unexpected.
  Level expected = state_ == State::server_hello ? Level::initial
                   : state_ == State::done       ? Level::application
                                                 : Level::handshake;
  if (level != expected) return refuse(tls13::alert::kUnexpectedMessage);
  switch (state_) {
    case State::server_hello:
      if (message.type != tls13::msg::kServerHello) return refuse(tls13::alert::kUnexpectedMessage);
      return on_server_hello(message, out);
    case State::encrypted_extensions: {
      if (message.type != tls13::msg::kEncryptedExtensions) return refuse(tls13::alert::kUnexpectedMessage);
      auto extensions = tls13::parse_encrypted_extensions(message.body());
      if (!extensions) return refuse(tls13::alert::kDecodeError);
      if (std::find(extensions->extensions.begin(), extensions->extensions.end(),
                    tls13::ext::kQuicTransportParameters) == extensions->extensions.end())
        return refuse(tls13::alert::kMissingExtension);
      // ALPS would need our own EncryptedExtensions with settings; no server we talk to asks.
      if (std::find(extensions->extensions.begin(), extensions->extensions.end(), tls13::ext::kApplicationSettings) !=
          extensions->extensions.end())
        return refuse(tls13::alert::kHandshakeFailure);
      if (std::find(config_.alpn.begin(), config_.alpn.end(), extensions->alpn) == config_.alpn.end())
        return refuse(tls13::alert::kNoApplicationProtocol);  // QUIC requires ALPN (RFC 9001 §8.1)
      alpn_ = extensions->alpn;
      peer_transport_parameters_ = std::move(extensions->quic_transport_parameters);
      transcript_.insert(transcript_.end(), message.raw.begin(), message.raw.end());
      state_ = State::certificate;
      return {};
    }
    case State::certificate: {
      Result<std::vector<Bytes>> chain = culvert::fail(Errc::malformed);
      if (message.type == tls13::msg::kCertificate) {
        chain = tls13::parse_certificate(message.body());
      } else if (message.type == tls13::msg::kCompressedCertificate) {
        auto inflated = tls13::decompress_certificate(message.body());
        if (inflated) chain = tls13::parse_certificate(*inflated);
      } else {
        // CertificateRequest included: Culvert has no client certificates.
        return refuse(message.type == tls13::msg::kCertificateRequest ? tls13::alert::kHandshakeFailure
                                                                      : tls13::alert::kUnexpectedMessage);
      }
      if (!chain || chain->empty()) return refuse(tls13::alert::kBadCertificate);
      if (config_.accept_any_certificate) {
        const unsigned char* p = chain->front().data();
        leaf_.reset(d2i_X509(nullptr, &p, static_cast<long>(chain->front().size())));
      } else if (config_.verifier) {
        auto checked = config_.verifier->check_chain(*chain);
        if (checked) leaf_ = std::move(*checked);
      }
      if (!leaf_) return refuse(tls13::alert::kBadCertificate);
      transcript_.insert(transcript_.end(), message.raw.begin(), message.raw.end());
      state_ = State::certificate_verify;
      return {};
    }
    case State::certificate_verify: {
      if (message.type != tls13::msg::kCertificateVerify) return refuse(tls13::alert::kUnexpectedMessage);
      auto verify = tls13::parse_certificate_verify(message.body());
      if (!verify) return refuse(tls13::alert::kDecodeError);
      if (!tls13::verify_server_signature(leaf_.get(), verify->scheme, verify->signature, transcript_hash()))
        return refuse(tls13::alert::kDecryptError);
      transcript_.insert(transcript_.end(), message.raw.begin(), message.raw.end());
      state_ = State::finished;
      return {};
    }
    case State::finished:
      if (message.type != tls13::msg::kFinished) return refuse(tls13::alert::kUnexpectedMessage);
      return on_finished(message, out);
    case State::done:
      // After the handshake only NewSessionTicket is expected; Culvert never resumes.
      if (message.type != tls13::msg::kNewSessionTicket) return refuse(tls13::alert::kUnexpectedMessage);
      if (!tls13::parse_new_session_ticket(message.body())) return refuse(tls13::alert::kDecodeError);
      return {};
    case State::start:
      break;
  }
  return refuse(tls13::alert::kUnexpectedMessage);
}

Result<void> ClientTls::on_server_hello(const tls13::HandshakeMessage& message, TlsEvents& out) {
  auto server_hello = tls13::parse_server_hello(message.body());
  if (!server_hello) {
    bool old = server_hello.error() == make_error_code(Errc::unsupported);
    return refuse(old ? tls13::alert::kProtocolVersion : tls13::alert::kDecodeError);
  }
  // A HelloRetryRequest would need a second hello; both shares Chromium sends cover the servers
  // seen so far (GnuTLS, OpenSSL, BoringSSL pick X25519 at worst).
  if (server_hello->hello_retry_request) return refuse(tls13::alert::kHandshakeFailure);
  suite_ = tls13::find_cipher_suite(server_hello->cipher_suite);
  if (!suite_ || !server_hello->session_id_echo.empty()) return refuse(tls13::alert::kIllegalParameter);
  auto share = std::find_if(shares_.begin(), shares_.end(),
                            [&](const tls13::KeyShare& s) { return s.group() == server_hello->key_share_group; });
  if (share == shares_.end()) return refuse(tls13::alert::kIllegalParameter);
  auto shared = share->agree(server_hello->key_share);
  if (!shared) return refuse(tls13::alert::kIllegalParameter);
  group_ = share->group();
  shares_.clear();
  shared->insert(shared->end(), user_secret_.begin(), user_secret_.end());
  cleanse(user_secret_);
  transcript_.insert(transcript_.end(), message.raw.begin(), message.raw.end());
  // No message may follow the ServerHello at the Initial level (RFC 9001 §4.1.3).
  if (!framers_[static_cast<int>(Level::initial)].empty()) return refuse(tls13::alert::kUnexpectedMessage);
  secrets_ = tls13::derive_handshake_secrets(*suite_, *shared, transcript_hash());
  OPENSSL_cleanse(shared->data(), shared->size());
  out.handshake_keys = LevelSecrets{suite_, secrets_.server_handshake_traffic, secrets_.client_handshake_traffic};
  state_ = State::encrypted_extensions;
  return {};
}

Result<void> ClientTls::on_finished(const tls13::HandshakeMessage& message, TlsEvents& out) {
  Bytes expected = tls13::finished_mac(*suite_, secrets_.server_handshake_traffic, transcript_hash());
  if (!crypto::equal_constant_time(expected, message.body())) return refuse(tls13::alert::kDecryptError);
  transcript_.insert(transcript_.end(), message.raw.begin(), message.raw.end());
  if (!framers_[static_cast<int>(Level::handshake)].empty()) return refuse(tls13::alert::kUnexpectedMessage);
  auto application = tls13::derive_application_secrets(*suite_, secrets_.master, transcript_hash());
  exporter_master_ = application.exporter_master;
  Bytes finished = tls13::encode_handshake_message(
      tls13::msg::kFinished, tls13::finished_mac(*suite_, secrets_.client_handshake_traffic, transcript_hash()));
  out.send.emplace_back(Level::handshake, std::move(finished));
  out.application_keys =
      LevelSecrets{suite_, application.server_application_traffic, application.client_application_traffic};
  cleanse(application.server_application_traffic);
  cleanse(application.client_application_traffic);
  cleanse(secrets_.master);
  transcript_.clear();
  transcript_.shrink_to_fit();
  leaf_.reset();
  out.complete = true;
  state_ = State::done;
  return {};
}

Result<std::array<std::uint8_t, 32>> ClientTls::export_key(std::string_view label) const {
  if (state_ != State::done || exporter_master_.empty()) return fail(Errc::tls_failed);
  return tls13::export_32(suite_, exporter_master_, label);
}

}  // namespace culvert::quic
