/* demo_server.c - the built-in demo: a small epoll echo server with a few accidental
 * blocking calls in its request handler, driven by a client thread.
 *
 * The main thread runs the event loop (blockguard's threads=auto sees its epoll_wait
 * and guards it).  The handler does what real code does by mistake: looks a name up
 * with getaddrinfo, reads a config file with stdio, sleeps to "rate limit", and fsyncs
 * a log.  The client thread is not an event loop and blocks freely.
 *
 *   demo_server [requests]     (default 40)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static int requests = 40;

static void *client(void *arg) {
  (void)arg;
  for (int i = 0; i < requests; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
      perror("connect");
      exit(1);
    }
    char msg[32], buf[64];
    int n = snprintf(msg, sizeof msg, "ping %d\n", i);
    if (write(fd, msg, (size_t)n) != n || read(fd, buf, sizeof buf) <= 0) exit(1);
    close(fd);
  }
  return NULL;
}

/* The accidental blocking calls, as they hide in real handlers. */
static void rate_limit(void) { usleep(500); }

static int resolve_backend(void) {
  struct addrinfo *res = NULL, hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  int rc = getaddrinfo("localhost", "80", &hints, &res);
  if (rc == 0) freeaddrinfo(res);
  return rc;
}

static void load_config(void) {
  FILE *f = fopen("/etc/hostname", "r");
  char line[256];
  if (f) {
    while (fgets(line, sizeof line, f)) {
    }
    fclose(f);
  }
}

static void audit_log(int fd, const char *msg) {
  if (write(fd, msg, strlen(msg)) > 0) fdatasync(fd);
}

static void handle(int cfd, int logfd, int *served) {
  char buf[256];
  ssize_t n = read(cfd, buf, sizeof buf); /* the loop said readable: fine either way */
  if (n <= 0) return;
  if (*served % 10 == 0) load_config();
  if (*served % 4 == 0) resolve_backend();
  rate_limit();
  audit_log(logfd, "request\n");
  if (write(cfd, buf, (size_t)n) < 0) perror("write");
  ++*served;
}

int main(int argc, char **argv) {
  if (argc > 1) requests = atoi(argv[1]);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 64) < 0 ||
      getsockname(lfd, (struct sockaddr *)&a, &len) < 0) {
    perror("listen");
    return 1;
  }
  port = ntohs(a.sin_port);
  char logpath[] = "/tmp/blockguard-demo-log.XXXXXX";
  int logfd = mkstemp(logpath);
  unlink(logpath);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  pthread_t th;
  pthread_create(&th, NULL, client, NULL);

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int served = 0;
  while (served < requests) {
    struct epoll_event evs[16];
    int n = epoll_wait(ep, evs, 16, 1000);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.fd == lfd) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0) continue;
        struct epoll_event ce = {.events = EPOLLIN, .data.fd = cfd};
        epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ce);
      } else {
        handle(evs[i].data.fd, logfd, &served);
        epoll_ctl(ep, EPOLL_CTL_DEL, evs[i].data.fd, NULL);
        close(evs[i].data.fd);
      }
    }
  }
  pthread_join(th, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  printf("demo: served %d requests in %.1f ms\n", served, ms);
  return 0;
}
