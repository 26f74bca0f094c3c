#include <gtest/gtest.h>

#include "dns/cache.h"
#include "dns/fake_ip.h"
#include "dns/message.h"

namespace culvert::dns {
namespace {

Bytes query_for(std::string_view name, std::uint16_t type, std::uint16_t id = 0x1234) {
  Bytes q{static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  std::size_t start = 0;
  std::string n(name);
  while (start <= n.size() && !n.empty()) {
    auto dot = n.find('.', start);
    if (dot == std::string::npos) dot = n.size();
    q.push_back(static_cast<std::uint8_t>(dot - start));
    q.insert(q.end(), n.begin() + static_cast<std::ptrdiff_t>(start), n.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  q.push_back(0);
  Writer w(q);
  w.u16(type);
  w.u16(kClassIn);
  return q;
}

// An answer to `query` with one A record per TTL (address 192.0.2.N), plus an OPT record.
Bytes answer_for(const Bytes& query, const Question& question, std::vector<std::uint32_t> ttls) {
  Bytes a(query.begin(), query.begin() + static_cast<std::ptrdiff_t>(question.end));
  a[2] = 0x81;
  a[3] = 0x80;
  a[7] = static_cast<std::uint8_t>(ttls.size());
  a[11] = 1;  // additional: OPT
  Writer w(a);
  std::uint8_t n = 1;
  for (auto ttl : ttls) {
    w.u16(0xC00C);
    w.u16(kTypeA);
    w.u16(kClassIn);
    w.u32(ttl);
    w.u16(4);
    for (std::uint8_t b : {std::uint8_t{192}, std::uint8_t{0}, std::uint8_t{2}, n}) a.push_back(b);
    ++n;
  }
  a.push_back(0);  // root name
  w.u16(kTypeOpt);
  w.u16(1232);
  w.u32(0x8000);  // DO bit in the TTL field: not a TTL
  w.u16(0);
  return a;
}

TEST(DnsMessage, ParsesAQueryAndLowersTheName) {
  auto q = query_for("WWW.Example.COM", kTypeAAAA);
  auto parsed = parse_query(q);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->id, 0x1234);
  EXPECT_EQ(parsed->name, "www.example.com");
  EXPECT_EQ(parsed->type, kTypeAAAA);
  EXPECT_EQ(parsed->end, q.size());
}

TEST(DnsMessage, RefusesMalformedQueries) {
  auto q = query_for("a.example", kTypeA);
  EXPECT_FALSE(parse_query(ByteSpan(q).first(11)));            // short header
  EXPECT_FALSE(parse_query(ByteSpan(q).first(q.size() - 1)));  // cut question
  auto response = q;
  response[2] |= 0x80;
  EXPECT_FALSE(parse_query(response));
  auto two = q;
  two[5] = 2;  // QDCOUNT 2
  EXPECT_FALSE(parse_query(two));
  auto pointer = q;
  pointer[12] = 0xC0;  // compression in a question
  EXPECT_FALSE(parse_query(pointer));
  Bytes long_name{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 5; ++i) {
    long_name.push_back(63);
    long_name.insert(long_name.end(), 63, 'a');
  }
  long_name.push_back(0);
  long_name.insert(long_name.end(), {0, 1, 0, 1});
  EXPECT_FALSE(parse_query(long_name));  // 320 bytes of name
}

TEST(DnsMessage, WalksAnAnswerSkippingOpt) {
  auto q = query_for("a.example", kTypeA);
  auto question = *parse_query(q);
  auto a = answer_for(q, question, {300, 60});
  auto info = parse_response(a, question);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->records, 2u);
  EXPECT_EQ(info->min_ttl, 60u);
  EXPECT_EQ(info->ttl_offsets.size(), 2u);
  age_ttls(a, info->ttl_offsets, 100);
  auto aged = parse_response(a, question);
  ASSERT_TRUE(aged);
  EXPECT_EQ(aged->min_ttl, 0u);  // 60 - 100 stops at 0
}

TEST(DnsMessage, RefusesAnswersToAnotherQuestionOrCutShort) {
  auto q = query_for("a.example", kTypeA);
  auto question = *parse_query(q);
  auto a = answer_for(q, question, {300});
  auto other = *parse_query(query_for("b.example", kTypeA));
  EXPECT_FALSE(parse_response(a, other));
  for (std::size_t cut = 12; cut < a.size(); ++cut) EXPECT_FALSE(parse_response(ByteSpan(a).first(cut), question));
  auto looped = a;
  looped[question.end] = 0xC0;  // a pointer whose target is cut off
  looped.resize(question.end + 1);
  EXPECT_FALSE(parse_response(looped, question));
}

TEST(DnsMessage, MakesFakeAnswersAndErrors) {
  auto q = query_for("x.example", kTypeA, 0xBEEF);
  auto question = *parse_query(q);
  auto r = make_response(q, question, kRcodeNoError, {Bytes{198, 18, 0, 5}, Bytes(16, 1)}, 1);
  auto info = parse_response(r, question);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->id, 0xBEEF);
  EXPECT_EQ(info->records, 1u);  // the 16-byte address is not an A record
  EXPECT_EQ(info->min_ttl, 1u);
  EXPECT_EQ(r.back(), 5);
  auto nx = make_response(q, question, kRcodeNxDomain, {}, 0);
  EXPECT_EQ(parse_response(nx, question)->rcode, kRcodeNxDomain);
  auto formerr = make_error(q, kRcodeFormErr);
  EXPECT_EQ(formerr.size(), kHeaderSize);
  EXPECT_EQ(formerr[3] & 0xF, kRcodeFormErr);
  EXPECT_TRUE(make_error(ByteSpan(q).first(5), kRcodeFormErr).empty());
}

TEST(DnsCache, ServesAgedAnswersUntilTheSmallestTtlEnds) {
  Cache cache(16);
  auto q = query_for("a.example", kTypeA, 1);
  auto question = *parse_query(q);
  auto a = answer_for(q, question, {300, 60});
  auto t0 = Cache::Clock::time_point{} + std::chrono::hours(1);
  cache.store(question, a, *parse_response(a, question), t0);
  auto later_query = *parse_query(query_for("A.EXAMPLE", kTypeA, 77));
  auto hit = cache.find(later_query, t0 + std::chrono::seconds(20));
  ASSERT_TRUE(hit);
  auto info = parse_response(*hit, later_query);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->id, 77);
  EXPECT_EQ(info->min_ttl, 40u);
  EXPECT_FALSE(cache.find(later_query, t0 + std::chrono::seconds(60)));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(DnsCache, KeepsNeitherFailuresNorZeroTtlsAndEvictsTheLeastRecentlyUsed) {
  Cache cache(2);
  auto t0 = Cache::Clock::now();
  auto store = [&](std::string_view name, std::uint32_t ttl, std::uint8_t rcode = kRcodeNoError) {
    auto q = query_for(name, kTypeA);
    auto question = *parse_query(q);
    auto a = answer_for(q, question, {ttl});
    a[3] = static_cast<std::uint8_t>(0x80 | rcode);
    cache.store(question, a, *parse_response(a, question), t0);
    return question;
  };
  store("fail.example", 300, kRcodeServFail);
  store("zero.example", 0);
  EXPECT_EQ(cache.size(), 0u);
  auto first = store("one.example", 300);
  store("two.example", 300);
  EXPECT_TRUE(cache.find(first, t0));  // one is now the most recent
  store("three.example", 300);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.find(first, t0));
  EXPECT_FALSE(cache.find(*parse_query(query_for("two.example", kTypeA)), t0));
}

TEST(FakeIp, GivesEachNameOneAddressAndMapsItBack) {
  FakeIpPool pool(*routing::parse_cidr("198.18.0.0/15"));
  auto a = pool.address_for("a.example");
  auto b = pool.address_for("b.example");
  EXPECT_NE(a, b);
  EXPECT_EQ(pool.address_for("a.example"), a);
  EXPECT_EQ(a.to_string(), "198.18.0.1");
  EXPECT_EQ(pool.name_for(b), "b.example");
  EXPECT_FALSE(pool.name_for(asio::ip::make_address("198.18.0.200")));  // not handed out
  EXPECT_FALSE(pool.name_for(asio::ip::make_address("8.8.8.8")));
  EXPECT_EQ(pool.capacity(), 131070u);
}

TEST(FakeIp, RecyclesTheLeastRecentlyUsedAddressWhenFull) {
  FakeIpPool pool(*routing::parse_cidr("10.0.0.0/30"));  // two usable addresses
  auto a = pool.address_for("a");
  auto b = pool.address_for("b");
  EXPECT_EQ(pool.name_for(a), "a");  // a is now more recent than b
  auto c = pool.address_for("c");
  EXPECT_EQ(c, b);
  EXPECT_EQ(pool.name_for(b), "c");
  EXPECT_EQ(pool.name_for(a), "a");
  EXPECT_EQ(pool.size(), 2u);
}

}  // namespace
}  // namespace culvert::dns
