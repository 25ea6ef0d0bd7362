/* The bench's C client and its ceiling (built by bench/blob_matrix.py with cc -O2).

     ceiling sendfile FILE READERS
         the physical limit: a server sends FILE with sendfile(2) from the page cache to each of
         READERS loopback connections at once (8 MiB per call, one process per connection,
         default socket options); each reader reads and discards it.
     ceiling get HOST PORT PATH AUTHORIZATION READERS SIZE
         READERS concurrent HTTP/1.1 GETs of PATH (one connection each), each reading and
         discarding a 200 body of exactly SIZE bytes (Content-Length).

   Every reader is a process of its own, reading into the same 1 MiB buffer in both modes. It
   notes when it started (before connect) and when its last byte arrived; the answer is one JSON
   line on stdout: the bytes read by all readers over the time from the first start to the last
   end, and the aggregate MB/s (10^6 bytes per second). Any failure: a message on stderr, exit 1.
*/
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUFFER (1024 * 1024)
#define MAX_READERS 256
#define SLICE (8 * 1024 * 1024) /* bytes per sendfile(2) call (harborlite's; Go's is 4 MiB) */

struct outcome {
    double start;
    double end;
    long long bytes;
    int ok;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(const char *host, int port) {
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) {
        fprintf(stderr, "ceiling: not an IPv4 address: %s\n", host);
        return -1;
    }
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&address, sizeof address) != 0) {
        perror("ceiling: connect");
        return -1;
    }
    return sock;
}

/* Read until EOF (limit < 0) or until limit bytes; returns the bytes read, -1 on error. */
static long long drain(int sock, char *buffer, long long limit) {
    long long total = 0;
    while (limit < 0 || total < limit) {
        size_t want = BUFFER;
        if (limit >= 0 && limit - total < (long long)want) want = (size_t)(limit - total);
        ssize_t n = read(sock, buffer, want);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("ceiling: read");
            return -1;
        }
        if (n == 0) break;
        total += n;
    }
    return total;
}

static int write_all(int fd, const char *data, size_t size) {
    while (size) {
        ssize_t n = write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

/* One HTTP GET: returns the body bytes read (checked against SIZE), -1 on any failure. */
static long long http_get(const char *host, int port, const char *path, const char *auth,
                          long long size, char *buffer) {
    int sock = connect_to(host, port);
    if (sock < 0) return -1;
    char request[8192];
    int length = snprintf(request, sizeof request,
                          "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: %s\r\n"
                          "User-Agent: harborlite-bench-ceiling\r\nConnection: close\r\n\r\n",
                          path, host, port, auth);
    if (length <= 0 || length >= (int)sizeof request ||
        write_all(sock, request, (size_t)length) != 0) {
        fprintf(stderr, "ceiling: cannot send the request\n");
        close(sock);
        return -1;
    }
    /* the head: up to the blank line, within the first 64 KiB */
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have >= 65536) {
            fprintf(stderr, "ceiling: response head too long\n");
            close(sock);
            return -1;
        }
        ssize_t n = read(sock, buffer + have, 65536 - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            fprintf(stderr, "ceiling: connection closed before the response head\n");
            close(sock);
            return -1;
        }
        have += (size_t)n;
        buffer[have] = '\0';
        end = strstr(buffer, "\r\n\r\n");
    }
    size_t head = (size_t)(end - buffer) + 4;
    if (strncmp(buffer, "HTTP/1.1 200", 12) != 0 && strncmp(buffer, "HTTP/1.0 200", 12) != 0) {
        char *eol = strstr(buffer, "\r\n");
        fprintf(stderr, "ceiling: answer %.*s\n", (int)(eol - buffer), buffer);
        close(sock);
        return -1;
    }
    long long declared = -1;
    for (char *line = strstr(buffer, "\r\n") + 2; line < buffer + head - 2;) {
        char *eol = strstr(line, "\r\n");
        if (strncasecmp(line, "content-length:", 15) == 0) declared = atoll(line + 15);
        if (strncasecmp(line, "transfer-encoding:", 18) == 0) {
            fprintf(stderr, "ceiling: a Transfer-Encoding body is not measured\n");
            close(sock);
            return -1;
        }
        line = eol + 2;
    }
    if (declared != size) {
        fprintf(stderr, "ceiling: Content-Length %lld, expected %lld\n", declared, size);
        close(sock);
        return -1;
    }
    long long body = (long long)(have - head);
    if (body > size) {
        fprintf(stderr, "ceiling: more body than Content-Length\n");
        close(sock);
        return -1;
    }
    long long rest = drain(sock, buffer, size - body);
    close(sock);
    if (rest < 0 || body + rest != size) {
        fprintf(stderr, "ceiling: body of %lld bytes, expected %lld\n", body + rest, size);
        return -1;
    }
    return size;
}

