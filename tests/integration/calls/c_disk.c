/* c_disk.c - cases for the fsync family.  NONBLOCK forms: an fd that is not open (the
 * call fails at once), MS_ASYNC, sync_file_range without a WAIT flag. */
#include <sys/mman.h>

#include "bgt.h"

#define FSYNC(name)                                                                     \
  CASE(name) {                                                                          \
    int f = bgt_tmpfd("data");                                                          \
    CALL(name(NB ? bgt_closed_fd() : f));                                               \
    close(f);                                                                           \
  }
FSYNC(fsync)
FSYNC(fdatasync)
FSYNC(syncfs)

CASE(sync) {
  NO_NONBLOCK();
  CALLV(sync());
}

CASE(msync) {
  int fd = bgt_tmpfd("");
  ftruncate(fd, 4096);
  char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) abort();
  memcpy(p, "mapped", 6);
  CALL(msync(p, 4096, NB ? MS_ASYNC : MS_SYNC));
  char buf[8] = {0};
  pread(fd, buf, 6, 0);
  OUT("file='%s'", buf);
  munmap(p, 4096);
  close(fd);
}

CASE(sync_file_range) {
  int fd = bgt_tmpfd("0123456789");
  unsigned fl = SYNC_FILE_RANGE_WRITE;
  if (!NB) fl |= SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER;
  CALL(sync_file_range(fd, 0, 0, fl));
  close(fd);
}
