// The renderings of a ProfileData with known numbers: pprof (round trip
// through our reader, structure, malformed input), gzip, folded stacks, the
// SVG flamegraph and the markdown summary.
#include <algorithm>
#include <map>
#include <random>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/profile/flamegraph_svg.h"
#include "collector/profile/folded.h"
#include "collector/profile/pprof.h"
#include "collector/profile/summary_md.h"
#include "gtest/gtest.h"
#include "tests/collector/profile/profile_fixture.h"

namespace resdb_trace::collector::profile {
namespace {

using testing::MakeFixture;
using testing::UserFrame;

// (root-first labels, pid, tid, phase) -> count: how a profile reads.
using Shape =
    std::map<std::tuple<std::string, uint32_t, uint32_t, uint32_t>, uint64_t>;

Shape ShapeOf(const ProfileData& d) {
  Shape out;
  for (const ProfileSample& s : d.samples) {
    std::vector<std::string> labels;
    for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) {
      labels.push_back(d.frames[*it].Label());
    }
    out[{absl::StrJoin(labels, ";"), s.pid, s.tid, s.phase}] += s.count;
  }
  return out;
}

TEST(PprofTest, RoundTripThroughOurReader) {
  const ProfileData d = MakeFixture();
  absl::StatusOr<std::string> gz = EncodePprofGzip(d);
  ASSERT_TRUE(gz.ok()) << gz.status();
  ASSERT_GE(gz->size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>((*gz)[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>((*gz)[1]), 0x8b);

  absl::StatusOr<ProfileData> back = ParsePprof(*gz);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ShapeOf(*back), ShapeOf(d));
  EXPECT_EQ(back->TotalCount(), 100u);
  EXPECT_EQ(back->frequency_hz, 99u);
  EXPECT_EQ(back->start, d.start);
  EXPECT_EQ(back->end, d.end);
  EXPECT_EQ(back->counters.samples, 100u);
  EXPECT_EQ(back->counters.lost_user_stacks, 1u);
  EXPECT_EQ(back->counters.dropped_samples, 2u);
  EXPECT_EQ(back->counters.unknown_frames, 3u);
  EXPECT_EQ(back->counters.intervals, 5u);
  ASSERT_EQ(back->processes.count(10), 1u);
  EXPECT_EQ(back->processes.at(10).replica_id, std::optional<uint32_t>(1));
  EXPECT_EQ(back->processes.at(10).comm, "replica");
  EXPECT_FALSE(back->processes.at(20).replica_id.has_value());

  // every frame comes back whole: kind, names, module, build id, line
  std::map<std::string, Frame> by_label;
  for (const Frame& f : back->frames) by_label[f.Label()] = f;
  for (const Frame& f : d.frames) {
    ASSERT_EQ(by_label.count(f.Label()), 1u) << f.Label();
    EXPECT_TRUE(by_label[f.Label()] == f) << f.Label();
  }
}

TEST(PprofTest, Structure) {
  const ProfileData d = MakeFixture();
  const perftools::profiles::Profile p = ToPprof(d);
  auto str = [&](int64_t i) { return p.string_table(static_cast<int>(i)); };
  ASSERT_GT(p.string_table_size(), 0);
  EXPECT_EQ(p.string_table(0), "");
  ASSERT_EQ(p.sample_type_size(), 2);
  EXPECT_EQ(str(p.sample_type(0).type()), "samples");
  EXPECT_EQ(str(p.sample_type(0).unit()), "count");
  EXPECT_EQ(str(p.sample_type(1).type()), "cpu");
  EXPECT_EQ(str(p.sample_type(1).unit()), "nanoseconds");
  EXPECT_EQ(p.period(), 10101010);  // 1e9 / 99, rounded
  EXPECT_EQ(str(p.period_type().type()), "cpu");
  EXPECT_EQ(p.time_nanos(), absl::ToUnixNanos(d.start));
  EXPECT_EQ(p.duration_nanos(), 5000000000);
  // the profiled executable is mapping[0]
  ASSERT_GE(p.mapping_size(), 3);
  EXPECT_EQ(str(p.mapping(0).filename()), "/bin/replica");
  EXPECT_EQ(str(p.mapping(0).build_id()), "00112233445566778899");
  EXPECT_TRUE(p.mapping(0).has_functions());
  EXPECT_TRUE(p.mapping(0).has_line_numbers());
  bool kernel = false;
  for (const auto& m : p.mapping()) {
    kernel = kernel || str(m.filename()) == "[kernel.kallsyms]";
  }
  EXPECT_TRUE(kernel);

  int64_t count = 0;
  int64_t cpu = 0;
  for (const auto& s : p.sample()) {
    ASSERT_EQ(s.value_size(), 2);
    count += s.value(0);
    cpu += s.value(1);
    std::map<std::string, std::string> labels;
    for (const auto& l : s.label()) {
      labels[str(l.key())] =
          l.str() != 0 ? str(l.str()) : absl::StrCat(l.num());
    }
    EXPECT_EQ(labels.count("pid"), 1u);
    EXPECT_EQ(labels.count("phase"), 1u);
    if (labels["pid"] == "10") {
      EXPECT_EQ(labels["replica"], "1");
    }
    if (labels["phase_id"] == "15") {
      EXPECT_EQ(labels["phase"], "prepare_received");
    }
    if (labels["phase_id"] == "0") {
      EXPECT_EQ(labels["phase"], "none");
    }
  }
  EXPECT_EQ(count, 100);
  EXPECT_EQ(cpu, 100 * 10101010LL);

  // the marker has no mapping; the unknown frame has no line
  for (const auto& loc : p.location()) {
    if (loc.line_size() == 0) {
      EXPECT_NE(loc.mapping_id(), 0u);
      EXPECT_EQ(loc.address(), 0x1234u);
    }
  }
}

TEST(PprofTest, RejectsMalformedProfiles) {
  EXPECT_EQ(ParsePprof("certainly not a profile").status().code(),
            absl::StatusCode::kInvalidArgument);

  absl::StatusOr<std::string> gz = EncodePprofGzip(MakeFixture());
  ASSERT_TRUE(gz.ok());
  EXPECT_FALSE(ParsePprof(gz->substr(0, gz->size() / 2)).ok())
      << "a truncated gzip stream must not parse";

  perftools::profiles::Profile p = ToPprof(MakeFixture());
  perftools::profiles::Profile missing_function = p;
  missing_function.mutable_location(0)->mutable_line(0)->set_function_id(999);
  absl::StatusOr<ProfileData> r = FromPprof(missing_function);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("function 999"), std::string::npos)
      << r.status();

  perftools::profiles::Profile missing_location = p;
  missing_location.mutable_sample(0)->set_location_id(0, 12345);
  EXPECT_NE(FromPprof(missing_location).status().message().find("12345"),
            std::string::npos);

  perftools::profiles::Profile bad_string = p;
  bad_string.mutable_mapping(0)->set_filename(100000);
  EXPECT_EQ(FromPprof(bad_string).status().code(),
            absl::StatusCode::kInvalidArgument);

  perftools::profiles::Profile bad_values = p;
  bad_values.mutable_sample(0)->add_value(1);
  EXPECT_EQ(FromPprof(bad_values).status().code(),
            absl::StatusCode::kInvalidArgument);

  perftools::profiles::Profile no_empty = p;
  no_empty.set_string_table(0, "x");
  EXPECT_EQ(FromPprof(no_empty).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GzipTest, RoundTripAndLimits) {
  std::mt19937 rng(7);
  std::string data(100000, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>(i % 3 == 0 ? rng() & 0xff : 'a');
  }
  absl::StatusOr<std::string> gz = Gzip(data);
  ASSERT_TRUE(gz.ok());
  EXPECT_LT(gz->size(), data.size());
  absl::StatusOr<std::string> back = Gunzip(*gz);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, data);
  EXPECT_FALSE(Gunzip(*gz, 1000).ok()) << "output beyond max_bytes";
  EXPECT_FALSE(Gunzip("\x1f\x8bnot really").ok());
  absl::StatusOr<std::string> empty = Gzip("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*Gunzip(*empty), "");
}

TEST(FoldedTest, ExactLines) {
  EXPECT_EQ(RenderFolded(MakeFixture()),
            "[lost user stack] 1\n"
            "main;Run;Cold 20\n"
            "main;Run;Hot 70\n"
            "main;Run;do_syscall_[k] 6\n"
            "main;[unknown] libfoo.so+0x1234 3\n");
}

TEST(FoldedTest, SplitsAndSanitizes) {
  ProfileData d = MakeFixture();
  StackOptions split;
  split.split_by_pid = true;
  split.split_by_phase = true;
  split.kernel_suffix = false;
  const std::string folded = RenderFolded(d, split);
  EXPECT_NE(folded.find("pid 10 (replica, replica 1);phase prepare_received;"
                        "main;Run;Hot 70\n"),
            std::string::npos)
      << folded;
  EXPECT_NE(folded.find("pid 20 (client);phase none;[lost user stack] 1\n"),
            std::string::npos)
      << folded;
  EXPECT_NE(folded.find("main;Run;do_syscall 6\n"), std::string::npos);

  // a name with ';' and a line break cannot break the line format
  ProfileData odd;
  odd.frequency_hz = 99;
  ProfileSample s;
  s.frames = {odd.AddFrame(UserFrame("a;b\nc", "/x", 1))};
  s.count = 2;
  odd.samples.push_back(s);
  EXPECT_EQ(RenderFolded(odd), "a:b c 2\n");

  // identical stacks of different threads merge
  ProfileData merged = MakeFixture();
  ProfileSample again = merged.samples[0];
  again.tid = 99;
  again.count = 5;
  merged.samples.push_back(again);
  EXPECT_NE(RenderFolded(merged).find("main;Run;Hot 75\n"), std::string::npos);
}

TEST(FunctionStatsTest, FlatAndCumulative) {
  std::map<std::string, FunctionStat> stats;
  for (const FunctionStat& s : ComputeFunctionStats(MakeFixture())) {
    stats[s.label] = s;
  }
  EXPECT_EQ(stats["main"].cumulative, 99u);
  EXPECT_EQ(stats["main"].flat, 0u);
  EXPECT_EQ(stats["Run"].cumulative, 96u);
  EXPECT_EQ(stats["Hot"].flat, 70u);
  EXPECT_EQ(stats["Hot"].cumulative, 70u);
  EXPECT_EQ(stats["Hot"].module, "replica");
  EXPECT_EQ(stats["do_syscall"].module, "kernel");
  EXPECT_EQ(stats["[unknown] libfoo.so+0x1234"].flat, 3u);
  EXPECT_EQ(stats["[lost user stack]"].flat, 1u);

  // recursion counts once per sample in the cumulative figure
  ProfileData rec;
  const uint32_t f = rec.AddFrame(UserFrame("Recurse", "/x", 1));
  ProfileSample s;
  s.frames = {f, f, f};
  s.count = 4;
  rec.samples.push_back(s);
  std::vector<FunctionStat> r = ComputeFunctionStats(rec);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].cumulative, 4u);
  EXPECT_EQ(r[0].flat, 4u);
}

