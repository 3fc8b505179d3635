/* c_proc.c - cases for waiting on processes: wait family, system, popen/pclose.  The
 * child of a NONBLOCK form (WNOHANG) is still running, held on a pipe, so the answer
 * ("no child has changed state") is the same in every run; it is reaped afterwards. */
#include <sys/resource.h>
#include <sys/wait.h>

#include "bgt.h"

pid_t __wait(int *);
pid_t __waitpid(pid_t, int *, int);

/* A child that exits with status 3 once `hold` (a pipe's write end) is closed. */
static pid_t child(int *hold) {
  int p[2];
  if (pipe(p) < 0) abort();
  pid_t pid = fork();
  if (pid == 0) {
    char c;
    close(p[1]);
    while (read(p[0], &c, 1) > 0) {
    }
    _exit(3);
  }
  close(p[0]);
  *hold = p[1];
  return pid;
}

static void release(int hold) { close(hold); }

#define WAIT_BLOCK(name, expr)                                                          \
  CASE(name) {                                                                          \
    NO_NONBLOCK();                                                                      \
    int hold, st = 0;                                                                   \
    pid_t pid = child(&hold);                                                           \
    release(hold);                                                                      \
    CALLX(expr, r_ == pid);                                                             \
    OUT("exited=%d status=%d", WIFEXITED(st), WEXITSTATUS(st));                         \
  }
WAIT_BLOCK(wait, wait(&st))
WAIT_BLOCK(__wait, __wait(&st))

/* BLOCK: the child has been released (the wait returns its status); NONBLOCK: WNOHANG
 * while it still runs (0), then it is reaped outside the case's call. */
#define WAIT_OPT(name, expr)                                                            \
  CASE(name) {                                                                          \
    int hold, st = 0, opt = NB ? WNOHANG : 0;                                           \
    pid_t pid = child(&hold);                                                           \
    if (!NB) release(hold);                                                             \
    struct rusage ru;                                                                   \
    (void)ru;                                                                           \
    CALLX(expr, r_ == pid ? 1000 : (long long)r_);                                      \
    OUT("exited=%d status=%d", WIFEXITED(st), WEXITSTATUS(st));                         \
    if (NB) {                                                                           \
      release(hold);                                                                    \
      waitpid(pid, NULL, 0);                                                            \
    }                                                                                   \
  }
WAIT_OPT(waitpid, waitpid(pid, &st, opt))
WAIT_OPT(__waitpid, __waitpid(pid, &st, opt))
WAIT_OPT(wait3, wait3(&st, opt, &ru))
WAIT_OPT(wait4, wait4(pid, &st, opt, &ru))

CASE(waitid) {
  int hold;
  pid_t pid = child(&hold);
  if (!NB) release(hold);
  siginfo_t si;
  memset(&si, 0, sizeof si);
  CALL(waitid(P_PID, (id_t)pid, &si, WEXITED | (NB ? WNOHANG : 0)));
  OUT("pid_ok=%d status=%d", si.si_pid == pid, si.si_status);
  if (NB) {
    release(hold);
    waitpid(pid, NULL, 0);
  }
}

CASE(system) {
  NO_NONBLOCK();
  CALL(system("exit 3"));
}

CASE(popen) {
  NO_NONBLOCK();
  FILE *fp = CALLP(popen("echo popened", "r"));
  char buf[32] = {0};
  if (fp) {
    fgets(buf, sizeof buf, fp);
    OUT("line='%.8s' status=%d", buf, pclose(fp));
  }
}

CASE(pclose) {
  NO_NONBLOCK();
  FILE *fp = popen("exit 4", "r");
  CALL(pclose(fp));
}
