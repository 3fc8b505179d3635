/* test_pprof.c - the pprof and folded formats from a hand-built model: the profile is
 * gunzipped (zlib) and decoded (libprotobuf-c, the same profile.proto) and checked the
 * way pprof reads it - sample types, one sample per violating site with the call as
 * the leaf, labels, locations shared between sites, mappings with build ids and what
 * they resolved, language frames without a mapping, stall sample types only when
 * there are stall sites; folded lines root-first with values that add up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "profile.pb-c.h"
#include "report/format.h"

typedef Perftools__Profiles__Profile Profile;

static void frame(bg_rframe_t *f, uint64_t pc, const char *mod, uint64_t off, const char *fn,
                  const char *file, int line, int lang) {
  f->pc = pc;
  f->module = strdup(mod);
  f->offset = off;
  f->function = strdup(fn);
  f->file = strdup(file);
  f->line = line;
  f->lang = lang;
}

static void site(bg_rsite_t *s, const char *id, const char *call, const char *cat, uint64_t count,
                 uint64_t ns, int allowed) {
  memset(s, 0, sizeof *s);
  snprintf(s->id, sizeof s->id, "%s", id);
  s->call = strdup(call);
  s->category = strdup(cat);
  s->action = strdup("report");
  s->allowed = allowed;
  s->count = count;
  s->total_ns = ns;
  s->threads = calloc(3, sizeof *s->threads);
  s->threads[s->nthreads++] = strdup("loop");
  s->threads[s->nthreads++] = strdup("io-1");
  s->frames = calloc(4, sizeof *s->frames);
}

/* 3 sites: read (2 C frames + 1 Python), fsync (shares main's frame), an allowed one */
static void make_model(bg_model_t *m) {
  memset(m, 0, sizeof *m);
  m->tool = strdup("blockguard");
  m->version = strdup("0.2.0");
  m->pid = 77;
  m->argc = 1;
  m->argv = calloc(2, sizeof *m->argv);
  m->argv[0] = strdup("/opt/srv/bin/srv");
  m->started_ns = 1000000000;
  m->ended_ns = 3000000000;
  m->sites = calloc(3, sizeof *m->sites);
  bg_rsite_t *s = &m->sites[m->nsites++];
  site(s, "00000000000000a1", "read", "io", 5, 5000000, 0);
  frame(&s->frames[s->nframes++], 0x7f0000012345, "/lib/x86_64-linux-gnu/libc.so.6", 0x12345, "",
        "", 0, BG_LANG_C);
  frame(&s->frames[s->nframes++], 0, "", 0, "handle", "/app/h.py", 17, BG_LANG_PYTHON);
  frame(&s->frames[s->nframes++], 0x555500001000, "/opt/srv/bin/srv", 0x1000, "main", "/src/srv.c",
        90, BG_LANG_C);
  s = &m->sites[m->nsites++];
  site(s, "00000000000000b2", "fsync", "disk", 2, 7000000, 0);
  frame(&s->frames[s->nframes++], 0x555500002000, "/opt/srv/bin/srv", 0x2000, "save;it",
        "/src/srv.c", 40, BG_LANG_C);
  frame(&s->frames[s->nframes++], 0x555500001000, "/opt/srv/bin/srv", 0x1000, "main", "/src/srv.c",
        90, BG_LANG_C);
  s = &m->sites[m->nsites++];
  site(s, "00000000000000c3", "usleep", "sleep", 9, 9, 1);
  frame(&s->frames[s->nframes++], 0x555500003000, "/opt/srv/bin/srv", 0x3000, "cfg", "/src/cfg.c",
        7, BG_LANG_C);
  m->modules = calloc(2, sizeof *m->modules);
  m->modules[0].path = strdup("/opt/srv/bin/srv");
  m->modules[0].build_id = strdup("0123456789abcdef0123456789abcdef01234567");
  m->nmodules = 1;
}

