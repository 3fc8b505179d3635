/* uring.c - offloaded calls through io_uring: one ring per scheduler (guard/sched.c).
 *
 * A call whose offload column is URING(shape) (preload/calls.def) is made by the
 * kernel instead of a worker thread: the coroutine packs an SQE (the row's prep, in
 * preload/offload_uring.h), submits it and, when the kernel completed it during the
 * submission (a read of a cached file, a write to the page cache, an open found in the
 * dentry cache), goes on at once: no thread hand-off, no context switch.  Otherwise it
 * parks until the scheduler's loop reaps the completion.
 *
 * Where the kernel allows it.  The ring is set up with IORING_SETUP_DEFER_TASKRUN
 * (Linux 6.1): completions that need the submitting thread (poll-driven socket and
 * pipe I/O) are queued until that thread asks for them (io_uring_enter GETEVENTS),
 * instead of being pushed with a "fake signal" (TWA_SIGNAL) that interrupts whatever
 * the thread is blocked in: an epoll_wait there would return EINTR although no signal
 * handler ran (liburing issue 504), and the program's own waits on that thread must
 * never see that.  Without DEFER_TASKRUN (older kernels), with io_uring disabled
 * (/proc/sys/kernel/io_uring_disabled, a seccomp filter or a container profile that
 * refuses io_uring_setup: EPERM/ENOSYS), without the extended enter argument or the
 * file-position reads (5.11, 5.6), without liburing.so.2 installed, or when the ring
 * cannot be set up (RLIMIT_MEMLOCK before 5.12: ENOMEM), the calls go to the worker
 * threads exactly as before: the probe runs once per process and records why
 * (bg__uring_status).  io_uring=0 turns the path off.
 *
 * liburing is dlopen'ed on the first ring, so programs that never offload load
 * nothing; only its out-of-line functions are resolved (the SQE preparation helpers
 * are inline in liburing.h).
 *
 * Completion: the scheduler's inbox eventfd (already in its epoll) is registered with
 * the ring, which signals it when completion work is queued and when completions are
 * posted (the ring's own fd does not wake an epoll_wait for deferred work: tested on
 * 6.18).  Deferred work is run by an io_uring_enter(GETEVENTS) when the eventfd was
 * reported readable or the ring's TASKRUN flag says work is waiting, then the CQEs are
 * reaped: user_data is the job.  Fork: the
 * ring's memory is not inherited (MADV_DONTFORK) and a child never touches the
 * parent's ring: sched.c drops it in the child (bg__ring_forget) and cancels the calls
 * that were in flight (ECANCELED, like the worker pool's).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <liburing.h>

#include "guard/co.h"
#include "guard/options.h"

/* liburing's out-of-line functions, resolved from liburing.so.2. */
static struct {
  int (*queue_init_params)(unsigned, struct io_uring *, struct io_uring_params *);
  void (*queue_exit)(struct io_uring *);
  int (*ring_dontfork)(struct io_uring *);
  struct io_uring_probe *(*get_probe_ring)(struct io_uring *);
  void (*free_probe)(struct io_uring_probe *);
  struct io_uring_sqe *(*get_sqe)(struct io_uring *);
  int (*submit)(struct io_uring *);
  unsigned (*peek_batch_cqe)(struct io_uring *, struct io_uring_cqe **, unsigned);
  int (*register_eventfd)(struct io_uring *, int);
} L;

#define BG_RING_ENTRIES 64
#define BG_DRAIN_NS 500000000u /* calls still in flight get this long when a ring goes */

struct bg__ring {
  struct io_uring ring;
  unsigned gen;      /* bg__fork_gen when set up */
  unsigned inflight; /* submitted, completion not reaped */
};

/* ---- the probe: once per process ---------------------------------------------------- */
enum { PROBE_UNKNOWN, PROBE_OK, PROBE_NO };
static int probe_state = PROBE_UNKNOWN;
static char probe_why[160];
static uint8_t ops_ok[IORING_OP_LAST];
static pthread_mutex_t probe_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t ring_ops; /* calls completed through a ring */

