/* co_stacks.c - coroutine stacks, carved out of chunks (one scheduler's pool).
 *
 * A coroutine's mapping is [guard page][stack ...][control block][trailer]: the stack
 * grows down from the control block and an overflow runs into the guard page (SIGSEGV,
 * never a corrupted neighbour).  Mapping one stack at a time cost an mmap and an
 * mprotect per coroutine (7 us for the mprotect alone on the 2-vCPU VM, which splits
 * the kernel mapping in two), so stacks come from chunks of up to BG_CHUNK_MAX mappings:
 * one mmap per chunk, and the guard pages of the whole chunk installed in one system
 * call where the kernel can (MADV_GUARD_INSTALL through process_madvise, Linux 6.14:
 * no mapping split, 0.5 us a stack), else one madvise(MADV_GUARD_INSTALL) per stack
 * (6.13), else one mprotect(PROT_NONE) per stack.  The first chunk is small and chunks
 * double, so a program with three coroutines reserves little; memory is committed only
 * as pages are touched (MAP_NORESERVE).
 *
 * Free stacks are recycled (their touched pages are already faulted in, the next spawn
 * pays no fault), newest first; a chunk whose stacks are all free is unmapped by
 * bg__stacks_trim, which the scheduler calls when it is about to go idle, keeping
 * BG_STACK_KEEP free stacks for the next burst of spawns.
 *
 * The trailer (16 bytes at the very top) belongs to this file: the chunk a mapping
 * belongs to and the free-list link, written when the mapping is first handed out (a
 * stack never used is never touched).  Owner thread only: no locks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "guard/co.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#define BG_PIDFD_SELF_PROCESS (-10001) /* PIDFD_SELF_THREAD_GROUP, Linux 6.14 */

#define BG_CHUNK_FIRST 8
#define BG_CHUNK_MAX 256
#define BG_STACK_KEEP 64 /* free stacks kept when idle, beyond the live ones */

typedef struct chunk {
  struct chunk *next, *prev;
  char *base;
  size_t nstacks, nfree;
  size_t fresh; /* mappings from this index on were never handed out (never touched) */
  char *free;   /* mappings handed back, linked through their trailers */
  int pinned; /* never unmapped (bg__stack_pin) */
} chunk_t;

typedef struct trailer {
  chunk_t *chunk;
  char *next_free;
} trailer_t;

static trailer_t *trailer_of(const bg__stacks_t *p, char *map) {
  return (trailer_t *)(map + p->maplen - sizeof(trailer_t));
}

/* How guard pages are installed; found by trying, remembered per process. */
enum { GUARD_UNKNOWN, GUARD_BATCH, GUARD_MADVISE, GUARD_MPROTECT };
static int guard_how = GUARD_UNKNOWN;

static int guard_one(char *page, size_t pg) {
  int how = __atomic_load_n(&guard_how, __ATOMIC_RELAXED);
  if (how <= GUARD_MADVISE) {
    if (madvise(page, pg, MADV_GUARD_INSTALL) == 0) {
      if (how != GUARD_MADVISE) __atomic_store_n(&guard_how, GUARD_MADVISE, __ATOMIC_RELAXED);
      return 0;
    }
    if (errno != EINVAL) return -1; /* ENOMEM and the like: a real failure */
    __atomic_store_n(&guard_how, GUARD_MPROTECT, __ATOMIC_RELAXED);
  }
  return mprotect(page, pg, PROT_NONE);
}

/* Installs the guard page of each of the n mappings from base. */
static int guard_all(bg__stacks_t *p, char *base, size_t n) {
  size_t pg = p->page, done = 0;
  while (done < n && __atomic_load_n(&guard_how, __ATOMIC_RELAXED) <= GUARD_BATCH) {
    struct iovec iov[64];
    size_t k = n - done < 64 ? n - done : 64;
    for (size_t i = 0; i < k; i++) iov[i] = (struct iovec){base + (done + i) * p->maplen, pg};
    long r = syscall(SYS_process_madvise, BG_PIDFD_SELF_PROCESS, iov, k, MADV_GUARD_INSTALL, 0);
    if (r != (long)(k * pg)) {
      /* Older kernel (no PIDFD_SELF, no guard advice): one call per stack from here.  A
       * partial batch left some guards installed; installing them again is a no-op. */
      __atomic_store_n(&guard_how, GUARD_MADVISE, __ATOMIC_RELAXED);
      break;
    }
    __atomic_store_n(&guard_how, GUARD_BATCH, __ATOMIC_RELAXED);
    done += k;
  }
  for (; done < n; done++)
    if (guard_one(base + done * p->maplen, pg) < 0) return -1;
  return 0;
}

