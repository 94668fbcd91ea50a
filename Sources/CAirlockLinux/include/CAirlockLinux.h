#ifndef C_AIRLOCK_LINUX_H
#define C_AIRLOCK_LINUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Credentials of the process on the other end of a connected Unix socket (SO_PEERCRED).
/// Returns 0, or -errno.
int airlock_peercred(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);

/// Looks up, through NETLINK_SOCK_DIAG, the owner UID and inode of the TCP socket whose local end is
/// (src, sport) and whose remote end is (dst, dport): for a connection accepted on a loopback listener,
/// pass the connection's remote address as src and its local address as dst to find the client's socket.
/// `family` is AF_INET (4-byte addresses) or AF_INET6 (16-byte addresses); ports in host byte order.
/// Returns 0, -ENOENT when no such socket exists, -ESRCH when it has no owner (closed by its process: orphaned or
/// in TIME_WAIT, where the kernel reports uid 0), or another -errno.
int airlock_sockdiag_tcp_owner(int family, const uint8_t *src, uint16_t sport, const uint8_t *dst,
                               uint16_t dport, uint32_t *uid, uint64_t *inode);

/// Sends `nfds` descriptors with `len` bytes of data over a Unix socket (SCM_RIGHTS). Returns 0, or -errno.
int airlock_send_fds(int sock, const int *fds, int nfds, const void *data, size_t len);

/// Receives up to `maxfds` descriptors (set CLOEXEC) and up to `cap` bytes of data.
/// Returns the number of data bytes (0 at end of stream), or -errno; `*nfds` gets the descriptor count.
/// Truncated control data is an error (-EMSGSIZE) and every received descriptor is closed.
ssize_t airlock_recv_fds(int sock, int *fds, int maxfds, int *nfds, void *data, size_t cap);

#endif

/// Switches every thread of the process to (uid, gid) with supplementary groups [gid], then checks
/// /proc/self/task that no thread kept another identity.
///
/// glibc's setuid() changes every thread it can reach, but skips a thread that is inside pthread_exit();
/// libdispatch parks the main thread exactly there (dispatch_main), so that thread would stay root.
/// This routine signals each other thread to make the raw set*id system calls itself, then does the
/// calling thread. Returns 0, or -errno (-EAGAIN: a thread did not acknowledge in time; -EPERM: a thread
/// still has another identity afterwards).
int airlock_setid_all_threads(uint32_t uid, uint32_t gid);

/// Fills `len` bytes from the kernel's random source (getrandom(2), blocking only before the pool is seeded).
/// Returns 0, or -errno.
int airlock_random_bytes(void *buffer, size_t len);

/// posix_spawn of `path` with `in`, `out`, `err` as its standard descriptors, every other descriptor closed, an
/// empty signal mask, default dispositions for the usual signals, in a process group of its own. 0 or -errno.
int airlock_spawn_piped(const char *path, char *const argv[], char *const envp[], int in, int out, int err,
                        int32_t *pid);

/// pipe2(fds, O_CLOEXEC): 0 or -errno.
int airlock_pipe_cloexec(int fds[2]);

/// A TCP socket listening on 127.0.0.1 at a port the kernel picks (close-on-exec), with `backlog`; the port is
/// written to `port`. The descriptor, or -errno.
int airlock_listen_loopback4(int backlog, uint16_t *port);
