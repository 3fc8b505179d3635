/* pprof.c - the report as a pprof profile (gzipped profile.proto), built into its own
 * object, build/libblockguard-pprof.so.
 *
 * Why a separate object: it needs libprotobuf-c and zlib.  The shim lives inside
 * other people's programs; a program that never asks for pprof must not load either,
 * so the shim dlopens this object the first time a pprof is rendered
 * (report/pprof_load.c).  The CLI and the tests link it directly.  It uses nothing of
 * the shim's (whose symbols are hidden): only the model and the libraries.
 *
 * The profile.  profile.proto is google/pprof's (third_party/pprof), compiled by
 * protoc-c; libprotobuf-c encodes, zlib compresses (gzip, level 1 as Go's runtime/pprof
 * does: the profile is rebuilt per request).
 *   sample types   violations/count, blocked/nanoseconds; stalls/count and
 *                  stalled/nanoseconds too when the report has stall sites (category
 *                  "stall", loop health); default: blocked (or the value asked for)
 *   samples        one per site that is not allowed (allowed calls are not
 *                  violations; they stay in the JSON report), leaf first: the wrapped
 *                  call itself ("read"), then the site's frames, language frames
 *                  (Python...) in place where the report has them
 *   labels         thread (names, comma separated: pprof discourages repeated keys),
 *                  call, category, action, site (the stable id)
 *   locations      one per distinct (object, address, function, line); a frame
 *                  without an object (language frames) has mapping 0, address 0
 *   mappings       one per (object, load bias): memory_start = bias, file_offset 0,
 *                  so address - memory_start is the offset the report shows (the ELF
 *                  virtual address, what addr2line takes); build id from the report's
 *                  module table; has_functions/filenames/line_numbers say what the
 *                  report resolved, so pprof does not try to symbolize again
 *   period         blocked/nanoseconds, 1; time_nanos/duration_nanos: the report's
 *                  start and length
 * Interning (strings, functions, mappings, locations) uses uthash; every message comes
 * from one arena freed at the end; a string with invalid UTF-8 is interned as
 * report/utf8.h's policy makes it (U+FFFD per bad byte).  Cost: make bench ("pprof
 * render").
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Keys here are long (a frame's object, function and file) and there are ~250,000
 * lookups per 4,096-site profile: uthash's default (Jenkins, byte at a time) was a
 * third of the render.  This one takes 8 bytes per step (multiply-xorshift). */
static inline unsigned fast_hash(const void *key, size_t n) {
  const unsigned char *k = key;
  uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
  for (; n >= 8; k += 8, n -= 8) {
    memcpy(&w, k, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  w = 0;
  memcpy(&w, k, n);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
  return (unsigned)(h ^ (h >> 29));
}
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = fast_hash((keyptr), (keylen)))
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(e) (p->failed = 1)
#include <uthash.h>

#include "profile.pb-c.h"
#include "report/format.h"

#define BG_EXPORT __attribute__((visibility("default")))

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__ValueType ValueType;
typedef Perftools__Profiles__Sample Sample;
typedef Perftools__Profiles__Label Label;
typedef Perftools__Profiles__Mapping Mapping;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Line Line;
typedef Perftools__Profiles__Function Function;

/* ---- arena ------------------------------------------------------------------------ */
struct block {
  struct block *next;
  size_t used, cap;
  max_align_t data[];
};

/* One entry of an interning table: a key (bytes) → an index or a message. */
struct ent {
  UT_hash_handle hh;
  int64_t idx;
  void *msg;
  size_t keylen;
  char key[];
};

struct pp {
  struct block *blocks;
  int failed;
  struct ent *strs, *funcs, *maps, *locs, *frames;
  int64_t label_keys[5]; /* thread, call, category, action, site */
  char **strtab;
  size_t nstr, capstr;
  /* growing arrays of message pointers (the Profile's repeated fields) */
  Function **funcv;
  size_t nfunc, capfunc;
  Mapping **mapv;
  size_t nmap, capmap;
  Location **locv;
  size_t nloc, caploc;
};

static void *alloc(struct pp *p, size_t n) {
  n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
  struct block *b = p->blocks;
  if (!b || b->used + n > b->cap) {
    size_t cap = n > (1u << 20) ? n : (1u << 20);
    b = malloc(sizeof *b + cap);
    if (!b) {
      p->failed = 1;
      return NULL;
    }
    b->next = p->blocks, b->used = 0, b->cap = cap;
    p->blocks = b;
  }
  void *r = (char *)b->data + b->used;
  b->used += n;
  memset(r, 0, n);
  return r;
}

/* Appends x to a growing pointer array (malloc'd, freed at the end). */
static int push(struct pp *p, void ***v, size_t *n, size_t *cap, void *x) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 256;
    void **nv = realloc(*v, c * sizeof *nv);
    if (!nv) return p->failed = 1, -1;
    *v = nv, *cap = c;
  }
  (*v)[(*n)++] = x;
  return 0;
}

