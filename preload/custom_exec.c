/* custom_exec.c - the calls that end an image without returning: the exec family and
 * quick_exit (BG_TRACK rows of calls.def).
 *
 * exec: the new image has the same pid and starts a ledger (and report) of its own, so
 * this one must say before it goes that it exec'd and into what - its ledger (state
 * file, or the CLI's memfd) then is its final record, with exit.how = "exec".  glibc's
 * execvp/execl... call the internal execve directly, not through the PLT, so each
 * entry point is wrapped.  The mark is undone when the call returns (the exec failed).
 * A vfork or posix_spawn child shares the parent's memory: the core leaves the ledger
 * alone there (bg__core_exec checks the pid).
 *
 * quick_exit: runs the at_quick_exit handlers, then libc's internal _exit, which skips
 * our _exit wrapper.  The wrapper only keeps the status; the report is written by a
 * handler the constructor registered first, so it runs after the program's own.
 *
 * Every wrapper makes the real call exactly once with the same arguments; errno and
 * the result of a failed call are the real ones.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "preload/preload.h"

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execv_fn)(const char *, char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);
typedef int (*execveat_fn)(int, const char *, char *const[], char *const[], int);
typedef void (*quick_exit_fn)(int) __attribute__((noreturn));

BG_REAL_FN(execve_fn, execve)
BG_REAL_FN(execv_fn, execv)
BG_REAL_FN(execv_fn, execvp)
BG_REAL_FN(execve_fn, execvpe)
BG_REAL_FN(fexecve_fn, fexecve)
BG_REAL_FN(execveat_fn, execveat)
BG_REAL_FN(quick_exit_fn, quick_exit)

extern char **environ;

/* Runs `call` between the exec mark and its removal (the call returned: it failed);
 * envp is what the new image gets (the mark says whether it stays guarded). */
#define EXEC_MARKED(path, envp, call)                                                   \
  ({                                                                                    \
    bg__core_exec(path, envp);                                                          \
    int r_ = (call);                                                                    \
    int e_ = errno;                                                                     \
    bg__core_exec_failed();                                                             \
    errno = e_;                                                                         \
    r_;                                                                                 \
  })

BG_EXPORT int execve(const char *path, char *const argv[], char *const envp[]) {
  return EXEC_MARKED(path, envp, bg__get_execve()(path, argv, envp));
}

BG_EXPORT int execv(const char *path, char *const argv[]) {
  return EXEC_MARKED(path, environ, bg__get_execv()(path, argv));
}

BG_EXPORT int execvp(const char *file, char *const argv[]) {
  return EXEC_MARKED(file, environ, bg__get_execvp()(file, argv));
}

BG_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[]) {
  return EXEC_MARKED(file, envp, bg__get_execvpe()(file, argv, envp));
}

BG_EXPORT int fexecve(int fd, char *const argv[], char *const envp[]) {
  return EXEC_MARKED(argv[0] ? argv[0] : "(fexecve)", envp, bg__get_fexecve()(fd, argv, envp));
}

BG_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
                       int flags) {
  return EXEC_MARKED(path, envp, bg__get_execveat()(dirfd, path, argv, envp, flags));
}

/* execl, execle, execlp: the arguments into an array on the stack, as libc does, then
 * the array form (its real function, so the mark is made once). */
#define COLLECT_ARGS(arg0, ap, argv, after)                                             \
  size_t n_ = 1;                                                                        \
  va_start(ap, arg0);                                                                   \
  while (va_arg(ap, const char *)) n_++;                                                \
  va_end(ap);                                                                           \
  char *argv[n_ + 1];                                                                   \
  argv[0] = (char *)(arg0);                                                             \
  va_start(ap, arg0);                                                                   \
  for (size_t i_ = 1; i_ <= n_; i_++) argv[i_] = va_arg(ap, char *);                    \
  after;                                                                                \
  va_end(ap)

BG_EXPORT int execl(const char *path, const char *arg, ...) {
  va_list ap;
  COLLECT_ARGS(arg, ap, argv, (void)0);
  return EXEC_MARKED(path, environ, bg__get_execv()(path, argv));
}

BG_EXPORT int execlp(const char *file, const char *arg, ...) {
  va_list ap;
  COLLECT_ARGS(arg, ap, argv, (void)0);
  return EXEC_MARKED(file, environ, bg__get_execvp()(file, argv));
}

BG_EXPORT int execle(const char *path, const char *arg, ...) {
  va_list ap;
  char *const *envp;
  COLLECT_ARGS(arg, ap, argv, envp = va_arg(ap, char *const *));
  return EXEC_MARKED(path, envp, bg__get_execve()(path, argv, envp));
}

int bg__quick_exit_code;

BG_EXPORT void quick_exit(int status) {
  quick_exit_fn f = bg__get_quick_exit();
  bg__quick_exit_code = status;
  f(status);
}
