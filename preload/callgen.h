/* callgen.h - macros that expand a call-table row (preload/calls.def) into code.
 *
 * A row lists parameters as flat (type, name) pairs with their count, e.g.
 *   BG_CALL(read, FDCAT(fd, io), BG_F_FD, OFF(thread), ssize_t, -1, 3,
 *           (int, fd, void *, buf, size_t, n), bg__fd_nonblock(fd))
 * so that one row can become a prototype (BG_PARAMS), an argument list (BG_ARGS), a
 * struct of the arguments for offloading (BG_FIELDS/BG_UNPACK) and docs (tools/gencalls).
 */
#ifndef BG_CALLGEN_H
#define BG_CALLGEN_H

#define BG__P0() void
#define BG__P1(t1, a1) t1 a1
#define BG__P2(t1, a1, t2, a2) t1 a1, t2 a2
#define BG__P3(t1, a1, t2, a2, t3, a3) t1 a1, t2 a2, t3 a3
#define BG__P4(t1, a1, t2, a2, t3, a3, t4, a4) t1 a1, t2 a2, t3 a3, t4 a4
#define BG__P5(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5) t1 a1, t2 a2, t3 a3, t4 a4, t5 a5
#define BG__P6(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6)                           \
  t1 a1, t2 a2, t3 a3, t4 a4, t5 a5, t6 a6
#define BG__P7(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6, t7, a7)                   \
  t1 a1, t2 a2, t3 a3, t4 a4, t5 a5, t6 a6, t7 a7
#define BG__P8(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6, t7, a7, t8, a8)           \
  t1 a1, t2 a2, t3 a3, t4 a4, t5 a5, t6 a6, t7 a7, t8 a8

#define BG__A0()
#define BG__A1(t1, a1) a1
#define BG__A2(t1, a1, t2, a2) a1, a2
#define BG__A3(t1, a1, t2, a2, t3, a3) a1, a2, a3
#define BG__A4(t1, a1, t2, a2, t3, a3, t4, a4) a1, a2, a3, a4
#define BG__A5(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5) a1, a2, a3, a4, a5
#define BG__A6(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6) a1, a2, a3, a4, a5, a6
#define BG__A7(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6, t7, a7)                   \
  a1, a2, a3, a4, a5, a6, a7
#define BG__A8(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6, t7, a7, t8, a8)           \
  a1, a2, a3, a4, a5, a6, a7, a8

/* Fields hold the parameter's decayed type (what the function actually receives):
 * a va_list parameter is a pointer to the caller's va_list, not an array copy. */
#define BG__DECAY(t) __typeof__(((void)0, *(t *)0))
#define BG__F0()
#define BG__F1(t1, a1) BG__DECAY(t1) a1;
#define BG__F2(t1, a1, t2, a2) BG__F1(t1, a1) BG__DECAY(t2) a2;
#define BG__F3(t1, a1, t2, a2, t3, a3) BG__F2(t1, a1, t2, a2) BG__DECAY(t3) a3;
#define BG__F4(t1, a1, t2, a2, t3, a3, t4, a4) BG__F3(t1, a1, t2, a2, t3, a3) BG__DECAY(t4) a4;
#define BG__F5(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5)                                   \
  BG__F4(t1, a1, t2, a2, t3, a3, t4, a4) BG__DECAY(t5) a5;
#define BG__F6(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6)                           \
  BG__F5(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5) BG__DECAY(t6) a6;
#define BG__F7(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6, t7, a7)                   \
  BG__F6(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6) BG__DECAY(t7) a7;
#define BG__F8(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6, t7, a7, t8, a8)           \
  BG__F7(t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6, t7, a7) BG__DECAY(t8) a8;

#define BG__U0(s)
#define BG__U1(s, t1, a1) s->a1
#define BG__U2(s, t1, a1, t2, a2) s->a1, s->a2
#define BG__U3(s, t1, a1, t2, a2, t3, a3) s->a1, s->a2, s->a3
#define BG__U4(s, t1, a1, t2, a2, t3, a3, t4, a4) s->a1, s->a2, s->a3, s->a4
#define BG__U5(s, t1, a1, t2, a2, t3, a3, t4, a4, t5, a5) s->a1, s->a2, s->a3, s->a4, s->a5
#define BG__U6(s, t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6)                        \
  s->a1, s->a2, s->a3, s->a4, s->a5, s->a6