/* The entry for key in *head, created (msg NULL, idx -1) when new; NULL on failure. */
static struct ent *intern(struct pp *p, struct ent **head, const void *key, size_t keylen,
                          int *fresh) {
  struct ent *e = NULL;
  unsigned hv;
  HASH_VALUE(key, keylen, hv); /* once, for the lookup and the insert */
  HASH_FIND_BYHASHVALUE(hh, *head, key, keylen, hv, e);
  *fresh = 0;
  if (e) return e;
  e = alloc(p, sizeof *e + keylen + 1);
  if (!e) return NULL;
  memcpy(e->key, key, keylen);
  e->keylen = keylen;
  e->idx = -1;
  HASH_ADD_KEYPTR_BYHASHVALUE(hh, *head, e->key, keylen, hv, e);
  if (p->failed) return NULL;
  *fresh = 1;
  return e;
}

static int64_t str(struct pp *p, const char *s) {
  if (!s) s = "";
  char *clean = NULL; /* invalid UTF-8: U+FFFD, the one policy of report/utf8.h */
  if (!bg__utf8_valid(s) && !(s = clean = bg__utf8_clean(s, NULL))) return p->failed = 1, 0;
  int fresh;
  struct ent *e = intern(p, &p->strs, s, strlen(s), &fresh);
  free(clean);
  if (!e) return 0;
  if (fresh) {
    e->idx = (int64_t)p->nstr;
    if (push(p, (void ***)&p->strtab, &p->nstr, &p->capstr, e->key) < 0) return 0;
  }
  return e->idx;
}

static const char *base_name(const char *path) {
  const char *s = path ? strrchr(path, '/') : NULL;
  return s ? s + 1 : path ? path : "";
}

static const char *build_id_of(const bg_model_t *m, const char *path) {
  for (int i = 0; path && path[0] && i < m->nmodules; i++)
    if (m->modules[i].path && !strcmp(m->modules[i].path, path)) return m->modules[i].build_id;
  return NULL;
}

/* ---- profile pieces ---------------------------------------------------------------- */
/* Key bytes a, '\0', b into buf (at most cap, truncated); returns the length. */
static size_t pair_key(char *buf, size_t cap, const void *a, size_t na, const char *b) {
  size_t nb = b ? strlen(b) : 0;
  if (na > cap - 1) na = cap - 1;
  if (nb > cap - 1 - na) nb = cap - 1 - na;
  memcpy(buf, a, na);
  buf[na] = 0;
  memcpy(buf + na + 1, b, nb);
  return na + 1 + nb;
}

static uint64_t function(struct pp *p, const char *name, const char *file) {
  char key[2048];
  size_t n = pair_key(key, sizeof key, name, strlen(name), file);
  int fresh;
  struct ent *e = intern(p, &p->funcs, key, n, &fresh);
  if (!e) return 0;
  if (fresh) {
    Function *f = alloc(p, sizeof *f);
    if (!f) return 0;
    perftools__profiles__function__init(f);
    f->id = p->nfunc + 1;
    f->name = f->system_name = str(p, name);
    f->filename = str(p, file);
    e->idx = (int64_t)f->id;
    push(p, (void ***)&p->funcv, &p->nfunc, &p->capfunc, f);
  }
  return (uint64_t)e->idx;
}

static Mapping *mapping(struct pp *p, const bg_model_t *m, const bg_rframe_t *f) {
  char key[1100];
  uint64_t bias = f->pc - f->offset;
  size_t n = pair_key(key, sizeof key, &bias, sizeof bias, f->module);
  int fresh;
  struct ent *e = intern(p, &p->maps, key, n, &fresh);
  if (!e) return NULL;
  if (fresh) {
    Mapping *mp = alloc(p, sizeof *mp);
    if (!mp) return NULL;
    perftools__profiles__mapping__init(mp);
    mp->id = p->nmap + 1;
    mp->memory_start = bias;
    mp->memory_limit = f->pc + 1;
    mp->filename = str(p, f->module);
    mp->build_id = str(p, build_id_of(m, f->module));
    mp->has_functions = mp->has_filenames = mp->has_line_numbers = 1; /* cleared below */
    e->msg = mp;
    push(p, (void ***)&p->mapv, &p->nmap, &p->capmap, mp);
  }
  Mapping *mp = e->msg;
  if (f->pc >= mp->memory_limit) mp->memory_limit = f->pc + 1;
  if (!f->function || !f->function[0]) mp->has_functions = 0;
  if (!f->file || !f->file[0]) mp->has_filenames = 0;
  if (f->line <= 0) mp->has_line_numbers = 0;
  return mp;
}