static Profile *decode(const char *gz, size_t len) {
  assert_true(len > 18);
  assert_int_equal((unsigned char)gz[0], 0x1f); /* gzip */
  assert_int_equal((unsigned char)gz[1], 0x8b);
  z_stream z;
  memset(&z, 0, sizeof z);
  assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
  size_t cap = 1 << 20;
  uint8_t *raw = malloc(cap);
  z.next_in = (Bytef *)gz;
  z.avail_in = (uInt)len;
  z.next_out = raw;
  z.avail_out = (uInt)cap;
  assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
  size_t n = z.total_out;
  inflateEnd(&z);
  Profile *p = perftools__profiles__profile__unpack(NULL, n, raw);
  free(raw);
  assert_non_null(p);
  return p;
}

static const char *S(const Profile *p, int64_t i) {
  assert_true(i >= 0 && (size_t)i < p->n_string_table);
  return p->string_table[i];
}

static const char *label(const Profile *p, const Perftools__Profiles__Sample *s, const char *key) {
  for (size_t i = 0; i < s->n_label; i++)
    if (!strcmp(S(p, s->label[i]->key), key)) return S(p, s->label[i]->str);
  return NULL;
}

static const Perftools__Profiles__Location *loc(const Profile *p, uint64_t id) {
  for (size_t i = 0; i < p->n_location; i++)
    if (p->location[i]->id == id) return p->location[i];
  fail_msg("no location %llu", (unsigned long long)id);
  return NULL;
}

static const char *fn_of(const Profile *p, const Perftools__Profiles__Location *l) {
  assert_int_equal(l->n_line, 1);
  for (size_t i = 0; i < p->n_function; i++)
    if (p->function[i]->id == l->line[0]->function_id) return S(p, p->function[i]->name);
  fail_msg("no function");
  return NULL;
}

static const Perftools__Profiles__Mapping *map(const Profile *p, uint64_t id) {
  for (size_t i = 0; i < p->n_mapping; i++)
    if (p->mapping[i]->id == id) return p->mapping[i];
  return NULL;
}