// The attribute value of `name` in the <g> whose data-l is `label`.
std::string FrameAttr(const std::string& svg, const std::string& label,
                      const std::string& name) {
  std::regex re(
      "<g data-x=\"(\\d+)\" data-w=\"(\\d+)\" data-d=\"(\\d+)\" "
      "data-l=\"" +
      std::regex_replace(label, std::regex(R"([\[\]\.\+\(\)\*])"), R"(\$&)") +
      "\">");
  std::smatch m;
  if (!std::regex_search(svg, m, re)) return "";
  if (name == "x") return m[1];
  if (name == "w") return m[2];
  return m[3];
}

TEST(FlamegraphSvgTest, FramesWidthsTitlesAndEscaping) {
  ProfileData d = MakeFixture();
  // a template name must be escaped, not break the XML
  ProfileSample s;
  s.frames = {
      d.AddFrame(UserFrame("ns::Vec<int>::push&go", "/bin/replica", 0x1400))};
  s.count = 1;
  s.pid = 10;
  d.samples.push_back(s);
  FlamegraphOptions options;
  options.title = "Replica <1> & friends";
  const std::string svg = RenderFlamegraphSvg(d, options);

  EXPECT_TRUE(absl::StartsWith(svg, "<?xml version=\"1.0\""));
  EXPECT_TRUE(absl::EndsWith(svg, "</svg>\n"));
  EXPECT_NE(svg.find("<title>Replica &lt;1&gt; &amp; friends</title>"),
            std::string::npos);
  EXPECT_EQ(svg.find("Vec<int>"), std::string::npos);
  EXPECT_NE(svg.find("ns::Vec&lt;int&gt;::push&amp;go"), std::string::npos);

  // widths in samples: exact; depth: root 0
  EXPECT_EQ(FrameAttr(svg, "all", "w"), "101");
  EXPECT_EQ(FrameAttr(svg, "all", "d"), "0");
  EXPECT_EQ(FrameAttr(svg, "main", "w"), "99");
  EXPECT_EQ(FrameAttr(svg, "Hot", "w"), "70");
  EXPECT_EQ(FrameAttr(svg, "Hot", "d"), "3");
  EXPECT_EQ(FrameAttr(svg, "Cold", "w"), "20");
  // siblings in name order: Cold before Hot, both after main's offset
  EXPECT_LT(std::stoi(FrameAttr(svg, "Cold", "x")),
            std::stoi(FrameAttr(svg, "Hot", "x")));
  EXPECT_NE(svg.find("<title>Hot [replica]: 70 samples, 69.31%</title>"),
            std::string::npos);
  EXPECT_NE(svg.find("<script type=\"text/ecmascript\"><![CDATA["),
            std::string::npos);

  options.script = false;
  EXPECT_EQ(RenderFlamegraphSvg(d, options).find("<script"), std::string::npos);
}

