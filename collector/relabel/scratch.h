// Scratch: a bump arena for the strings relabel rules create (expanded names and values, hashmod
// results, case-mapped values), reused across series so steady-state relabeling does not
// allocate. Owned by one worker thread; not thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tender::relabel {

struct LabelRef {
  std::string_view name;
  std::string_view value;

  friend bool operator==(const LabelRef&, const LabelRef&) = default;
};

class Relabeler;

class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  Scratch(Scratch&&) = default;
  Scratch& operator=(Scratch&&) = default;

  // Copies `s` into the arena and returns a view of the copy, stable until Clear() or
  // destruction (later Store() calls never move earlier strings).
  std::string_view Store(std::string s) { return Copy(s); }

  // Same as Store() without the std::string; does not allocate once the arena has grown.
  std::string_view Copy(std::string_view s);

  // Forgets every stored string (invalidates their views) but keeps the memory for reuse.
  void Clear();

  // Bytes reserved by the arena (for tests and memory accounting).
  size_t capacity() const;

 private:
  friend class Relabeler;

  struct Chunk {
    std::unique_ptr<char[]> data;
    size_t size = 0;
  };
  static constexpr size_t kChunkSize = 4096;

  char* Allocate(size_t n);

  std::vector<Chunk> chunks_;
  size_t current_ = 0;  // index of the chunk being filled
  size_t used_ = 0;     // bytes used in chunks_[current_]

  // Work buffers for Relabeler::Apply; their capacity is kept across calls.
  std::string join_;
  std::string expand_;
  std::string expand_name_;
  std::vector<LabelRef> snapshot_;
  std::vector<LabelRef> pending_;
};

}  // namespace tender::relabel
