#include "lab/prober.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "crypto/crypto.h"

namespace culvert::lab {
namespace {

using Clock = std::chrono::steady_clock;

int connect_to(const std::string& host, std::uint16_t port) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return -1;
  int fd = -1;
  for (auto* ai = res; ai; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

bool wait_readable(int fd, Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return false;
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(left)) > 0;
}

void note_bytes(Reaction& r, const std::uint8_t* data, std::size_t n) {
  r.bytes += n;
  for (std::size_t i = 0; i < n && r.first_bytes.size() < 64; ++i) r.first_bytes.push_back(data[i]);
}

// A ClientHello as OpenSSL's default client writes it, captured from a memory BIO.
Bytes openssl_client_hello(const std::string& sni) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rbio, wbio);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  SSL_set_connect_state(ssl);
  SSL_do_handshake(ssl);
  Bytes out(static_cast<std::size_t>(BIO_ctrl_pending(wbio)));
  BIO_read(wbio, out.data(), static_cast<int>(out.size()));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return out;
}

}  // namespace

std::string_view to_string(Ending e) {
  switch (e) {
    case Ending::fin:
      return "FIN";
    case Ending::rst:
      return "RST";
    case Ending::timeout:
      return "timeout";
    case Ending::connect_failed:
      return "connect-failed";
    case Ending::tls_failed:
      return "tls-failed";
  }
  return "?";
}

std::vector<Probe> standard_probes(const ProbeOptions& o) {
  std::vector<Probe> p;
  p.push_back({"empty", {}, false, {}});
  // Alice et al. §4: random probes cluster at 7-9, 11-13, 15-17, 21-23, 32-34, 40-42, 48-50 and 221.
  for (std::size_t n : {8, 12, 16, 22, 33, 41, 49, 221})
    p.push_back({"random-" + std::to_string(n), crypto::random_bytes(n)});
  p.push_back({"random-1000", crypto::random_bytes(1000)});
  std::string host = o.sni.empty() ? "localhost" : o.sni;
  std::string get = "GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n";
  p.push_back({"http-get", Bytes(get.begin(), get.end())});
  p.push_back({"tls-client-hello-other-sni", openssl_client_hello("www.example.com")});
  // Frolov et al. §III: common protocol openers.
  p.push_back({"dns-over-tcp",
               Bytes{0x00, 0x1d, 0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 'e',
                     'x',  'a',  'm',  'p',  'l',  'e',  0x03, 'c',  'o',  'm',  0x00, 0x00, 0x01, 0x00, 0x01}});
  p.push_back(
      {"stun-binding", Bytes{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}});
  p.push_back({"modbus", Bytes{0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01}});
  p.push_back({"s7-cotp", Bytes{0x03, 0x00, 0x00, 0x16, 0x11, 0xe0, 0x00, 0x00, 0x00, 0x01, 0x00,
                                0xc1, 0x02, 0x01, 0x00, 0xc2, 0x02, 0x01, 0x02, 0xc0, 0x01, 0x0a}});
  if (o.replay && !o.replay->empty()) {
    const Bytes& r = *o.replay;
    p.push_back({"replay", r});
    p.push_back({"replay-delayed", r, false, o.replay_delay});
    for (std::size_t pos : {std::size_t{0}, std::size_t{16}, r.size() - 1}) {
      if (pos >= r.size()) continue;
      Bytes changed = r;
      changed[pos] ^= 0xff;
      p.push_back({"replay-changed-byte-" + std::to_string(pos), changed});
    }
  }
  // A censor with a TLS stack: complete the handshake, then probe what is behind it.
  p.push_back({"tls-nothing", {}, true});
  p.push_back({"tls-http-get", Bytes(get.begin(), get.end()), true});
  p.push_back({"tls-random-41", crypto::random_bytes(41), true});
  p.push_back({"tls-random-1000", crypto::random_bytes(1000), true});
  Bytes auth_like{0x01};
  auto rest = crypto::random_bytes(40);
  auth_like.insert(auth_like.end(), rest.begin(), rest.end());
  p.push_back({"tls-truncated-auth", Bytes(auth_like.begin(), auth_like.begin() + 20), true});
  p.push_back({"tls-forged-auth", auth_like, true});
  return p;
}

