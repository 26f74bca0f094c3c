#include "lab/prober.h"

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

namespace culvert::lab {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kKeptResponse = 64 * 1024;

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
  std::size_t keep = std::min(n, kKeptResponse - std::min(kKeptResponse, r.response.size()));
  r.response.insert(r.response.end(), data, data + keep);
}

// Sends the payload, in the probe's pieces. False if the server reset the connection meanwhile.
bool send_payload(int fd, SSL* ssl, const Probe& probe) {
  std::size_t from = 0;
  auto pieces = probe.split;
  pieces.push_back(probe.payload.size());
  for (std::size_t end : pieces) {
    end = std::min(end, probe.payload.size());
    if (end <= from) continue;
    if (from > 0 && probe.split_pause.count() > 0) std::this_thread::sleep_for(probe.split_pause);
    const auto* data = probe.payload.data() + from;
    std::size_t n = end - from;
    if (ssl) {
      if (SSL_write(ssl, data, static_cast<int>(n)) <= 0) return false;
    } else {
      while (n > 0) {
        ssize_t sent = ::send(fd, data, n, MSG_NOSIGNAL);
        if (sent <= 0) return false;
        data += sent;
        n -= static_cast<std::size_t>(sent);
      }
    }
    from = end;
  }
  return true;
}

// Reads raw bytes until the server ends the connection or the deadline passes.
Ending read_to_end(int fd, Reaction& r, Clock::time_point deadline) {
  std::uint8_t buf[16384];
  for (;;) {
    if (!wait_readable(fd, deadline)) return Ending::timeout;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      note_bytes(r, buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    return n == 0 ? Ending::fin : Ending::rst;
  }
}

// What one TLS probe's handshake observers collect (OpenSSL calls back on the probe's thread).
struct TlsObserver {
  TlsFacts facts;
  std::string messages;  // handshake messages received, "type:length" (signatures as "sig")
};

int observer_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::string hex16(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04x", v);
  return buf;
}

// "v=0303 sid=32 cipher=1302 ext=[002b:2 0033:36]": everything in a ServerHello but its random
// values, so that two servers' answers to the same hello can be compared.
std::string server_hello_shape(const std::uint8_t* p, std::size_t n) {
  if (n < 4 + 2 + 32 + 1) return "short";
  std::size_t pos = 4;
  std::string out = "v=" + hex16(p[pos] << 8 | p[pos + 1]);
  pos += 2;
  static const std::uint8_t kRetry[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
                                          0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
                                          0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
  if (std::memcmp(p + pos, kRetry, 32) == 0) out += " retry";
  pos += 32;
  std::size_t sid = p[pos++];
  out += " sid=" + std::to_string(sid);
  pos += sid;
  if (pos + 3 > n) return out + " short";
  out += " cipher=" + hex16(p[pos] << 8 | p[pos + 1]) + " comp=" + std::to_string(p[pos + 2]);
  pos += 3;
  if (pos + 2 > n) return out;
  pos += 2;
  out += " ext=[";
  while (pos + 4 <= n) {
    unsigned type = p[pos] << 8 | p[pos + 1];
    std::size_t len = static_cast<std::size_t>(p[pos + 2] << 8 | p[pos + 3]);
    out += hex16(type) + ":" + std::to_string(len) + " ";
    pos += 4 + len;
  }
  return out + "]";
}

void on_message(int write_p, int, int content_type, const void* buf, std::size_t len, SSL* ssl, void*) {
  auto* observer = static_cast<TlsObserver*>(SSL_get_ex_data(ssl, observer_index()));
  if (!observer || write_p) return;
  const auto* p = static_cast<const std::uint8_t*>(buf);
  if (content_type == SSL3_RT_ALERT && len >= 2) {
    observer->facts.alerts_received.push_back(std::string(p[0] == 2 ? "fatal:" : "warning:") +
                                              SSL_alert_desc_string_long(p[1]));
  }
  if (content_type != SSL3_RT_HANDSHAKE || len < 4) return;
  unsigned type = p[0];
  if (type == SSL3_MT_SERVER_HELLO) {
    if (!observer->facts.server_hello.empty()) observer->facts.server_hello += " | ";
    observer->facts.server_hello += server_hello_shape(p, len);
  }
  if (type == SSL3_MT_NEWSESSION_TICKET) return;  // counted by the session callback
  bool signature = type == SSL3_MT_CERTIFICATE_VERIFY || type == SSL3_MT_SERVER_KEY_EXCHANGE;
  observer->messages += std::to_string(type) + ":" + (signature ? "sig" : std::to_string(len)) + " ";
}

int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* observer = static_cast<TlsObserver*>(SSL_get_ex_data(ssl, observer_index()));
  if (!observer) return 0;
  TlsFacts::Ticket t;
  t.lifetime_hint = static_cast<std::uint32_t>(SSL_SESSION_get_ticket_lifetime_hint(session));
  const unsigned char* ticket = nullptr;
  std::size_t length = 0;
  SSL_SESSION_get0_ticket(session, &ticket, &length);
  t.size = length;
  observer->facts.tickets.push_back(t);
  return 0;  // not kept
}

void note_handshake(SSL* ssl, TlsObserver& observer) {
  auto& f = observer.facts;
  f.version = SSL_get_version(ssl);
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) f.cipher = SSL_CIPHER_get_name(c);
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  f.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  int group = SSL_get_negotiated_group(ssl);
  if (group != 0) f.group = std::to_string(group);
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      int der = i2d_X509(sk_X509_value(chain, i), nullptr);
      f.chain.push_back(der > 0 ? static_cast<std::size_t>(der) : 0);
    }
  }
  f.server_hello += " msgs=[" + observer.messages + "]";
}

