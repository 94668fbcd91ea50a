#include "CAirlockLinux.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

// The kernel answers an exact-match request (no NLM_F_DUMP, INET_DIAG_NOCOOKIE) with one
// inet_diag_msg or an NLMSG_ERROR; see inet_diag_find_one_icsk() in net/ipv4/inet_diag.c.
int airlock_sockdiag_tcp_owner(int family, const uint8_t *src, uint16_t sport, const uint8_t *dst,
                               uint16_t dport, uint32_t *uid, uint64_t *inode) {
    if (family != AF_INET && family != AF_INET6) {
        return -EAFNOSUPPORT;
    }
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) {
        return -errno;
    }
    struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
    } msg;
    memset(&msg, 0, sizeof(msg));
    msg.nlh.nlmsg_len = sizeof(msg);
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST;
    msg.nlh.nlmsg_seq = 1;
    msg.req.sdiag_family = (uint8_t)family;
    msg.req.sdiag_protocol = IPPROTO_TCP;
    msg.req.idiag_states = ~0u;
    msg.req.id.idiag_sport = htons(sport);
    msg.req.id.idiag_dport = htons(dport);
    size_t alen = family == AF_INET ? 4 : 16;
    memcpy(msg.req.id.idiag_src, src, alen);
    memcpy(msg.req.id.idiag_dst, dst, alen);
    msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t sent;
    do {
        sent = sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel));
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        int e = errno;
        close(fd);
        return -e;
    }

    long buf[2048 / sizeof(long)];
    ssize_t n;
    do {
        n = recv(fd, buf, sizeof(buf), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    close(fd);

    int result = -ENOENT;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr *err = (struct nlmsgerr *)NLMSG_DATA(h);
            return err->error != 0 ? err->error : -ENOENT;
        }
        if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
            struct inet_diag_msg *d = (struct inet_diag_msg *)NLMSG_DATA(h);
            // Guard against a kernel that ignores the exact-match request: the 4-tuple must be ours.
            if (d->id.idiag_sport != htons(sport) || d->id.idiag_dport != htons(dport) ||
                memcmp(d->id.idiag_src, src, alen) != 0 || memcmp(d->id.idiag_dst, dst, alen) != 0) {
                continue;
            }
            // A socket its owner has closed (orphaned, in FIN_WAIT or TIME_WAIT) has inode 0 and reports
            // uid 0: it belongs to nobody, and must never be taken for root's.
            if (d->idiag_inode == 0 || d->idiag_state == TCP_TIME_WAIT || d->idiag_state == TCP_CLOSE) {
                return -ESRCH;
            }
            *uid = d->idiag_uid;
            *inode = d->idiag_inode;
            return 0;
        }
        if (h->nlmsg_type == NLMSG_DONE) {
            break;
        }
    }
    return result;
}
