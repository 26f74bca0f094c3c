// The real Server on loopback, driven by a hand-built client: what only a key holder can try
// (valid, replayed and corrupt tunnels), with real TLS sockets and the built-in cover site.
#include "server/server.h"

#include "cover/h2.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/await.h"
#include "core/tcp_stream.h"
#include "mux/frame.h"
#include "store/memory_user_store.h"
#include "tls13/client_stream.h"
#include "transport/tls/auth.h"
#include "transport/tls/certificate.h"
#include "transport/tls/tls_stream.h"

namespace culvert {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("culvert-server-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    auto cert = tls::generate_self_signed("127.0.0.1", 30).value();
    std::ofstream(dir_ / "cert.pem") << cert.certificate_pem;
    std::ofstream(dir_ / "key.pem") << cert.key_pem;
    pin_ = cert.spki_sha256;
    auto store = std::make_unique<MemoryUserStore>();
    store_ = store.get();
    alice_ = store->add("alice").value();
    server_ = std::make_unique<Server>(io_, config(true), std::move(store));
    std::string message;
    ASSERT_TRUE(server_->start(message)) << message;
    port_ = server_->local_endpoint().port();

    client_config_.verifier = tls13::CertificateVerifier::create({"127.0.0.1", pin_}).value();
    // HTTP/1.1, so that a tunnel's first bytes are mux frames (over h2 the cover's server preface
    // comes first: see TunnelOverH2StartsWithTheCoverServerPreface).
    client_config_.alpn = {"http/1.1"};

    // A local echo origin for streams to reach.
    echo_.open(asio::ip::tcp::v4());
    echo_.bind({asio::ip::make_address("127.0.0.1"), 0});
    echo_.listen();
    asio::co_spawn(io_, echo_loop(), asio::detached);
  }

  // A server on a port chosen by the OS, with this test's certificate and the built-in cover.
  ServerConfig config(bool allow_private) const {
    ServerConfig c;
    c.data_dir = dir_.string();
    c.listen = "127.0.0.1:0";
    c.public_host = "127.0.0.1";
    c.allow_private = allow_private;
    return c;
  }

  void TearDown() override {
    server_->stop();
    echo_.close();
    io_.run_for(std::chrono::milliseconds(50));
    std::filesystem::remove_all(dir_);
  }

  asio::awaitable<void> echo_loop() {
    for (;;) {
      auto [ec, socket] = co_await echo_.async_accept(use_tuple);
      if (ec) co_return;
      asio::co_spawn(
          io_,
          [s = std::make_shared<TcpStream>(std::move(socket))]() -> asio::awaitable<void> {
            std::uint8_t buf[4096];
            for (;;) {
              auto [rec, n] = co_await s->read_some(asio::buffer(buf));
              if (rec) co_return;
              if (co_await s->write_all(asio::buffer(buf, n))) co_return;
            }
          },
          asio::detached);
    }
  }

  asio::awaitable<std::unique_ptr<tls13::ClientStream>> connect() {
    asio::ip::tcp::socket socket(io_);
    auto [ec] = co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), port_}, use_tuple);
    EXPECT_FALSE(ec);
    auto tls = std::make_unique<tls13::ClientStream>(std::move(socket), client_config_);
    auto hs = co_await tls->handshake();
    EXPECT_FALSE(hs) << hs.message();
    co_return tls;
  }

  Bytes open_frame(std::uint32_t id, std::string_view data) {
    Bytes payload, out;
    auto d = make_destination("127.0.0.1", echo_.local_endpoint().port()).value();
    mux::encode_open_payload(d, as_bytes(data), payload);
    mux::encode_frame(mux::FrameType::open, 0, id, payload, out);
    return out;
  }

  // Authenticates `tls` as `user` and opens stream `id` carrying `data`, all in the first record.
  asio::awaitable<std::error_code> open_tunnel(tls13::ClientStream& tls, const User& user, std::uint32_t id,
                                               std::string_view data) {
    auto exporter = tls.export_key(tls::kExporterLabel).value();
    Bytes first = tls::make_preamble(user.credential, exporter, mux::kVersion);
    auto open = open_frame(id, data);
    first.insert(first.end(), open.begin(), open.end());
    co_return co_await tls.write_all(asio::buffer(first));
  }

  // Reads until at least `n` bytes or end of stream / error.
  static asio::awaitable<Bytes> read_at_least(ByteStream& s, std::size_t n) {
    Bytes out;
    std::uint8_t buf[4096];
    while (out.size() < n) {
      auto [ec, got] = co_await s.read_some(asio::buffer(buf));
      out.insert(out.end(), buf, buf + got);
      if (ec) break;
    }
    co_return out;
  }

  // Reads mux frames until DATA for `id` arrives; returns its payload (empty on failure).
  static asio::awaitable<std::string> read_stream_data(ByteStream& s, std::uint32_t id) {
    Bytes in;
    std::uint8_t buf[4096];
    for (;;) {
      std::size_t used = 0;
      auto f = mux::decode_frame(in, used);
      if (!f) co_return "";
      if (*f) {
        if ((*f)->type == mux::FrameType::data && (*f)->stream_id == id) co_return std::string(as_chars((*f)->payload));
        in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(used));
        continue;
      }
      auto [ec, n] = co_await s.read_some(asio::buffer(buf));
      if (ec) co_return "";
      in.insert(in.end(), buf, buf + n);
    }
  }

  // Waits (bounded) for server state that changes as a coroutine unwinds after a close.
  asio::awaitable<bool> eventually(const std::function<bool()>& condition) {
    asio::steady_timer timer(io_);
    for (int i = 0; i < 1000 && !condition(); ++i) {
      timer.expires_after(std::chrono::milliseconds(5));
      co_await timer.async_wait(use_tuple);
    }
    co_return condition();
  }

  void run(std::function<asio::awaitable<void>()> body) {
    bool done = false;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          co_await body();
          done = true;
        },
        asio::detached);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done && std::chrono::steady_clock::now() < deadline) io_.run_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(done) << "test body did not finish in time";
  }

  asio::io_context io_;
  std::filesystem::path dir_;
  std::array<std::uint8_t, 32> pin_{};
  MemoryUserStore* store_ = nullptr;
  User alice_;
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
  tls13::ClientConfig client_config_;
  asio::ip::tcp::acceptor echo_{io_};
};

}  // namespace

