// gMock matcher for absl::StatusOr in tests: IsOkAndHolds(m) matches an OK
// StatusOr whose value matches m, and prints the status otherwise.
#ifndef STYLIZER_TESTS_METRICS_STATUS_MATCHERS_H_
#define STYLIZER_TESTS_METRICS_STATUS_MATCHERS_H_

#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace stylizer::testing {

MATCHER_P(IsOkAndHolds, value_matcher,
          "is OK and holds a value that " +
              ::testing::DescribeMatcher<double>(value_matcher)) {
  if (!arg.ok()) {
    *result_listener << "status " << arg.status();
    return false;
  }
  *result_listener << "value " << *arg;
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace stylizer::testing

#endif  // STYLIZER_TESTS_METRICS_STATUS_MATCHERS_H_
