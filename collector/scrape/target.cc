#include "collector/scrape/target.h"

#include "collector/model/hash.h"

namespace tender::scrape {

uint64_t TargetHash(const std::string& job, const model::Labels& labels) {
  std::string key = job;
  for (const auto& l : labels) {
    key += '\xff';
    key += l.name;
    key += '\xfe';
    key += l.value;
  }
  return model::Hash64(key, 0x7461726765740000ULL);
}

}  // namespace tender::scrape
