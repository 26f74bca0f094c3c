#include "transport/cdn/channel.h"

#include <gtest/gtest.h>

#include "crypto/crypto.h"
#include "transport/cdn/noise.h"
#include "transport/cdn/session_gate.h"

namespace culvert::cdn {
namespace {

struct Pair {
  SessionKeys client, server;
  Bytes client_payload, server_payload;
};

Key server_private() {
  Key k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(i + 1);
  return k;
}

Key server_public() {
  auto pub = crypto::x25519_public_key(server_private());
  return *pub;
}

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(CdnNoise, HandshakeAgreesOnKeysAndCarriesBothPayloads) {
  auto prologue = handshake_prologue("AAAAAAAAAAAAAAAAAAAAAA");
  auto initiator = Initiator::create(server_public(), prologue);
  ASSERT_TRUE(initiator);
  crypto::Digest proof_hash{};
  auto m1 = (*initiator)->write_message1([&](const crypto::Digest& h) {
    proof_hash = h;
    return bytes_of("hello server");
  });
  ASSERT_TRUE(m1);
  EXPECT_EQ(m1->size(), kMessage1Overhead + 12);

  auto responder = Responder::create(server_private(), prologue);
  ASSERT_TRUE(responder);
  auto read = (*responder)->read_message1(*m1);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->payload, bytes_of("hello server"));
  EXPECT_EQ(read->proof_hash, proof_hash);  // both sides can bind a proof to the same hash

  SessionKeys server_keys, client_keys;
  auto m2 = (*responder)->write_message2(bytes_of("hello client"), server_keys);
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->size(), kMessage2Overhead + 12);
  auto answer = (*initiator)->read_message2(*m2, client_keys);
  ASSERT_TRUE(answer);
  EXPECT_EQ(*answer, bytes_of("hello client"));
  EXPECT_EQ(client_keys.client_to_server, server_keys.client_to_server);
  EXPECT_EQ(client_keys.server_to_client, server_keys.server_to_client);
  EXPECT_EQ(client_keys.handshake_hash, server_keys.handshake_hash);
  EXPECT_NE(client_keys.client_to_server, client_keys.server_to_client);
}

TEST(CdnNoise, AnyChangedByteOfTheFirstMessageIsRefused) {
  auto prologue = handshake_prologue("AAAAAAAAAAAAAAAAAAAAAA");
  auto initiator = Initiator::create(server_public(), prologue);
  auto m1 = (*initiator)->write_message1([](const crypto::Digest&) { return bytes_of("x"); });
  ASSERT_TRUE(m1);
  for (std::size_t i : {std::size_t{0}, std::size_t{31}, std::size_t{40}, std::size_t{900}, m1->size() - 1}) {
    Bytes changed = *m1;
    changed[i] ^= 0x01;
    auto responder = Responder::create(server_private(), prologue);
    EXPECT_FALSE((*responder)->read_message1(changed)) << "byte " << i;
  }
  // Too short, empty, and another session id (prologue) fail too.
  auto responder = Responder::create(server_private(), prologue);
  EXPECT_FALSE((*responder)->read_message1(ByteSpan(m1->data(), 100)));
  EXPECT_FALSE((*responder)->read_message1({}));
  auto other = Responder::create(server_private(), handshake_prologue("BBBBBBBBBBBBBBBBBBBBBB"));
  EXPECT_FALSE((*other)->read_message1(*m1));
}

TEST(CdnNoise, AnswerFromAnotherKeyIsRefused) {
  auto prologue = handshake_prologue("AAAAAAAAAAAAAAAAAAAAAA");
  auto initiator = Initiator::create(server_public(), prologue);
  auto m1 = (*initiator)->write_message1([](const crypto::Digest&) { return Bytes{}; });
  // A server without the private key cannot even read the message.
  Key wrong = server_private();
  wrong[0] ^= 0xff;
  auto impostor = Responder::create(wrong, prologue);
  EXPECT_FALSE((*impostor)->read_message1(*m1));
  // A changed answer is refused.
  auto responder = Responder::create(server_private(), prologue);
  ASSERT_TRUE((*responder)->read_message1(*m1));
  SessionKeys keys;
  auto m2 = (*responder)->write_message2({}, keys);
  Bytes changed = *m2;
  changed[50] ^= 1;
  SessionKeys client_keys;
  EXPECT_FALSE((*initiator)->read_message2(changed, client_keys));
}

TEST(CdnHelloPayload, RoundTripsAndRejectsDamage) {
  Bytes preamble(41, 0x5a);
  auto payload = make_hello_payload(1700000000, preamble, 17);
  auto parsed = parse_hello_payload(payload);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->unix_time, 1700000000u);
  EXPECT_EQ(Bytes(parsed->preamble.begin(), parsed->preamble.end()), preamble);
  Bytes longer = payload;
  longer.push_back(0);
  EXPECT_FALSE(parse_hello_payload(longer));
  EXPECT_FALSE(parse_hello_payload(ByteSpan(payload.data(), 30)));
  Bytes other_version = payload;
  other_version[0] = 9;
  EXPECT_FALSE(parse_hello_payload(other_version));
}