#define BG__U7(s, t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6, t7, a7)                \
  s->a1, s->a2, s->a3, s->a4, s->a5, s->a6, s->a7
#define BG__U8(s, t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6, t7, a7, t8, a8)        \
  s->a1, s->a2, s->a3, s->a4, s->a5, s->a6, s->a7, s->a8

/* BG_PARAMS_TAIL: ", params" or nothing, to append parameters after a fixed one. */
#define BG__T0()
#define BG__T1(...) , BG__P1(__VA_ARGS__)
#define BG__T2(...) , BG__P2(__VA_ARGS__)
#define BG__T3(...) , BG__P3(__VA_ARGS__)
#define BG__T4(...) , BG__P4(__VA_ARGS__)
#define BG__T5(...) , BG__P5(__VA_ARGS__)
#define BG__T6(...) , BG__P6(__VA_ARGS__)
#define BG__T7(...) , BG__P7(__VA_ARGS__)
#define BG__T8(...) , BG__P8(__VA_ARGS__)

#define BG__AT0()
#define BG__AT1(...) , BG__A1(__VA_ARGS__)
#define BG__AT2(...) , BG__A2(__VA_ARGS__)
#define BG__AT3(...) , BG__A3(__VA_ARGS__)
#define BG__AT4(...) , BG__A4(__VA_ARGS__)
#define BG__AT5(...) , BG__A5(__VA_ARGS__)
#define BG__AT6(...) , BG__A6(__VA_ARGS__)
#define BG__AT7(...) , BG__A7(__VA_ARGS__)
#define BG__AT8(...) , BG__A8(__VA_ARGS__)

#define BG__EXPAND(x) x
/* BG_PARAMS(3, (int, fd, void *, buf, size_t, n)) → int fd, void * buf, size_t n */
#define BG_PARAMS(n, list) BG__EXPAND(BG__P##n list)
#define BG_ARGS(n, list) BG__EXPAND(BG__A##n list)
#define BG_PARAMS_TAIL(n, list) BG__EXPAND(BG__T##n list)
#define BG_ARGS_TAIL(n, list) BG__EXPAND(BG__AT##n list)
#define BG_FIELDS(n, list) BG__EXPAND(BG__F##n list)
#define BG__UNPACK_(n, s, ...) BG__U##n(s, __VA_ARGS__)
#define BG__UNPACK0(s)
#define BG_UNPACK(n, s, list) BG__EXPAND(BG__UNPACK_##n(s, BG__STRIP list))
#define BG__STRIP(...) __VA_ARGS__
#define BG__UNPACK_0(s, ...)
#define BG__UNPACK_1(s, ...) BG__U1(s, __VA_ARGS__)
#define BG__UNPACK_2(s, ...) BG__U2(s, __VA_ARGS__)
#define BG__UNPACK_3(s, ...) BG__U3(s, __VA_ARGS__)
#define BG__UNPACK_4(s, ...) BG__U4(s, __VA_ARGS__)
#define BG__UNPACK_5(s, ...) BG__U5(s, __VA_ARGS__)
#define BG__UNPACK_6(s, ...) BG__U6(s, __VA_ARGS__)
#define BG__UNPACK_7(s, ...) BG__U7(s, __VA_ARGS__)
#define BG__UNPACK_8(s, ...) BG__U8(s, __VA_ARGS__)

/* Category column: CAT(sleep) is fixed; FDCAT(fd, io) is io, or file when fd is a
 * regular file or block device; WAITSET(kind, set, n) is wait, for a readiness wait on
 * `set` (kind poll: a struct pollfd array of n; select: the read fd_set, nfds n; epoll:
 * the epoll fd, n unused) - the set event-loop detection looks at (guard/loop.c). */
#define BG__CATEXPR_CAT(c) BG_CAT_##c
#define BG__CATEXPR_FDCAT(fd, c) bg__fd_category(fd, BG_CAT_##c)
#define BG__CATEXPR_WAITSET(k, set, n) BG_CAT_wait
/* NRCAT(): the syscall() row, whose category is that of the number it dispatches
 * (preload/syscalls.def); io stands in where one base category is needed. */
