#include "collector/profile/pprof.h"

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "collector/profile/symbolizer.h"
#include "lib/catalogue.h"

namespace resdb_trace::collector::profile {
namespace {

namespace pp = ::perftools::profiles;

constexpr char kCommentPrefix[] = "resdb_trace:";

// Interns strings into the profile's string table.
class StringTable {
 public:
  explicit StringTable(pp::Profile* p) : p_(p) { Index(""); }
  int64_t Index(const std::string& s) {
    auto [it, inserted] = ids_.try_emplace(s, p_->string_table_size());
    if (inserted) p_->add_string_table(s);
    return it->second;
  }

 private:
  pp::Profile* p_;
  absl::flat_hash_map<std::string, int64_t> ids_;
};

const char* const kMarkers[] = {kLostUserStackMarker, kLostKernelStackMarker,
                                kEvictedStackMarker, kNoUserStackMarker,
                                kTruncatedMarker};

bool IsMarkerName(const std::string& name) {
  for (const char* m : kMarkers) {
    if (name == m) return true;
  }
  return false;
}

std::vector<std::pair<std::string, uint64_t ProfileCounters::*>>
CounterFields() {
  return {
      {"samples", &ProfileCounters::samples},
      {"lost_user_stacks", &ProfileCounters::lost_user_stacks},
      {"lost_kernel_stacks", &ProfileCounters::lost_kernel_stacks},
      {"empty_user_stacks", &ProfileCounters::empty_user_stacks},
      {"dropped_samples", &ProfileCounters::dropped_samples},
      {"truncated_stacks", &ProfileCounters::truncated_stacks},
      {"evicted_stacks", &ProfileCounters::evicted_stacks},
      {"unknown_frames", &ProfileCounters::unknown_frames},
      {"intervals", &ProfileCounters::intervals},
  };
}

}  // namespace

pp::Profile ToPprof(const ProfileData& data) {
  pp::Profile p;
  StringTable strings(&p);
  const int64_t period = data.PeriodNs();

  auto* st = p.add_sample_type();
  st->set_type(strings.Index("samples"));
  st->set_unit(strings.Index("count"));
  st = p.add_sample_type();
  st->set_type(strings.Index("cpu"));
  st->set_unit(strings.Index("nanoseconds"));
  p.mutable_period_type()->set_type(strings.Index("cpu"));
  p.mutable_period_type()->set_unit(strings.Index("nanoseconds"));
  p.set_period(period);
  p.set_default_sample_type(strings.Index("cpu"));
  p.set_time_nanos(absl::ToUnixNanos(data.start));
  p.set_duration_nanos(
      std::max<int64_t>(0, absl::ToInt64Nanoseconds(data.end - data.start)));

  // mappings: the profiled executables first (pprof treats mapping[0] as the
  // main binary), then the others in order of first use
  absl::flat_hash_set<std::string> exes;
  for (const auto& [pid, info] : data.processes) {
    if (!info.exe.empty()) exes.insert(info.exe);
  }
  using MappingKey = std::pair<std::string, std::string>;  // module, build id
  std::vector<MappingKey> order;
  absl::flat_hash_map<MappingKey, size_t> mapping_index;
  for (int pass = 0; pass < 2; ++pass) {
    for (const Frame& f : data.frames) {
      if (f.kind == Frame::Kind::kMarker || f.module.empty()) continue;
      if ((pass == 0) != (exes.contains(f.module) != 0)) continue;
      MappingKey key{f.module, f.build_id};
      if (mapping_index.try_emplace(key, order.size()).second) {
        order.push_back(key);
      }
    }
  }
  for (const MappingKey& key : order) {
    pp::Mapping* m = p.add_mapping();
    m->set_id(p.mapping_size());
    m->set_filename(strings.Index(key.first));
    if (!key.second.empty()) m->set_build_id(strings.Index(key.second));
  }

  absl::flat_hash_map<std::tuple<std::string, std::string, std::string>,
                      uint64_t>
      function_ids;
  for (size_t i = 0; i < data.frames.size(); ++i) {
    const Frame& f = data.frames[i];
    pp::Location* loc = p.add_location();
    loc->set_id(i + 1);
    loc->set_address(f.address);
    if (f.kind != Frame::Kind::kMarker && !f.module.empty()) {
      size_t mi = mapping_index.at(MappingKey{f.module, f.build_id});
      loc->set_mapping_id(mi + 1);
      pp::Mapping* m = p.mutable_mapping(static_cast<int>(mi));
      if (f.known()) m->set_has_functions(true);
      if (!f.file.empty()) m->set_has_filenames(true);
      if (f.line != 0) m->set_has_line_numbers(true);
    }
    if (!f.known()) continue;
    auto key = std::make_tuple(f.function, f.mangled, f.file);
    auto [it, inserted] = function_ids.try_emplace(key, p.function_size() + 1);
    if (inserted) {
      pp::Function* fn = p.add_function();
      fn->set_id(it->second);
      fn->set_name(strings.Index(f.function));
      fn->set_system_name(strings.Index(f.mangled));
      fn->set_filename(strings.Index(f.file));
    }
    pp::Line* line = loc->add_line();
    line->set_function_id(it->second);
    line->set_line(f.line);
  }

  const int64_t k_pid = strings.Index("pid");
  const int64_t k_tid = strings.Index("tid");
  const int64_t k_phase = strings.Index("phase");
  const int64_t k_phase_id = strings.Index("phase_id");
  const int64_t k_replica = strings.Index("replica");
  const int64_t k_comm = strings.Index("comm");
  for (const ProfileSample& s : data.samples) {
    pp::Sample* out = p.add_sample();
    for (uint32_t f : s.frames) out->add_location_id(f + 1);
    out->add_value(static_cast<int64_t>(s.count));
    out->add_value(static_cast<int64_t>(s.count) * period);
    auto num = [&](int64_t key, int64_t value) {
      pp::Label* l = out->add_label();
      l->set_key(key);
      l->set_num(value);
    };
    auto str = [&](int64_t key, const std::string& value) {
      pp::Label* l = out->add_label();
      l->set_key(key);
      l->set_str(strings.Index(value));
    };
    num(k_pid, s.pid);
    if (s.tid != 0) num(k_tid, s.tid);
    str(k_phase, catalogue::PhaseName(s.phase));
    num(k_phase_id, s.phase);
    auto info = data.processes.find(s.pid);
    if (info != data.processes.end()) {
      if (info->second.replica_id) num(k_replica, *info->second.replica_id);
      if (!info->second.comm.empty()) str(k_comm, info->second.comm);
    }
  }

  p.add_comment(strings.Index(
      absl::StrCat(kCommentPrefix, "frequency_hz=", data.frequency_hz)));
  for (const auto& [name, field] : CounterFields()) {
    p.add_comment(strings.Index(
        absl::StrCat(kCommentPrefix, name, "=", data.counters.*field)));
  }
  return p;
}

absl::StatusOr<std::string> EncodePprofGzip(const ProfileData& data) {
  std::string raw;
  if (!ToPprof(data).SerializeToString(&raw)) {
    return absl::InternalError("cannot serialize the pprof profile");
  }
  return Gzip(raw);
}

absl::StatusOr<ProfileData> ParsePprof(std::string_view bytes) {
  std::string plain;
  if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
      static_cast<unsigned char>(bytes[1]) == 0x8b) {
    absl::StatusOr<std::string> unzipped = Gunzip(bytes);
    if (!unzipped.ok()) return unzipped.status();
    plain = std::move(*unzipped);
  } else {
    plain = std::string(bytes);
  }
  pp::Profile p;
  if (!p.ParseFromString(plain)) {
    return absl::InvalidArgumentError(
        "not a pprof profile: the protobuf does not parse");
  }
  return FromPprof(p);
}

