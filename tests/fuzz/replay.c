/* replay.c - runs a libFuzzer harness over files without libFuzzer.
 *
 * `make check` builds every tests/fuzz/fuzz_*.c with the normal compiler (and the
 * sanitizer of SANITIZER=..., if any) against this main(), and replays the committed
 * seed corpus and every crash ever found (tests/fuzz/regress/<target>/).  So a fixed
 * fuzz crash stays fixed even on a machine without clang, and the harness properties
 * are checked on every build.
 *
 * Usage: replay-TARGET DIR|FILE...   Exit 0 when every input ran; a failing property
 * aborts (the name of the input is printed first).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return -1;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  /* exactly sized heap copy: a sanitizer build catches reads past the input */
  uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
  if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
    fprintf(stderr, "%s: read error\n", path);
    fclose(f);
    free(buf);
    return -1;
  }
  fclose(f);
  fprintf(stderr, "replay: %s\n", path);
  LLVMFuzzerTestOneInput(buf, (size_t)n);
  free(buf);
  return 0;
}

static int cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  int ran = 0, bad = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) < 0) continue; /* no regress/ dir yet for this target */
    if (!S_ISDIR(st.st_mode)) {
      bad += run_file(argv[i]) < 0;
      ran++;
      continue;
    }
    DIR *d = opendir(argv[i]);
    if (!d) continue;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      names = realloc(names, (n + 1) * sizeof *names);
      size_t l = strlen(argv[i]) + strlen(e->d_name) + 2;
      names[n] = malloc(l);
      snprintf(names[n++], l, "%s/%s", argv[i], e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    for (size_t k = 0; k < n; k++) {
      bad += run_file(names[k]) < 0;
      ran++;
      free(names[k]);
    }
    free(names);
  }
  printf("%s: %d inputs replayed%s\n", argv[0], ran, bad ? ", some unreadable" : "");
  return bad ? 1 : 0;
}