static void pprof_profile(void **state) {
  (void)state;
  bg_model_t m;
  make_model(&m);
  size_t len = 0;
  char *gz = bg_render_n(&m, BG_FMT_pprof, NULL, &len);
  if (!gz) fail_msg("pprof: %s", bg_render_error());
  Profile *p = decode(gz, len);
  assert_string_equal(S(p, 0), "");
  assert_int_equal(p->n_sample_type, 2); /* no stall sites: no stall types */
  assert_string_equal(S(p, p->sample_type[0]->type), "violations");
  assert_string_equal(S(p, p->sample_type[0]->unit), "count");
  assert_string_equal(S(p, p->sample_type[1]->type), "blocked");
  assert_string_equal(S(p, p->sample_type[1]->unit), "nanoseconds");
  assert_string_equal(S(p, p->default_sample_type), "blocked");
  assert_int_equal(p->time_nanos, 1000000000);
  assert_int_equal(p->duration_nanos, 2000000000);
  assert_int_equal(p->n_sample, 2); /* the allowed site is not a violation */
  const Perftools__Profiles__Sample *r = p->sample[0], *f = p->sample[1];
  assert_int_equal(r->n_value, 2);
  assert_int_equal(r->value[0], 5);
  assert_int_equal(r->value[1], 5000000);
  assert_string_equal(label(p, r, "call"), "read");
  assert_string_equal(label(p, r, "category"), "io");
  assert_string_equal(label(p, r, "action"), "report");
  assert_string_equal(label(p, r, "site"), "00000000000000a1");
  assert_string_equal(label(p, r, "thread"), "loop,io-1");
  /* leaf first: the call, libc (unresolved: named object+offset), python, main */
  assert_int_equal(r->n_location_id, 4);
  assert_string_equal(fn_of(p, loc(p, r->location_id[0])), "read");
  assert_int_equal(loc(p, r->location_id[0])->mapping_id, 0);
  assert_string_equal(fn_of(p, loc(p, r->location_id[1])), "libc.so.6+0x12345");
  const Perftools__Profiles__Location *py = loc(p, r->location_id[2]);
  assert_string_equal(fn_of(p, py), "handle");
  assert_int_equal(py->mapping_id, 0);
  assert_int_equal(py->line[0]->line, 17);
  const Perftools__Profiles__Location *mn = loc(p, r->location_id[3]);
  assert_string_equal(fn_of(p, mn), "main");
  assert_int_equal(mn->address, 0x555500001000);
  /* main's location is shared with the fsync sample */
  assert_int_equal(f->location_id[f->n_location_id - 1], r->location_id[3]);
  /* mappings: the program first (pprof's main binary), with its build id */
  assert_true(p->n_mapping == 2);
  const Perftools__Profiles__Mapping *srv = p->mapping[0];
  assert_string_equal(S(p, srv->filename), "/opt/srv/bin/srv");
  assert_string_equal(S(p, srv->build_id), "0123456789abcdef0123456789abcdef01234567");
  assert_int_equal(srv->memory_start, 0x555500000000);
  assert_true(srv->memory_limit > 0x555500002000);
  assert_true(srv->has_functions && srv->has_filenames && srv->has_line_numbers);
  const Perftools__Profiles__Mapping *libc = map(p, loc(p, r->location_id[1])->mapping_id);
  assert_non_null(libc);
  assert_false(libc->has_functions); /* pprof may symbolize it; it knows it needs to */
  perftools__profiles__profile__free_unpacked(p, NULL);
  free(gz);
  /* value=violations makes counts the default; a stall site adds the stall types */
  bg_render_opt_t o = {.value = BG_VALUE_VIOLATIONS};
  free(m.sites[2].category);
  m.sites[2].category = strdup("stall");
  m.sites[2].allowed = 0;
  gz = bg_render_n(&m, BG_FMT_pprof, &o, &len);
  p = decode(gz, len);
  assert_string_equal(S(p, p->default_sample_type), "violations");
  assert_int_equal(p->n_sample_type, 4);
  assert_string_equal(S(p, p->sample_type[2]->type), "stalls");
  assert_string_equal(S(p, p->sample_type[3]->type), "stalled");
  assert_int_equal(p->n_sample, 3);
  const Perftools__Profiles__Sample *st = p->sample[2];
  assert_int_equal(st->value[0], 0);
  assert_int_equal(st->value[1], 0);
  assert_int_equal(st->value[2], 9);
  assert_int_equal(st->value[3], 9);
  assert_string_equal(fn_of(p, loc(p, st->location_id[0])), "cfg"); /* no call leaf */
  perftools__profiles__profile__free_unpacked(p, NULL);
  free(gz);
  /* an empty report is still a valid profile */
  bg_model_t e = {0};
  gz = bg_render_n(&e, BG_FMT_pprof, NULL, &len);
  p = decode(gz, len);
  assert_int_equal(p->n_sample, 0);
  perftools__profiles__profile__free_unpacked(p, NULL);
  free(gz);
  bg_model_free(&m);
}

static void folded_stacks(void **state) {
  (void)state;
  bg_model_t m;
  make_model(&m);
  char *t = bg_render_n(&m, BG_FMT_folded, NULL, NULL);
  assert_non_null(t);
  /* root first, the call as the leaf, ';' inside a name is not a separator */
  assert_string_equal(t,
                      "main;handle;libc.so.6+0x12345;read 5000000\n"
                      "main;save?it;fsync 7000000\n");
  free(t);
  bg_render_opt_t o = {.value = BG_VALUE_VIOLATIONS};
  t = bg_render_n(&m, BG_FMT_folded, &o, NULL);
  assert_string_equal(t, "main;handle;libc.so.6+0x12345;read 5\nmain;save?it;fsync 2\n");
  free(t);
  bg_model_free(&m);
  /* two sites folding to the same names add up */
  bg_model_t two = {0};
  two.sites = calloc(2, sizeof *two.sites);
  site(&two.sites[two.nsites++], "01", "read", "io", 2, 20, 0);
  site(&two.sites[two.nsites++], "02", "read", "io", 5, 50, 0);
  t = bg_render_n(&two, BG_FMT_folded, &o, NULL);
  assert_string_equal(t, "read 7\n");
  free(t);
  bg_model_free(&two);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(pprof_profile),
      cmocka_unit_test(folded_stacks),
  };
  return cmocka_run_group_tests_name("pprof", tests, NULL, NULL);
}
