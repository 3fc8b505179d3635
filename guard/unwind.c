/* unwind.c - stack capture from DWARF CFI (.eh_frame), with a cache of compact rules.
 *
 * Why not libunwind (which the shim used before): it was linked into every process
 * (with liblzma: ~120,000 instructions and a third of the start-up time of a small
 * program), its walk cost ~110 instructions a frame plus ~300 to set up a cursor, it
 * validated addresses through a pipe whose fds landed in the program's table, its
 * global cache took a mutex (a fork while another thread held it hung the child), and
 * on a cache miss it called dl_iterate_phdr, which takes the loader's lock: not safe in
 * a signal handler that interrupted dlopen.  What a blocking-call guard needs is
 * narrower: the return addresses of the current thread, x86-64, code that has CFI.
 *
 * How a frame is stepped.  The rule for a return address is looked up in a global
 * direct-mapped cache (lock-free: a writer stores the rule, then a tag = pc ^ mix(rule);
 * a reader accepts the pair only if the tag matches, so a torn pair reads as a miss).
 * A rule says how to find the caller's frame from this one (x86-64 psABI: the return
 * address is at CFA-8 and the caller's stack pointer is the CFA):
 *   CFA = rsp+N | rbp+N | *(rsp+N) | *(rbp+N)  (the last two: GCC's stack realignment)
 *   rbp = unchanged | saved at CFA+M | saved at rbp+M (realigned frames) | unknown
 *   or: signal frame (the caller's registers are in the ucontext at rsp: the next frame
 *   is the interrupted instruction itself), end of stack (return address undefined:
 *   _start, clone, a coroutine's first frame), or "no CFI here" (JIT code: follow the
 *   frame-pointer chain, every word checked first (guard/readable.c) so a wrong
 *   guess cannot fault).
 * On a miss the rule is computed: _dl_find_object (lock-free, signal-safe, glibc 2.35)
 * gives the object's .eh_frame_hdr, its sorted table gives the FDE, and the CIE's and
 * FDE's CFA programs are run up to the address.  Anything the compact form cannot say
 * (a CFA in another register, a return address not at CFA-8, an expression we do not
 * know) ends the walk there, counted in parse_fail: a stack is shorter, never wrong.
 *
 * Reads follow CFI, which describes memory the frames own; they are bounded anyway: a
 * caller's frame must lie above the callee's (except across a signal frame, or while
 * walking through the shim's own frames, which may run on another stack: guard/sched.c)
 * and within 256 MiB of it, and a return address must not be 0.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stddef.h>
#include <string.h>
#include <sys/ucontext.h>

#include "guard/readable.h"
#include "guard/unwind.h"

enum { K_NONE, K_SP, K_BP, K_DEREF_SP, K_DEREF_BP, K_SIGNAL, K_END, K_FP };
enum { B_SAME, B_SAVED, B_AT_BP, B_UNKNOWN };

/* rule: kind (3 bits) | bp rule (2) << 3 | bp offset (signed 24) << 8 | cfa offset
 * (signed 32) << 32 */
static inline uint64_t mkrule(int kind, int bprule, int32_t bpoff, int32_t cfaoff) {
  return (uint64_t)kind | (uint64_t)bprule << 3 | ((uint64_t)(uint32_t)bpoff & 0xffffff) << 8 |
         (uint64_t)(uint32_t)cfaoff << 32;
}
static inline int r_kind(uint64_t r) { return (int)(r & 7); }
static inline int r_bprule(uint64_t r) { return (int)((r >> 3) & 3); }
static inline int32_t r_bpoff(uint64_t r) { return (int32_t)((uint32_t)(r >> 8) << 8) >> 8; }
static inline int32_t r_cfaoff(uint64_t r) { return (int32_t)(r >> 32); }

/* ---- the cache ------------------------------------------------------------------------ */
#define CACHE_SLOTS 4096 /* power of two; 64 KiB, touched page by page as used */
typedef struct slot {
  uint64_t rule, tag;
} slot_t;
static slot_t cache[CACHE_SLOTS];
static uint64_t n_misses, n_fail, n_validated; /* rare events only: no atomic per frame */

