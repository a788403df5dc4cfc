#include "collector/relabel/scratch.h"

#include <algorithm>
#include <cstring>

namespace tender::relabel {

char* Scratch::Allocate(size_t n) {
  while (current_ < chunks_.size()) {
    Chunk& chunk = chunks_[current_];
    if (chunk.size - used_ >= n) {
      char* p = chunk.data.get() + used_;
      used_ += n;
      return p;
    }
    ++current_;
    used_ = 0;
  }
  const size_t size = std::max(n, kChunkSize);
  chunks_.push_back(Chunk{std::make_unique<char[]>(size), size});
  current_ = chunks_.size() - 1;
  used_ = n;
  return chunks_.back().data.get();
}

std::string_view Scratch::Copy(std::string_view s) {
  if (s.empty()) {
    return {};
  }
  char* p = Allocate(s.size());
  std::memcpy(p, s.data(), s.size());
  return std::string_view(p, s.size());
}

void Scratch::Clear() {
  current_ = 0;
  used_ = 0;
}

size_t Scratch::capacity() const {
  size_t total = 0;
  for (const Chunk& c : chunks_) {
    total += c.size;
  }
  return total;
}

}  // namespace tender::relabel
