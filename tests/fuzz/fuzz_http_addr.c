/* fuzz_http_addr.c - libFuzzer harness for the http= address parser
 * (report/http_addr.c), which decides whether the dashboard may run without a token.
 *
 * Properties: never a crash or over-read; an accepted address has a family and length
 * that match; "loopback" is claimed only for addresses that really are loopback - a
 * parser that calls 0.0.0.0 or a public address loopback would serve the report to
 * the network without a token.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "report/http.h"

static int really_loopback(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const void *)ss;
    return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
  }
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const void *)ss;
    if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr)) return 1;
    return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = 0;
  struct sockaddr_storage ss;
  unsigned len = 0;
  int loop = -1;
  char err[256] = "";
  memset(&ss, 0, sizeof ss);
  if (bg_http_parse_addr(s, &ss, &len, &loop, err, sizeof err) == 0) {
    if (ss.ss_family == AF_INET && len != sizeof(struct sockaddr_in)) abort();
    if (ss.ss_family == AF_INET6 && len != sizeof(struct sockaddr_in6)) abort();
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) abort();
    if (loop != 0 && loop != 1) abort();
    if (loop && !really_loopback(&ss)) {
      fprintf(stderr, "'%s' accepted as loopback but is not\n", s);
      abort();
    }
  } else if (!err[0]) {
    abort(); /* refused without saying why */
  }
  free(s);
  return 0;
}
