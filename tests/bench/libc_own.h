/* libc_own.h - libc's own definition of a function, for benchmarks that compare it
 * with the shim's wrapper in one process (percall.c, loopcost.c).  dlsym on a libc
 * handle cannot give it: it answers with the shim's wrapper, as it must for programs
 * (preload/dlsym.c); so the symbol is read from libc's GNU hash table.  Needs
 * _GNU_SOURCE, <dlfcn.h>, <link.h>, <string.h>. */
#ifndef BG_BENCH_LIBC_OWN_H
#define BG_BENCH_LIBC_OWN_H
/* libc's own definition of name (default version), from its GNU hash table. */
static inline void *libc_own(const char *name) {
  struct link_map *l = NULL;
  void *lib = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
  if (!lib || dlinfo(lib, RTLD_DI_LINKMAP, &l) != 0 || !l) return NULL;
  const ElfW(Sym) *symtab = NULL;
  const char *strtab = NULL;
  const uint32_t *gh = NULL;
  const ElfW(Half) *versym = NULL;
  for (const ElfW(Dyn) *d = l->l_ld; d->d_tag != DT_NULL; d++) {
    if (d->d_tag == DT_SYMTAB) symtab = (const void *)d->d_un.d_ptr;
    if (d->d_tag == DT_STRTAB) strtab = (const void *)d->d_un.d_ptr;
    if (d->d_tag == DT_GNU_HASH) gh = (const void *)d->d_un.d_ptr;
    if (d->d_tag == DT_VERSYM) versym = (const void *)d->d_un.d_ptr;
  }
  if (!symtab || !strtab || !gh) return NULL;
  uint32_t h = 5381;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = h * 33 + *p;
  uint32_t nb = gh[0], off = gh[1], bloom = gh[2];
  const uint32_t *buckets = gh + 4 + bloom * (sizeof(ElfW(Addr)) / 4), *chain = buckets + nb;
  for (uint32_t i = buckets[h % nb]; i >= off; i++) {
    if ((chain[i - off] | 1) == (h | 1) && !strcmp(strtab + symtab[i].st_name, name) &&
        symtab[i].st_shndx != SHN_UNDEF && !(versym && (versym[i] & 0x8000)))
      return (void *)(l->l_addr + symtab[i].st_value);
    if (chain[i - off] & 1) break;
  }
  return NULL;
}

#endif