/* A location for (mapping, address, function, line); returns its id. */
static uint64_t location(struct pp *p, uint64_t map_id, uint64_t addr, uint64_t func,
                         int64_t line) {
  uint64_t key[4] = {map_id, addr, func, (uint64_t)line};
  int fresh;
  struct ent *e = intern(p, &p->locs, key, sizeof key, &fresh);
  if (!e) return 0;
  if (fresh) {
    Location *l = alloc(p, sizeof *l);
    if (!l) return 0;
    perftools__profiles__location__init(l);
    l->id = p->nloc + 1;
    l->mapping_id = map_id;
    l->address = addr;
    if (func) {
      Line *ln = alloc(p, sizeof *ln);
      Line **lv = alloc(p, sizeof *lv);
      if (!ln || !lv) return 0;
      perftools__profiles__line__init(ln);
      ln->function_id = func;
      ln->line = line;
      lv[0] = ln;
      l->n_line = 1;
      l->line = lv;
    }
    e->idx = (int64_t)l->id;
    push(p, (void ***)&p->locv, &p->nloc, &p->caploc, l);
  }
  return (uint64_t)e->idx;
}

static uint64_t new_frame_location(struct pp *p, const bg_model_t *m, const bg_rframe_t *f);

/* A frame's location, looked up by what identifies it in the report (pc and object,
 * or function, file and line): the same frame in another site costs one lookup. */
static uint64_t frame_location(struct pp *p, const bg_model_t *m, const bg_rframe_t *f) {
  char key[2600];
  struct {
    uint64_t pc;
    int32_t line, lang;
  } head = {f->pc, f->line, f->lang};
  size_t n = pair_key(key, sizeof key, &head, sizeof head, f->module);
  n += pair_key(key + n, sizeof key - n, f->function ? f->function : "",
                f->function ? strlen(f->function) : 0, f->file);
  int fresh;
  struct ent *e = intern(p, &p->frames, key, n, &fresh);
  if (!e) return 0;
  if (fresh) e->idx = (int64_t)new_frame_location(p, m, f);
  return (uint64_t)e->idx;
}

static uint64_t new_frame_location(struct pp *p, const bg_model_t *m, const bg_rframe_t *f) {
  int has_object = f->module && f->module[0] && f->lang == BG_LANG_C;
  uint64_t func = 0;
  if (f->function && f->function[0]) {
    func = function(p, f->function, f->file);
  } else if (has_object) { /* unresolved: object+offset names it, as the text report does */
    char name[1100];
    snprintf(name, sizeof name, "%s+0x%llx", base_name(f->module), (unsigned long long)f->offset);
    func = function(p, name, "");
  }
  Mapping *mp = has_object ? mapping(p, m, f) : NULL;
  return location(p, mp ? mp->id : 0, mp ? f->pc : 0, func, f->line > 0 ? f->line : 0);
}

static Label *label(struct pp *p, int key, const char *value) {
  Label *l = alloc(p, sizeof *l);
  if (!l) return NULL;
  perftools__profiles__label__init(l);
  l->key = p->label_keys[key];
  l->str = str(p, value);
  return l;
}

static ValueType *vtype(struct pp *p, const char *type, const char *unit) {
  ValueType *v = alloc(p, sizeof *v);
  if (!v) return NULL;
  perftools__profiles__value_type__init(v);
  v->type = str(p, type);
  v->unit = str(p, unit);
  return v;
}

static int is_stall(const bg_rsite_t *s) { return s->category && !strcmp(s->category, "stall"); }

static Sample *sample(struct pp *p, const bg_model_t *m, const bg_rsite_t *s, int nvalues) {
  Sample *sm = alloc(p, sizeof *sm);
  uint64_t *locs = alloc(p, ((size_t)s->nframes + 1) * sizeof *locs);
  int64_t *vals = alloc(p, (size_t)nvalues * sizeof *vals);
  Label **labels = alloc(p, 5 * sizeof *labels);
  if (!sm || !locs || !vals || !labels) return NULL;
  perftools__profiles__sample__init(sm);
  size_t n = 0;
  if (!is_stall(s)) locs[n++] = location(p, 0, 0, function(p, s->call, ""), 0);
  for (int i = 0; i < s->nframes; i++) locs[n++] = frame_location(p, m, &s->frames[i]);
  sm->n_location_id = n;
  sm->location_id = locs;
  int k = is_stall(s) ? 2 : 0;
  vals[k] = (int64_t)s->count;
  vals[k + 1] = (int64_t)s->total_ns;
  sm->n_value = (size_t)nvalues;
  sm->value = vals;
  char threads[1024] = "";
  size_t used = 0;
  for (int i = 0; i < s->nthreads && used < sizeof threads; i++)
    used += (size_t)snprintf(threads + used, sizeof threads - used, "%s%s", i ? "," : "",
                             s->threads[i]);
  size_t nl = 0;
  if (threads[0]) labels[nl++] = label(p, 0, threads);
  labels[nl++] = label(p, 1, s->call);
  labels[nl++] = label(p, 2, s->category);
  labels[nl++] = label(p, 3, s->action);
  labels[nl++] = label(p, 4, s->id);
  sm->n_label = nl;
  sm->label = labels;
  return sm;
}