class CdnChannel : public ::testing::Test {
 protected:
  Key a_to_b{1}, b_to_a{2};
  Channel a{a_to_b, b_to_a};
  Channel b{b_to_a, a_to_b};
  SegmentParser parser_b, parser_a;

  std::string text(Bytes& delivered) {
    std::string out(delivered.begin(), delivered.end());
    delivered.clear();
    return out;
  }
};

TEST_F(CdnChannel, DeliversInOrderAndAcknowledges) {
  a.push(bytes_of("one "));
  a.push(bytes_of("two"));
  Bytes wire;
  for (auto n = a.oldest_kept(); n < a.next_number(); ++n) {
    auto s = a.segment(n);
    wire.insert(wire.end(), s.begin(), s.end());
  }
  ASSERT_TRUE(b.receive_bytes(parser_b, wire));
  EXPECT_EQ(text(b.delivered()), "one two");
  EXPECT_EQ(b.next_expected(), 2u);
  EXPECT_GT(a.unacked_sent_bytes(), 0u);
  // b's acknowledgement frees a's copies.
  auto ack = b.ack_segment();
  ASSERT_TRUE(a.receive_bytes(parser_a, ack));
  EXPECT_EQ(a.unacked_sent_bytes(), 0u);
  EXPECT_EQ(a.oldest_kept(), 2u);
  EXPECT_TRUE(a.delivered().empty());  // an acknowledgement carries no data
}

TEST_F(CdnChannel, ReordersRepeatsAndIgnoresDuplicates) {
  for (const char* word : {"a", "b", "c", "d"}) a.push(bytes_of(word));
  // 2, 0, 3, 0 again, 1: delivered once, in order.
  for (std::uint32_t n : {2u, 0u, 3u, 0u, 1u}) ASSERT_TRUE(b.receive_bytes(parser_b, a.segment(n)));
  EXPECT_EQ(text(b.delivered()), "abcd");
  // A resend of everything (a cut download asked again) adds nothing.
  for (std::uint32_t n = 0; n < 4; ++n) ASSERT_TRUE(b.receive_bytes(parser_b, a.segment(n)));
  EXPECT_TRUE(b.delivered().empty());
}

TEST_F(CdnChannel, SegmentsSplitAcrossBodiesAreReassembled) {
  a.push(bytes_of("split across two bodies"));
  auto s = a.segment(0);
  ASSERT_TRUE(b.receive_bytes(parser_b, s.first(3)));
  EXPECT_TRUE(b.delivered().empty());
  EXPECT_EQ(parser_b.pending(), 3u);
  ASSERT_TRUE(b.receive_bytes(parser_b, s.subspan(3)));
  EXPECT_EQ(text(b.delivered()), "split across two bodies");
}

TEST_F(CdnChannel, ChangedOrForeignSegmentsAreRefusedWithoutHarm) {
  a.push(bytes_of("good"));
  Bytes changed(a.segment(0).begin(), a.segment(0).end());
  changed[10] ^= 1;
  SegmentParser p1;
  EXPECT_EQ(b.receive_bytes(p1, changed).error(), Errc::auth_failed);
  // A segment sealed for another session.
  Channel stranger{Key{9}, Key{8}};
  stranger.push(bytes_of("evil"));
  SegmentParser p2;
  EXPECT_EQ(b.receive_bytes(p2, stranger.segment(0)).error(), Errc::auth_failed);
  // A changed number (header) fails too: the header is authenticated.
  Bytes renumbered(a.segment(0).begin(), a.segment(0).end());
  renumbered[3] = 5;
  SegmentParser p3;
  EXPECT_FALSE(b.receive_bytes(p3, renumbered));
  // The session still works.
  SegmentParser p4;
  ASSERT_TRUE(b.receive_bytes(p4, a.segment(0)));
  EXPECT_EQ(text(b.delivered()), "good");
}

TEST_F(CdnChannel, MalformedLengthsAreRejected) {
  SegmentParser p;
  Bytes bad = {0, 0, 0, 0, 0, 1};  // shorter than the trailer
  p.feed(bad);
  EXPECT_FALSE(p.next());
  SegmentParser q;
  Bytes huge = {0, 0, 0, 0, 0xff, 0xff};
  q.feed(huge);
  EXPECT_FALSE(q.next());
}

TEST_F(CdnChannel, WindowLimitsUnacknowledgedData) {
  Channel small{a_to_b, b_to_a, ChannelLimits{64 * 1024, 16 << 20}};
  Bytes chunk(16384, 7);
  int pushed = 0;
  while (small.send_room() > 0) {
    small.push(chunk);
    ++pushed;
  }
  EXPECT_EQ(pushed, 4);
  SegmentParser p;
  for (auto n = small.oldest_kept(); n < small.next_number(); ++n) ASSERT_TRUE(b.receive_bytes(p, small.segment(n)));
  SegmentParser back;
  ASSERT_TRUE(small.receive_bytes(back, b.ack_segment()));
  EXPECT_EQ(small.send_room(), 64u * 1024);
}

