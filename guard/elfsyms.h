/* elfsyms.h - the function symbols of a loaded object, read from its file.
 *
 * A few things need address ranges of functions by name at start-up, before any stack
 * is symbolized: the CPython eval loop's cold part (a local symbol, .symtab only) and
 * V8's code-event loggers (exported, but there are many overloads; matched by prefix).
 * dlsym answers one exact exported name; this walks .symtab and .dynsym of the file
 * (mapped read-only, every offset bounds-checked) and calls fn for each defined
 * function.  Cold path only.
 */
#ifndef BG_ELFSYMS_H
#define BG_ELFSYMS_H
#include <stddef.h>
#include <stdint.h>

/* fn gets the symbol's name, its address (st_value + bias) and size.  Returns 0, or -1
 * when the file cannot be read as a 64-bit ELF file. */
int bg__elf_functions(const char *path, uintptr_t bias,
                      void (*fn)(const char *name, uintptr_t addr, size_t size, void *arg),
                      void *arg);
#endif
