#include "internal.h"

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

int airlock_send_message(int sock, char tag, const void *payload, size_t len, const int *fds, int nfds) {
    char buf[64];
    if (len + 1 > sizeof(buf) || nfds < 0 || nfds > AIRLOCK_MAX_FDS) return -EINVAL;
    buf[0] = tag;
    if (len > 0) memcpy(buf + 1, payload, len);
    union {
        char data[CMSG_SPACE(sizeof(int) * AIRLOCK_MAX_FDS)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct iovec iov = {.iov_base = buf, .iov_len = len + 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        msg.msg_control = control.data;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

ssize_t airlock_recv_message(int sock, char *tag, void *payload, size_t cap, int *fds, int max_fds, int *nfds) {
    char buf[64];
    union {
        char data[CMSG_SPACE(sizeof(int) * AIRLOCK_MAX_FDS)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.data,
                         .msg_controllen = sizeof(control.data)};
    ssize_t n;
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    int count = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int received[AIRLOCK_MAX_FDS];
        memcpy(received, CMSG_DATA(c), sizeof(int) * (size_t)k);
        for (int i = 0; i < k; i++) {
            if (fds != NULL && count < max_fds) {
                fds[count++] = received[i];
            } else {
                close(received[i]);
            }
        }
    }
    if (nfds != NULL) *nfds = count;
    if (n == 0) return 0;
    *tag = buf[0];
    size_t body = (size_t)n - 1;
    if (body > cap) body = cap;
    if (body > 0) memcpy(payload, buf + 1, body);
    return n;
}