/* The tag scrambles the rule so that a torn pair (one writer's rule, another's tag)
 * does not match; odd, so an empty slot (0, 0) matches no pc. */
static inline uint64_t mix(uint64_t x) { return x * 0x9E3779B97F4A7C15ull | 1; }
static inline unsigned slot_of(uintptr_t pc) {
  return (unsigned)((pc * 0x9E3779B97F4A7C15ull) >> 52) & (CACHE_SLOTS - 1);
}

static inline int cache_get(uintptr_t pc, uint64_t *rule) {
  slot_t *s = &cache[slot_of(pc)];
  uint64_t r = __atomic_load_n(&s->rule, __ATOMIC_ACQUIRE);
  uint64_t t = __atomic_load_n(&s->tag, __ATOMIC_ACQUIRE);
  if (t != (pc ^ mix(r))) return 0;
  *rule = r;
  return 1;
}

static void cache_put(uintptr_t pc, uint64_t rule) {
  slot_t *s = &cache[slot_of(pc)];
  __atomic_store_n(&s->tag, 0, __ATOMIC_RELEASE);
  __atomic_store_n(&s->rule, rule, __ATOMIC_RELEASE);
  __atomic_store_n(&s->tag, pc ^ mix(rule), __ATOMIC_RELEASE);
}

void bg__unwind_flush(void) {
  for (int i = 0; i < CACHE_SLOTS; i++) __atomic_store_n(&cache[i].tag, 0, __ATOMIC_RELEASE);
  __atomic_fetch_add(&bg__unwind_gen, 1, __ATOMIC_RELEASE);
}

void bg__unwind_stats(bg__unwind_stats_t *o) {
  o->misses = __atomic_load_n(&n_misses, __ATOMIC_RELAXED);
  o->parse_fail = __atomic_load_n(&n_fail, __ATOMIC_RELAXED);
  o->validated_reads = __atomic_load_n(&n_validated, __ATOMIC_RELAXED);
}

/* ---- DWARF reading ---------------------------------------------------------------------- */
enum {
  PE_absptr = 0x00, PE_uleb128 = 0x01, PE_udata2 = 0x02, PE_udata4 = 0x03, PE_udata8 = 0x04,
  PE_sleb128 = 0x09, PE_sdata2 = 0x0a, PE_sdata4 = 0x0b, PE_sdata8 = 0x0c,
  PE_pcrel = 0x10, PE_datarel = 0x30, PE_indirect = 0x80, PE_omit = 0xff,
};

typedef struct rd {
  const uint8_t *p, *end;
  int bad;
} rd_t;

