#include "lab/probe_set.h"

#include <openssl/ssl.h>

#include <algorithm>

#include "crypto/crypto.h"
#include "lab/reference_fingerprints.h"

namespace culvert::lab {
namespace {

using std::chrono::milliseconds;

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

Probe raw(std::string name, Bytes payload) {
  Probe p;
  p.name = std::move(name);
  p.payload = std::move(payload);
  return p;
}

Probe inside_tls(std::string name, Bytes payload, std::vector<std::string> alpn = {}) {
  Probe p = raw(std::move(name), std::move(payload));
  p.over_tls = true;
  p.alpn = std::move(alpn);
  return p;
}

// A ClientHello as OpenSSL's client writes it, captured from a memory BIO.
Bytes openssl_client_hello(const std::string& sni, const std::vector<std::string>& alpn, int max_version) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (max_version) SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rbio, wbio);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  if (!alpn.empty()) {
    Bytes wire;
    for (const auto& p : alpn) {
      wire.push_back(static_cast<std::uint8_t>(p.size()));
      wire.insert(wire.end(), p.begin(), p.end());
    }
    SSL_set_alpn_protos(ssl, wire.data(), static_cast<unsigned>(wire.size()));
  }
  SSL_set_connect_state(ssl);
  SSL_do_handshake(ssl);
  Bytes out(static_cast<std::size_t>(BIO_ctrl_pending(wbio)));
  BIO_read(wbio, out.data(), static_cast<int>(out.size()));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return out;
}

// An SSLv2-format ClientHello offering TLS 1.2 (RFC 5246 appendix E.2), as very old clients and
// some scanners send.
Bytes sslv2_client_hello() {
  Bytes body{0x01, 0x03, 0x03};
  const std::uint8_t specs[] = {0x00, 0xc0, 0x2f, 0x00, 0xc0, 0x30, 0x00, 0x00, 0x9c, 0x00, 0x00, 0x2f};
  body.push_back(0x00);
  body.push_back(sizeof specs);
  body.push_back(0x00);
  body.push_back(0x00);  // no session id
  body.push_back(0x00);
  body.push_back(0x10);  // 16-byte challenge
  body.insert(body.end(), specs, specs + sizeof specs);
  auto challenge = crypto::random_bytes(16);
  body.insert(body.end(), challenge.begin(), challenge.end());
  Bytes out{static_cast<std::uint8_t>(0x80 | (body.size() >> 8)), static_cast<std::uint8_t>(body.size() & 0xff)};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes with_first(std::uint8_t first, std::size_t n) {
  auto b = crypto::random_bytes(n);
  if (!b.empty()) b[0] = first;
  return b;
}

void put_frame(Bytes& out, std::uint8_t type, std::uint8_t flags, std::uint32_t stream, const Bytes& payload) {
  std::size_t n = payload.size();
  out.insert(out.end(),
             {static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n), type,
              flags, static_cast<std::uint8_t>(stream >> 24), static_cast<std::uint8_t>(stream >> 16),
              static_cast<std::uint8_t>(stream >> 8), static_cast<std::uint8_t>(stream)});
  out.insert(out.end(), payload.begin(), payload.end());
}

// HPACK literal header field without indexing, name from the static table, value without
// Huffman coding (RFC 7541 §6.2.2; the index is a 4-bit prefix integer, §5.1).
void put_literal(Bytes& out, std::size_t name_index, std::string_view value) {
  if (name_index < 15) {
    out.push_back(static_cast<std::uint8_t>(name_index));
  } else {
    out.push_back(0x0f);
    out.push_back(static_cast<std::uint8_t>(name_index - 15));
  }
  out.push_back(static_cast<std::uint8_t>(value.size()));  // values here are under 127 bytes
  out.insert(out.end(), value.begin(), value.end());
}

