#include "mux/session.h"

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "core/await.h"
#include "fakes/memory_pipe.h"

namespace culvert::mux {
namespace {

// A client and a server session joined by an in-memory pipe; the server echoes or holds streams.
struct Pair {
  asio::io_context io;
  std::shared_ptr<Session> client;
  std::shared_ptr<Session> server;
  std::vector<std::pair<std::unique_ptr<Stream>, Destination>> accepted;

  explicit Pair(std::uint32_t window = 2 * 1024 * 1024) {
    auto [a, b] = fakes::make_pipe(io.get_executor());
    SessionOptions c;
    c.is_client = true;
    c.receive_window = window;
    c.random_below = [](std::uint32_t) { return 0u; };
    SessionOptions s = c;
    s.is_client = false;
    client = Session::create(io.get_executor(), std::move(a), c);
    server = Session::create(io.get_executor(), std::move(b), s);
    server->set_accept_handler(
        [this](std::unique_ptr<Stream> st, Destination d) { accepted.emplace_back(std::move(st), std::move(d)); });
    asio::co_spawn(io, client->run(), asio::detached);
    asio::co_spawn(io, server->run(), asio::detached);
  }

  // Runs until `done` or the (generous) deadline; returns whether `done` became true.
  bool run_until(const std::function<bool()>& done, std::chrono::seconds limit = std::chrono::seconds(10)) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) {
      io.run_for(std::chrono::milliseconds(5));
      io.restart();
    }
    return done();
  }
};

// A server session whose peer is the test itself, writing raw bytes.
struct RawPeer {
  asio::io_context io;
  std::unique_ptr<fakes::PipeEnd> peer;
  std::shared_ptr<Session> server;
  std::error_code closed_reason;
  bool closed = false;
  std::vector<std::unique_ptr<Stream>> held;

  explicit RawPeer(SessionOptions options = {}) {
    auto [a, b] = fakes::make_pipe(io.get_executor());
    peer = std::move(a);
    options.is_client = false;
    server = Session::create(io.get_executor(), std::move(b), options);
    server->set_closed_handler([this](std::error_code ec) {
      closed = true;
      closed_reason = ec;
    });
    server->set_accept_handler([this](std::unique_ptr<Stream> st, Destination) { held.push_back(std::move(st)); });
    asio::co_spawn(io, server->run(), asio::detached);
  }

  // Writes `wire` as the peer, then runs the session for `duration`.
  void send(const Bytes& wire, std::chrono::milliseconds duration = std::chrono::seconds(2)) {
    asio::co_spawn(
        io, [this, &wire]() -> asio::awaitable<void> { co_await peer->write_all(asio::buffer(wire)); }, asio::detached);
    io.run_for(duration);
  }
};

Bytes open_frame_to(std::uint32_t id) {
  Bytes wire, payload;
  encode_open_payload(make_destination("a", 1).value(), {}, payload);
  encode_frame(FrameType::open, 0, id, payload, wire);
  return wire;
}

asio::awaitable<void> read_all(ByteStream& s, Bytes& out, bool& finished) {
  std::uint8_t buf[4096];
  for (;;) {
    auto [ec, n] = co_await s.read_some(asio::buffer(buf));
    out.insert(out.end(), buf, buf + n);
    if (ec) break;
  }
  finished = true;
}

asio::awaitable<void> write_then_fin(ByteStream& s, Bytes data, bool& finished) {
  co_await s.write_all(asio::buffer(data));
  co_await s.shutdown_send();
  finished = true;
}

Bytes pattern(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 31 + 7);
  return b;
}

}  // namespace

TEST(MuxSession, OpenCarriesDestinationAndFirstDataToTheServer) {
  Pair p;
  auto d = make_destination("example.com", 443).value();
  auto stream = p.client->open(d, as_bytes("hello"));
  ASSERT_TRUE(stream);
  ASSERT_TRUE(p.run_until([&] { return !p.accepted.empty(); }));
  EXPECT_EQ(p.accepted[0].second, d);
  Bytes got;
  bool done = false;
  asio::co_spawn(p.io, read_all(*p.accepted[0].first, got, done), asio::detached);
  bool wrote = false;
  asio::co_spawn(p.io, write_then_fin(**stream, Bytes{'!'}, wrote), asio::detached);
  ASSERT_TRUE(p.run_until([&] { return done; }));
  EXPECT_EQ(as_chars(got), "hello!");
}

