#include "CAirlockSandbox.h"

#include <elf.h>
#include <link.h>
#include <string.h>

struct build_id_search {
    uint8_t *out;
    size_t cap;
    int length;
};

static size_t align4(size_t n) { return (n + 3) & ~(size_t)3; }

// The first object dl_iterate_phdr reports is the executable itself; its PT_NOTE segments are mapped in memory, so
// finding the GNU build-id note reads no file.
static int find_in_executable(struct dl_phdr_info *info, size_t size, void *context) {
    (void)size;
    struct build_id_search *search = context;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *phdr = &info->dlpi_phdr[i];
        if (phdr->p_type != PT_NOTE) continue;
        const uint8_t *note = (const uint8_t *)(info->dlpi_addr + phdr->p_vaddr);
        const uint8_t *end = note + phdr->p_memsz;
        while (note + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *header = (const ElfW(Nhdr) *)note;
            const uint8_t *name = note + sizeof(ElfW(Nhdr));
            const uint8_t *desc = name + align4(header->n_namesz);
            if (desc + header->n_descsz > end) break;
            if (header->n_type == NT_GNU_BUILD_ID && header->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                header->n_descsz <= search->cap) {
                memcpy(search->out, desc, header->n_descsz);
                search->length = (int)header->n_descsz;
                return 1;
            }
            note = desc + align4(header->n_descsz);
        }
    }
    return 1;
}

int airlock_build_id(uint8_t *out, size_t cap) {
    struct build_id_search search = {.out = out, .cap = cap, .length = 0};
    dl_iterate_phdr(find_in_executable, &search);
    return search.length;
}
