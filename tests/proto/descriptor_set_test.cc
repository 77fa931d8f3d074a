// The generated descriptor set (//proto:resdb_trace_v1_descriptor_set) is
// complete, self-contained and documents every element of the API.
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"

namespace resdb_trace {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::EnumDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;
using google::protobuf::ServiceDescriptor;
using google::protobuf::SourceLocation;

constexpr char kSetPath[] = "proto/resdb_trace_v1_descriptor_set.binpb";

class DescriptorSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(kSetPath, std::ios::binary);
    ASSERT_TRUE(in.good()) << kSetPath << " is not in the runfiles";
    std::stringstream bytes;
    bytes << in.rdbuf();
    ASSERT_TRUE(set_.ParseFromString(bytes.str()));
    // --include_imports lists files in dependency order.
    for (const FileDescriptorProto& file : set_.file()) {
      ASSERT_NE(pool_.BuildFile(file), nullptr) << file.name();
    }
  }

  // Leading comment of an element, or "" when undocumented.
  template <typename D>
  static std::string Doc(const D* d) {
    SourceLocation loc;
    if (!d->GetSourceLocation(&loc)) return "";
    return loc.leading_comments;
  }

  static void ExpectDocumented(const EnumDescriptor* e) {
    EXPECT_NE(Doc(e), "") << e->full_name();
    for (int i = 0; i < e->value_count(); ++i) {
      EXPECT_NE(Doc(e->value(i)), "") << e->value(i)->full_name();
    }
  }

  static void ExpectDocumented(const Descriptor* m) {
    EXPECT_NE(Doc(m), "") << m->full_name();
    for (int i = 0; i < m->field_count(); ++i) {
      EXPECT_NE(Doc(m->field(i)), "") << m->field(i)->full_name();
    }
    for (int i = 0; i < m->nested_type_count(); ++i) {
      ExpectDocumented(m->nested_type(i));
    }
    for (int i = 0; i < m->enum_type_count(); ++i) {
      ExpectDocumented(m->enum_type(i));
    }
  }

  FileDescriptorSet set_;
  DescriptorPool pool_;
};

TEST_F(DescriptorSetTest, HoldsTheApiAndItsImports) {
  EXPECT_NE(pool_.FindFileByName("resdb_trace/v1/events.proto"), nullptr);
  EXPECT_NE(pool_.FindFileByName("resdb_trace/v1/service.proto"), nullptr);
  EXPECT_NE(pool_.FindFileByName("google/protobuf/timestamp.proto"), nullptr);
  EXPECT_NE(pool_.FindMessageTypeByName("resdb_trace.v1.Event"), nullptr);
  EXPECT_NE(pool_.FindMessageTypeByName("resdb_trace.v1.EventBatch"), nullptr);
}

TEST_F(DescriptorSetTest, TraceServiceShape) {
  const ServiceDescriptor* s =
      pool_.FindServiceByName("resdb_trace.v1.TraceService");
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->method_count(), 7);
  for (const char* m : {"GetTimeline", "ListTimelines", "WatchTimelines",
                        "ListViewChanges", "GetProfile"}) {
    EXPECT_NE(s->FindMethodByName(m), nullptr) << m;
  }
  EXPECT_TRUE(s->FindMethodByName("WatchTimelines")->server_streaming());
  EXPECT_EQ(s->FindMethodByName("GetProfile")->output_type()->full_name(),
            "resdb_trace.v1.Profile");
  const auto* subscribe = s->FindMethodByName("Subscribe");
  ASSERT_NE(subscribe, nullptr);
  EXPECT_FALSE(subscribe->client_streaming());
  EXPECT_TRUE(subscribe->server_streaming());
  EXPECT_EQ(subscribe->input_type()->full_name(),
            "resdb_trace.v1.SubscribeRequest");
  EXPECT_EQ(subscribe->output_type()->full_name(), "resdb_trace.v1.EventBatch");
  const auto* stats = s->FindMethodByName("GetStats");
  ASSERT_NE(stats, nullptr);
  EXPECT_FALSE(stats->server_streaming());
  EXPECT_EQ(stats->output_type()->full_name(), "resdb_trace.v1.Stats");
}

TEST_F(DescriptorSetTest, EveryElementIsDocumented) {
  for (const char* name :
       {"resdb_trace/v1/events.proto", "resdb_trace/v1/service.proto",
        "resdb_trace/v1/timeline.proto"}) {
    const FileDescriptor* file = pool_.FindFileByName(name);
    ASSERT_NE(file, nullptr) << name;
    for (int i = 0; i < file->message_type_count(); ++i) {
      const Descriptor* m = file->message_type(i);
      // Empty request messages have nothing to document but themselves.
      ExpectDocumented(m);
    }
    for (int i = 0; i < file->enum_type_count(); ++i) {
      ExpectDocumented(file->enum_type(i));
    }
    for (int i = 0; i < file->service_count(); ++i) {
      const ServiceDescriptor* s = file->service(i);
      EXPECT_NE(Doc(s), "") << s->full_name();
      for (int j = 0; j < s->method_count(); ++j) {
        EXPECT_NE(Doc(s->method(j)), "") << s->method(j)->full_name();
      }
    }
  }
}

TEST_F(DescriptorSetTest, ZeroValuesAreUndefOrNone) {
  for (const char* name :
       {"resdb_trace.v1.EventType", "resdb_trace.v1.MessageType",
        "resdb_trace.v1.AttachStatus"}) {
    const EnumDescriptor* e = pool_.FindEnumTypeByName(name);
    ASSERT_NE(e, nullptr) << name;
    const auto* zero = e->FindValueByNumber(0);
    ASSERT_NE(zero, nullptr) << name;
    EXPECT_TRUE(absl::EndsWith(zero->name(), "_UNDEF") ||
                absl::EndsWith(zero->name(), "_NONE") ||
                absl::EndsWith(zero->name(), "_UNSPECIFIED"))
        << zero->name();
  }
}

}  // namespace
}  // namespace resdb_trace
