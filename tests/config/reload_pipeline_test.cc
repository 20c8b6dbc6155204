// rcu::internal::ReloadPipeline<T> on its own: the parse, validate and
// publish stages of a config reload. Each stage's failure stops the pipeline,
// comes back as its error, and leaves the snapshot at the version it had.
// (The stages before them, and what the watcher does with the error, are
// tested through the watcher in config_watcher_test.cc.)
#include "containers/config/internal/reload_pipeline.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "containers/snapshot.h"
#include "gtest/gtest.h"

namespace {

using ::rcu::internal::ReloadPipeline;

struct Config {
  std::string text;
};

using Pipeline = ReloadPipeline<Config>;

// Accepts anything that does not start with '!'.
absl::StatusOr<Config> Parse(std::string_view text) {
  if (!text.empty() && text.front() == '!') {
    return absl::InvalidArgumentError(absl::StrCat("cannot parse ", std::string(text)));
  }
  return Config{std::string(text)};
}

class ReloadPipelineTest : public ::testing::Test {
 protected:
  // A validator that counts its calls and rejects "bad" as out of range.
  Pipeline::Validator CountingValidator() {
    return [this](const Config& config) -> absl::Status {
      ++validated_;
      if (config.text == "bad") return absl::OutOfRangeError("bad is not allowed");
      return absl::OkStatus();
    };
  }

  rcu::Snapshot<Config> snapshot_{Config{"initial"}};  // version 1
  int validated_ = 0;
};

TEST_F(ReloadPipelineTest, PublishesWhatParsesAndValidates) {
  Pipeline pipeline(Parse, CountingValidator(), &snapshot_);
  const absl::StatusOr<std::uint64_t> version = pipeline("next");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, 2u);
  EXPECT_EQ(snapshot_.Version(), 2u);
  EXPECT_EQ(snapshot_.Load()->text, "next");
  EXPECT_EQ(validated_, 1);
}

TEST_F(ReloadPipelineTest, ParserSeesTheBytesExactly) {
  std::string seen;
  Pipeline pipeline(
      [&seen](std::string_view text) -> absl::StatusOr<Config> {
        seen = std::string(text);
        return Config{seen};
      },
      Pipeline::Validator(), &snapshot_);
  const std::string bytes("a\0b\n", 4);
  ASSERT_TRUE(pipeline(absl::string_view(bytes)).ok());
  EXPECT_EQ(seen, bytes);
  EXPECT_EQ(snapshot_.Load()->text, bytes);
}

TEST_F(ReloadPipelineTest, ParseErrorIsPassedOnAsItIsAndNothingIsValidatedOrPublished) {
  Pipeline pipeline(Parse, CountingValidator(), &snapshot_);
  const absl::StatusOr<std::uint64_t> version = pipeline("!x");
  EXPECT_EQ(version.status(), absl::InvalidArgumentError("cannot parse !x"));
  EXPECT_EQ(validated_, 0);
  EXPECT_EQ(snapshot_.Version(), 1u);
  EXPECT_EQ(snapshot_.Load()->text, "initial");
}

TEST_F(ReloadPipelineTest, ValidationErrorKeepsItsCodeAndNothingIsPublished) {
  Pipeline pipeline(Parse, CountingValidator(), &snapshot_);
  const absl::StatusOr<std::uint64_t> version = pipeline("bad");
  EXPECT_EQ(version.status(), absl::OutOfRangeError("rejected by validation: bad is not allowed"));
  EXPECT_EQ(validated_, 1);
  EXPECT_EQ(snapshot_.Version(), 1u);
  EXPECT_EQ(snapshot_.Load()->text, "initial");
  // The pipeline goes on working after a failure.
  EXPECT_EQ(pipeline("good").value_or(0), 2u);
  EXPECT_EQ(snapshot_.Load()->text, "good");
}

TEST_F(ReloadPipelineTest, WithoutAValidatorPublishesWhatParses) {
  Pipeline pipeline(Parse, Pipeline::Validator(), &snapshot_);
  EXPECT_EQ(pipeline("bad").value_or(0), 2u);
  EXPECT_EQ(snapshot_.Load()->text, "bad");
}

// WatcherCore catches what the user's code throws (config_watcher_test's
// ParserThatThrowsIsAFailureNotACrash); the pipeline lets it through, having
// published nothing.
TEST_F(ReloadPipelineTest, ExceptionsLeaveThePipelineAndNothingIsPublished) {
  Pipeline throwing_parser(
      [](std::string_view) -> absl::StatusOr<Config> { throw std::runtime_error("parser bug"); },
      CountingValidator(), &snapshot_);
  EXPECT_THROW(throwing_parser("next").IgnoreError(), std::runtime_error);
  EXPECT_EQ(validated_, 0);
  Pipeline throwing_validator(
      Parse, [](const Config&) -> absl::Status { throw std::runtime_error("validator bug"); },
      &snapshot_);
  EXPECT_THROW(throwing_validator("next").IgnoreError(), std::runtime_error);
  EXPECT_EQ(snapshot_.Version(), 1u);
  EXPECT_EQ(snapshot_.Load()->text, "initial");
}

}  // namespace
