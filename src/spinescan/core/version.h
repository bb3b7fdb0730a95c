#pragma once
namespace spinescan {
// Semantic version of the project (CMake's project version).
const char* version();
// `git describe --always --dirty` of the built tree, or "unknown" outside a git checkout.
const char* git_revision();
}  // namespace spinescan
