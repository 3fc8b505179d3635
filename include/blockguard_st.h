/* blockguard_st.h - blockguard adapter for State Threads (libst, Debian libst-dev).
 *
 * A State Threads program runs all its st threads on one OS thread: one st thread
 * calling a blocking libc function (sleep, read on a blocking fd, getaddrinfo...)
 * stops them all.  With this adapter installed and blockguard preloaded with
 * mode=offload, such a call runs on a blockguard worker while only the calling st
 * thread waits; sleep-family calls become st_usleep.
 *
 *   st_init();
 *   bg_st_adapter_install();   // after st_init, on the st thread; 0 or -1 (errno)
 *
 * It is built only on the public adapter API of <blockguard.h>:
 *   current  the st thread's own condition variable (created on first use, freed by
 *            an st key destructor): non-NULL in any st thread
 *   suspend  st_cond_wait on it
 *   resume   st_cond_signal on it (called by bg_adapter_poll, on the st thread)
 *   sleep    st_usleep
 * Completions are signalled on an eventfd; while at least one st thread waits for an
 * offloaded call, a watcher st thread polls that fd with st_netfd_poll and calls
 * bg_adapter_poll().  The watcher exits when nothing is outstanding, so a program
 * that ends when its last st thread exits still ends.  The select()/poll() of st's
 * own idle thread (inside libst.so) is its event loop, declared via runtime_text, so
 * it is never a violation and never offloaded.  libst must be the shared library
 * (the usual Debian build): with a static libst the adapter refuses to install.
 *
 * Without blockguard loaded, bg_st_adapter_install returns -1 (ENOSYS) and the
 * program runs as it always did.
 */
#ifndef BLOCKGUARD_ST_H
#define BLOCKGUARD_ST_H

#include <blockguard.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <st.h>

typedef struct bg_st_state {
  int key;          /* st key: per st thread, its condition variable */
  st_netfd_t nfd;   /* the adapter's completion eventfd */
  int waiting;      /* st threads suspended in an offloaded call */
  int watcher;      /* the watcher st thread is running */
} bg_st_state_t;

static bg_st_state_t bg__st_state;

static void bg__st_cond_free(void *c) {
  if (c) st_cond_destroy((st_cond_t)c);
}

static void *bg__st_current(void *ud) {
  bg_st_state_t *st = (bg_st_state_t *)ud;
  if (!st_thread_self()) return NULL; /* st_init not called: not a coroutine */
  st_cond_t c = (st_cond_t)st_thread_getspecific(st->key);
  if (!c) {
    c = st_cond_new();
    if (!c || st_thread_setspecific(st->key, c) < 0) return NULL;
  }
  return c;
}

static void *bg__st_watch(void *ud) {
  bg_st_state_t *st = (bg_st_state_t *)ud;
  while (st->waiting > 0)
    if (st_netfd_poll(st->nfd, POLLIN, ST_UTIME_NO_TIMEOUT) == 0) bg_adapter_poll();
  st->watcher = 0;
  return NULL;
}

static void bg__st_suspend(void *ud, void *co) {
  bg_st_state_t *st = (bg_st_state_t *)ud;
  st->waiting++;
  if (!st->watcher && st_thread_create(bg__st_watch, st, 0, 0)) st->watcher = 1;
  /* 0: resumed (resume already counted us out); -1: interrupted, blockguard will
   * suspend again if the call is not complete. */
  if (st_cond_wait((st_cond_t)co) != 0) st->waiting--;
}

static void bg__st_resume(void *ud, void *co) {
  bg_st_state_t *st = (bg_st_state_t *)ud;
  st->waiting--;
  st_cond_signal((st_cond_t)co);
}

static void bg__st_sleep(void *ud, uint64_t ns) {
  (void)ud;
  st_usleep((st_utime_t)(ns / 1000u));
}

static inline int bg_st_adapter_install(void) {
  bg_st_state_t *st = &bg__st_state;
  if (!st_thread_self()) return errno = EINVAL, -1; /* call st_init() first */
  /* An address inside libst.so, looked up in libst itself so that no canonical PLT
   * entry of the program is returned instead.  Not loaded as a shared object: the
   * idle thread's wait could not be told apart, so refuse. */
  void *lib = dlopen("libst.so.1", RTLD_LAZY | RTLD_NOLOAD);
  if (!lib) lib = dlopen("libst.so", RTLD_LAZY | RTLD_NOLOAD);
  void *text = lib ? dlsym(lib, "st_netfd_poll") : NULL;
  if (lib) dlclose(lib);
  if (!text) return errno = ENOENT, -1;
  if (st_key_create(&st->key, bg__st_cond_free) < 0) return -1;
  bg_adapter_t a = {sizeof a, st, bg__st_current, bg__st_suspend, bg__st_resume, bg__st_sleep,
                    text};
  int fd = bg_adapter_install(&a);
  if (fd < 0) return -1;
  st->nfd = st_netfd_open(fd);
  if (!st->nfd) {
    int e = errno;
    bg_adapter_remove();
    return errno = e, -1;
  }
  return 0;
}

#endif /* BLOCKGUARD_ST_H */