TEST_F(CdnChannel, ReorderLimitRefusesFloods) {
  Channel tight{b_to_a, a_to_b, ChannelLimits{8 << 20, 20000}};
  Bytes chunk(16384, 1);
  for (int i = 0; i < 3; ++i) a.push(chunk);
  SegmentParser p;
  ASSERT_TRUE(tight.receive_bytes(p, a.segment(1)));
  SegmentParser q;
  EXPECT_EQ(tight.receive_bytes(q, a.segment(2)).error(), Errc::too_large);
}

TEST_F(CdnChannel, FinAndAbortAreDelivered) {
  a.push(bytes_of("last"), kFin);
  ASSERT_TRUE(b.receive_bytes(parser_b, a.segment(0)));
  EXPECT_TRUE(b.peer_finished());
  EXPECT_EQ(text(b.delivered()), "last");
  b.push({}, kAbort);
  ASSERT_TRUE(a.receive_bytes(parser_a, b.segment(0)));
  EXPECT_TRUE(a.peer_aborted());
}

}  // namespace
}  // namespace culvert::cdn

namespace culvert::cdn {
namespace {

TEST(CdnTickets, EachTicketIsGoodOnceAndCarriesItsAck) {
  Key up{5}, down{6};
  Channel client{up, down};
  Channel server{down, up};
  std::vector<Bytes> tickets;
  for (int i = 0; i < 3; ++i) tickets.push_back(client.ack_segment());
  // Out of order within the window is fine; each one once.
  EXPECT_EQ(server.take_ticket(tickets[2]), std::optional<std::uint32_t>(0));
  EXPECT_TRUE(server.take_ticket(tickets[0]));
  EXPECT_FALSE(server.take_ticket(tickets[0]));  // a replay
  EXPECT_FALSE(server.take_ticket(tickets[2]));
  EXPECT_TRUE(server.take_ticket(tickets[1]));
  // A data segment, a changed ticket, or one of another session is no ticket.
  client.push(Bytes{1, 2, 3});
  EXPECT_FALSE(server.take_ticket(client.segment(0)));
  Bytes changed = client.ack_segment();
  changed.back() ^= 1;
  EXPECT_FALSE(server.take_ticket(changed));
  Channel stranger{Key{7}, Key{8}};
  EXPECT_FALSE(server.take_ticket(stranger.ack_segment()));
  // Far older than the newest seen: refused.
  Bytes old = client.ack_segment();
  for (int i = 0; i < 1100; ++i) client.ack_segment();
  EXPECT_TRUE(server.take_ticket(client.ack_segment()));
  EXPECT_FALSE(server.take_ticket(old));
}

}  // namespace
}  // namespace culvert::cdn

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include "transport/cdn/channel_stream.h"

namespace culvert::cdn {
namespace {

TEST(CdnChannelStream, ATicketThatAcknowledgesWakesAWriterWaitingForTheWindow) {
  // A server whose send window is full waits; an upload (or a download's path) whose ticket
  // acknowledges what the client received must wake it, even with no other segment in it.
  asio::io_context io;
  Key down{1}, up{2};
  auto server = std::make_shared<ChannelCore>(io.get_executor(), down, up, ChannelLimits{32 * 1024, 1 << 20});
  Channel client{up, down};
  ChannelStream stream(server);
  bool written = false;
  Bytes payload(64 * 1024, 9);  // twice the window
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto ec = co_await stream.write_all(asio::buffer(payload));
        written = !ec;
      },
      asio::detached);
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(written);  // blocked on the window
  // The client received everything sent so far and says so in a ticket.
  SegmentParser p;
  for (auto n = server->channel.oldest_kept(); n < server->channel.next_number(); ++n)
    ASSERT_TRUE(client.receive_bytes(p, server->channel.segment(n)));
  ASSERT_TRUE(server->take_ticket(client.ack_segment()));
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  for (auto n = server->channel.oldest_kept(); n < server->channel.next_number(); ++n)
    ASSERT_TRUE(client.receive_bytes(p, server->channel.segment(n)));
  ASSERT_TRUE(server->take_ticket(client.ack_segment()));
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(written);
  for (auto n = client.next_expected(); n < server->channel.next_number(); ++n)
    ASSERT_TRUE(client.receive_bytes(p, server->channel.segment(n)));
  EXPECT_EQ(client.delivered().size(), payload.size());
  server->fail(make_error_code(Errc::tunnel_closed));
  io.restart();
  io.run_for(std::chrono::milliseconds(10));
}

}  // namespace
}  // namespace culvert::cdn