TEST(MuxSession, TransfersMoreThanTheWindowBothWaysWithHalfClose) {
  Pair p(64 * 1024);
  auto stream = p.client->open(make_destination("a", 1).value(), {}).value();
  ASSERT_TRUE(p.run_until([&] { return !p.accepted.empty(); }));
  auto& server_end = *p.accepted[0].first;
  Bytes up = pattern(3 * 1024 * 1024), down = pattern(2 * 1024 * 1024 + 17);
  Bytes got_up, got_down;
  bool up_read = false, down_read = false, w1 = false, w2 = false;
  asio::co_spawn(p.io, write_then_fin(*stream, up, w1), asio::detached);
  asio::co_spawn(p.io, read_all(server_end, got_up, up_read), asio::detached);
  asio::co_spawn(p.io, write_then_fin(server_end, down, w2), asio::detached);
  asio::co_spawn(p.io, read_all(*stream, got_down, down_read), asio::detached);
  std::error_code client_closed;
  p.client->set_closed_handler([&](std::error_code ec) { client_closed = ec; });
  std::error_code server_closed;
  p.server->set_closed_handler([&](std::error_code ec) { server_closed = ec; });
  ASSERT_TRUE(p.run_until([&] { return up_read && down_read; }));
  EXPECT_FALSE(client_closed) << client_closed.message();
  EXPECT_FALSE(server_closed) << server_closed.message();
  EXPECT_EQ(got_up, up);
  EXPECT_EQ(got_down, down);
  // Both directions ended cleanly, so the stream is gone from both sessions.
  ASSERT_TRUE(p.run_until([&] { return p.client->stream_count() == 0 && p.server->stream_count() == 0; }));
}

TEST(MuxSession, StalledStreamDoesNotBlockAnother) {
  Pair p(128 * 1024);
  auto stalled = p.client->open(make_destination("stalled", 1).value(), {}).value();
  auto moving = p.client->open(make_destination("moving", 1).value(), {}).value();
  ASSERT_TRUE(p.run_until([&] { return p.accepted.size() == 2; }));
  // The server pushes 4 MiB into the stream nobody reads, and 1 MiB into the other.
  bool w1 = false, w2 = false, read_done = false;
  Bytes got;
  asio::co_spawn(p.io, write_then_fin(*p.accepted[0].first, pattern(4 * 1024 * 1024), w1), asio::detached);
  asio::co_spawn(p.io, write_then_fin(*p.accepted[1].first, pattern(1024 * 1024), w2), asio::detached);
  asio::co_spawn(p.io, read_all(*moving, got, read_done), asio::detached);
  ASSERT_TRUE(p.run_until([&] { return read_done; }));
  EXPECT_EQ(got, pattern(1024 * 1024));
  // The stalled writer is held back by the window, not buffered without bound.
  EXPECT_FALSE(w1);
}

TEST(MuxSession, ResetReachesThePeer) {
  Pair p;
  auto stream = p.client->open(make_destination("a", 1).value(), {}).value();
  ASSERT_TRUE(p.run_until([&] { return !p.accepted.empty(); }));
  p.accepted[0].first->reset(ResetReason::dial_failed);
  Bytes got;
  bool done = false;
  asio::co_spawn(p.io, read_all(*stream, got, done), asio::detached);
  ASSERT_TRUE(p.run_until([&] { return done; }));
  EXPECT_TRUE(got.empty());
  EXPECT_TRUE(p.client->is_open());
}

