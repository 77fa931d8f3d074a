// The demo's one frame reader: frames split across reads, several frames in
// one read, and a length prefix over the cap refused with a clear error.
#include "demo/wire.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace resdb_trace::demo {
namespace {

std::string LengthPrefix(uint32_t len) {
  std::string p(4, '\0');
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(len >> (8 * i));
  return p;
}

Message Sample(uint64_t seq, std::string payload) {
  Message m;
  m.type = 7;
  m.sender = 2;
  m.view = 1;
  m.seq = seq;
  m.payload = std::move(payload);
  return m;
}

TEST(FrameReaderTest, ReassemblesFramesWhateverPiecesTheyArriveIn) {
  const std::string stream = EncodeFrame(Sample(1, "first")) +
                             EncodeFrame(Sample(2, "")) +
                             EncodeFrame(Sample(3, std::string(300, 'x')));
  FrameReader reader;
  std::string_view body;
  std::vector<uint64_t> seqs;
  // one byte at a time: every prefix of a frame must wait for more
  for (char c : stream) {
    reader.Append(std::string_view(&c, 1));
    FrameReader::Result r;
    while ((r = reader.Next(&body)) == FrameReader::Result::kFrame) {
      Message m;
      ASSERT_TRUE(DecodeBody(body, &m));
      seqs.push_back(m.seq);
    }
    ASSERT_EQ(r, FrameReader::Result::kNeedMore);
  }
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(reader.buffered(), 0u);
  EXPECT_EQ(reader.error(), "");

  // all at once
  FrameReader whole;
  whole.Append(stream);
  Message m;
  ASSERT_EQ(whole.Next(&body), FrameReader::Result::kFrame);
  ASSERT_TRUE(DecodeBody(body, &m));
  EXPECT_EQ(m.payload, "first");
  ASSERT_EQ(whole.Next(&body), FrameReader::Result::kFrame);
  ASSERT_EQ(whole.Next(&body), FrameReader::Result::kFrame);
  ASSERT_TRUE(DecodeBody(body, &m));
  EXPECT_EQ(m.payload, std::string(300, 'x'));
  EXPECT_EQ(whole.Next(&body), FrameReader::Result::kNeedMore);
}

TEST(FrameReaderTest, AcceptsAFrameOfExactlyTheCap) {
  FrameReader reader;
  reader.Append(LengthPrefix(kMaxFrameBytes));
  reader.Append(std::string(kMaxFrameBytes - 1, 'a'));
  std::string_view body;
  EXPECT_EQ(reader.Next(&body), FrameReader::Result::kNeedMore);
  reader.Append("b");
  ASSERT_EQ(reader.Next(&body), FrameReader::Result::kFrame);
  EXPECT_EQ(body.size(), kMaxFrameBytes);
  EXPECT_EQ(body.back(), 'b');
}

TEST(FrameReaderTest, RefusesAFrameOverTheCapWithAClearError) {
  FrameReader reader;
  reader.Append(EncodeFrame(Sample(1, "ok")));
  reader.Append(LengthPrefix(kMaxFrameBytes + 1));
  std::string_view body;
  ASSERT_EQ(reader.Next(&body), FrameReader::Result::kFrame);
  // refused from the prefix alone, before any body byte arrives
  EXPECT_EQ(reader.Next(&body), FrameReader::Result::kTooLarge);
  EXPECT_EQ(reader.error(),
            "frame of 67108865 bytes exceeds the 64 MiB cap (kMaxFrameBytes "
            "in demo/wire.h): the peer does not speak the demo protocol or "
            "the stream is corrupt");
  // the stream cannot be resynchronised: it stays refused
  reader.Append(EncodeFrame(Sample(2, "late")));
  EXPECT_EQ(reader.Next(&body), FrameReader::Result::kTooLarge);
}

TEST(ReadFrameTest, BlockingReaderStopsAtEofAndAtAnOversizedFrame) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ASSERT_TRUE(WriteAll(fds[1], EncodeFrame(Sample(5, "a")) +
                                   EncodeFrame(Sample(6, "b")) +
                                   LengthPrefix(0xffffffffu)));
  close(fds[1]);
  FrameReader reader;
  std::string_view body;
  Message m;
  ASSERT_TRUE(ReadFrame(fds[0], &reader, &body));
  ASSERT_TRUE(DecodeBody(body, &m));
  EXPECT_EQ(m.seq, 5u);
  ASSERT_TRUE(ReadFrame(fds[0], &reader, &body));
  ASSERT_TRUE(DecodeBody(body, &m));
  EXPECT_EQ(m.seq, 6u);
  EXPECT_FALSE(ReadFrame(fds[0], &reader, &body));
  EXPECT_NE(reader.error().find("frame of 4294967295 bytes exceeds"),
            std::string::npos)
      << reader.error();

  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  const std::string frame = EncodeFrame(Sample(7, "c"));
  ASSERT_TRUE(WriteAll(fds[1], frame.substr(0, frame.size() - 1)));
  close(fds[1]);
  FrameReader truncated;
  EXPECT_FALSE(ReadFrame(fds[0], &truncated, &body));  // EOF mid-frame
  EXPECT_EQ(truncated.error(), "");
  close(fds[0]);
}

TEST(FrameReaderTest, ReceiveTellsNothingYetFromClosed) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  FrameReader reader;
  EXPECT_EQ(reader.Receive(fds[0], /*wait=*/false),
            FrameReader::Received::kNothing);
  const std::string frame = EncodeFrame(Sample(9, "d"));
  ASSERT_TRUE(WriteAll(fds[1], frame));
  EXPECT_EQ(reader.Receive(fds[0], /*wait=*/false),
            FrameReader::Received::kBytes);
  EXPECT_EQ(reader.buffered(), frame.size());
  close(fds[1]);
  EXPECT_EQ(reader.Receive(fds[0], /*wait=*/false),
            FrameReader::Received::kClosed);
  close(fds[0]);
}

}  // namespace
}  // namespace resdb_trace::demo