/* gzip of data[0..n) at level 1; malloc'd (NUL-terminated past *len), NULL on failure. */
static char *gzip(const uint8_t *data, size_t n, size_t *len) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return NULL;
  size_t cap = deflateBound(&z, n) + 1;
  char *out = malloc(cap);
  if (!out) {
    deflateEnd(&z);
    return NULL;
  }
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)n;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)cap - 1;
  int rc = deflate(&z, Z_FINISH);
  *len = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    free(out);
    return NULL;
  }
  out[*len] = 0;
  return out;
}

static void pp_free(struct pp *p) {
  HASH_CLEAR(hh, p->strs);
  HASH_CLEAR(hh, p->funcs);
  HASH_CLEAR(hh, p->maps);
  HASH_CLEAR(hh, p->locs);
  HASH_CLEAR(hh, p->frames);
  free(p->strtab), free(p->funcv), free(p->mapv), free(p->locv);
  for (struct block *b = p->blocks, *n; b; b = n) n = b->next, free(b);
}

BG_EXPORT char *bg__pprof_render(const bg_model_t *m, const bg_render_opt_t *o, size_t *len) {
  struct pp pp, *p = &pp;
  memset(p, 0, sizeof *p);
  str(p, ""); /* string_table[0] must be "" */
  static const char *const lkeys[5] = {"thread", "call", "category", "action", "site"};
  for (int i = 0; i < 5; i++) p->label_keys[i] = str(p, lkeys[i]);
  int stalls = 0, nsamples = 0;
  for (int i = 0; i < m->nsites; i++) {
    stalls |= is_stall(&m->sites[i]);
    nsamples += !m->sites[i].allowed;
  }
  Profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
  int nvalues = stalls ? 4 : 2;
  ValueType *types[4] = {vtype(p, "violations", "count"), vtype(p, "blocked", "nanoseconds"),
                         stalls ? vtype(p, "stalls", "count") : NULL,
                         stalls ? vtype(p, "stalled", "nanoseconds") : NULL};
  prof.n_sample_type = (size_t)nvalues;
  prof.sample_type = types;
  Sample **samples = alloc(p, ((size_t)nsamples + 1) * sizeof *samples);
  for (int i = 0; samples && !p->failed && i < m->nsites; i++)
    if (!m->sites[i].allowed) samples[prof.n_sample++] = sample(p, m, &m->sites[i], nvalues);
  prof.sample = samples;
  prof.period_type = vtype(p, "blocked", "nanoseconds");
  prof.period = 1;
  prof.time_nanos = (int64_t)m->started_ns;
  prof.duration_nanos = m->ended_ns > m->started_ns ? (int64_t)(m->ended_ns - m->started_ns) : 0;
  prof.default_sample_type =
      str(p, o && o->value == BG_VALUE_VIOLATIONS ? "violations" : "blocked");
  char comment[256];
  snprintf(comment, sizeof comment, "blockguard %s: blocking calls on guarded threads, pid %d",
           m->version ? m->version : "", m->pid);
  int64_t comments[1] = {str(p, comment)};
  prof.n_comment = 1;
  prof.comment = comments;
  /* pprof takes mapping[0] for the main binary (its "File:" line): the program's */
  const char *prog = m->argc > 0 ? base_name(m->argv[0]) : "";
  for (size_t i = 1; prog[0] && i < p->nmap; i++) {
    if (strcmp(base_name(p->strtab[p->mapv[i]->filename]), prog)) continue;
    Mapping *t = p->mapv[0];
    p->mapv[0] = p->mapv[i], p->mapv[i] = t;
    break;
  }
  char *out = NULL;
  if (!p->failed) {
    prof.n_mapping = p->nmap, prof.mapping = p->mapv;
    prof.n_location = p->nloc, prof.location = p->locv;
    prof.n_function = p->nfunc, prof.function = p->funcv;
    prof.n_string_table = p->nstr, prof.string_table = p->strtab;
    size_t n = perftools__profiles__profile__get_packed_size(&prof);
    uint8_t *raw = malloc(n + 1);
    if (raw) {
      perftools__profiles__profile__pack(&prof, raw);
      out = gzip(raw, n, len);
      free(raw);
    }
  }
  pp_free(p);
  return out;
}
