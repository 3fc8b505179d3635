/* server.c - the offload demo: a bg-coroutine server whose request handler calls
 * legacy blocking functions.
 *
 * The server itself is written for coroutines: non-blocking sockets, bg_co_wait_fd
 * for readiness, one coroutine per connection.  The handler, though, does what old
 * library code does: usleep() to pace itself, getaddrinfo("localhost") to resolve a
 * backend, and open()/read() of a small file.  Run under blockguard:
 *   mode=report   each blocking call stops the whole loop: requests are served one
 *                 at a time, whatever the number of clients;
 *   mode=offload  each call runs on a worker (usleep becomes a timer) while the other
 *                 coroutines go on: concurrent clients are served concurrently.
 * Protocol: "GET\n" → "OK <bytes read>\n"; "QUIT\n" stops the server, which then
 * prints how many handlers were ever in flight at once.
 *
 *   server FILE      prints "port N" on stdout once listening (127.0.0.1 only)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <blockguard.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bg_sched_t *sched;
static const char *file;
static int listen_fd, stopping, inflight, max_inflight;
static long served;

/* The "legacy" part: plain blocking libc calls, as found in old library code. */
static long legacy_handler(void) {
  usleep(20000);
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
  if (getaddrinfo("localhost", "80", &hints, &res) != 0) return -1;
  freeaddrinfo(res);
  char buf[4096];
  int fd = open(file, O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  return n;
}

/* Reads one line from a non-blocking socket, waiting in the scheduler. */
static int read_line(int fd, char *buf, size_t cap) {
  size_t len = 0;
  while (len < cap - 1) {
    ssize_t n = read(fd, buf + len, 1);
    if (n == 1) {
      if (buf[len++] == '\n') break;
    } else if (n < 0 && errno == EAGAIN) {
      if (bg_co_wait_fd(fd, POLLIN, -1) < 0) return -1;
    } else {
      return -1;
    }
  }
  buf[len] = 0;
  return (int)len;
}

static void write_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w > 0) {
      s += w, n -= (size_t)w;
    } else if (w < 0 && errno == EAGAIN) {
      bg_co_wait_fd(fd, POLLOUT, -1);
    } else {
      return;
    }
  }
}

static void connection(void *arg) {
  int fd = (int)(intptr_t)arg;
  char line[64];
  while (!stopping && read_line(fd, line, sizeof line) > 0) {
    if (!strcmp(line, "QUIT\n")) {
      stopping = 1;
      shutdown(listen_fd, SHUT_RDWR); /* wakes the acceptor */
      break;
    }
    if (++inflight > max_inflight) max_inflight = inflight;
    long n = legacy_handler();
    inflight--;
    served++;
    char reply[32];
    int len = snprintf(reply, sizeof reply, "OK %ld\n", n);
    write_all(fd, reply, (size_t)len);
  }
  close(fd);
}

static void acceptor(void *arg) {
  (void)arg;
  while (!stopping) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK);
    if (fd >= 0) {
      bg_co_spawn(sched, connection, (void *)(intptr_t)fd);
    } else if (errno == EAGAIN) {
      bg_co_wait_fd(listen_fd, POLLIN, 100);
    } else if (errno != EINTR && errno != ECONNABORTED) {
      break;
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE\n", argv[0]);
    return 2;
  }
  file = argv[1];
  sched = bg_sched_new(0);
  if (!sched) {
    fprintf(stderr, "server: bg_sched_new: %s (run it under blockguard)\n", strerror(errno));
    return 2;
  }
  listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(listen_fd, (struct sockaddr *)&a, len) < 0 || listen(listen_fd, 128) < 0 ||
      getsockname(listen_fd, (struct sockaddr *)&a, &len) < 0) {
    perror("server: listen");
    return 2;
  }
  printf("port %d\n", ntohs(a.sin_port));
  fflush(stdout);
  bg_co_spawn(sched, acceptor, NULL);
  bg_sched_run(sched);
  bg_sched_free(sched);
  printf("served %ld requests, at most %d handlers in flight at once\n", served, max_inflight);
  return 0;
}
