// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status and absl::StatusOr (our abseil predates
// its own). Header-only; usable from any thread.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TENDER_STATUS_CONCAT_INNER(a, b) a##b
#define TENDER_STATUS_CONCAT(a, b) TENDER_STATUS_CONCAT_INNER(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function when not ok.
#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status tender_status_ = (expr);          \
    if (!tender_status_.ok()) return tender_status_; \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on error returns its
// status, otherwise moves the value into `lhs` (which may be a declaration: `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr) \
  TENDER_ASSIGN_OR_RETURN_IMPL(TENDER_STATUS_CONCAT(tender_statusor_, __LINE__), lhs, expr)
#define TENDER_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()