static uint64_t uleb(rd_t *r) {
  uint64_t v = 0;
  for (int shift = 0; r->p < r->end && shift < 64; shift += 7) {
    uint8_t b = *r->p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  r->bad = 1;
  return 0;
}

static int64_t sleb(rd_t *r) {
  int64_t v = 0;
  int shift = 0;
  uint8_t b = 0;
  do {
    if (r->p >= r->end || shift >= 64) {
      r->bad = 1;
      return 0;
    }
    b = *r->p++;
    v |= (int64_t)(b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  if (shift < 64 && (b & 0x40)) v |= -((int64_t)1 << shift);
  return v;
}

static uint64_t fixed(rd_t *r, int n) {
  if (r->p + n > r->end) {
    r->bad = 1;
    return 0;
  }
  uint64_t v = 0;
  memcpy(&v, r->p, (size_t)n); /* little-endian */
  r->p += n;
  return v;
}

/* An encoded pointer; datarel is relative to `data` (the .eh_frame_hdr). */
static uintptr_t encptr(rd_t *r, uint8_t enc, uintptr_t data) {
  if (enc == PE_omit) return 0;
  uintptr_t at = (uintptr_t)r->p, v;
  switch (enc & 0x0f) {
  case PE_absptr: v = (uintptr_t)fixed(r, 8); break;
  case PE_uleb128: v = (uintptr_t)uleb(r); break;
  case PE_udata2: v = (uintptr_t)fixed(r, 2); break;
  case PE_udata4: v = (uintptr_t)fixed(r, 4); break;
  case PE_udata8: v = (uintptr_t)fixed(r, 8); break;
  case PE_sleb128: v = (uintptr_t)sleb(r); break;
  case PE_sdata2: v = (uintptr_t)(int64_t)(int16_t)fixed(r, 2); break;
  case PE_sdata4: v = (uintptr_t)(int64_t)(int32_t)fixed(r, 4); break;
  case PE_sdata8: v = (uintptr_t)fixed(r, 8); break;
  default: r->bad = 1; return 0;
  }
  switch (enc & 0x70) {
  case 0: break;
  case PE_pcrel: v += at; break;
  case PE_datarel: v += data; break;
  default: r->bad = 1; return 0;
  }
  if (enc & PE_indirect) v = *(const uintptr_t *)v;
  return v;
}

/* ---- finding the FDE ---------------------------------------------------------------------- */
/* The FDE covering pc in the object's .eh_frame_hdr search table, or NULL. */
static const uint8_t *find_fde(uintptr_t pc, const uint8_t *hdr) {
  if (!hdr || hdr[0] != 1) return NULL;
  rd_t r = {hdr + 4, hdr + 64, 0}; /* enough for the header fields */
  uint8_t frame_enc = hdr[1], count_enc = hdr[2], table_enc = hdr[3];
  (void)encptr(&r, frame_enc, (uintptr_t)hdr);
  uintptr_t count = encptr(&r, count_enc, (uintptr_t)hdr);
  if (r.bad || count == 0 || table_enc != (PE_datarel | PE_sdata4)) return NULL;
  const int32_t *table = (const int32_t *)r.p; /* pairs: initial location, FDE */
  size_t lo = 0, hi = count;
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if ((uintptr_t)hdr + (intptr_t)table[2 * mid] <= pc)
      lo = mid;
    else
      hi = mid;
  }
  if ((uintptr_t)hdr + (intptr_t)table[2 * lo] > pc) return NULL;
  return hdr + (intptr_t)table[2 * lo + 1];
}

/* ---- running the CFA program --------------------------------------------------------------- */
enum { R_RSP = 7, R_RBP = 6, R_RA = 16 };
enum { CFA_REG, CFA_DEREF, CFA_OTHER };
enum { RU_UNDEF, RU_SAME, RU_OFFSET, RU_AT_BP, RU_OTHER };

typedef struct state {
  int cfa_kind, cfa_reg;
  int64_t cfa_off;
  int bp_rule, ra_rule;
  int64_t bp_off, ra_off;
} state_t;

typedef struct cie {
  uint64_t code_align;
  int64_t data_align;
  unsigned ra_reg;
  uint8_t fde_enc;
  int has_z, signal;
  const uint8_t *insns, *end;
} cie_t;

static int parse_cie(const uint8_t *p, cie_t *c) {
  uint64_t len = *(const uint32_t *)p;
  p += 4;
  if (len == 0xffffffffu) return -1; /* 64-bit DWARF: not in .eh_frame on x86-64 */
  rd_t r = {p, p + len, 0};
  if (fixed(&r, 4) != 0) return -1; /* CIE id */
  unsigned version = (unsigned)fixed(&r, 1);
  const char *aug = (const char *)r.p;
  while (r.p < r.end && *r.p) r.p++;
  r.p++;
  c->code_align = uleb(&r);
  c->data_align = sleb(&r);
  c->ra_reg = version == 1 ? (unsigned)fixed(&r, 1) : (unsigned)uleb(&r);
  c->fde_enc = PE_absptr;
  c->has_z = c->signal = 0;
  const uint8_t *aug_end = NULL;
  for (const char *a = aug; *a && !r.bad; a++) {
    switch (*a) {
    case 'z': {
      uint64_t n = uleb(&r);
      c->has_z = 1;
      aug_end = r.p + n;
      break;
    }
    case 'R': c->fde_enc = (uint8_t)fixed(&r, 1); break;
    case 'L': (void)fixed(&r, 1); break;
    case 'P': {
      uint8_t enc = (uint8_t)fixed(&r, 1);
      (void)encptr(&r, (uint8_t)(enc & ~PE_indirect), 0);
      break;
    }
    case 'S': c->signal = 1; break;
    default: /* unknown: skippable only through 'z' (its length covers the rest) */
      if (!c->has_z) return -1;
      goto done;
    }
  }
done:
  if (aug_end) r.p = aug_end;
  if (r.bad || r.p > r.end) return -1;
  c->insns = r.p;
  c->end = r.end;
  return 0;
}

#define REMEMBER_MAX 8
/* Runs insns until the location passes `target`.  0, or -1 on what we do not read. */
static int run_cfa(const uint8_t *insns, const uint8_t *end, const cie_t *c, uintptr_t loc,
                   uintptr_t target, state_t *st, const state_t *initial) {
  state_t stack[REMEMBER_MAX];
  int depth = 0;
  rd_t r = {insns, end, 0};
  while (r.p < r.end && !r.bad) {
    uint8_t op = *r.p++;
    uint8_t hi2 = op & 0xc0, low = op & 0x3f;
    uint64_t reg;
    int64_t off;
    if (hi2 == 0x40) { /* advance_loc */
      loc += low * c->code_align;
      if (loc > target) return 0;
      continue;
    }
    if (hi2 == 0x80) { /* offset */
      reg = low;
      off = (int64_t)uleb(&r) * c->data_align;
      goto set_offset;
    }
    if (hi2 == 0xc0) { /* restore */
      reg = low;
      goto restore;
    }
    switch (op) {
    case 0x00: break; /* nop */
    case 0x01: /* set_loc */
      loc = encptr(&r, c->fde_enc, 0);
      if (loc > target) return 0;
      break;
    case 0x02: loc += fixed(&r, 1) * c->code_align; if (loc > target) return 0; break;
    case 0x03: loc += fixed(&r, 2) * c->code_align; if (loc > target) return 0; break;
    case 0x04: loc += fixed(&r, 4) * c->code_align; if (loc > target) return 0; break;
    case 0x05: /* offset_extended */
      reg = uleb(&r);
      off = (int64_t)uleb(&r) * c->data_align;
      goto set_offset;
    case 0x06: reg = uleb(&r); goto restore;
    case 0x07: /* undefined */
      reg = uleb(&r);
      if (reg == R_RBP) st->bp_rule = RU_UNDEF;
      if (reg == c->ra_reg) st->ra_rule = RU_UNDEF;
      break;
    case 0x08: /* same_value */
      reg = uleb(&r);
      if (reg == R_RBP) st->bp_rule = RU_SAME;
      if (reg == c->ra_reg) st->ra_rule = RU_OTHER;
      break;
    case 0x09: /* register */
      reg = uleb(&r);
      (void)uleb(&r);
      if (reg == R_RBP) st->bp_rule = RU_OTHER;
      if (reg == c->ra_reg) st->ra_rule = RU_OTHER;
      break;
    case 0x0a: /* remember_state */
      if (depth == REMEMBER_MAX) return -1;
      stack[depth++] = *st;
      break;
    case 0x0b: /* restore_state: the whole row, CFA included (as libgcc's unwinder:
                * GCC brackets a mid-function epilogue with remember/restore) */
      if (!depth) return -1;
      *st = stack[--depth];
      break;
    case 0x0c: /* def_cfa */
      st->cfa_kind = CFA_REG;
      st->cfa_reg = (int)uleb(&r);
      st->cfa_off = (int64_t)uleb(&r);
      break;
    case 0x0d: st->cfa_reg = (int)uleb(&r); st->cfa_kind = CFA_REG; break;
    case 0x0e: st->cfa_off = (int64_t)uleb(&r); break;
    case 0x0f: { /* def_cfa_expression: only "breg(rsp|rbp) N; deref" */
      uint64_t n = uleb(&r);
      const uint8_t *e = r.p;
      r.p += n;
      st->cfa_kind = CFA_OTHER;
      if (r.p > r.end || n < 3) break;
      rd_t x = {e + 1, e + n - 1, 0};
      int64_t o = sleb(&x);
      if ((e[0] == 0x70 + R_RSP || e[0] == 0x70 + R_RBP) && !x.bad && x.p == e + n - 1 &&
          e[n - 1] == 0x06) {
        st->cfa_kind = CFA_DEREF;
        st->cfa_reg = e[0] - 0x70;
        st->cfa_off = o;
      }
      break;
    }
    case 0x10:   /* expression: rbp's only as "breg6 N" (rbp saved at rbp+N: GCC's */
    case 0x16: { /* realigned frames), anything else is unknown */
      reg = uleb(&r);
      uint64_t n = uleb(&r);
      const uint8_t *e = r.p;
      r.p += n;
      if (r.p > r.end) return -1;
      if (reg == R_RBP) {
        st->bp_rule = RU_OTHER;
        rd_t x = {e + 1, e + n, 0};
        int64_t o = n >= 2 ? sleb(&x) : 0;
        if (op == 0x10 && n >= 2 && e[0] == 0x70 + R_RBP && !x.bad && x.p == e + n)
          st->bp_rule = RU_AT_BP, st->bp_off = o;
      }
      if (reg == c->ra_reg) st->ra_rule = RU_OTHER;
      break;
    }
    case 0x11: /* offset_extended_sf */
      reg = uleb(&r);
      off = sleb(&r) * c->data_align;
      goto set_offset;
    case 0x12: /* def_cfa_sf */
      st->cfa_kind = CFA_REG;
      st->cfa_reg = (int)uleb(&r);
      st->cfa_off = sleb(&r) * c->data_align;
      break;
    case 0x13: st->cfa_off = sleb(&r) * c->data_align; break;
    case 0x14: /* val_offset */
    case 0x15: /* val_offset_sf */
      reg = uleb(&r);
      if (op == 0x14)
        (void)uleb(&r);
      else
        (void)sleb(&r);
      if (reg == R_RBP) st->bp_rule = RU_OTHER;
      if (reg == c->ra_reg) st->ra_rule = RU_OTHER;
      break;
    case 0x2e: (void)uleb(&r); break; /* GNU_args_size */
    case 0x2f: /* GNU_negative_offset_extended */
      reg = uleb(&r);
      off = -(int64_t)uleb(&r) * c->data_align;
      goto set_offset;
    default:
      return -1;
    }
    continue;
  set_offset:
    if (reg == R_RBP) st->bp_rule = RU_OFFSET, st->bp_off = off;
    if (reg == c->ra_reg) st->ra_rule = RU_OFFSET, st->ra_off = off;
    continue;
  restore:
    if (!initial) return -1; /* restore inside the CIE's own program */
    if (reg == R_RBP) st->bp_rule = initial->bp_rule, st->bp_off = initial->bp_off;
    if (reg == c->ra_reg) st->ra_rule = initial->ra_rule, st->ra_off = initial->ra_off;
  }
  return r.bad ? -1 : 0;
}

static int fits32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }
static int fits24(int64_t v) { return v >= -(1 << 23) && v < (1 << 23); }

/* The rule for lookup address q (a return address minus one, or an interrupted pc). */
static uint64_t compute(uintptr_t q) {
  struct dl_find_object fo;
  if (_dl_find_object((void *)q, &fo) != 0) return mkrule(K_FP, B_SAME, 0, 0);
  const uint8_t *fde = find_fde(q, (const uint8_t *)fo.dlfo_eh_frame);
  if (!fde) return mkrule(K_FP, B_SAME, 0, 0);
  uint32_t len = *(const uint32_t *)fde;
  if (len == 0 || len == 0xffffffffu) return 0;
  const uint8_t *body = fde + 4, *end = body + len;
  uint32_t cie_off = *(const uint32_t *)body;
  if (cie_off == 0) return 0; /* a CIE, not an FDE */
  cie_t c;
  if (parse_cie(body - cie_off, &c) < 0) return 0;
  rd_t r = {body + 4, end, 0};
  uintptr_t start = encptr(&r, c.fde_enc, 0);
  uintptr_t range = encptr(&r, (uint8_t)(c.fde_enc & 0x0f), 0);
  if (r.bad || q < start || q >= start + range) return mkrule(K_FP, B_SAME, 0, 0);
  if (c.has_z) r.p += uleb(&r);
  if (r.bad || r.p > end) return 0;
  state_t st = {CFA_REG, R_RSP, 8, RU_SAME, RU_UNDEF, 0, 0};
  if (run_cfa(c.insns, c.end, &c, start, UINTPTR_MAX, &st, NULL) < 0) return 0;
  state_t init = st;
  if (run_cfa(r.p, end, &c, start, q, &st, &init) < 0) return 0;
  if (c.signal) return mkrule(K_SIGNAL, B_SAME, 0, 0);
  if (st.ra_rule == RU_UNDEF) return mkrule(K_END, B_SAME, 0, 0);
  if (st.ra_rule != RU_OFFSET || st.ra_off != -8 || !fits32(st.cfa_off)) return 0;
  int kind;
  if (st.cfa_kind == CFA_REG && st.cfa_reg == R_RSP) kind = K_SP;
  else if (st.cfa_kind == CFA_REG && st.cfa_reg == R_RBP) kind = K_BP;
  else if (st.cfa_kind == CFA_DEREF && st.cfa_reg == R_RSP) kind = K_DEREF_SP;
  else if (st.cfa_kind == CFA_DEREF && st.cfa_reg == R_RBP) kind = K_DEREF_BP;
  else return 0;
  int bp = B_SAME;
  int64_t bpoff = 0;
  if (st.bp_rule == RU_OFFSET && fits24(st.bp_off)) bp = B_SAVED, bpoff = st.bp_off;
  else if (st.bp_rule == RU_AT_BP && fits24(st.bp_off)) bp = B_AT_BP, bpoff = st.bp_off;
  else if (st.bp_rule != RU_SAME) bp = B_UNKNOWN;
  return mkrule(kind, bp, (int32_t)bpoff, (int32_t)st.cfa_off);
}

/* ---- the walk ------------------------------------------------------------------------------ */
/* A word we are not sure exists (frame-pointer chains through code without CFI):
 * checked by the kernel the first time its page is seen (guard/readable.c). */
static int safe_read(uintptr_t addr, uintptr_t *out) {
  __atomic_fetch_add(&n_validated, 1, __ATOMIC_RELAXED);
  return bg__read(out, (const void *)addr, sizeof *out);
}

#define MAX_STEP ((uintptr_t)256 << 20)
/* sp < cfa <= sp + MAX_STEP, and 8-aligned: a caller's frame above its callee's. */
#define FRAME_OK(cfa, sp) ((cfa) - (sp) - 1 < MAX_STEP && !((cfa) & 7))

typedef struct regs {
  uintptr_t pc, sp, bp; /* bp == 0: unknown (a rule that needs it stops the walk) */
  int exact;            /* pc is an interrupted instruction, not a return address */
} regs_t;

/* The rule for q, computed and cached on a miss. */
static __attribute__((noinline)) uint64_t miss(uintptr_t q) {
  __atomic_fetch_add(&n_misses, 1, __ATOMIC_RELAXED);
  uint64_t rule = compute(q);
  if (!rule) {
    __atomic_fetch_add(&n_fail, 1, __ATOMIC_RELAXED);
    rule = mkrule(K_END, B_SAME, 0, 0); /* remembered: stop here next time too */
  }
  cache_put(q, rule);
  return rule;
}

static inline uint64_t rule_of(uintptr_t q) {
  uint64_t r;
  return cache_get(q, &r) ? r : miss(q);
}

/* Any rule, one step: 1 with r updated to the caller's frame, 0 at the end of the
 * walk.  `check`: the caller's frame must lie above (not while walking the shim's own
 * frames, which may run on another stack, nor across a signal frame). */
static __attribute__((noinline)) int step(uint64_t rule, regs_t *r, int check) {
  uintptr_t cfa, bp = r->bp;
  int32_t off = r_cfaoff(rule);
  switch (r_kind(rule)) {
  case K_SP: cfa = r->sp + (intptr_t)off; break;
  case K_BP:
    if (!bp) return 0;
    cfa = bp + (intptr_t)off;
    break;
  case K_DEREF_SP: cfa = *(const uintptr_t *)(r->sp + (intptr_t)off); break;
  case K_DEREF_BP:
    if (!bp) return 0;
    cfa = *(const uintptr_t *)(bp + (intptr_t)off);
    break;
  case K_SIGNAL: { /* the handler returned here; rsp points at the ucontext */
    const ucontext_t *uc = (const ucontext_t *)r->sp;
    r->pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    r->sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    r->bp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
    r->exact = 1;
    return r->pc != 0;
  }
  case K_FP: { /* no CFI: a standard frame-pointer frame, verified word by word */
    uintptr_t saved_bp, ret;
    if (!bp || !FRAME_OK(bp + 16, r->sp) || !safe_read(bp, &saved_bp) || !safe_read(bp + 8, &ret))
      return 0;
    r->pc = ret, r->sp = bp + 16, r->bp = saved_bp, r->exact = 0;
    return ret != 0;
  }
  default: return 0; /* K_END, K_NONE */
  }
  if (check ? !FRAME_OK(cfa, r->sp) : (cfa & 7) != 0) return 0;
  switch (r_bprule(rule)) {
  case B_SAVED: bp = *(const uintptr_t *)(cfa + (intptr_t)r_bpoff(rule)); break;
  case B_AT_BP:
    if (!bp) return 0;
    bp = *(const uintptr_t *)(bp + (intptr_t)r_bpoff(rule));
    break;
  case B_UNKNOWN: bp = 0; break;
  default: break;
  }
  r->pc = *(const uintptr_t *)(cfa - 8);
  r->sp = cfa, r->bp = bp, r->exact = 0;
  return r->pc != 0;
}

/* The loop is written for the rules nearly every frame has - CFA = rsp+N with rbp
 * unchanged or saved in the frame, and CFA = rbp+16 with rbp saved at CFA-16 - about
 * 35 instructions a frame from the cache; anything else goes through step().  With
 * `rules`, rules[i] is the rule applied at frame i (for bg__unwind_verify), and *ended
 * says whether the walk stopped by itself rather than at max. */
int bg__unwind_ex(const bg__frame_t *f, uintptr_t *pcs, uint64_t *rules, int max,
                  int (*skip)(uintptr_t pc), int *ended) {
  regs_t r = {f->pc, f->sp, f->bp, 0};
  int n = 0;
  if (ended) *ended = 1;
  if (skip)
    for (int k = 0; r.pc && skip(r.pc); k++)
      if (k == 64 || !step(rule_of(r.pc - 1 + (uintptr_t)r.exact), &r, 0)) return 0;
  uintptr_t pc = r.pc, sp = r.sp, bp = r.bp, exact = (uintptr_t)r.exact;
  if (!pc || max <= 0) return 0;
  for (;;) {
    pcs[n++] = pc;
    if (n == max) {
      if (ended) *ended = 0;
      break;
    }
    uintptr_t q = pc - 1 + exact;
    const slot_t *s = &cache[slot_of(q)];
    uint64_t rule = __atomic_load_n(&s->rule, __ATOMIC_ACQUIRE);
    if (BG_UNLIKELY(__atomic_load_n(&s->tag, __ATOMIC_ACQUIRE) != (q ^ mix(rule)))) rule = miss(q);
    if (rules) rules[n - 1] = rule;
    unsigned k = (unsigned)rule & 31; /* kind | bp rule << 3 */
    uintptr_t cfa;
    if (BG_LIKELY(k == (K_SP | B_SAME << 3) || k == (K_SP | B_SAVED << 3))) {
      cfa = sp + (intptr_t)r_cfaoff(rule);
    } else if (k == (K_BP | B_SAVED << 3)) {
      cfa = bp + (intptr_t)r_cfaoff(rule); /* bp == 0 (unknown) fails the check below */
    } else if (k == K_END) {
      break;
    } else {
      r.pc = pc, r.sp = sp, r.bp = bp, r.exact = (int)exact;
      if (!step(rule, &r, r_kind(rule) != K_SIGNAL)) break;
      pc = r.pc, sp = r.sp, bp = r.bp, exact = (uintptr_t)r.exact;
      continue;
    }
    if (!FRAME_OK(cfa, sp)) break;
    if (k & (B_SAVED << 3)) bp = *(const uintptr_t *)(cfa + (intptr_t)r_bpoff(rule));
    pc = *(const uintptr_t *)(cfa - 8);
    sp = cfa;
    exact = 0;
    if (!pc) break;
  }
  return n;
}

int bg__unwind(const bg__frame_t *f, uintptr_t *pcs, int max, int (*skip)(uintptr_t pc)) {
  return bg__unwind_ex(f, pcs, NULL, max, skip, NULL);
}

/* The same walk with the rules given instead of looked up: each frame's return address
 * must be the one recorded, and the walk must end where it ended.  A rule is a pure
 * function of its return address, so equal addresses walked with their own rules read
 * the same memory the recorded walk read: this is that walk, minus the cache lookups. */
/* step() for bg__unwind_verify's rare rules, by value so that the caller's registers
 * never need an address: status 1 walked on, 0 the walk ends, -1 across a signal frame
 * (left to the full walk). */
typedef struct stepped {
  uintptr_t pc, sp, bp;
  long status;
} stepped_t;
static __attribute__((noinline)) stepped_t step_rare(uint64_t rule, uintptr_t pc, uintptr_t sp,
                                                   uintptr_t bp) {
  regs_t t = {pc, sp, bp, 0};
  stepped_t o = {0, 0, 0, 0};
  if (!step(rule, &t, r_kind(rule) != K_SIGNAL)) return o;
  o.pc = t.pc, o.sp = t.sp, o.bp = t.bp;
  o.status = t.exact ? -1 : 1;
  return o;
}

/* One step with a known rule: 1 walked on, 0 the walk ends here, -1 a frame the fast
 * path does not handle (across a signal frame). */
static inline int step_known(uint64_t rule, uintptr_t *pc, uintptr_t *sp, uintptr_t *bp) {
  unsigned k = (unsigned)rule & 31;
  uintptr_t cfa;
  if (BG_LIKELY(k == (K_SP | B_SAME << 3) || k == (K_SP | B_SAVED << 3))) {
    cfa = *sp + (intptr_t)r_cfaoff(rule);
  } else if (k == (K_BP | B_SAVED << 3)) {
    cfa = *bp + (intptr_t)r_cfaoff(rule);
  } else if (k == K_END) {
    return 0;
  } else {
    stepped_t o = step_rare(rule, *pc, *sp, *bp);
    if (o.status != 1) return (int)o.status;
    *pc = o.pc, *sp = o.sp, *bp = o.bp;
    return 1;
  }
  if (!FRAME_OK(cfa, *sp)) return 0;
  if (k & (B_SAVED << 3)) *bp = *(const uintptr_t *)(cfa + (intptr_t)r_bpoff(rule));
  *pc = *(const uintptr_t *)(cfa - 8);
  *sp = cfa;
  return *pc != 0;
}

int bg__unwind_verify(const bg__frame_t *f, const uintptr_t *pcs, const uint64_t *rules, int n,
                      int ended) {
  uintptr_t pc = f->pc, sp = f->sp, bp = f->bp;
  if (n <= 0 || pc != pcs[0]) return 0;
  for (int i = 0; i < n - 1; i++) {
    uint64_t rule = rules[i];
    unsigned k = (unsigned)rule & 31;
    uintptr_t cfa;
    /* The recorded walk went on from here with this rule, so it was a fast one or a
     * step() one; the checks are the full walk's bounds (alignment and pc != 0 are
     * implied: the next pc must equal a recorded, non-zero one). */
    if (BG_LIKELY(k == (K_SP | B_SAME << 3) || k == (K_SP | B_SAVED << 3))) {
      cfa = sp + (intptr_t)r_cfaoff(rule);
    } else if (k == (K_BP | B_SAVED << 3)) {
      cfa = bp + (intptr_t)r_cfaoff(rule);
    } else {
      if (step_known(rule, &pc, &sp, &bp) != 1 || pc != pcs[i + 1]) return 0;
      continue;
    }
    if (cfa - sp - 1 >= MAX_STEP) return 0;
    if (k & (B_SAVED << 3)) bp = *(const uintptr_t *)(cfa + (intptr_t)r_bpoff(rule));
    pc = *(const uintptr_t *)(cfa - 8);
    sp = cfa;
    if (pc != pcs[i + 1]) return 0;
  }
  /* stopped at max there: done; stopped by itself: the same step must stop here too */
  return !ended || step_known(rules[n - 1], &pc, &sp, &bp) == 0;
}

uint32_t bg__unwind_gen;