void bg__stacks_init(bg__stacks_t *p, size_t maplen, size_t page) {
  p->maplen = maplen;
  p->page = page;
  p->chunks = NULL;
  p->next_chunk = BG_CHUNK_FIRST;
  p->nfree = 0;
}

static chunk_t *chunk_new(bg__stacks_t *p) {
  chunk_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  size_t n = p->next_chunk;
  char *base = mmap(NULL, n * p->maplen, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (base == MAP_FAILED) {
    free(c);
    return NULL;
  }
  if (guard_all(p, base, n) < 0) {
    int e = errno;
    munmap(base, n * p->maplen);
    free(c);
    errno = e;
    return NULL;
  }
  c->base = base;
  c->nstacks = c->nfree = n;
  c->next = p->chunks;
  if (p->chunks) p->chunks->prev = c;
  p->chunks = c;
  p->nfree += n;
  if (p->next_chunk < BG_CHUNK_MAX) p->next_chunk *= 2;
  return c;
}

char *bg__stack_get(bg__stacks_t *p) {
  /* Newest chunk with a free stack first: its pages are the likeliest to be warm, and
   * older chunks get the chance to empty out and be returned. */
  chunk_t *c = p->chunks;
  while (c && !c->nfree) c = c->next;
  if (!c && !(c = chunk_new(p))) return NULL;
  char *m = c->free;
  if (m) { /* a recycled one: its pages are faulted in already */
    c->free = trailer_of(p, m)->next_free;
  } else { /* the next never-used one: touched from now on, not before */
    m = c->base + c->fresh++ * p->maplen;
    trailer_of(p, m)->chunk = c;
  }
  c->nfree--;
  p->nfree--;
  return m;
}

static void move_to_front(bg__stacks_t *p, chunk_t *c) {
  if (p->chunks == c) return;
  c->prev->next = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = NULL;
  c->next = p->chunks;
  p->chunks->prev = c;
  p->chunks = c;
}

void bg__stack_put(bg__stacks_t *p, char *m) {
  trailer_t *t = trailer_of(p, m);
  chunk_t *c = t->chunk;
  t->next_free = c->free;
  c->free = m;
  if (c->nfree++ == 0) move_to_front(p, c); /* get() finds a free stack at the head */
  p->nfree++;
}

void bg__stack_pin(bg__stacks_t *p, char *m) { trailer_of(p, m)->chunk->pinned = 1; }

static void chunk_free(bg__stacks_t *p, chunk_t *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    p->chunks = c->next;
  if (c->next) c->next->prev = c->prev;
  p->nfree -= c->nfree;
  munmap(c->base, c->nstacks * p->maplen);
  free(c);
}

void bg__stacks_trim(bg__stacks_t *p, size_t keep) {
  if (keep < BG_STACK_KEEP) keep = BG_STACK_KEEP;
  for (chunk_t *c = p->chunks, *next; c && p->nfree > keep; c = next) {
    next = c->next;
    if (c->nfree == c->nstacks && p->nfree - c->nfree >= keep) chunk_free(p, c);
  }
}

size_t bg__stacks_count(const bg__stacks_t *p) {
  size_t n = 0;
  for (const chunk_t *c = p->chunks; c; c = c->next) n++;
  return n;
}

void bg__stacks_fini(bg__stacks_t *p) {
  for (chunk_t *c = p->chunks, *next; c; c = next) {
    next = c->next;
    /* A pinned chunk holds the stack of a coroutine whose offloaded call still runs on
     * a worker, which will write its result there: the mapping stays (a bounded leak,
     * never a write into freed memory); only the bookkeeping goes. */
    if (!c->pinned) munmap(c->base, c->nstacks * p->maplen);
    free(c);
  }
  p->chunks = NULL;
  p->nfree = 0;
}
