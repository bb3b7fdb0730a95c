#pragma once
// Files and folders that appear whole or not at all: write under a temporary name in the
// same folder, then rename (atomic on POSIX file systems).
#include <filesystem>
#include <functional>
#include <string>

namespace spinescan {

// Temporary sibling path of `target` that keeps its extension(s) (".nii.gz" included), so
// writers that choose a format by extension still work.
std::filesystem::path temporary_sibling(const std::filesystem::path& target);

// Removes, anywhere under `folder`, the temporary files (temporary_sibling's names) of writes a
// kill interrupted; nothing else is touched. For folders one process owns (a training run),
// called before it writes there again, on a fresh start and on --resume alike.
void remove_interrupted_temporaries(const std::filesystem::path& folder);

// fsync of a file or a folder (its entries); silently nothing where the file system cannot.
void sync_to_disk(const std::filesystem::path& path);

// Calls write(tmp_path), syncs it, renames tmp_path onto target and syncs the folder. Removes
// the temporary on failure.
void write_atomically(const std::filesystem::path& target,
                      const std::function<void(const std::filesystem::path&)>& write);

// Writes text to path atomically.
void write_text_atomically(const std::filesystem::path& path, const std::string& text);

// A folder built under "<target>.partial-<pid>" and renamed to target on commit();
// removed if destroyed before commit(). Target must not exist (or overwrite must be set).
// Replacing a target renames the old one aside first and removes it last; the new files and
// the folder entries are synced to disk.
class StagedDirectory {
 public:
  StagedDirectory(std::filesystem::path target, bool overwrite);
  ~StagedDirectory();
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;
  const std::filesystem::path& path() const { return staging_; }
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path staging_;
  bool overwrite_;
  bool committed_ = false;
};

}  // namespace spinescan
