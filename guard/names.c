/* names.c - text names of categories, actions and thread roles.
 *
 * Names are part of the contract (DESIGN.md): they appear in options, allowlists and
 * every report format, so they are defined once here from the same X-macros.
 */
#define _GNU_SOURCE
#include <link.h>
#include <string.h>

#include "guard/guard.h"

static const char *const cat_names[] = {
#define BG__CAT_NAME(n) #n,
    BG_CATEGORIES(BG__CAT_NAME)
#undef BG__CAT_NAME
};

static const char *const act_names[] = {"report", "warn", "raise", "abort", "offload", "off"};
static const char *const why_names[] = {"none", "main", "name", "auto", "api", "all"};

static int lookup(const char *const *names, int count, const char *s, size_t n) {
  for (int i = 0; i < count; i++)
    if (strlen(names[i]) == n && !strncmp(names[i], s, n)) return i;
  return -1;
}

const char *bg__category_name(int cat) {
  return cat >= 0 && cat < BG_CAT_COUNT ? cat_names[cat] : "?";
}
int bg__category_parse(const char *s, size_t n) { return lookup(cat_names, BG_CAT_COUNT, s, n); }

const char *bg__action_name(int act) {
  return act >= 0 && act <= BG_ACT_OFF ? act_names[act] : "?";
}
int bg__action_parse(const char *s, size_t n) { return lookup(act_names, BG_ACT_OFF + 1, s, n); }

const char *bg__why_name(int why) { return why >= 0 && why <= BG_WHY_ALL ? why_names[why] : "?"; }

void bg__object_range(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi) {
  uintptr_t l = UINTPTR_MAX, h = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t a = info->dlpi_addr + ph->p_vaddr;
    if (a < l) l = a;
    if (a + ph->p_memsz > h) h = a + ph->p_memsz;
  }
  *lo = h ? l : 0;
  *hi = h;
}