TEST_F(ServerTest, ValidPreambleOpensATunnelWhoseStreamsReachTheDestination) {
  run([&]() -> asio::awaitable<void> {
    auto tls = co_await connect();
    EXPECT_FALSE(co_await open_tunnel(*tls, alice_, 1, "ping through the tunnel"));
    EXPECT_EQ(co_await read_stream_data(*tls, 1), "ping through the tunnel");
  });
}

TEST_F(ServerTest, TunnelOverH2StartsWithTheCoverServerPreface) {
  client_config_.alpn = {"h2", "http/1.1"};
  run([&]() -> asio::awaitable<void> {
    auto tls = co_await connect();
    EXPECT_EQ(tls->summary().alpn, "h2");
    EXPECT_FALSE(co_await open_tunnel(*tls, alice_, 1, "over h2"));
    auto preface = cover::h2_server_preface();
    auto first = co_await read_at_least(*tls, preface.size());
    if (first.size() < preface.size()) {
      ADD_FAILURE() << "only " << first.size() << " bytes before the tunnel ended";
      co_return;
    }
    EXPECT_TRUE(std::equal(preface.begin(), preface.end(), first.begin()));
    // What follows is the tunnel, as the client reads it once the preface is dropped.
    Bytes rest(first.begin() + static_cast<std::ptrdiff_t>(preface.size()), first.end());
    std::string data;
    if (!rest.empty()) {
      std::size_t used = 0;
      auto f = mux::decode_frame(rest, used);
      if (f && *f && (*f)->type == mux::FrameType::data) data = std::string(as_chars((*f)->payload));
    }
    if (data.empty()) data = co_await read_stream_data(*tls, 1);
    EXPECT_EQ(data, "over h2");
  });
}

TEST_F(ServerTest, PreambleReplayedOnAnotherSessionGetsTheCoverSite) {
  run([&]() -> asio::awaitable<void> {
    auto first_session = co_await connect();
    auto exporter = first_session->export_key(tls::kExporterLabel).value();
    Bytes recorded = tls::make_preamble(alice_.credential, exporter, mux::kVersion);
    auto second_session = co_await connect();
    Bytes replay = recorded;
    std::string get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    replay.insert(replay.end(), get.begin(), get.end());
    EXPECT_FALSE(co_await second_session->write_all(asio::buffer(replay)));
    auto answer = co_await read_at_least(*second_session, 1 << 20);
    EXPECT_EQ(std::string(as_chars(answer)).rfind("HTTP/1.1 400 Bad Request", 0), 0u);
    EXPECT_EQ(server_->open_tunnels(), 0u);
  });
}

TEST_F(ServerTest, RevokedUserGetsTheCoverSite) {
  ASSERT_TRUE(store_->revoke("alice"));
  run([&]() -> asio::awaitable<void> {
    auto tls = co_await connect();
    EXPECT_FALSE(co_await open_tunnel(*tls, alice_, 1, "hello"));
    auto answer = co_await read_at_least(*tls, 1 << 20);
    EXPECT_EQ(std::string(as_chars(answer)).rfind("HTTP/1.1 400 Bad Request", 0), 0u);
  });
}

TEST_F(ServerTest, CorruptFrameClosesOnlyThatTunnel) {
  run([&]() -> asio::awaitable<void> {
    auto good = co_await connect();
    auto bad = co_await connect();
    for (auto* t : {good.get(), bad.get()}) {
      EXPECT_FALSE(co_await open_tunnel(*t, alice_, 1, "a"));
      EXPECT_EQ(co_await read_stream_data(*t, 1), "a");
    }
    EXPECT_EQ(server_->open_tunnels(), 2u);
    Bytes garbage{0x63, 0, 0, 4, 0, 0, 0, 1, 1, 2, 3, 4};
    EXPECT_FALSE(co_await bad->write_all(asio::buffer(garbage)));
    auto rest = co_await read_at_least(*bad, 1 << 20);  // ends when the server closes the tunnel
    EXPECT_TRUE(co_await eventually([&] { return server_->open_tunnels() == 1; }));
    auto open = open_frame(3, "still here");
    EXPECT_FALSE(co_await good->write_all(asio::buffer(open)));
    EXPECT_EQ(co_await read_stream_data(*good, 3), "still here");
  });
}