Bytes h2_preface_and_settings() {
  Bytes out = text("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  // Chromium's SETTINGS: HEADER_TABLE_SIZE 65536, ENABLE_PUSH 0, INITIAL_WINDOW_SIZE 6291456,
  // MAX_HEADER_LIST_SIZE 262144; then WINDOW_UPDATE of the connection by 15663105.
  put_frame(out, 0x4, 0, 0, Bytes{0, 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 4, 0, 0x60, 0, 0, 0, 6, 0, 4, 0, 0});
  put_frame(out, 0x8, 0, 0, Bytes{0x00, 0xef, 0x00, 0x01});
  return out;
}

}  // namespace

Bytes h2_request(const std::string& authority, const std::string& path) {
  Bytes out = h2_preface_and_settings();
  Bytes block{0x82};  // :method GET
  put_literal(block, 1, authority);
  block.push_back(0x87);  // :scheme https
  if (path == "/") {
    block.push_back(0x84);
  } else {
    put_literal(block, 4, path);
  }
  put_literal(block, 19, "*/*");          // accept
  put_literal(block, 58, "Mozilla/5.0");  // user-agent
  // END_STREAM | END_HEADERS | PRIORITY (exclusive, depends on 0, weight 256), as Chromium sends.
  Bytes payload{0x80, 0x00, 0x00, 0x00, 0xff};
  payload.insert(payload.end(), block.begin(), block.end());
  put_frame(out, 0x1, 0x25, 1, payload);
  return out;
}

