// The proto API and the hook catalogue must agree: every hook decodes into an
// EventType that exists, is the one its catalogue row names and names its
// oneof member, lib/catalogue.h shows every row as catalog.h writes it, and
// MessageType mirrors RESDB_TRACE_TYPE_* number for number.
#include <cctype>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "lib/catalogue.h"
#include "resdb_trace/catalog.h"
#include "resdb_trace/v1/events.pb.h"

namespace resdb_trace {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::OneofDescriptor;

struct Hook {
  uint32_t id;
  std::string name;
  std::string camel;
  int abi;
  int msg_type;
  std::string event;  // the row's EventType token, e.g. "PREPARE_RECEIVED"
  std::string where;
  std::string seq_arg;
  std::string aux_arg;
};

std::vector<Hook> Catalogue() {
  std::vector<Hook> hooks;
#define X(id, name, Name, abi, type, event, where, seq_arg, aux_arg) \
  hooks.push_back(                                                   \
      Hook{id, #name, #Name, abi, type, #event, where, seq_arg, aux_arg});
  RESDB_TRACE_HOOKS(X)
#undef X
  return hooks;
}

// lower_snake -> UPPER_SNAKE.
std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(c));
  return s;
}

// The stage message each DeepObserve-compatible hook shares with v1.
const std::map<std::string, std::string>& CompatStages() {
  static const auto* m = new std::map<std::string, std::string>{
      {"pbft_request", "RequestReceived"},
      {"pbft_pre_prepare", "PrePrepareReceived"},
      {"pbft_prepare_recv", "PrepareReceived"},
      {"pbft_prepare_state", "Prepared"},
      {"pbft_commit_recv", "CommitReceived"},
      {"pbft_commit_state", "Committed"},
      {"pbft_execute_start", "ExecuteStart"},
      {"pbft_execute_end", "ExecuteEnd"},
  };
  return *m;
}

const EnumDescriptor* EventTypes() { return v1::EventType_descriptor(); }
const EnumDescriptor* MessageTypes() { return v1::MessageType_descriptor(); }
const OneofDescriptor* EventOneof() {
  return v1::Event::descriptor()->FindOneofByName("event");
}

TEST(CatalogMatchTest, CatalogueIsDense) {
  const std::vector<Hook> hooks = Catalogue();
  ASSERT_EQ(hooks.size(), 31u);
  for (size_t i = 0; i < hooks.size(); ++i) EXPECT_EQ(hooks[i].id, i + 1);
  EXPECT_EQ(RESDB_TRACE_ID_END, 32);
}

TEST(CatalogMatchTest, EveryHookMapsToAnExistingEventTypeAndOneofMember) {
  ASSERT_NE(EventOneof(), nullptr);
  for (const Hook& hook : Catalogue()) {
    SCOPED_TRACE(hook.name);
    absl::StatusOr<v1::EventType> type = catalogue::EventTypeForHook(hook.id);
    ASSERT_TRUE(type.ok()) << type.status();
    const EnumValueDescriptor* value =
        EventTypes()->FindValueByNumber(static_cast<int>(*type));
    ASSERT_NE(value, nullptr) << "EventType has no value " << *type;
    EXPECT_NE(*type, v1::EVENT_TYPE_UNDEF);
    EXPECT_EQ(value->name(), "EVENT_TYPE_" + hook.event);

    // The oneof member with that number has the matching name.
    const FieldDescriptor* member =
        v1::Event::descriptor()->FindFieldByNumber(value->number());
    ASSERT_NE(member, nullptr);
    EXPECT_EQ(member->containing_oneof(), EventOneof());
    EXPECT_EQ(value->name(), "EVENT_TYPE_" + Upper(member->name()));
    ASSERT_EQ(member->type(), FieldDescriptor::TYPE_MESSAGE);

    // And carries the stage message the catalogue row describes.
    const std::string message = member->message_type()->name();
    switch (hook.abi) {
      case RESDB_TRACE_ABI_V1:
        EXPECT_EQ(message, hook.camel == "User" ? "UserEvent" : hook.camel);
        // Convention: a v1 stage's number is its hook's id.
        EXPECT_EQ(static_cast<uint32_t>(value->number()), hook.id);
        break;
      case RESDB_TRACE_ABI_COMPAT:
        ASSERT_EQ(CompatStages().count(hook.name), 1u);
        EXPECT_EQ(message, CompatStages().at(hook.name));
        // Same message, so the compat-only fields must exist on it.
        EXPECT_NE(member->message_type()->FindFieldByName("caller_epoch_ns"),
                  nullptr);
        break;
      case RESDB_TRACE_ABI_DISPATCH:
        EXPECT_EQ(message, "ConsensusDispatch");
        break;
      default:
        ADD_FAILURE() << "unknown ABI " << hook.abi;
    }

    // The usual Request::Type of the row is a MessageType value.
    EXPECT_NE(MessageTypes()->FindValueByNumber(hook.msg_type), nullptr)
        << "msg_type " << hook.msg_type;
  }
}

TEST(CatalogMatchTest, HookInfoMatchesTheCatalogueRows) {
  for (const Hook& hook : Catalogue()) {
    SCOPED_TRACE(hook.name);
    const catalogue::Hook* info = catalogue::FindHook(hook.id);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->id, hook.id);
    EXPECT_EQ(info->name, hook.name);
    EXPECT_EQ(info->abi, hook.abi);
    // The rest of the row, as lib/catalogue.h shows it.
    EXPECT_EQ(info->symbol, "resdb_trace_" + hook.name);
    EXPECT_EQ(info->camel_name, hook.camel);
    EXPECT_EQ(info->msg_type, static_cast<uint32_t>(hook.msg_type));
    EXPECT_EQ(info->where, hook.where);
    EXPECT_EQ(info->seq_arg, hook.seq_arg);
    EXPECT_EQ(info->aux_arg, hook.aux_arg);
    EXPECT_EQ(v1::EventType_Name(info->event_type), "EVENT_TYPE_" + hook.event);
  }
  // Every row, and only those.
  ASSERT_EQ(catalogue::Hooks().size(), Catalogue().size());
  for (size_t i = 0; i < Catalogue().size(); ++i) {
    EXPECT_EQ(catalogue::Hooks()[i].id, Catalogue()[i].id);
  }
}