static int load_liburing(void) {
  void *h = bg__dlopen_quiet("liburing.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(probe_why, sizeof probe_why, "liburing.so.2 not found");
    return -1;
  }
#define BG__SYM(field, name)                                                           \
  if (!(*(void **)&L.field = bg__dlsym_quiet(h, #name))) {                                      \
    snprintf(probe_why, sizeof probe_why, "liburing lacks %s", #name);                \
    return -1;                                                                        \
  }
  BG__SYM(queue_init_params, io_uring_queue_init_params)
  BG__SYM(queue_exit, io_uring_queue_exit)
  BG__SYM(ring_dontfork, io_uring_ring_dontfork)
  BG__SYM(get_probe_ring, io_uring_get_probe_ring)
  BG__SYM(free_probe, io_uring_free_probe)
  BG__SYM(get_sqe, io_uring_get_sqe)
  BG__SYM(submit, io_uring_submit)
  BG__SYM(peek_batch_cqe, io_uring_peek_batch_cqe)
  BG__SYM(register_eventfd, io_uring_register_eventfd)
#undef BG__SYM
  return 0;
}
/* From here on liburing's out-of-line functions are called through L only (a direct
 * call would make the shim depend on liburing at load time). */
#pragma GCC poison io_uring_queue_init_params io_uring_queue_exit io_uring_submit
#pragma GCC poison io_uring_get_sqe io_uring_peek_batch_cqe io_uring_get_probe_ring
#pragma GCC poison io_uring_register_eventfd

/* io_uring_disabled: 0 allowed, 1 only for io_uring_group (setup says EPERM), 2 off. */
static int sysctl_disabled(void) {
  int fd = open("/proc/sys/kernel/io_uring_disabled", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0; /* kernels before 6.6 have no such switch */
  char c = '0';
  ssize_t r = read(fd, &c, 1);
  close(fd);
  return r == 1 && c == '2';
}

static int setup(struct io_uring *ring, char *why, size_t whylen) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
            IORING_SETUP_SUBMIT_ALL;
  int r = L.queue_init_params(BG_RING_ENTRIES, ring, &p);
  if (r < 0) {
    const char *what = r == -EINVAL ? "needs Linux 6.1 (IORING_SETUP_DEFER_TASKRUN)"
                       : r == -EPERM || r == -ENOSYS
                           ? "refused by the kernel (io_uring_disabled, seccomp or a container policy)"
                       : r == -ENOMEM ? "no memory for a ring (RLIMIT_MEMLOCK on kernels before 5.12?)"
                                      : "setup failed";
    snprintf(why, whylen, "io_uring_setup: %s (%s)", what, strerror(-r));
    return r;
  }
  if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_RW_CUR_POS) ||
      !(p.features & IORING_FEAT_NODROP)) {
    snprintf(why, whylen, "io_uring lacks features this needs (kernel too old)");
    L.queue_exit(ring);
    return -ENOSYS;
  }
  L.ring_dontfork(ring); /* a fork child gets none of the ring's memory */
  return 0;
}

/* Runs under probe_mu: liburing, the sysctl, one ring, its opcodes. */
static int probe_locked(struct io_uring *ring) {
  if (load_liburing() < 0) return -1;
  if (sysctl_disabled()) {
    snprintf(probe_why, sizeof probe_why, "io_uring disabled (kernel.io_uring_disabled=2)");
    return -1;
  }
  if (setup(ring, probe_why, sizeof probe_why) < 0) return -1;
  struct io_uring_probe *pr = L.get_probe_ring(ring);
  if (!pr) {
    snprintf(probe_why, sizeof probe_why, "io_uring opcode probe failed");
    L.queue_exit(ring);
    return -1;
  }
  for (int op = 0; op < IORING_OP_LAST; op++) ops_ok[op] = (uint8_t)io_uring_opcode_supported(pr, op);
  L.free_probe(pr);
  snprintf(probe_why, sizeof probe_why, "in use");
  return 0;
}

const char *bg__uring_status(void) {
  pthread_mutex_lock(&probe_mu);
  const char *s = probe_state == PROBE_UNKNOWN ? "not tried (no offloaded call yet)" : probe_why;
  pthread_mutex_unlock(&probe_mu);
  return s;
}

/* A completion of -EAGAIN or -EINTR means the call was not made (the ring could not
 * arm a wait, a worker of the ring was interrupted): a worker thread makes it, except a
 * connect, whose attempt may go on in the background (a second connect would then see
 * EALREADY). */
int bg__uring_retry(const bg__job_t *j) {
  return (j->ures == -EAGAIN || j->ures == -EINTR) && j->ring_op != IORING_OP_CONNECT;
}

int bg__uring_op_ok(int op) { return op >= 0 && op < IORING_OP_LAST && ops_ok[op]; }

uint64_t bg__uring_ops(void) { return __atomic_load_n(&ring_ops, __ATOMIC_RELAXED); }

/* ---- rings --------------------------------------------------------------------------- */
bg__ring_t *bg__ring_new(int evfd) {
  if (!bg__opt.io_uring || __atomic_load_n(&probe_state, __ATOMIC_ACQUIRE) == PROBE_NO) return NULL;
  bg__ring_t *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  int e = errno, ok;
  pthread_mutex_lock(&probe_mu);
  if (probe_state == PROBE_UNKNOWN) {
    ok = probe_locked(&r->ring) == 0;
    __atomic_store_n(&probe_state, ok ? PROBE_OK : PROBE_NO, __ATOMIC_RELEASE);
  } else {
    char why[160];
    ok = probe_state == PROBE_OK && setup(&r->ring, why, sizeof why) == 0;
  }
  pthread_mutex_unlock(&probe_mu);
  errno = e;
  if (ok && L.register_eventfd(&r->ring, evfd) < 0) {
    L.queue_exit(&r->ring);
    ok = 0;
  }
  errno = e;
  if (!ok) {
    free(r);
    return NULL;
  }
  r->gen = __atomic_load_n(&bg__fork_gen, __ATOMIC_ACQUIRE);
  return r;
}

unsigned bg__ring_gen(const bg__ring_t *r) { return r->gen; }
unsigned bg__ring_inflight(const bg__ring_t *r) { return r->inflight; }

int bg__ring_submit(bg__ring_t *r, bg__job_t *j) {
  struct io_uring_sqe tmp;
  memset(&tmp, 0, sizeof tmp);
  if (!j->uop || !j->uop->prep(j, &tmp)) return -1; /* the row declines these arguments */
  if (!bg__uring_op_ok(tmp.opcode)) return -1;
  struct io_uring_sqe *sqe = L.get_sqe(&r->ring);
  if (!sqe) { /* full: push what is queued, then retry once */
    L.submit(&r->ring);
    if (!(sqe = L.get_sqe(&r->ring))) return -1;
  }
  *sqe = tmp;
  io_uring_sqe_set_data(sqe, j);
  j->ures = 0;
  j->via_ring = 1;
  j->ring_op = tmp.opcode;
  int e = errno, n = L.submit(&r->ring);
  errno = e;
  if (n < 1) { /* not submitted (EBUSY, or the kernel refused the enter): undo */
    j->via_ring = 0;
    /* The SQE stays queued and would go with the next submission: make it a no-op
     * that completes without a job. */
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, NULL);
    return -1;
  }
  r->inflight++;
  return 0;
}

