/* elfsyms.c - function symbols of an object file (see elfsyms.h). */
#define _GNU_SOURCE
#include "guard/elfsyms.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int bg__elf_functions(const char *path, uintptr_t bias,
                      void (*fn)(const char *name, uintptr_t addr, size_t size, void *arg),
                      void *arg) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  void *map = MAP_FAILED;
  if (fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof(Elf64_Ehdr))
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return -1;
  size_t size = (size_t)st.st_size;
  const unsigned char *b = map;
  const Elf64_Ehdr *eh = map;
  int rc = -1;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff > size ||
      (size - eh->e_shoff) / sizeof(Elf64_Shdr) < eh->e_shnum)
    goto out;
  rc = 0;
  const Elf64_Shdr *sh = (const Elf64_Shdr *)(b + eh->e_shoff);
  for (int i = 0; i < eh->e_shnum; i++) {
    if ((sh[i].sh_type != SHT_SYMTAB && sh[i].sh_type != SHT_DYNSYM) ||
        sh[i].sh_link >= eh->e_shnum)
      continue;
    const Elf64_Shdr *syms = &sh[i], *strs = &sh[sh[i].sh_link];
    if (syms->sh_offset > size || syms->sh_size > size - syms->sh_offset ||
        strs->sh_offset > size || strs->sh_size > size - strs->sh_offset || !strs->sh_size)
      continue;
    const Elf64_Sym *sym = (const Elf64_Sym *)(b + syms->sh_offset);
    size_t n = syms->sh_size / sizeof(Elf64_Sym);
    const char *names = (const char *)(b + strs->sh_offset);
    for (size_t k = 0; k < n; k++) {
      if (ELF64_ST_TYPE(sym[k].st_info) != STT_FUNC || sym[k].st_shndx == SHN_UNDEF ||
          !sym[k].st_size || sym[k].st_name >= strs->sh_size)
        continue;
      const char *name = names + sym[k].st_name;
      if (!memchr(name, 0, strs->sh_size - sym[k].st_name)) continue; /* unterminated */
      fn(name, bias + sym[k].st_value, sym[k].st_size, arg);
    }
  }
out:
  munmap(map, size);
  return rc;
}