TEST_F(ServerTest, RefusedDestinationResetsTheStreamNotTheTunnel) {
  server_->stop();
  auto store = std::make_unique<MemoryUserStore>();
  auto bob = store->add("bob").value();
  Server strict(io_, config(false), std::move(store));
  std::string message;
  ASSERT_TRUE(strict.start(message)) << message;
  port_ = strict.local_endpoint().port();
  run([&]() -> asio::awaitable<void> {
    auto tls = co_await connect();
    EXPECT_FALSE(co_await open_tunnel(*tls, bob, 1, "to loopback"));
    Bytes in;
    std::uint8_t buf[4096];
    bool reset_seen = false;
    while (!reset_seen) {
      std::size_t used = 0;
      auto f = mux::decode_frame(in, used);
      if (f && *f) {
        if ((*f)->type == mux::FrameType::reset && (*f)->stream_id == 1) {
          EXPECT_EQ((*f)->payload[0], static_cast<std::uint8_t>(mux::ResetReason::refused));
          reset_seen = true;
        }
        in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(used));
        continue;
      }
      auto [ec, n] = co_await tls->read_some(asio::buffer(buf));
      if (ec) break;
      in.insert(in.end(), buf, buf + n);
    }
    EXPECT_TRUE(reset_seen);
    EXPECT_EQ(strict.open_tunnels(), 1u);
  });
  strict.stop();
  // Let the stopped server's coroutines finish before it goes out of scope.
  io_.run_for(std::chrono::milliseconds(50));
}

// A stateful fuzz against the live server: authenticated tunnels that then send random and mutated
// frame sequences, datagram associations and datagrams included. Each may only end its own tunnel;
// a control tunnel keeps working throughout and no tunnel is left behind. Datagrams only ever name
// and OPENs only ever name 127.0.0.1 (or no valid address at all): a fuzzer must not send traffic
// anywhere else.
TEST_F(ServerTest, RandomFrameSequencesAffectOnlyTheirOwnTunnel) {
  run([&]() -> asio::awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    auto control = co_await connect();
    {
      EXPECT_FALSE(co_await open_tunnel(*control, alice_, 1, "control"));
      EXPECT_EQ(co_await read_stream_data(*control, 1), "control");
    }
    std::mt19937 random(20261129);  // fixed seed: a failure reproduces
    auto pick = [&](std::uint32_t n) { return static_cast<std::uint32_t>(random() % n); };
    for (int round = 0; round < 60; ++round) {
      auto tunnel = co_await connect();
      auto exporter = tunnel->export_key(tls::kExporterLabel).value();
      Bytes wire = tls::make_preamble(alice_.credential, exporter, mux::kVersion);
      std::uint32_t next_id = 1;
      for (std::uint32_t i = 0, frames = 1 + pick(12); i < frames; ++i) {
        auto type = static_cast<mux::FrameType>(1 + pick(9));
        Bytes payload(pick(64), static_cast<std::uint8_t>(pick(256)));
        if (type == mux::FrameType::datagram || type == mux::FrameType::open) {
          Bytes datagram;
          if (pick(2))
            encode_destination(make_destination("127.0.0.1", 9).value(), datagram);
          else
            datagram.push_back(0);  // no address type: a protocol error
          datagram.insert(datagram.end(), payload.begin(), payload.end());
          payload = datagram;
        }
        std::uint32_t id = pick(4) == 0 ? pick(10) : next_id;
        if (type == mux::FrameType::open && pick(2)) {
          auto open = open_frame(next_id, "x");
          wire.insert(wire.end(), open.begin(), open.end());
          next_id += 2;
          continue;
        }
        mux::encode_frame(type, static_cast<std::uint8_t>(pick(4)), id, payload, wire);
      }
      if (pick(3) == 0)
        wire[tls::kPreambleSize + pick(static_cast<std::uint32_t>(wire.size() - tls::kPreambleSize))] ^= 0x5a;
      co_await tunnel->write_all(asio::buffer(wire));
      asio::steady_timer settle(io_);
      settle.expires_after(std::chrono::milliseconds(20));
      co_await (read_at_least(*tunnel, 1 << 20) || settle.async_wait(use_tuple));
      tunnel->close();
    }
    EXPECT_TRUE(co_await eventually([&] { return server_->open_tunnels() == 1; }));
    auto again = open_frame(3, "still serving");
    EXPECT_FALSE(co_await control->write_all(asio::buffer(again)));
    EXPECT_EQ(co_await read_stream_data(*control, 3), "still serving");
  });
}

}  // namespace culvert