absl::StatusOr<ProfileData> FromPprof(const pp::Profile& p) {
  const auto& table = p.string_table();
  if (table.empty() || !table[0].empty()) {
    return absl::InvalidArgumentError(
        "pprof string_table must start with the empty string");
  }
  std::string bad;
  auto str = [&](int64_t index, const char* what) -> std::string {
    if (index < 0 || index >= table.size()) {
      if (bad.empty()) {
        bad = absl::StrFormat("%s refers to string %d of %d", what, index,
                              table.size());
      }
      return "";
    }
    return table[static_cast<int>(index)];
  };

  ProfileData data;
  data.start = absl::FromUnixNanos(p.time_nanos());
  data.end = data.start + absl::Nanoseconds(p.duration_nanos());
  if (p.period() > 0) {
    data.frequency_hz = static_cast<uint32_t>(
        std::llround(1e9 / static_cast<double>(p.period())));
  }

  absl::flat_hash_map<uint64_t, const pp::Mapping*> mappings;
  for (const pp::Mapping& m : p.mapping()) {
    if (m.id() == 0 || !mappings.emplace(m.id(), &m).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("pprof mapping id ", m.id(), " is zero or repeated"));
    }
  }
  absl::flat_hash_map<uint64_t, const pp::Function*> functions;
  for (const pp::Function& f : p.function()) {
    if (f.id() == 0 || !functions.emplace(f.id(), &f).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("pprof function id ", f.id(), " is zero or repeated"));
    }
  }

  absl::flat_hash_map<Frame, uint32_t> frame_ids;
  auto add_frame = [&](const Frame& f) {
    auto [it, inserted] =
        frame_ids.try_emplace(f, static_cast<uint32_t>(data.frames.size()));
    if (inserted) data.frames.push_back(f);
    return it->second;
  };
  // each location expands to one or more frames (inlined lines)
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>> location_frames;
  for (const pp::Location& loc : p.location()) {
    if (loc.id() == 0 || location_frames.contains(loc.id())) {
      return absl::InvalidArgumentError(
          absl::StrCat("pprof location id ", loc.id(), " is zero or repeated"));
    }
    const pp::Mapping* mapping = nullptr;
    if (loc.mapping_id() != 0) {
      auto it = mappings.find(loc.mapping_id());
      if (it == mappings.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("pprof location ", loc.id(), " refers to mapping ",
                         loc.mapping_id(), ", which does not exist"));
      }
      mapping = it->second;
    }
    Frame base;
    base.address = loc.address();
    if (mapping != nullptr) {
      base.module = str(mapping->filename(), "mapping filename");
      base.build_id = str(mapping->build_id(), "mapping build_id");
      if (base.module == kKernelModule) base.kind = Frame::Kind::kKernel;
    }
    std::vector<uint32_t>& frames = location_frames[loc.id()];
    if (loc.line().empty()) {
      frames.push_back(add_frame(base));
      continue;
    }
    for (const pp::Line& line : loc.line()) {
      auto it = functions.find(line.function_id());
      if (it == functions.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("pprof location ", loc.id(), " refers to function ",
                         line.function_id(), ", which does not exist"));
      }
      Frame f = base;
      f.function = str(it->second->name(), "function name");
      f.mangled = str(it->second->system_name(), "function system_name");
      f.file = str(it->second->filename(), "function filename");
      f.line = static_cast<uint32_t>(std::max<int64_t>(0, line.line()));
      if (mapping == nullptr && IsMarkerName(f.function)) {
        f.kind = Frame::Kind::kMarker;
      }
      frames.push_back(add_frame(f));
    }
  }

  const int types = p.sample_type_size();
  int count_index = 0;
  for (int i = 0; i < types; ++i) {
    if (str(p.sample_type(i).unit(), "sample_type unit") == "count") {
      count_index = i;
      break;
    }
  }
  for (const pp::Sample& s : p.sample()) {
    if (s.value_size() != types) {
      return absl::InvalidArgumentError(
          absl::StrFormat("a pprof sample has %d values for %d sample types",
                          s.value_size(), types));
    }
    ProfileSample out;
    out.count =
        types > 0
            ? static_cast<uint64_t>(std::max<int64_t>(0, s.value(count_index)))
            : 0;
    for (uint64_t id : s.location_id()) {
      auto it = location_frames.find(id);
      if (it == location_frames.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("a pprof sample refers to location ", id,
                         ", which does not exist"));
      }
      out.frames.insert(out.frames.end(), it->second.begin(), it->second.end());
    }
    std::optional<uint32_t> replica;
    std::string comm;
    for (const pp::Label& l : s.label()) {
      const std::string key = str(l.key(), "label key");
      if (key == "pid") out.pid = static_cast<uint32_t>(l.num());
      if (key == "tid") out.tid = static_cast<uint32_t>(l.num());
      if (key == "phase_id") out.phase = static_cast<uint32_t>(l.num());
      if (key == "replica") replica = static_cast<uint32_t>(l.num());
      if (key == "comm") comm = str(l.str(), "label str");
    }
    ProcessInfo& info = data.processes[out.pid];
    info.pid = out.pid;
    if (replica) info.replica_id = replica;
    if (!comm.empty()) info.comm = comm;
    data.samples.push_back(std::move(out));
  }

  for (int64_t c : p.comment()) {
    std::string text = str(c, "comment");
    if (text.rfind(kCommentPrefix, 0) != 0) continue;
    std::pair<std::string, std::string> kv = absl::StrSplit(
        text.substr(sizeof(kCommentPrefix) - 1), absl::MaxSplits('=', 1));
    uint64_t value = 0;
    if (!absl::SimpleAtoi(kv.second, &value)) continue;
    if (kv.first == "frequency_hz") {
      data.frequency_hz = static_cast<uint32_t>(value);
      continue;
    }
    for (const auto& [name, field] : CounterFields()) {
      if (kv.first == name) data.counters.*field = value;
    }
  }
  if (!bad.empty())
    return absl::InvalidArgumentError(absl::StrCat("pprof ", bad));
  return data;
}

absl::StatusOr<std::string> Gzip(std::string_view data) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::InternalError("zlib: deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&zs, data.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  const size_t written = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    return absl::InternalError(absl::StrCat("zlib: deflate failed (", rc, ")"));
  }
  out.resize(written);
  return out;
}

absl::StatusOr<std::string> Gunzip(std::string_view data, size_t max_bytes) {
  z_stream zs{};
  // windowBits 15 + 32: detect a gzip or zlib header
  if (inflateInit2(&zs, 15 + 32) != Z_OK) {
    return absl::InternalError("zlib: inflateInit2 failed");
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[65536];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return absl::InvalidArgumentError(absl::StrCat(
          "not valid gzip data: ", zs.msg != nullptr ? zs.msg : "truncated"));
    }
    out.append(buf, sizeof(buf) - zs.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&zs);
      return absl::InvalidArgumentError(
          absl::StrCat("gzip data expands beyond ", max_bytes, " bytes"));
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return absl::InvalidArgumentError("not valid gzip data: truncated");
    }
  }
  inflateEnd(&zs);
  return out;
}

}  // namespace resdb_trace::collector::profile