/* Runs deferred completion work when the kernel says some waits (the TASKRUN flag, or
 * the fd was reported readable), then hands every completion to done(). */
int bg__ring_reap(bg__ring_t *r, int fd_ready, void (*done)(bg__job_t *j, void *ud), void *ud) {
  if (fd_ready || (IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_TASKRUN)) {
    int e = errno;
    syscall(__NR_io_uring_enter, r->ring.ring_fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
    errno = e;
  }
  int total = 0;
  for (;;) {
    struct io_uring_cqe *cqes[32];
    unsigned n = L.peek_batch_cqe(&r->ring, cqes, 32);
    if (!n) break;
    for (unsigned i = 0; i < n; i++) {
      bg__job_t *j = io_uring_cqe_get_data(cqes[i]);
      if (!j) continue; /* a cancel request's own completion, or an undone SQE */
      j->ures = cqes[i]->res;
      r->inflight--;
      __atomic_fetch_add(&ring_ops, 1, __ATOMIC_RELAXED);
      total++;
      done(j, ud);
    }
    io_uring_cq_advance(&r->ring, n);
  }
  return total;
}

/* Cancels everything in flight and waits (bounded) for the completions; the jobs that
 * never complete are left to the caller (their memory must stay: the kernel may still
 * write to their buffers). */
void bg__ring_free(bg__ring_t *r, void (*done)(bg__job_t *j, void *ud), void *ud) {
  if (r->inflight) {
    struct io_uring_sqe *sqe = L.get_sqe(&r->ring);
    if (sqe) {
      io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
      io_uring_sqe_set_data(sqe, NULL);
      L.submit(&r->ring);
    }
    uint64_t deadline = bg__now_ns() + BG_DRAIN_NS;
    while (r->inflight) {
      bg__ring_reap(r, 0, done, ud);
      uint64_t now = bg__now_ns();
      if (!r->inflight || now >= deadline) break;
      struct __kernel_timespec ts = {0, (long long)(deadline - now)};
      struct io_uring_getevents_arg arg = {.ts = (uint64_t)(uintptr_t)&ts};
      int e = errno;
      syscall(__NR_io_uring_enter, r->ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
              &arg, sizeof arg);
      errno = e;
    }
  }
  L.queue_exit(&r->ring);
  free(r);
}

void bg__ring_forget(bg__ring_t *r) {
  /* Fork child: the ring's memory was not inherited (MADV_DONTFORK) and must not be
   * unmapped by address (something else may live there now); the fd is ours to close. */
  close(r->ring.ring_fd);
  free(r);
}