Reaction run_tls_probe(int fd, const Probe& probe, const ProbeOptions& o, Clock::time_point deadline) {
  Reaction r;
  TlsObserver observer;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  SSL_CTX_set_msg_callback(ctx, on_message);
  if (probe.tls_max_version) SSL_CTX_set_max_proto_version(ctx, probe.tls_max_version);
  SSL* ssl = SSL_new(ctx);
  SSL_set_ex_data(ssl, observer_index(), &observer);
  SSL_set_fd(ssl, fd);
  SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (!o.sni.empty()) SSL_set_tlsext_host_name(ssl, o.sni.c_str());
  if (!probe.alpn.empty()) {
    Bytes wire;
    for (const auto& p : probe.alpn) {
      wire.push_back(static_cast<std::uint8_t>(p.size()));
      wire.insert(wire.end(), p.begin(), p.end());
    }
    SSL_set_alpn_protos(ssl, wire.data(), static_cast<unsigned>(wire.size()));
  }
  auto finish = [&] {
    r.tls = observer.facts;
    SSL_set_ex_data(ssl, observer_index(), nullptr);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  };
  // The handshake is blocking: bounded by the socket time limits set by the caller.
  if (SSL_connect(ssl) != 1) {
    unsigned long e = ERR_peek_error();
    r.error = e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "TLS error" : "connection ended";
    r.ending = Ending::tls_failed;
    finish();
    return r;
  }
  note_handshake(ssl, observer);
  auto start = Clock::now();
  bool sent = send_payload(fd, ssl, probe);
  if (sent && probe.half_close) ::shutdown(fd, SHUT_WR);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::uint8_t buf[16384];
  for (;;) {
    if (!sent) {
      r.ending = Ending::rst;
      break;
    }
    // OpenSSL may hold decrypted bytes already; otherwise wait for the socket.
    if (!(SSL_pending(ssl) > 0) && !wait_readable(fd, deadline)) {
      r.ending = Ending::timeout;
      break;
    }
    ERR_clear_error();
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n > 0) {
      note_bytes(r, buf, static_cast<std::size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl, n);
    if (err == SSL_ERROR_WANT_READ) continue;  // e.g. a session ticket, no application data
    if (err == SSL_ERROR_SYSCALL && errno == ECONNRESET) {
      r.ending = Ending::rst;
      break;
    }
    // close_notify, a bare FIN, or a TLS error (an alert): how the TCP connection ends is what a
    // prober sees next.
    Reaction rest;
    r.ending = read_to_end(fd, rest, deadline);
    if (err == SSL_ERROR_SSL && r.error.empty()) {
      unsigned long e = ERR_peek_error();
      r.error = e && ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "TLS error";
    }
    break;
  }
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  finish();
  return r;
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

Reaction run_probe(const std::string& host, std::uint16_t port, const Probe& probe, const ProbeOptions& o) {
  Reaction r;
  if (probe.delay.count() > 0) std::this_thread::sleep_for(probe.delay);
  int fd = connect_to(host, port);
  if (fd < 0) {
    r.ending = Ending::connect_failed;
    return r;
  }
  auto timeout = probe.timeout.count() > 0 ? probe.timeout : o.timeout;
  // The handshake of TLS probes is blocking: bound it by the probe's time limit.
  timeval limit{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  if (probe.over_tls) {
    r = run_tls_probe(fd, probe, o, Clock::now() + timeout);
    ::close(fd);
    return r;
  }
  bool sent = send_payload(fd, nullptr, probe);
  if (sent && probe.half_close) ::shutdown(fd, SHUT_WR);
  auto start = Clock::now();
  r.ending = sent ? read_to_end(fd, r, start + timeout) : Ending::rst;
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  ::close(fd);
  return r;
}

std::vector<Reaction> run_probes(const std::string& host, std::uint16_t port, const std::vector<Probe>& probes,
                                 const ProbeOptions& options) {
  std::vector<Reaction> out(probes.size());
  std::vector<std::thread> threads;
  threads.reserve(probes.size());
  for (std::size_t i = 0; i < probes.size(); ++i)
    threads.emplace_back([&, i] { out[i] = run_probe(host, port, probes[i], options); });
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace culvert::lab
