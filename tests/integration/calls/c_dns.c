/* c_dns.c - cases for name resolution.  Hermetic: names come from /etc/hosts
 * ("localhost") or are numeric, and the res_* family talks to a fake DNS server on
 * 127.0.0.1 (fixtures.c) that answers NXDOMAIN.  NONBLOCK forms are the numeric ones
 * (AI_NUMERICHOST, NI_NUMERICHOST) that never consult NSS. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include "bgt.h"

CASE(getaddrinfo) {
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
  if (NB) hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  CALL(getaddrinfo(NB ? "127.0.0.1" : "localhost", "80", &hints, &res));
  if (res) {
    char ip[64];
    struct sockaddr_in *sin = (struct sockaddr_in *)res->ai_addr;
    inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
    OUT("addr=%s port=%d", ip, ntohs(sin->sin_port));
    freeaddrinfo(res);
  }
}

CASE(getnameinfo) {
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(80)};
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  char host[64] = "", serv[16] = "";
  CALL(getnameinfo((struct sockaddr *)&sin, sizeof sin, host, sizeof host, serv, sizeof serv,
                   NB ? NI_NUMERICHOST | NI_NUMERICSERV : NI_NUMERICSERV));
  OUT("host=%s serv=%s", host, serv);
}

CASE(gai_suspend) {
  struct addrinfo hints = {.ai_family = AF_INET, .ai_flags = AI_NUMERICHOST};
  struct gaicb cb = {.ar_name = "127.0.0.1", .ar_request = &hints};
  struct gaicb *list[1] = {&cb};
  getaddrinfo_a(GAI_WAIT, list, 1, NULL);
  struct timespec zero = {0, 0};
  const struct gaicb *const *l = (const struct gaicb *const *)list;
  CALL(gai_suspend(l, 1, NB ? &zero : NULL));
  OUT("status=%d", gai_error(&cb));
  if (cb.ar_result) freeaddrinfo(cb.ar_result);
}

static void host_out(bgt_t *t, const struct hostent *h) {
  if (!h) {
    OUT("h_errno=%d", h_errno);
    return;
  }
  char ip[64] = "";
  if (h->h_addr_list[0]) inet_ntop(h->h_addrtype, h->h_addr_list[0], ip, sizeof ip);
  OUT("name=%s addr=%s", h->h_name, ip);
}

CASE(gethostbyname) {
  NO_NONBLOCK();
  struct hostent *h = CALLP(gethostbyname("localhost"));
  host_out(t, h);
}

CASE(gethostbyname2) {
  NO_NONBLOCK();
  struct hostent *h = CALLP(gethostbyname2("localhost", AF_INET));
  host_out(t, h);
}

CASE(gethostbyaddr) {
  NO_NONBLOCK();
  struct in_addr a;
  inet_pton(AF_INET, "127.0.0.1", &a);
  struct hostent *h = CALLP(gethostbyaddr(&a, sizeof a, AF_INET));
  host_out(t, h);
}

CASE(gethostbyname_r) {
  NO_NONBLOCK();
  struct hostent he, *res = NULL;
  char buf[1024];
  int herr = 0;
  CALL(gethostbyname_r("localhost", &he, buf, sizeof buf, &res, &herr));
  host_out(t, res);
}

CASE(gethostbyname2_r) {
  NO_NONBLOCK();
  struct hostent he, *res = NULL;
  char buf[1024];
  int herr = 0;
  CALL(gethostbyname2_r("localhost", AF_INET, &he, buf, sizeof buf, &res, &herr));
  host_out(t, res);
}

CASE(gethostbyaddr_r) {
  NO_NONBLOCK();
  struct in_addr a;
  inet_pton(AF_INET, "127.0.0.1", &a);
  struct hostent he, *res = NULL;
  char buf[1024];
  int herr = 0;
  CALL(gethostbyaddr_r(&a, sizeof a, AF_INET, &he, buf, sizeof buf, &res, &herr));
  host_out(t, res);
}

/* ---- res_*: one fake name server, one try, one second ------------------------------- */
static void point_at_fake(res_state st) {
  st->nscount = 1;
  st->nsaddr_list[0].sin_family = AF_INET;
  st->nsaddr_list[0].sin_port = htons((uint16_t)bgt_dns_port());
  inet_pton(AF_INET, "127.0.0.1", &st->nsaddr_list[0].sin_addr);
  st->retry = 1;
  st->retrans = 1;
  st->options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
}

static res_state global_res(void) {
  res_init();
  point_at_fake(&_res);
  return &_res;
}

#define RES(name, expr)                                                                 \
  CASE(name) {                                                                          \
    NO_NONBLOCK();                                                                      \
    struct __res_state stbuf;                                                           \
    res_state st = &stbuf;                                                              \
    memset(st, 0, sizeof *st);                                                          \
    res_ninit(st);                                                                      \
    point_at_fake(st);                                                                  \
    global_res();                                                                       \
    unsigned char ans[512], msg[512];                                                   \
    int mlen = res_mkquery(QUERY, "bgt.invalid", C_IN, T_A, NULL, 0, NULL, msg, sizeof msg); \
    (void)mlen;                                                                         \
    h_errno = 0;                                                                        \
    CALL(expr);                                                                         \
    OUT("h_errno=%d", h_errno);                                                         \
    res_nclose(st);                                                                     \
  }
RES(res_query, res_query("bgt.invalid", C_IN, T_A, ans, sizeof ans))
RES(res_search, res_search("bgt.invalid", C_IN, T_A, ans, sizeof ans))
RES(res_querydomain, res_querydomain("bgt", "invalid", C_IN, T_A, ans, sizeof ans))
RES(res_send, res_send(msg, mlen, ans, sizeof ans))
RES(res_nquery, res_nquery(st, "bgt.invalid", C_IN, T_A, ans, sizeof ans))
RES(res_nsearch, res_nsearch(st, "bgt.invalid", C_IN, T_A, ans, sizeof ans))
RES(res_nquerydomain, res_nquerydomain(st, "bgt", "invalid", C_IN, T_A, ans, sizeof ans))
RES(res_nsend, res_nsend(st, msg, mlen, ans, sizeof ans))

/* Binaries built before glibc 2.34 reference these libresolv names (compat symbols). */
#define OLD(sym, ret, params) ret bgt_old_##sym params;                                 \
  __asm__(".symver bgt_old_" #sym "," #sym "@GLIBC_2.2.5");
OLD(__res_query, int, (const char *, int, int, unsigned char *, int))
OLD(__res_search, int, (const char *, int, int, unsigned char *, int))
OLD(__res_querydomain, int, (const char *, const char *, int, int, unsigned char *, int))
OLD(__res_send, int, (const unsigned char *, int, unsigned char *, int))
OLD(__res_nquery, int, (res_state, const char *, int, int, unsigned char *, int))
OLD(__res_nsearch, int, (res_state, const char *, int, int, unsigned char *, int))
RES(__res_query, bgt_old___res_query("bgt.invalid", C_IN, T_A, ans, sizeof ans))
RES(__res_search, bgt_old___res_search("bgt.invalid", C_IN, T_A, ans, sizeof ans))
RES(__res_querydomain, bgt_old___res_querydomain("bgt", "invalid", C_IN, T_A, ans, sizeof ans))
RES(__res_send, bgt_old___res_send(msg, mlen, ans, sizeof ans))
RES(__res_nquery, bgt_old___res_nquery(st, "bgt.invalid", C_IN, T_A, ans, sizeof ans))
RES(__res_nsearch, bgt_old___res_nsearch(st, "bgt.invalid", C_IN, T_A, ans, sizeof ans))
