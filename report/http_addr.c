/* http_addr.c - "ADDR:PORT" for the dashboard server: parse it and tell loopback.
 *
 * Accepted: an IPv4 literal, "localhost" (127.0.0.1), an IPv6 literal in brackets
 * ("[::1]:8080") or bare when unambiguous ("::1:8080": the port is after the last
 * colon).  Host names are refused on purpose: the shim starts the server from its
 * constructor, where a DNS lookup (a blocking call, possibly slow or hanging) has no
 * business running.  Loopback is what the process can serve without a token: any of
 * 127.0.0.0/8, ::1 and the IPv4-mapped 127.x addresses.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "report/http.h"

int bg_http_parse_addr(const char *text, struct sockaddr_storage *ss, unsigned *sslen,
                       int *loopback, char *err, size_t errlen) {
  const char *colon = text ? strrchr(text, ':') : NULL;
  if (!colon || colon == text || !colon[1]) {
    snprintf(err, errlen, "http: expected ADDR:PORT, got '%s'", text ? text : "");
    return -1;
  }
  char *end;
  errno = 0;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if (*end || errno || port > 65535 || colon[1] < '0' || colon[1] > '9') {
    snprintf(err, errlen, "http: bad port in '%s' (0-65535)", text);
    return -1;
  }
  char host[128];
  size_t hl = (size_t)(colon - text);
  if (hl >= sizeof host) {
    snprintf(err, errlen, "http: address too long in '%s'", text);
    return -1;
  }
  memcpy(host, text, hl);
  host[hl] = 0;
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
    memmove(host, host + 1, hl - 2);
    host[hl - 2] = 0;
  }
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    *sslen = sizeof *in4;
    *loopback = (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *sslen = sizeof *in6;
    const uint8_t *b = in6->sin6_addr.s6_addr;
    *loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
                (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127);
    return 0;
  }
  snprintf(err, errlen,
           "http: '%s' is not an IP address (use an IPv4/IPv6 literal or localhost; "
           "no DNS lookup is done at start-up)",
           host);
  return -1;
}
