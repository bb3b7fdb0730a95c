/* The `spinescan` command: starts spinescan-core, the program itself, from the same folder,
 * with glibc's malloc asking for transparent huge pages for its large blocks
 * (GLIBC_TUNABLES=glibc.malloc.hugetlb=1; glibc 2.35 and later, Debian 12 has 2.36).
 *
 * Why: on the development VM a page fault costs microseconds, and a cold `analyze` faults in
 * every 4 KiB page of memory it has not touched before: libtorch registering its operators at
 * start, ITK's image buffers, the volumes read, reoriented and normalised. libtorch's tensors
 * get huge pages from core/tensor_allocator.h; this covers everything else malloc hands out.
 * Measured in docs/benchmarks.md ("Huge pages for malloc too").
 *
 * Why a launcher: glibc reads its tunables when a process starts, before any of the program's
 * code runs. Re-executing spinescan-core itself (from its .preinit_array) was measured too: it
 * loads Debian libtorch's 300-odd libraries twice, about 0.16 s, half the gain. This program
 * links nothing but libc. A GLIBC_TUNABLES that already names glibc.malloc.hugetlb (0, say, under
 * a memory checker) is left as it is; other tunables are kept. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { kInternalError = 3 }; /* apps/spinescan/commands.h, ExitCode::kInternal */

int main(int argc, char** argv) {
  static const char tunable[] = "glibc.malloc.hugetlb";
  char self[PATH_MAX], core[PATH_MAX], tunables[4096];
  (void)argc;
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    fprintf(stderr, "spinescan: error: cannot tell where this program is (/proc/self/exe): %s\n", strerror(errno));
    return kInternalError;
  }
  self[n] = '\0';
  const char* slash = strrchr(self, '/');
  const int folder_length = slash ? (int)(slash - self) : 0;
  if (snprintf(core, sizeof core, "%.*s/spinescan-core", folder_length, self) >= (int)sizeof core) {
    fprintf(stderr, "spinescan: error: the program's path is too long\n");
    return kInternalError;
  }
  const char* old = getenv("GLIBC_TUNABLES");
  if (old == NULL || strstr(old, tunable) == NULL) {
    const int others = old != NULL && *old != '\0';
    const int length = snprintf(tunables, sizeof tunables, "%s%s%s=1", others ? old : "", others ? ":" : "", tunable);
    if (length > 0 && length < (int)sizeof tunables) setenv("GLIBC_TUNABLES", tunables, 1);
  }
  execv(core, argv);
  fprintf(stderr, "spinescan: error: cannot start %s: %s\n", core, strerror(errno));
  return kInternalError;
}
