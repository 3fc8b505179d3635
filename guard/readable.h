/* readable.h - is this memory readable?  Asked without a signal handler, without a
 * lock and, for memory seen before, without a system call.
 *
 * The language-frame readers (guard/lang_py.c) follow pointers they take from the
 * interpreter's own structures.  Those are the calling thread's live frames, so they
 * are normally all valid; but a version whose layout we got wrong, a frame caught half
 * built by a signal handler, or a program that corrupted its heap must give "no
 * frames", never a crash inside someone else's process.  So every pointer is checked
 * before it is dereferenced:
 *
 *  - bg__probe_readable(p): the kernel tells (process_vm_readv of one byte of our own
 *    memory: EFAULT when unmapped or unreadable; FUTEX_WAIT of zero timeout where
 *    seccomp refuses that).  One system call, ~0.3-1 us.
 *  - bg__readable(p, n): a page cache in front of the probe.  Pages seen readable are
 *    remembered in a fixed, lock-free open-addressing table, so the violation path,
 *    which reads the same frames and code objects again and again, makes no system
 *    call.  Pages are forgotten when the program unmaps or protects them through libc
 *    (munmap, mprotect, mremap: preload/custom_mem.c calls bg__readable_forget), so a
 *    remembered page is one that is still mapped readable - except memory glibc unmaps
 *    internally (free() of a large mmap'ed block), which the interpreter's frames and
 *    code objects do not live in (docs/languages.md, limits).
 *  - bg__read(dst, src, n): checked memcpy.
 *
 * Everything here is async-signal-safe.
 */
#ifndef BG_READABLE_H
#define BG_READABLE_H
#include <stddef.h>
#include <stdint.h>

int bg__probe_readable(const void *p);          /* 1 readable, 0 not (one syscall) */
int bg__readable(const void *p, size_t n);      /* 1 when [p, p+n) is readable */
int bg__read(void *dst, const void *src, size_t n); /* 1 copied, 0 unreadable */
void bg__readable_forget(const void *p, size_t n);  /* [p, p+n) unmapped or protected */
extern int bg__readable_used;                   /* the cache holds pages */
/* Bumped by every forget: a copy of a few pages kept elsewhere (a thread's memo of the
 * pages its frames live on) is valid while the generation it was taken at is current. */
extern uint64_t bg__readable_gen;
/* Tests: drop every page (as if all were unmapped); number of probes made so far. */
void bg__readable_reset(void);
void bg__readable_use_futex(int on); /* as if process_vm_readv were refused */
uint64_t bg__readable_probes(void);
#endif
