/* sysinc.h - every system header the call table (preload/calls.def, syscalls.def)
 * needs for its types and constants.  Included first by the files that expand the
 * table.  _FORTIFY_SOURCE and _FILE_OFFSET_BITS are undone: the shim defines the
 * plain symbols (read, open...) that those modes would redirect or inline. */
#ifndef BG_PRELOAD_SYSINC_H
#define BG_PRELOAD_SYSINC_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS
/* In C99+ modes <stdio.h> redirects the scanf names to __isoc99_* at the assembler
 * level, so a definition of fscanf would define __isoc99_fscanf.  The shim defines
 * both names, each its own entry point: hide the redirected declarations. */
#define fscanf bg__hidden_fscanf
#define scanf bg__hidden_scanf
#define vfscanf bg__hidden_vfscanf
#define vscanf bg__hidden_vscanf
#include <arpa/nameser.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <resolv.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sem.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>
#undef fscanf
#undef scanf
#undef vfscanf
#undef vscanf
/* With optimisation, <bits/stdio.h> makes these two macros. */
#undef fread_unlocked
#undef fwrite_unlocked
#endif