TEST(FlamegraphSvgTest, NarrowFramesAreLeftOut) {
  ProfileData d;
  d.frequency_hz = 99;
  ProfileSample big;
  big.frames = {d.AddFrame(UserFrame("Big", "/x", 1))};
  big.count = 1000000;
  d.samples.push_back(big);
  ProfileSample tiny;
  tiny.frames = {d.AddFrame(UserFrame("Tiny", "/x", 2))};
  tiny.count = 1;
  d.samples.push_back(tiny);
  const std::string svg = RenderFlamegraphSvg(d);
  EXPECT_NE(svg.find("data-l=\"Big\""), std::string::npos);
  EXPECT_EQ(svg.find("data-l=\"Tiny\""), std::string::npos);
}

TEST(FlamegraphSvgTest, EscapeXml) {
  EXPECT_EQ(EscapeXml("a<b&c\"d'e>"), "a&lt;b&amp;c&quot;d&apos;e&gt;");
  EXPECT_EQ(EscapeXml("bad\x01\xff"), "bad??");
  EXPECT_EQ(EscapeXml("caf\xc3\xa9"), "caf\xc3\xa9");  // valid UTF-8 stays
  EXPECT_EQ(EscapeXml("\xc3"), "?");                   // cut sequence
}

TEST(SummaryMarkdownTest, TablesHaveTheRightNumbers) {
  SummaryOptions options;
  options.title = "replica 1";
  const std::string md = RenderSummaryMarkdown(MakeFixture(), options);
  EXPECT_TRUE(absl::StartsWith(md, "# replica 1\n")) << md;
  EXPECT_NE(md.find("| samples | 100 (≈ 1.01 CPU-seconds) |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| prepare_received | 15 | 70 | 70.0% | `Hot` (100.0% of "
                    "the phase) |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| none | 0 | 10 | 10.0% | `do_syscall` (60.0% of the "
                    "phase) |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| 1 | `Hot` | replica | 70 | 70.0% | 70.0% |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| 1 | `main` | replica | 99 | 99.0% | 0.0% |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("1. **70.0%** (70 samples): `main` → `Run` → `Hot`"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("lost user stacks 1"), std::string::npos);
  EXPECT_NE(md.find("10 `replica` replica 1: 96.0%"), std::string::npos) << md;
}

TEST(SummaryMarkdownTest, EscapesAndEmptyProfiles) {
  ProfileData d;
  d.frequency_hz = 99;
  ProfileSample s;
  s.frames = {d.AddFrame(UserFrame("operator|", "/x", 1))};
  s.count = 1;
  d.samples.push_back(s);
  ProfileSample t;
  t.frames = {d.AddFrame(UserFrame("tick`tock", "/x", 2))};
  t.count = 1;
  d.samples.push_back(t);
  const std::string md = RenderSummaryMarkdown(d);
  EXPECT_NE(md.find("`operator\\|`"), std::string::npos) << md;
  EXPECT_NE(md.find("``tick`tock``"), std::string::npos) << md;

  const std::string empty = RenderSummaryMarkdown(ProfileData{});
  EXPECT_NE(empty.find("No samples in this window."), std::string::npos);
}

}  // namespace
}  // namespace resdb_trace::collector::profile
