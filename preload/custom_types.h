/* custom_types.h - function-pointer types of the real functions behind the
 * hand-written wrappers, shared by the wrappers (custom_*.c) and their offload thunks
 * (offload_custom.c) so both always agree on each signature. */
#ifndef BG_CUSTOM_TYPES_H
#define BG_CUSTOM_TYPES_H
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef int (*open_fn)(const char *, int, ...);
typedef int (*open2_fn)(const char *, int);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*openat2_fn)(int, const char *, int);
typedef int (*creat_fn)(const char *, mode_t);
typedef int (*fcntl_fn)(int, int, ...);
typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*vprintf_fn)(const char *, va_list);
typedef int (*vfprintf_fn)(FILE *, const char *, va_list);
typedef int (*vprintf_chk_fn)(int, const char *, va_list);
typedef int (*vfprintf_chk_fn)(FILE *, int, const char *, va_list);
typedef int (*vdprintf_fn)(int, const char *, va_list);
typedef int (*vdprintf_chk_fn)(int, int, const char *, va_list);
typedef int (*vscanf_fn)(const char *, va_list);
typedef int (*vfscanf_fn)(FILE *, const char *, va_list);
typedef FILE *(*fopen_fn)(const char *, const char *);
typedef FILE *(*freopen_fn)(const char *, const char *, FILE *);
typedef int (*fclose_fn)(FILE *);
typedef FILE *(*popen_fn)(const char *, const char *);
#endif
