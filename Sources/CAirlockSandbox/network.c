#include "internal.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

// A new network namespace has only lo, and it is down (network_namespaces(7)); SIOCSIFFLAGS is a plain syscall,
// unlike the netlink route dance, and is enough to raise it.
static int loopback_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    int rc = 0;
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
        rc = -errno;
    } else {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) rc = -errno;
    }
    close(fd);
    return rc;
}

static int listen_loopback(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, SOMAXCONN) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

void airlock_setup_network(const struct airlock_sandbox_spec *spec, int report_fd, int *fds) {
    int rc = loopback_up();
    if (rc != 0) airlock_fail(report_fd, AIRLOCK_STAGE_LOOPBACK_UP, -rc, 0);
    for (int i = 0; i < spec->listen_count; i++) {
        fds[i] = listen_loopback(spec->listen_ports[i]);
        if (fds[i] < 0) airlock_fail(report_fd, AIRLOCK_STAGE_LISTENER, -fds[i], i);
    }
}
