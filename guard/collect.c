/* collect.c - hand this process's ledger to `blockguard run/check` (option collect=).
 *
 * The CLI listens on an abstract unix socket (SOCK_SEQPACKET) whose random name it
 * passes in collect=.  Each image - the first process, every fork child, every image
 * after an exec - sends the memfd that backs its ledger (SCM_RIGHTS) right after
 * creating it, then closes the socket and the fd: the process keeps nothing open, and
 * from then on the CLI reads what it records straight from the shared pages.  An
 * abstract socket has no file-system permissions, so this works after the process
 * dropped privileges or chroot'ed, and on a full disk; the CLI checks with
 * SO_PEERCRED that the sender is one of its descendants.
 *
 * Everything here is async-signal-safe (socket, connect, sendmsg, close): a fork
 * child of a multithreaded program publishes its new ledger from the fork handler.
 * When the CLI cannot be reached (another network namespace, a stale collect= in an
 * environment copied elsewhere), the process behaves as without the CLI: messages and
 * the summary go where log_path says.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/ledger.h"

static char name[sizeof(((struct sockaddr_un *)0)->sun_path) - 1];
static size_t name_len;
static int connected; /* this process's ledger reached the CLI */

int bg__collect_connected(void) { return connected; }

/* One message: "BGL1" and the pid, the memfd attached. */
static int send_fd(int s, int fd) {
  char payload[8] = {'B', 'G', 'L', '1'};
  int pid = getpid();
  memcpy(payload + 4, &pid, sizeof pid);
  struct iovec iov = {payload, sizeof payload};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = sizeof ctl.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return sendmsg(s, &msg, MSG_NOSIGNAL) == (ssize_t)sizeof payload ? 0 : -1;
}

/* A full backlog (thousands of processes starting at once) is waited out briefly;
 * anything else means there is no CLI to talk to. */
static void publish(int fd) {
  connected = 0;
  if (!name_len) return;
  int saved = errno;
  bg__self.depth++;
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s >= 0) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path + 1, name, name_len);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + name_len);
    int rc = -1;
    for (int tries = 0; tries < 2000; tries++) {
      rc = connect(s, (struct sockaddr *)&a, len);
      if (rc == 0 || errno != EAGAIN) break;
      struct timespec ms = {0, 1000000};
      nanosleep(&ms, NULL);
    }
    for (int tries = 0; rc == 0 && tries < 2000; tries++) {
      if (send_fd(s, fd) == 0) {
        connected = 1;
        break;
      }
      if (errno != EAGAIN) break;
      struct timespec ms = {0, 1000000};
      nanosleep(&ms, NULL);
    }
    close(s);
  }
  /* Messages go to the CLI's ledger ring from now on (guard/base.c), or no longer. */
  bg__msg_sink(connected ? bg__ledger_msg : NULL);
  bg__self.depth--;
  errno = saved;
}

void bg__collect_setup(const char *collect) {
  size_t n = strlen(collect);
  if (!n || n > sizeof name) return;
  memcpy(name, collect, n);
  name_len = n;
  bg__ledger_publish = publish;
}

/* collect= read from raw option text that did not parse (the ledger must still reach
 * the CLI to say why the process ran unguarded): the value up to the next ':'. */
void bg__collect_setup_raw(const char *options) {
  const char *p = options ? strstr(options, "collect=") : NULL;
  while (p && p != options && p[-1] != ':') p = strstr(p + 1, "collect=");
  if (!p) return;
  p += 8;
  char buf[sizeof name + 1];
  size_t n = strcspn(p, ":");
  if (n > sizeof name) return;
  memcpy(buf, p, n);
  buf[n] = 0;
  bg__collect_setup(buf);
}
