// The public profile API (resdb_trace/v1/profile.proto) is fully documented,
// and our pprof schema uses the field numbers of the published pprof format
// (a wrong number would make `go tool pprof` misread every file we write).
#include <fstream>
#include <sstream>
#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"
#include "pprof/profile.pb.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::EnumDescriptor;
using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;
using google::protobuf::SourceLocation;

template <typename D>
std::string Doc(const D* d) {
  SourceLocation loc;
  if (!d->GetSourceLocation(&loc)) return "";
  return loc.leading_comments;
}

void ExpectDocumented(const EnumDescriptor* e) {
  EXPECT_NE(Doc(e), "") << e->full_name();
  for (int i = 0; i < e->value_count(); ++i) {
    EXPECT_NE(Doc(e->value(i)), "") << e->value(i)->full_name();
  }
}

void ExpectDocumented(const Descriptor* m) {
  EXPECT_NE(Doc(m), "") << m->full_name();
  for (int i = 0; i < m->field_count(); ++i) {
    EXPECT_NE(Doc(m->field(i)), "") << m->field(i)->full_name();
  }
  for (int i = 0; i < m->oneof_decl_count(); ++i) {
    // proto3 `optional` fields make undocumentable synthetic oneofs
    if (m->oneof_decl(i)->is_synthetic()) continue;
    SourceLocation loc;
    EXPECT_TRUE(m->oneof_decl(i)->GetSourceLocation(&loc) &&
                !loc.leading_comments.empty())
        << m->oneof_decl(i)->full_name();
  }
}

TEST(ProfileProtoTest, EveryElementIsDocumented) {
  const char kPath[] = "proto/resdb_trace_v1_profile_descriptor_set.binpb";
  std::ifstream in(kPath, std::ios::binary);
  ASSERT_TRUE(in.good()) << kPath;
  std::stringstream bytes;
  bytes << in.rdbuf();
  FileDescriptorSet set;
  ASSERT_TRUE(set.ParseFromString(bytes.str()));
  DescriptorPool pool;
  for (const FileDescriptorProto& f : set.file()) {
    ASSERT_NE(pool.BuildFile(f), nullptr) << f.name();
  }
  const auto* file = pool.FindFileByName("resdb_trace/v1/profile.proto");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->package(), "resdb_trace.v1");
  for (int i = 0; i < file->message_type_count(); ++i) {
    ExpectDocumented(file->message_type(i));
  }
  for (int i = 0; i < file->enum_type_count(); ++i) {
    ExpectDocumented(file->enum_type(i));
  }
  for (const char* name :
       {"resdb_trace.v1.GetProfileRequest", "resdb_trace.v1.Profile",
        "resdb_trace.v1.ProfileCounters", "resdb_trace.v1.ProfileTimeRange"}) {
    EXPECT_NE(pool.FindMessageTypeByName(name), nullptr) << name;
  }
  const Descriptor* req =
      pool.FindMessageTypeByName("resdb_trace.v1.GetProfileRequest");
  ASSERT_NE(req, nullptr);
  ASSERT_NE(req->FindOneofByName("window"), nullptr);
  EXPECT_EQ(req->FindOneofByName("window")->field_count(), 3);
}

// Field numbers from the published pprof format description.
TEST(PprofSchemaTest, FieldNumbersMatchThePublishedFormat) {
  struct Expected {
    const Descriptor* message;
    const char* field;
    int number;
  };
  namespace pp = perftools::profiles;
  const Expected expected[] = {
      {pp::Profile::descriptor(), "sample_type", 1},
      {pp::Profile::descriptor(), "sample", 2},
      {pp::Profile::descriptor(), "mapping", 3},
      {pp::Profile::descriptor(), "location", 4},
      {pp::Profile::descriptor(), "function", 5},
      {pp::Profile::descriptor(), "string_table", 6},
      {pp::Profile::descriptor(), "drop_frames", 7},
      {pp::Profile::descriptor(), "keep_frames", 8},
      {pp::Profile::descriptor(), "time_nanos", 9},
      {pp::Profile::descriptor(), "duration_nanos", 10},
      {pp::Profile::descriptor(), "period_type", 11},
      {pp::Profile::descriptor(), "period", 12},
      {pp::Profile::descriptor(), "comment", 13},
      {pp::Profile::descriptor(), "default_sample_type", 14},
      {pp::ValueType::descriptor(), "type", 1},
      {pp::ValueType::descriptor(), "unit", 2},
      {pp::Sample::descriptor(), "location_id", 1},
      {pp::Sample::descriptor(), "value", 2},
      {pp::Sample::descriptor(), "label", 3},
      {pp::Label::descriptor(), "key", 1},
      {pp::Label::descriptor(), "str", 2},
      {pp::Label::descriptor(), "num", 3},
      {pp::Label::descriptor(), "num_unit", 4},
      {pp::Mapping::descriptor(), "id", 1},
      {pp::Mapping::descriptor(), "memory_start", 2},
      {pp::Mapping::descriptor(), "memory_limit", 3},
      {pp::Mapping::descriptor(), "file_offset", 4},
      {pp::Mapping::descriptor(), "filename", 5},
      {pp::Mapping::descriptor(), "build_id", 6},
      {pp::Mapping::descriptor(), "has_functions", 7},
      {pp::Mapping::descriptor(), "has_filenames", 8},
      {pp::Mapping::descriptor(), "has_line_numbers", 9},
      {pp::Mapping::descriptor(), "has_inline_frames", 10},
      {pp::Location::descriptor(), "id", 1},
      {pp::Location::descriptor(), "mapping_id", 2},
      {pp::Location::descriptor(), "address", 3},
      {pp::Location::descriptor(), "line", 4},
      {pp::Location::descriptor(), "is_folded", 5},
      {pp::Line::descriptor(), "function_id", 1},
      {pp::Line::descriptor(), "line", 2},
      {pp::Function::descriptor(), "id", 1},
      {pp::Function::descriptor(), "name", 2},
      {pp::Function::descriptor(), "system_name", 3},
      {pp::Function::descriptor(), "filename", 4},
      {pp::Function::descriptor(), "start_line", 5},
  };
  for (const Expected& e : expected) {
    const auto* field = e.message->FindFieldByName(e.field);
    ASSERT_NE(field, nullptr) << e.message->full_name() << "." << e.field;
    EXPECT_EQ(field->number(), e.number)
        << e.message->full_name() << "." << e.field;
  }
  EXPECT_EQ(pp::Profile::descriptor()->file()->package(), "perftools.profiles");
}

}  // namespace