std::vector<Probe> standard_probes(const ProbeOptions& o) {
  std::vector<Probe> p;
  std::string host = o.sni.empty() ? "localhost" : o.sni;

  // Before TLS: nothing, an early end, random bytes of every small length and of random large
  // ones, and each class of first byte a web server may decide by.
  p.push_back(raw("silence", {}));
  Probe half_close = raw("half-close", {});
  half_close.half_close = true;
  p.push_back(half_close);
  if (o.long_waits) {
    Probe long_silence = raw("silence-75s", {});
    long_silence.timeout = milliseconds(75000);
    p.push_back(long_silence);
  }
  for (std::size_t n = 1; n <= 64; ++n) p.push_back(raw("random-" + std::to_string(n), crypto::random_bytes(n)));
  // Alice et al. §4: 221 bytes; the largest TLS record a client may send (17,408); a few random
  // lengths up to 20,000, new every run.
  for (std::size_t n : {221, 1000, 1024, 1025, 4096, 8192, 17408})
    p.push_back(raw("random-" + std::to_string(n), crypto::random_bytes(n)));
  for (int i = 0; i < 8; ++i) {
    std::size_t n = 65 + crypto::random_below(20000 - 65);
    p.push_back(raw("random-" + std::to_string(n), crypto::random_bytes(n)));
  }
  for (std::size_t n : {1, 5, 41, 1500, 17408}) {
    p.push_back(raw("tls-first-" + std::to_string(n), with_first(0x16, n)));
    p.push_back(raw("sslv2-first-" + std::to_string(n), with_first(0x80 | crypto::random_below(0x80), n)));
    p.push_back(raw("upper-first-" + std::to_string(n), with_first('A' + crypto::random_below(26), n)));
  }
  Probe random_close = raw("random-41-half-close", crypto::random_bytes(41));
  random_close.half_close = true;
  p.push_back(random_close);

  // Plain HTTP to the TLS port.
  p.push_back(raw("http-get-1.0", text("GET / HTTP/1.0\r\n\r\n")));
  p.push_back(raw("http-get-1.1",
                  text("GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n")));
  p.push_back(raw("http-get-0.9", text("GET /\r\n")));
  p.push_back(raw("http-head", text("HEAD / HTTP/1.1\r\nHost: " + host + "\r\n\r\n")));
  p.push_back(raw("http-post-body", text("POST /login HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 300\r\n\r\n" +
                                         std::string(300, 'a'))));
  p.push_back(raw("http-bad-version", text("GET / HTTP/7.1\r\nHost: x\r\n\r\n")));
  p.push_back(raw("http-no-host", text("GET / HTTP/1.1\r\n\r\n")));
  p.push_back(raw("http-connect", text("CONNECT www.example.com:443 HTTP/1.1\r\nHost: www.example.com:443\r\n\r\n")));
  p.push_back(raw("http-long-uri", text("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n")));
  p.push_back(
      raw("http-long-header", text("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'b') + "\r\n\r\n")));
  p.push_back(raw("http-incomplete", text("GET / HTTP/1.1\r\nHost: x\r\n")));
  Probe incomplete_close = raw("http-incomplete-half-close", text("GET / HTTP/1.1\r\nHost: x\r\n"));
  incomplete_close.half_close = true;
  p.push_back(incomplete_close);
  p.push_back(raw("http-lf-only", text("GET / HTTP/1.1\nHost: x\n\n")));
  p.push_back(raw("h2c-preface", h2_preface_and_settings()));

  // Frolov et al. §III: other protocols' openers.
  p.push_back(raw("dns-over-tcp",
                  Bytes{0x00, 0x1d, 0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 'e',
                        'x',  'a',  'm',  'p',  'l',  'e',  0x03, 'c',  'o',  'm',  0x00, 0x00, 0x01, 0x00, 0x01}));
  p.push_back(raw("stun-binding",
                  Bytes{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  p.push_back(raw("modbus", Bytes{0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01}));
  p.push_back(raw("s7-cotp", Bytes{0x03, 0x00, 0x00, 0x16, 0x11, 0xe0, 0x00, 0x00, 0x00, 0x01, 0x00,
                                   0xc1, 0x02, 0x01, 0x00, 0xc2, 0x02, 0x01, 0x02, 0xc0, 0x01, 0x0a}));
  p.push_back(raw("ssh-banner", text("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")));
  p.push_back(raw("socks5-greeting", Bytes{0x05, 0x01, 0x00}));
  p.push_back(raw("smtp-ehlo", text("EHLO probe.example\r\n")));

  // TLS records and ClientHellos sent raw: what comes back before the handshake would complete.
  for (const auto& hello : reference_hellos()) {
    if (hello.name.ends_with("-1")) p.push_back(raw("hello-" + hello.name, hello.bytes));
  }
  p.push_back(raw("hello-openssl", openssl_client_hello(o.sni, {}, 0)));
  p.push_back(raw("hello-curl", openssl_client_hello(o.sni, {"h2", "http/1.1"}, 0)));
  p.push_back(raw("hello-tls12-only", openssl_client_hello(o.sni, {"http/1.1"}, TLS1_2_VERSION)));
  p.push_back(raw("hello-no-sni", openssl_client_hello("", {}, 0)));
  p.push_back(raw("hello-other-sni", openssl_client_hello("www.example.com", {}, 0)));
  p.push_back(raw("hello-sslv2", sslv2_client_hello()));
  auto curl_hello = openssl_client_hello(o.sni, {"h2", "http/1.1"}, 0);
  Probe split = raw("hello-split-writes", curl_hello);
  split.split = {5, 100};
  split.split_pause = milliseconds(200);
  p.push_back(split);
  Probe truncated = raw("hello-truncated", Bytes(curl_hello.begin(), curl_hello.begin() + 100));
  p.push_back(truncated);
  truncated.name = "hello-truncated-half-close";
  truncated.half_close = true;
  p.push_back(truncated);
  Bytes bad_version = curl_hello;
  bad_version[2] = 0x09;
  p.push_back(raw("hello-record-version-0309", bad_version));
  Bytes oversized{0x16, 0x03, 0x01, 0x48, 0x01};
  auto filler = crypto::random_bytes(0x4801);
  oversized.insert(oversized.end(), filler.begin(), filler.end());
  p.push_back(raw("tls-record-oversized", oversized));
  Bytes garbage{0x16, 0x03, 0x01, 0x00, 0x40};
  auto junk = crypto::random_bytes(0x40);
  garbage.insert(garbage.end(), junk.begin(), junk.end());
  p.push_back(raw("tls-record-garbage", garbage));
  p.push_back(raw("tls-alert", Bytes{0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28}));
  p.push_back(raw("tls-appdata-first", with_first(0x17, 64)));

  // Replays of a recorded client payload (Alice et al. §3).
  if (o.replay && !o.replay->empty()) {
    const Bytes& r = *o.replay;
    p.push_back(raw("replay", r));
    Probe delayed = raw("replay-delayed", r);
    delayed.delay = o.replay_delay;
    p.push_back(delayed);
    for (std::size_t pos : {std::size_t{0}, std::size_t{16}, r.size() - 1}) {
      if (pos >= r.size()) continue;
      Bytes changed = r;
      changed[pos] ^= 0xff;
      p.push_back(raw("replay-changed-byte-" + std::to_string(pos), changed));
    }
  }

  // A censor with a TLS stack: complete the handshake, then probe what is behind it.
  std::string get = "GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n";
  p.push_back(inside_tls("tls-nothing", {}));
  p.push_back(inside_tls("tls-nothing-h2", {}, {"h2", "http/1.1"}));
  Probe tls12 = inside_tls("tls12-nothing", {}, {"http/1.1"});
  tls12.tls_max_version = TLS1_2_VERSION;
  p.push_back(tls12);
  p.push_back(inside_tls("tls-http-get", text(get)));
  p.push_back(inside_tls("tls-http-get-alpn", text(get), {"http/1.1"}));
  Probe tls12_get = inside_tls("tls12-http-get", text(get), {"http/1.1"});
  tls12_get.tls_max_version = TLS1_2_VERSION;
  p.push_back(tls12_get);
  p.push_back(inside_tls("tls-http-get-gzip",
                         text("GET / HTTP/1.1\r\nHost: " + host +
                              "\r\nUser-Agent: Mozilla/5.0\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n")));
  p.push_back(inside_tls("tls-http-get-missing",
                         text("GET /wp-login.php HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")));
  p.push_back(inside_tls("tls-http-head", text("HEAD / HTTP/1.1\r\nHost: " + host + "\r\n\r\n")));
  p.push_back(inside_tls("tls-http-get-1.0", text("GET / HTTP/1.0\r\n\r\n")));
  p.push_back(inside_tls("tls-http-get-0.9", text("GET /\r\n")));
  p.push_back(
      inside_tls("tls-http-post", text("POST / HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 5\r\n\r\nhello")));
  p.push_back(inside_tls("tls-http-pipelined", text(get + get)));
  p.push_back(inside_tls("tls-http-range", text("GET / HTTP/1.1\r\nHost: " + host +
                                                "\r\nRange: bytes=0-99\r\nConnection: close\r\n\r\n")));
  p.push_back(inside_tls("tls-http-no-host", text("GET / HTTP/1.1\r\n\r\n")));
  p.push_back(inside_tls("tls-http-long-uri",
                         text("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")));
  p.push_back(inside_tls("tls-http-incomplete", text("GET / HTTP/1.1\r\nHost: " + host + "\r\n")));
  for (std::size_t n : {1, 41, 1000, 5000})
    p.push_back(inside_tls("tls-random-" + std::to_string(n), crypto::random_bytes(n)));
  Bytes auth_like{0x01};
  auto rest = crypto::random_bytes(40);
  auth_like.insert(auth_like.end(), rest.begin(), rest.end());
  p.push_back(inside_tls("tls-truncated-auth", Bytes(auth_like.begin(), auth_like.begin() + 20)));
  p.push_back(inside_tls("tls-forged-auth", auth_like));
  // HTTP/2, as a browser would ask, and as a prober would misuse it.
  p.push_back(inside_tls("h2-get", h2_request(host, "/"), {"h2", "http/1.1"}));
  p.push_back(inside_tls("h2-get-missing", h2_request(host, "/admin/"), {"h2", "http/1.1"}));
  p.push_back(inside_tls("h2-settings-only", h2_preface_and_settings(), {"h2", "http/1.1"}));
  p.push_back(inside_tls("h2-bad-preface", text("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n"), {"h2"}));
  p.push_back(inside_tls("h2-random-100", crypto::random_bytes(100), {"h2"}));
  if (o.long_waits) {
    Probe keepalive = inside_tls("tls-http-keepalive-80s", text(get));
    keepalive.timeout = milliseconds(80000);
    p.push_back(keepalive);
    Probe idle = inside_tls("tls-nothing-75s", {});
    idle.timeout = milliseconds(75000);
    p.push_back(idle);
  }
  return p;
}

}  // namespace culvert::lab