Reaction run_probe(const std::string& host, std::uint16_t port, const Probe& probe, const ProbeOptions& o) {
  Reaction r;
  if (probe.delay.count() > 0) std::this_thread::sleep_for(probe.delay);
  int fd = connect_to(host, port);
  if (fd < 0) {
    r.ending = Ending::connect_failed;
    return r;
  }
  // The handshake of TLS probes is blocking: bound it by the probe's time limit.
  timeval limit{static_cast<time_t>(o.timeout.count() / 1000),
                static_cast<suseconds_t>(o.timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  if (probe.over_tls) {
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (!o.sni.empty()) SSL_set_tlsext_host_name(ssl, o.sni.c_str());
    if (SSL_connect(ssl) != 1) {
      r.ending = Ending::tls_failed;
      SSL_free(ssl);
      SSL_CTX_free(ctx);
      ::close(fd);
      return r;
    }
  }
  auto start = Clock::now();
  auto deadline = start + o.timeout;
  bool sent = true;
  if (!probe.payload.empty()) {
    if (ssl) {
      sent = SSL_write(ssl, probe.payload.data(), static_cast<int>(probe.payload.size())) > 0;
      // From here on reads must not block past the deadline (tickets arrive without app data).
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    } else {
      sent = ::send(fd, probe.payload.data(), probe.payload.size(), MSG_NOSIGNAL) ==
             static_cast<ssize_t>(probe.payload.size());
    }
  }
  if (ssl && probe.payload.empty()) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::uint8_t buf[16384];
  for (;;) {
    if (!sent) {
      r.ending = Ending::rst;
      break;
    }
    // OpenSSL may hold decrypted bytes already; otherwise wait for the socket.
    if (!(ssl && SSL_pending(ssl) > 0) && !wait_readable(fd, deadline)) {
      r.ending = Ending::timeout;
      break;
    }
    if (ssl) {
      ERR_clear_error();
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n > 0) {
        note_bytes(r, buf, static_cast<std::size_t>(n));
        continue;
      }
      int err = SSL_get_error(ssl, n);
      if (err == SSL_ERROR_WANT_READ) continue;  // e.g. a session ticket, no application data
      r.ending = (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && errno == 0)) ? Ending::fin : Ending::rst;
      if (err == SSL_ERROR_SYSCALL && errno == ECONNRESET) r.ending = Ending::rst;
      break;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      note_bytes(r, buf, static_cast<std::size_t>(n));
      continue;
    }
    r.ending = n == 0 ? Ending::fin : Ending::rst;
    break;
  }
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  if (ssl) {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  ::close(fd);
  return r;
}

std::vector<Reaction> run_probes(const std::string& host, std::uint16_t port, const std::vector<Probe>& probes,
                                 const ProbeOptions& options) {
  std::vector<Reaction> out(probes.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < probes.size(); ++i)
    threads.emplace_back([&, i] { out[i] = run_probe(host, port, probes[i], options); });
  for (auto& t : threads) t.join();
  return out;
}

bool same_reaction(const Reaction& a, const Reaction& b, std::string& why) {
  if (a.ending != b.ending) {
    why = "ended by " + std::string(to_string(a.ending)) + " vs " + std::string(to_string(b.ending));
    return false;
  }
  // A fresh TLS handshake answer (to a ClientHello, or a replayed one) differs in random bytes and
  // in the length of its ECDSA signature; its presence is compared, not its size.
  auto is_handshake = [](const Reaction& r) {
    return r.first_bytes.size() >= 2 && r.first_bytes[0] == 0x16 && r.first_bytes[1] == 0x03;
  };
  bool handshake_answer = is_handshake(a) && is_handshake(b);
  if (handshake_answer ? ((a.bytes > 0) != (b.bytes > 0)) : (a.bytes != b.bytes)) {
    why = std::to_string(a.bytes) + " vs " + std::to_string(b.bytes) + " bytes back";
    return false;
  }
  if (a.ending == Ending::fin || a.ending == Ending::rst) {
    auto diff = std::abs(a.elapsed.count() - b.elapsed.count());
    auto allowed = std::max<long>(500, std::max(a.elapsed.count(), b.elapsed.count()) / 5);
    if (diff > allowed) {
      why = "closed after " + std::to_string(a.elapsed.count()) + " ms vs " + std::to_string(b.elapsed.count()) + " ms";
      return false;
    }
  }
  return true;
}

}  // namespace culvert::lab
