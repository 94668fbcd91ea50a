#include "internal.h"
#include "CAirlockLinux.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define AIRLOCK_MAX_FDS 8

void airlock_fail(int report_fd, int stage, int error, int detail) {
    struct airlock_report record = {.stage = stage, .error = error, .detail = detail};
    ssize_t n;
    do {
        n = write(report_fd, &record, sizeof(record));
    } while (n < 0 && errno == EINTR);
    _exit(127);
}

int airlock_injected(const struct airlock_sandbox_spec *spec, int stage) {
    return spec->inject_stage == stage ? spec->inject_errno : 0;
}

int airlock_join(char *buf, size_t size, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 1 > size) return -ENAMETOOLONG;
    memcpy(buf, a, la);
    memcpy(buf + la, b, lb + 1);
    return 0;
}

// The launcher's messages are one tag byte, a small payload, and descriptors; the SCM_RIGHTS framing is
// CAirlockLinux's (async-signal-safe: sendmsg/recvmsg and memcpy only).
int airlock_send_message(int sock, char tag, const void *payload, size_t len, const int *fds, int nfds) {
    char buf[64];
    if (len + 1 > sizeof(buf) || nfds < 0 || nfds > AIRLOCK_MAX_FDS) return -EINVAL;
    buf[0] = tag;
    if (len > 0) memcpy(buf + 1, payload, len);
    return airlock_send_fds(sock, fds, nfds, buf, len + 1);
}

ssize_t airlock_recv_message(int sock, char *tag, void *payload, size_t cap, int *fds, int max_fds, int *nfds) {
    char buf[64];
    int received[AIRLOCK_MAX_FDS];
    int count = 0;
    ssize_t n = airlock_recv_fds(sock, received, AIRLOCK_MAX_FDS, &count, buf, sizeof(buf));
    if (n < 0) return n;
    int kept = 0;
    for (int i = 0; i < count; i++) {
        if (fds != NULL && kept < max_fds) {
            fds[kept++] = received[i];
        } else {
            close(received[i]);
        }
    }
    if (nfds != NULL) *nfds = kept;
    if (n == 0) return 0;
    *tag = buf[0];
    size_t body = (size_t)n - 1;
    if (body > cap) body = cap;
    if (body > 0) memcpy(payload, buf + 1, body);
    return n;
}