TEST(MuxSession, CorruptFrameClosesThatTunnelOnly) {
  RawPeer p;
  p.send(Bytes{0x42, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_TRUE(p.closed);
  EXPECT_FALSE(p.server->is_open());
}

TEST(MuxSession, PeerExceedingTheWindowIsAProtocolError) {
  SessionOptions options;
  options.receive_window = kInitialWindow;
  RawPeer p(options);
  Bytes wire = open_frame_to(1);
  for (std::uint32_t sent = 0; sent <= kInitialWindow; sent += kMaxPayload)
    encode_frame(FrameType::data, 0, 1, Bytes(kMaxPayload, 0), wire);
  p.send(wire);
  EXPECT_EQ(p.closed_reason, Errc::window_exceeded);
}

TEST(MuxSession, ServerRefusesStreamIdsOutOfOrder) {
  RawPeer p;
  Bytes wire = open_frame_to(5);
  auto second = open_frame_to(3);
  wire.insert(wire.end(), second.begin(), second.end());
  p.send(wire);
  EXPECT_EQ(p.held.size(), 1u);
  EXPECT_EQ(p.closed_reason, Errc::protocol_violation);
}

TEST(MuxSession, AnswersPing) {
  SessionOptions options;
  options.padding = PaddingPolicy::off();
  RawPeer p(options);
  auto* raw = p.peer.get();
  auto& io = p.io;
  Bytes ping;
  encode_frame(FrameType::ping, 0, 0, Bytes{1, 2, 3, 4, 5, 6, 7, 8}, ping);
  Bytes reply(16);
  std::size_t got = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await raw->write_all(asio::buffer(ping));
        while (got < 16) {
          auto [ec, n] = co_await raw->read_some(asio::buffer(reply.data() + got, 16 - got));
          if (ec) co_return;
          got += n;
        }
      },
      asio::detached);
  io.run_for(std::chrono::seconds(1));
  ASSERT_EQ(got, 16u);
  std::size_t used;
  auto f = decode_frame(reply, used);
  ASSERT_TRUE(f && *f);
  EXPECT_EQ((*f)->type, FrameType::ping);
  EXPECT_EQ((*f)->flags, kFlagAck);
  EXPECT_EQ(Bytes((*f)->payload.begin(), (*f)->payload.end()), (Bytes{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(MuxSession, PaddingShapesTheFirstWritesThenStops) {
  SessionOptions options;
  options.padding = {2, 10, 3000, 3000};  // first write 3000 bytes in all, second +10, then none
  options.random_below = [](std::uint32_t bound) { return bound - 1; };
  RawPeer p(options);
  auto* raw = p.peer.get();
  std::vector<std::size_t> sizes;
  asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 3; ++i) {
          Bytes ping;
          encode_frame(FrameType::ping, 0, 0, Bytes(8, static_cast<std::uint8_t>(i)), ping);
          co_await raw->write_all(asio::buffer(ping));
          // One ping answer per write: read until the answer's frames are all in.
          Bytes got(8192);
          auto [ec, n] = co_await raw->read_some(asio::buffer(got));
          if (ec) co_return;
          sizes.push_back(n);
        }
      },
      asio::detached);
  p.io.run_for(std::chrono::seconds(1));
  ASSERT_EQ(sizes.size(), 3u);
  EXPECT_EQ(sizes[0], 3000u);
  EXPECT_EQ(sizes[1], 16u + 8u + 10u);
  EXPECT_EQ(sizes[2], 16u);
}

TEST(MuxSession, CountsReceivedBytesUntilTheApplicationReadsThem) {
  auto before = buffered_bytes();
  Pair p;
  auto stream = p.client->open(make_destination("a", 1).value(), as_bytes("hello"));
  ASSERT_TRUE(stream);
  auto data = pattern(100000);
  bool wrote = false;
  asio::co_spawn(p.io, write_then_fin(**stream, data, wrote), asio::detached);
  ASSERT_TRUE(p.run_until([&] { return wrote && buffered_bytes() == before + 5 + data.size(); }));
  Bytes got;
  bool done = false;
  asio::co_spawn(p.io, read_all(*p.accepted[0].first, got, done), asio::detached);
  ASSERT_TRUE(p.run_until([&] { return done; }));
  EXPECT_EQ(buffered_bytes(), before);
  // What an application never reads is released with its stream.
  auto unread = p.client->open(make_destination("a", 1).value(), as_bytes("never read"));
  ASSERT_TRUE(p.run_until([&] { return p.accepted.size() == 2; }));
  EXPECT_EQ(buffered_bytes(), before + 10);
  p.accepted.clear();
  EXPECT_EQ(buffered_bytes(), before);
}

// ---- Datagram associations (UDP) ----

asio::awaitable<void> receive_into(Stream& s, std::vector<Datagram>& out, bool& ended) {
  for (;;) {
    auto d = co_await s.receive_datagram();
    if (!d) break;
    out.push_back(std::move(*d));
  }
  ended = true;
}

TEST(MuxDatagram, CarriesTheLargestDatagramBothWaysWithItsPeer) {
  Pair p;
  auto association = p.client->open_datagram();
  ASSERT_TRUE(association);
  auto to = make_destination("echo.example", 7).value();
  auto big = pattern(kMaxDatagram);  // five frames' worth, reassembled
  ASSERT_TRUE((*association)->send_datagram(to, big));
  ASSERT_TRUE((*association)->send_datagram(to, as_bytes("small")));
  ASSERT_TRUE(p.run_until([&] { return !p.accepted.empty(); }));
  auto& server_side = *p.accepted[0].first;
  EXPECT_TRUE(server_side.is_datagram());
  std::vector<Datagram> at_server, at_client;
  bool server_ended = false, client_ended = false;
  asio::co_spawn(p.io, receive_into(server_side, at_server, server_ended), asio::detached);
  asio::co_spawn(p.io, receive_into(**association, at_client, client_ended), asio::detached);
  ASSERT_TRUE(p.run_until([&] { return at_server.size() == 2; }));
  EXPECT_EQ(at_server[0].destination, to);
  EXPECT_EQ(at_server[0].payload, big);
  EXPECT_EQ(as_chars(at_server[1].payload), "small");
  auto from = make_destination("192.0.2.1", 7).value();
  ASSERT_TRUE(server_side.send_datagram(from, as_bytes("reply")));
  ASSERT_TRUE(p.run_until([&] { return at_client.size() == 1; }));
  EXPECT_EQ(at_client[0].destination, from);
  EXPECT_EQ(as_chars(at_client[0].payload), "reply");
  (*association)->close();
  ASSERT_TRUE(p.run_until([&] { return server_ended; }));
}

TEST(MuxDatagram, RefusesDatagramsOverTheUdpLimitAndCountsThem) {
  Pair p;
  auto association = p.client->open_datagram();
  ASSERT_TRUE(association);
  EXPECT_FALSE((*association)->send_datagram(make_destination("a", 1).value(), pattern(kMaxDatagram + 1)));
  EXPECT_EQ(p.client->counters().datagrams_dropped, 1u);
}

TEST(MuxDatagram, ReceiverHoldsABoundedQueueAndCountsWhatItDrops) {
  Pair p;
  auto association = p.client->open_datagram();
  ASSERT_TRUE(association);
  auto to = make_destination("a", 1).value();
  std::size_t sent = 0;
  for (int i = 0; i < 300; ++i) sent += (*association)->send_datagram(to, pattern(100)) ? 1 : 0;
  ASSERT_EQ(sent, 300u);
  // Nobody reads at the server: it keeps kMaxQueuedDatagrams and drops the rest.
  ASSERT_TRUE(p.run_until([&] { return p.server->counters().datagrams_dropped == 300 - kMaxQueuedDatagrams; }));
  ASSERT_EQ(p.accepted.size(), 1u);
  std::vector<Datagram> got;
  bool ended = false;
  asio::co_spawn(p.io, receive_into(*p.accepted[0].first, got, ended), asio::detached);
  ASSERT_TRUE(p.run_until([&] { return got.size() == kMaxQueuedDatagrams; }));
  // The tunnel still carries streams.
  auto stream = p.client->open(to, as_bytes("x"));
  EXPECT_TRUE(stream);
  EXPECT_TRUE(p.run_until([&] { return p.accepted.size() == 2; }));
}

TEST(MuxDatagram, DataOnAnAssociationClosesTheTunnel) {
  RawPeer r;
  Bytes wire, payload;
  encode_open_payload(make_destination("0.0.0.0", 0).value(), {}, payload);
  encode_frame(FrameType::open, kFlagDatagram, 1, payload, wire);
  encode_frame(FrameType::data, 0, 1, as_bytes("not a datagram"), wire);
  r.send(wire, std::chrono::milliseconds(200));
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.closed_reason, Errc::protocol_violation);
}

TEST(MuxDatagram, ReassemblyPastTheLargestDatagramClosesTheTunnel) {
  RawPeer r;
  Bytes wire, payload;
  encode_open_payload(make_destination("0.0.0.0", 0).value(), {}, payload);
  encode_frame(FrameType::open, kFlagDatagram, 1, payload, wire);
  Bytes fragment(kMaxPayload, 0);
  for (int i = 0; i < 6; ++i) encode_frame(FrameType::datagram, kFlagMore, 1, fragment, wire);
  r.send(wire, std::chrono::milliseconds(200));
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.closed_reason, Errc::protocol_violation);
}

TEST(MuxDatagram, AnOpenWithFirstDataIsNotAnAssociation) {
  RawPeer r;
  Bytes wire, payload;
  encode_open_payload(make_destination("0.0.0.0", 0).value(), as_bytes("x"), payload);
  encode_frame(FrameType::open, kFlagDatagram, 1, payload, wire);
  r.send(wire, std::chrono::milliseconds(200));
  EXPECT_TRUE(r.closed);
}

}  // namespace culvert::mux
