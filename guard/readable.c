/* readable.c - readability probe and the page cache in front of it (see readable.h).
 *
 * The table holds page numbers + 1 (0 = empty, 1 = a forgotten slot, reusable).  A
 * page hashes to a slot and is looked for in the next PROBE_RUN slots; inserts claim
 * an empty or forgotten slot there with a compare-and-swap, and when the run is full
 * the page is simply not remembered (probed again next time).  Readers never lock, so
 * the violation path of any thread, a signal handler included, can use it.
 */
#define _GNU_SOURCE
#include "guard/readable.h"

#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SHIFT 12
#define SLOTS 4096 /* power of two: 32 KiB, enough for the frames and code of a program */
#define PROBE_RUN 16
#define EMPTY 0
#define FORGOTTEN 1

static uint64_t pages[SLOTS];
static int vm_readv_works = 1;
static uint64_t probes;
int bg__readable_used;

int bg__probe_readable(const void *p) {
  __atomic_fetch_add(&probes, 1, __ATOMIC_RELAXED);
  int saved = errno;
  int ok = 0;
  if (__atomic_load_n(&vm_readv_works, __ATOMIC_RELAXED)) {
    char byte;
    struct iovec local = {&byte, 1}, remote = {(void *)p, 1};
    ssize_t k = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (k == 1) {
      ok = 1;
      goto out;
    }
    if (errno == EFAULT) goto out;
    __atomic_store_n(&vm_readv_works, 0, __ATOMIC_RELAXED); /* seccomp, old kernel... */
  }
  /* FUTEX_WAIT reads the aligned 4-byte word: EFAULT when it cannot, else EAGAIN (not
   * the expected value) or ETIMEDOUT after a zero wait. */
  const uint32_t *word = (const uint32_t *)((uintptr_t)p & ~(uintptr_t)3);
  struct timespec zero = {0, 0};
  long r = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 0u, &zero, (void *)0, 0);
  ok = !(r == -1 && errno == EFAULT);
out:
  errno = saved;
  return ok;
}

static inline size_t slot_of(uint64_t page) {
  return (size_t)((page * 0x9E3779B97F4A7C15ull) >> (64 - 12)) & (SLOTS - 1);
}

static int page_known(uint64_t page) {
  uint64_t want = page + 2; /* never EMPTY or FORGOTTEN */
  size_t s = slot_of(page);
  for (int i = 0; i < PROBE_RUN; i++) {
    uint64_t v = __atomic_load_n(&pages[(s + (size_t)i) & (SLOTS - 1)], __ATOMIC_ACQUIRE);
    if (v == want) return 1;
    if (v == EMPTY) return 0;
  }
  return 0;
}

static void page_remember(uint64_t page) {
  uint64_t want = page + 2;
  size_t s = slot_of(page);
  for (int i = 0; i < PROBE_RUN; i++) {
    uint64_t *slot = &pages[(s + (size_t)i) & (SLOTS - 1)];
    uint64_t v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (v == want) return;
    if ((v == EMPTY || v == FORGOTTEN) &&
        __atomic_compare_exchange_n(slot, &v, want, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
      break;
  }
  if (!__atomic_load_n(&bg__readable_used, __ATOMIC_RELAXED))
    __atomic_store_n(&bg__readable_used, 1, __ATOMIC_RELAXED);
}

static int page_ok(uint64_t page) {
  if (page_known(page)) return 1;
  if (!bg__probe_readable((const void *)(uintptr_t)(page << PAGE_SHIFT))) return 0;
  page_remember(page);
  return 1;
}

int bg__readable(const void *p, size_t n) {
  uintptr_t a = (uintptr_t)p;
  if (a < 4096 || n == 0 || a + n < a || a + n > ((uintptr_t)1 << 47)) return 0;
  uint64_t first = a >> PAGE_SHIFT, last = (a + n - 1) >> PAGE_SHIFT;
  if (last - first > 64) return 0; /* nothing we read is that large */
  for (uint64_t pg = first; pg <= last; pg++)
    if (!page_ok(pg)) return 0;
  return 1;
}

int bg__read(void *dst, const void *src, size_t n) {
  if (!bg__readable(src, n)) return 0;
  memcpy(dst, src, n);
  return 1;
}

uint64_t bg__readable_gen;

void bg__readable_forget(const void *p, size_t n) {
  if (!__atomic_load_n(&bg__readable_used, __ATOMIC_RELAXED) || n == 0) return;
  __atomic_fetch_add(&bg__readable_gen, 1, __ATOMIC_RELEASE); /* per-thread memos too */
  uint64_t first = (uintptr_t)p >> PAGE_SHIFT;
  uint64_t last = ((uintptr_t)p + n - 1) >> PAGE_SHIFT;
  if (last < first) last = ~0ull - 2;
  if (last - first < 256) { /* small range: look each page up */
    for (uint64_t pg = first; pg <= last; pg++) {
      size_t s = slot_of(pg);
      for (int i = 0; i < PROBE_RUN; i++) {
        uint64_t *slot = &pages[(s + (size_t)i) & (SLOTS - 1)];
        uint64_t v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (v == EMPTY) break;
        if (v == pg + 2) __atomic_compare_exchange_n(slot, &v, FORGOTTEN, 0, __ATOMIC_ACQ_REL,
                                                     __ATOMIC_RELAXED);
      }
    }
    return;
  }
  for (size_t i = 0; i < SLOTS; i++) { /* large range: one pass over the table */
    uint64_t v = __atomic_load_n(&pages[i], __ATOMIC_ACQUIRE);
    if (v >= first + 2 && v <= last + 2)
      __atomic_compare_exchange_n(&pages[i], &v, FORGOTTEN, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
  }
}

void bg__readable_reset(void) {
  __atomic_fetch_add(&bg__readable_gen, 1, __ATOMIC_RELEASE);
  for (size_t i = 0; i < SLOTS; i++) __atomic_store_n(&pages[i], EMPTY, __ATOMIC_RELEASE);
}

uint64_t bg__readable_probes(void) { return __atomic_load_n(&probes, __ATOMIC_RELAXED); }

/* Tests: as if process_vm_readv were refused (the futex fallback answers). */
void bg__readable_use_futex(int on) { __atomic_store_n(&vm_readv_works, !on, __ATOMIC_RELAXED); }
