#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

// The worker never touches the operator's terminal: it gets a pseudo-terminal of its own, and the launcher relays
// bytes between the two. Termios, window size, TIOCEXCL or TIOCSTI on its side change only its own pty.

int airlock_pty_open(int operator_fd, int *master_out, int *slave_out) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) return -errno;
    char name[128];
    int rc = 0;
    if (grantpt(master) != 0 || unlockpt(master) != 0 || ptsname_r(master, name, sizeof(name)) != 0) rc = -errno;
    int slave = rc == 0 ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
    if (rc == 0 && slave < 0) rc = -errno;
    if (rc != 0) {
        close(master);
        return rc;
    }
    // The worker starts with the operator's settings and size, as if it ran on that terminal.
    struct termios settings;
    if (tcgetattr(operator_fd, &settings) == 0) tcsetattr(slave, TCSANOW, &settings);
    struct winsize size;
    if (ioctl(operator_fd, TIOCGWINSZ, &size) == 0) ioctl(slave, TIOCSWINSZ, &size);
    *master_out = master;
    *slave_out = slave;
    return 0;
}

static struct {
    int master;
    int input;   // the operator's terminal as input (-1: none)
    int output;  // where the pty's output goes
    int wake[2];
    int raw;     // the operator's settings were changed and must be restored
    struct termios saved;
    pthread_t thread;
    int running;
} relay = {.master = -1, .input = -1, .output = -1, .wake = {-1, -1}};

static void on_winch(int signal) {
    (void)signal;
    int saved = errno;
    struct winsize size;
    if (relay.input >= 0 && ioctl(relay.input, TIOCGWINSZ, &size) == 0) ioctl(relay.master, TIOCSWINSZ, &size);
    errno = saved;
}

static int write_all(int fd, const char *data, ssize_t length) {
    while (length > 0) {
        ssize_t n = write(fd, data, (size_t)length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        data += n;
        length -= n;
    }
    return 0;
}

static void *relay_main(void *unused) {
    (void)unused;
    char buffer[16384];
    int input_open = relay.input >= 0, stopping = 0;
    for (;;) {
        struct pollfd fds[3] = {{relay.master, POLLIN, 0}, {relay.wake[0], POLLIN, 0}, {input_open ? relay.input : -1, POLLIN, 0}};
        // After the worker has exited, only what it already wrote is drained.
        int rc = poll(fds, 3, stopping ? 0 : -1);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) break;
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(relay.master, buffer, sizeof(buffer));
            if (n > 0) {
                if (relay.output >= 0) write_all(relay.output, buffer, n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            break;  // EIO: every descriptor of the worker's side is closed
        }
        if (fds[1].revents & POLLIN) stopping = 1;
        if (input_open && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(relay.input, buffer, sizeof(buffer));
            if (n > 0) {
                write_all(relay.master, buffer, n);
            } else if (!(n < 0 && errno == EINTR)) {
                input_open = 0;
            }
        }
    }
    return NULL;
}

int airlock_pty_relay_start(int master, int input_fd, int output_fd) {
    relay.master = master;
    relay.input = input_fd;
    relay.output = output_fd;
    if (pipe2(relay.wake, O_CLOEXEC) != 0) return -errno;
    // The operator's terminal passes every byte through (Ctrl-C included, which the worker's pty turns into its own
    // SIGINT); its settings are put back when the worker is done.
    if (input_fd >= 0 && tcgetattr(input_fd, &relay.saved) == 0) {
        struct termios raw = relay.saved;
        cfmakeraw(&raw);
        if (tcsetattr(input_fd, TCSADRAIN, &raw) == 0) relay.raw = 1;
    }
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_winch;
    action.sa_flags = SA_RESTART;
    sigaction(SIGWINCH, &action, NULL);
    int rc = pthread_create(&relay.thread, NULL, relay_main, NULL);
    if (rc != 0) {
        airlock_pty_relay_stop();
        return -rc;
    }
    relay.running = 1;
    return 0;
}

void airlock_pty_relay_stop(void) {
    if (relay.running) {
        char byte = 0;
        ssize_t ignored = write(relay.wake[1], &byte, 1);
        (void)ignored;
        pthread_join(relay.thread, NULL);
        relay.running = 0;
    }
    signal(SIGWINCH, SIG_DFL);
    if (relay.raw) tcsetattr(relay.input, TCSADRAIN, &relay.saved);
    relay.raw = 0;
    for (int i = 0; i < 2; i++) {
        if (relay.wake[i] >= 0) close(relay.wake[i]);
        relay.wake[i] = -1;
    }
    if (relay.master >= 0) close(relay.master);
    relay.master = -1;
}