static void send_file(int sock, const char *file) {
    int fd = open(file, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror("ceiling: open");
        _exit(1);
    }
    off_t offset = 0;
    while (offset < st.st_size) {
        size_t left = (size_t)(st.st_size - offset);
        ssize_t n = sendfile(sock, fd, &offset, left < SLICE ? left : SLICE);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            perror("ceiling: sendfile");
            _exit(1);
        }
    }
    close(sock);
    _exit(0);
}

int main(int argc, char **argv) {
    int sendfile_mode = argc == 4 && strcmp(argv[1], "sendfile") == 0;
    int get_mode = argc == 8 && strcmp(argv[1], "get") == 0;
    if (!sendfile_mode && !get_mode) {
        fprintf(stderr,
                "usage: ceiling sendfile FILE READERS\n"
                "       ceiling get HOST PORT PATH AUTHORIZATION READERS SIZE\n");
        return 2;
    }
    int readers = atoi(sendfile_mode ? argv[3] : argv[6]);
    if (readers < 1 || readers > MAX_READERS) {
        fprintf(stderr, "ceiling: READERS must be 1 to %d\n", MAX_READERS);
        return 2;
    }
    int listener = -1, port = 0;
    if (sendfile_mode) {
        listener = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in address;
        memset(&address, 0, sizeof address);
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) != 0 ||
            listen(listener, MAX_READERS) != 0 ||
            getsockname(listener, (struct sockaddr *)&address, &length) != 0) {
            perror("ceiling: listen");
            return 1;
        }
        port = ntohs(address.sin_port);
    }
    int report[2];
    if (pipe(report) != 0) {
        perror("ceiling: pipe");
        return 1;
    }
    for (int i = 0; i < readers; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("ceiling: fork");
            return 1;
        }
        if (pid == 0) {
            close(report[0]);
            if (listener >= 0) close(listener);
            char *buffer = malloc(BUFFER + 1);
            struct outcome out = {now(), 0, -1, 0};
            if (sendfile_mode) {
                int sock = connect_to("127.0.0.1", port);
                if (sock >= 0) {
                    out.bytes = drain(sock, buffer, -1);
                    close(sock);
                }
            } else {
                out.bytes = http_get(argv[2], atoi(argv[3]), argv[4], argv[5], atoll(argv[7]),
                                     buffer);
            }
            out.end = now();
            out.ok = out.bytes > 0;
            write_all(report[1], (const char *)&out, sizeof out); /* < PIPE_BUF: atomic */
            _exit(out.ok ? 0 : 1);
        }
    }
    close(report[1]);
    if (sendfile_mode) {
        for (int i = 0; i < readers; i++) {
            int sock = accept(listener, NULL, NULL);
            if (sock < 0) {
                perror("ceiling: accept");
                return 1;
            }
            pid_t pid = fork();
            if (pid == 0) {
                close(listener);
                close(report[0]);
                send_file(sock, argv[2]);
            }
            close(sock);
        }
        close(listener);
    }
    double first = 0, last = 0;
    long long total = 0, expected = -1;
    int failed = 0;
    if (sendfile_mode) {
        struct stat st;
        if (stat(argv[2], &st) != 0) {
            perror("ceiling: stat");
            return 1;
        }
        expected = (long long)st.st_size;
    }
    for (int i = 0; i < readers; i++) {
        struct outcome out;
        size_t got = 0;
        while (got < sizeof out) {
            ssize_t n = read(report[0], (char *)&out + got, sizeof out - got);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got += (size_t)n;
        }
        if (got < sizeof out || !out.ok || (expected >= 0 && out.bytes != expected)) {
            failed++;
            continue;
        }
        if (total == 0 || out.start < first) first = out.start;
        if (out.end > last) last = out.end;
        total += out.bytes;
    }
    int status;
    while (wait(&status) > 0) {
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
    }
    if (failed) {
        fprintf(stderr, "ceiling: %d reader(s) or sender(s) failed\n", failed);
        return 1;
    }
    double seconds = last - first;
    printf("{\"readers\": %d, \"bytes\": %lld, \"seconds\": %.6f, \"mbps\": %.1f}\n", readers,
           total, seconds, (double)total / seconds / 1e6);
    return 0;
}
