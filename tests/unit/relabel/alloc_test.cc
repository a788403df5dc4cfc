// The hot path of metric relabeling must not allocate in steady state for the common rules
// (keep/drop on __name__, labeldrop, replace with a literal). Counts global operator new calls
// made by this thread while Apply runs.
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "collector/relabel/relabeler.h"
#include "gtest/gtest.h"

namespace {
thread_local bool counting = false;
thread_local size_t allocations = 0;
}  // namespace

// GCC flags free() on memory from the replaced operator new; both sides are malloc/free here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  if (counting) {
    ++allocations;
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace tender::relabel {
namespace {

TEST(AllocationTest, CounterSeesAllocations) {
  allocations = 0;
  counting = true;
  std::string* s = new std::string(100, 'x');  // the string object and its buffer
  counting = false;
  delete s;
  EXPECT_EQ(allocations, 2u);
}

TEST(AllocationTest, CommonRulesDoNotAllocateInSteadyState) {
  auto rule = [](Action a, std::vector<std::string> src, std::string target, std::string regex,
                 std::string replacement = "$1") {
    RuleConfig r;
    r.action = a;
    r.source_labels = std::move(src);
    r.target_label = std::move(target);
    r.regex = std::move(regex);
    r.replacement = std::move(replacement);
    return r;
  };
  struct Case {
    std::string name;
    std::vector<RuleConfig> rules;
  };
  const std::vector<Case> cases = {
      {"drop alternation", {rule(Action::kDrop, {"__name__"}, "", "a_total|b_total")}},
      {"keep prefix", {rule(Action::kKeep, {"__name__"}, "", "container_.*")}},
      {"keep RE2 regex", {rule(Action::kKeep, {"__name__"}, "", "container_[a-z_]+")}},
      {"labeldrop", {rule(Action::kLabelDrop, {}, "", "id|name")}},
      {"replace literal", {rule(Action::kReplace, {"pod"}, "team", "web-.*", "frontend")}},
      {"replace $1 (arena)", {rule(Action::kReplace, {"pod"}, "copy", "(.*)", "p_$1")}},
  };
  auto check = [](const Case& tc) {
    SCOPED_TRACE(tc.name);
    auto relabeler = Relabeler::Compile(tc.rules);
    ASSERT_TRUE(relabeler.ok());
    const std::vector<LabelRef> input = {
        {"__name__", "container_cpu"}, {"id", "/kubepods/x"}, {"name", "k8s_x"}, {"pod", "web-1"}};
    Scratch scratch;
    std::vector<LabelRef> work;
    work.reserve(16);
    for (int warm = 0; warm < 3; ++warm) {  // grow the arena and any lazily built state
      work.assign(input.begin(), input.end());
      scratch.Clear();
      relabeler->Apply(work, scratch);
    }
    allocations = 0;
    counting = true;
    bool kept = false;
    for (int i = 0; i < 100; ++i) {
      work.assign(input.begin(), input.end());
      scratch.Clear();
      kept = relabeler->Apply(work, scratch);
    }
    counting = false;
    EXPECT_TRUE(kept);
    EXPECT_EQ(allocations, 0u);
  };
  for (const Case& tc : cases) {
    check(tc);
  }
}

}  // namespace
}  // namespace tender::relabel
