/*
 * A connect() load generator in C for the cost bench (bench/cost.ts): the
 * same attempts as bench/generator.mjs with dropped targets (non-blocking
 * connect to HOST:PORT, PORT cycling over COUNT ports from FIRST, each
 * socket closed HOLD_MS later), at a steady RATE a second for DURATION_MS:
 * 20,000 a second take about a third of a core here, all in, where Node's
 * net.connect took a core for 12,000 and could not hold 20,000/s on these
 * 2-core machines beside a tracer, so every configuration saw a different load.
 *
 *   connect-gen TITLE HOST FIRST COUNT RATE DURATION_MS HOLD_MS
 *
 * Prints the generator's JSON line on exit: {"pid","title","issued",
 * "localErrors","outcomes","elapsedMs"}. "held": closed after HOLD_MS with no
 * answer (SYN_SENT to the end); other outcomes are errno names. Every connect
 * that did not fail locally (EMFILE, EADDRNOTAVAIL, ...) entered SYN_SENT.
 * Built by the bench with the host's cc; sends only where it is told (the
 * bench runs it inside its own namespace against 198.18.0.0/15).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

struct held {
  int fd;
  double until;
};

static long held_count, refused, other_errors, local_errors, issued;

static int local_error(int e) {
  return e == EADDRNOTAVAIL || e == EMFILE || e == ENFILE || e == ENOBUFS || e == EADDRINUSE;
}

static void finish(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0) held_count++;
  else if (err == ECONNREFUSED) refused++;
  else other_errors++;
  close(fd);
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: connect-gen TITLE HOST FIRST COUNT RATE DURATION_MS HOLD_MS\n");
    return 2;
  }
  const char *title = argv[1];
  struct sockaddr_in to = {.sin_family = AF_INET};
  if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) {
    fprintf(stderr, "connect-gen: bad IPv4 address %s\n", argv[2]);
    return 2;
  }
  long first = atol(argv[3]), count = atol(argv[4]);
  double rate = atof(argv[5]), duration = atof(argv[6]), hold = atof(argv[7]);
  if (count < 1 || rate <= 0 || duration <= 0 || hold < 0) {
    fprintf(stderr, "connect-gen: bad numbers\n");
    return 2;
  }
  prctl(PR_SET_NAME, title);
  long cap = (long)(rate * (hold + 1000) / 1000) + 1024;
  struct held *ring = calloc((size_t)cap, sizeof *ring);
  if (!ring) return 1;
  long head = 0, tail = 0; /* ring[tail..head) held, oldest first */
  long total = (long)(duration * rate / 1000);
  double start = now_ms(), t;
  for (;;) {
    t = now_ms() - start;
    long due = (long)(t * rate / 1000);
    if (due > total) due = total;
    while (issued < due) {
      issued++;
      to.sin_port = htons((unsigned short)(first + (issued - 1) % count));
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        if (local_error(errno)) local_errors++;
        else other_errors++;
        continue;
      }
      if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS) {
        if (local_error(errno)) local_errors++;
        else if (errno == ECONNREFUSED) refused++;
        else other_errors++;
        close(fd);
        continue;
      }
      if (head - tail >= cap) finish(ring[tail++ % cap].fd);
      ring[head % cap] = (struct held){fd, t + hold};
      head++;
    }
    while (tail < head && ring[tail % cap].until <= t) finish(ring[tail++ % cap].fd);
    if (issued >= total && tail == head) break;
    struct timespec nap = {0, 1000000};
    nanosleep(&nap, NULL);
  }
  printf("{\"pid\":%d,\"title\":\"%s\",\"issued\":%ld,\"localErrors\":%ld,\"outcomes\":{\"held\":%ld,\"ECONNREFUSED\":%ld,\"other\":%ld,\"local\":%ld},\"elapsedMs\":%.1f}\n",
         (int)getpid(), title, issued, local_errors, held_count, refused, other_errors, local_errors, now_ms() - start);
  return 0;
}