#define BG__CATEXPR_NRCAT() BG_CAT_io
#define BG_CATEXPR(col) BG__CATEXPR_##col
/* The base category of a row (the category before fd classification). */
#define BG__BASECAT_CAT(c) BG_CAT_##c
#define BG__BASECAT_FDCAT(fd, c) BG_CAT_##c
#define BG__BASECAT_NRCAT() BG_CAT_io
#define BG__BASECAT_WAITSET(k, set, n) BG_CAT_wait
#define BG_BASECAT(col) BG__BASECAT_##col

/* Offload column: OFF(never), OFF(thread), OFF(timer), URING(shape) → BG_OFF_*
 * (guard/guard.h).  BG_OFFPOL(col) is the policy as a constant; BG_OFF_IF_TIMER(col)(x),
 * BG_OFF_IF_WORKER(col)(x) and BG_OFF_IF_URING(col)(x) expand to x only for the rows
 * that may take that path: a worker runs OFF(thread) rows, and OFF(timer) and
 * URING(shape) rows whose arguments a timer or a ring cannot take.  BG_URING_PREP(col)
 * is the shape's SQE helper, bg__ur_<shape> (preload/offload_uring.h). */
#define BG__OFFPOL_OFF(p) BG__OFFPOL_##p
#define BG__OFFPOL_never BG_OFF_NEVER
#define BG__OFFPOL_thread BG_OFF_THREAD
#define BG__OFFPOL_timer BG_OFF_TIMER
#define BG__OFFPOL_URING(shape) BG_OFF_URING
#define BG_OFFPOL(col) BG__OFFPOL_##col
#define BG__IFTIMER_OFF(p) BG__IFTIMER_##p
#define BG__IFTIMER_never(...)
#define BG__IFTIMER_thread(...)
#define BG__IFTIMER_timer(...) __VA_ARGS__
#define BG__IFTIMER_URING(shape) BG__IFTIMER_never
#define BG_OFF_IF_TIMER(col) BG__IFTIMER_##col
#define BG__IFWORKER_OFF(p) BG__IFWORKER_##p
#define BG__IFWORKER_never(...)
#define BG__IFWORKER_thread(...) __VA_ARGS__
#define BG__IFWORKER_timer(...) __VA_ARGS__
#define BG__IFWORKER_URING(shape) BG__IFWORKER_thread
#define BG_OFF_IF_WORKER(col) BG__IFWORKER_##col
#define BG__DROP(...)
#define BG__KEEP(...) __VA_ARGS__
#define BG__IFURING_OFF(p) BG__DROP
#define BG__IFURING_URING(shape) BG__KEEP
#define BG_OFF_IF_URING(col) BG__IFURING_##col
#define BG__URPREP_URING(shape) bg__ur_##shape
#define BG_URING_PREP(col) BG__URPREP_##col

/* BG_ISWAIT(col): 1 for a WAITSET row (a constant); BG_WAITSEEN(col): that row's
 * question to loop detection, bg__loop_wait_seen over its set (needs `caller`).
 * Loop detection sees the waits that can block; on an epoll set it sees every wait, a
 * zero timeout included (asyncio's first iteration polls with 0: it is the loop all
 * the same, and only loops wait on epoll, so no other thread pays for it).
 * BG_WAITALL(col) is 1 for those sets. */
#define BG__ISWAIT_CAT(c) 0
#define BG__ISWAIT_FDCAT(fd, c) 0
#define BG__ISWAIT_NRCAT() 0
#define BG__ISWAIT_WAITSET(k, set, n) 1
#define BG_ISWAIT(col) BG__ISWAIT_##col
#define BG__WAITALL_CAT(c) 0
#define BG__WAITALL_FDCAT(fd, c) 0
#define BG__WAITALL_NRCAT() 0
#define BG__WAITALL_WAITSET(k, set, n) BG__WAITALL_##k
#define BG__WAITALL_poll 0
#define BG__WAITALL_select 0
#define BG__WAITALL_epoll 1
#define BG_WAITALL(col) BG__WAITALL_##col
#define BG__WAITSEEN_CAT(c) 0
#define BG__WAITSEEN_FDCAT(fd, c) 0
#define BG__WAITSEEN_NRCAT() 0
#define BG__WAITSEEN_WAITSET(k, set, n)                                                 \
  bg__loop_wait_seen(BG_WS_##k, (uintptr_t)(set), (uintptr_t)(n), caller)
#define BG_WAITSEEN(col) BG__WAITSEEN_##col

#endif