TEST(CatalogMatchTest, EventTypeMirrorsTheOneofOneToOne) {
  const OneofDescriptor* oneof = EventOneof();
  ASSERT_NE(oneof, nullptr);
  std::set<int> members;
  for (int i = 0; i < oneof->field_count(); ++i) {
    const FieldDescriptor* f = oneof->field(i);
    members.insert(f->number());
    const EnumValueDescriptor* v = EventTypes()->FindValueByNumber(f->number());
    ASSERT_NE(v, nullptr) << f->name() << " has no EventType";
    EXPECT_EQ(v->name(), "EVENT_TYPE_" + Upper(f->name()));
  }
  for (int i = 0; i < EventTypes()->value_count(); ++i) {
    const EnumValueDescriptor* v = EventTypes()->value(i);
    if (v->number() == 0) {
      EXPECT_EQ(v->name(), "EVENT_TYPE_UNDEF");
      continue;
    }
    EXPECT_EQ(members.count(v->number()), 1u) << v->name() << " has no member";
  }
}

TEST(CatalogMatchTest, EnvelopeMetadataIsAtOrAbove1000) {
  const Descriptor* event = v1::Event::descriptor();
  for (int i = 0; i < event->field_count(); ++i) {
    const FieldDescriptor* f = event->field(i);
    if (f->containing_oneof() == EventOneof()) {
      EXPECT_LT(f->number(), 1000) << f->name();
    } else {
      EXPECT_GE(f->number(), 1000) << f->name();
    }
  }
  const FieldDescriptor* type = event->FindFieldByName("type");
  ASSERT_NE(type, nullptr);
  EXPECT_EQ(type->enum_type(), EventTypes());
}

// Compile-time values of every RESDB_TRACE_TYPE_* macro.
#define TYPE(name) \
  { #name, RESDB_TRACE_TYPE_##name }
const std::map<std::string, int> kCatalogueTypes = {
    TYPE(NONE),
    TYPE(HEART_BEAT),
    TYPE(CLIENT_REQUEST),
    TYPE(PRE_PREPARE),
    TYPE(PREPARE),
    TYPE(COMMIT),
    TYPE(CLIENT_CERT),
    TYPE(RESPONSE),
    TYPE(RECOVERY_DATA),
    TYPE(RECOVERY_DATA_RESP),
    TYPE(CHECKPOINT),
    TYPE(QUERY),
    TYPE(REPLICA_STATE),
    TYPE(NEW_TXNS),
    TYPE(GEO_REQUEST),
    TYPE(VIEWCHANGE),
    TYPE(NEWVIEW),
    TYPE(CUSTOM_QUERY),
    TYPE(CUSTOM_CONSENSUS),
    TYPE(STATUS_SYNC),
};
#undef TYPE

// RESDB_TRACE_TYPE_* as written in catalog.h (a runfile), so a type added to
// the header without a test update is caught too.
std::map<std::string, int> TypesInHeader() {
  std::ifstream in("include/resdb_trace/catalog.h");
  EXPECT_TRUE(in.good()) << "catalog.h is not in the test's runfiles";
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  std::map<std::string, int> types;
  const std::regex define(R"(#define RESDB_TRACE_TYPE_(\w+)\s+(\d+))");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), define);
       it != std::sregex_iterator(); ++it) {
    types[(*it)[1]] = std::stoi((*it)[2]);
  }
  return types;
}

TEST(CatalogMatchTest, HeaderListsExactlyTheTypesThisTestKnows) {
  EXPECT_EQ(TypesInHeader(), kCatalogueTypes);
}

TEST(CatalogMatchTest, MessageTypeMatchesResdbTypesByNameAndNumber) {
  for (const auto& [name, number] : kCatalogueTypes) {
    SCOPED_TRACE(name);
    const EnumValueDescriptor* v =
        MessageTypes()->FindValueByName("MESSAGE_TYPE_" + name);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->number(), number);
  }
  // And nothing more.
  EXPECT_EQ(MessageTypes()->value_count(),
            static_cast<int>(kCatalogueTypes.size()));
}

}  // namespace
}  // namespace resdb_trace
