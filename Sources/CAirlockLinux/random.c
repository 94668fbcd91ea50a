#define _GNU_SOURCE
#include <errno.h>
#include <sys/random.h>

#include "CAirlockLinux.h"

int airlock_random_bytes(void *buffer, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom((char *)buffer + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        done += (size_t)n;
    }
    return 0;
}
