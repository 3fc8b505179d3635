/* client.c - load generator for the offload demo: C connections in parallel (one
 * thread each), R "GET" requests each, then "QUIT".  Prints the request rate.
 *
 *   client PORT [C] [R]        (default 16 connections x 10 requests)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port, requests = 10, failed;

static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    perror("client: connect");
    exit(1);
  }
  return fd;
}

static void *conn(void *arg) {
  (void)arg;
  int fd = dial();
  FILE *in = fdopen(dup(fd), "r");
  char line[64];
  for (int i = 0; i < requests; i++) {
    if (write(fd, "GET\n", 4) != 4 || !fgets(line, sizeof line, in) || strncmp(line, "OK ", 3))
      __atomic_fetch_add(&failed, 1, __ATOMIC_RELAXED);
  }
  fclose(in);
  close(fd);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  port = atoi(argv[1]);
  int c = argc > 2 ? atoi(argv[2]) : 16;
  requests = argc > 3 ? atoi(argv[3]) : 10;
  pthread_t th[256];
  if (c > 256) c = 256;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < c; i++) pthread_create(&th[i], NULL, conn, NULL);
  for (int i = 0; i < c; i++) pthread_join(th[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  int fd = dial();
  if (write(fd, "QUIT\n", 5) != 5) return 1;
  close(fd);
  printf("%d connections x %d requests: %.2f s, %.0f requests/s%s\n", c, requests, s,
         c * requests / s, failed ? " (some failed)" : "");
  return failed ? 1 : 0;
}
