// SPDX-License-Identifier: MIT
/*
 * epoll_client: an nginx-style event loop with no katls code (it stands for
 * unmodified servers and proxies): a non-blocking connect, then one
 * level-triggered epoll set waiting for EPOLLOUT, a write when it says so,
 * then EPOLLIN and a read.  Under an attest rule the socket must not be
 * reported writable before the verdict (a level-triggered loop would spin)
 * and must be usable the moment it is reported:
 *
 *   epoll_client HOST PORT MSG
 *   -> wakeups=N spurious=S first_write=ok|ERRNO reply=TEXT ms_to_writable=T
 *
 * "spurious" counts wake-ups after which the write failed with EAGAIN; a
 * wake-up with EPOLLERR/EPOLLHUP ends the loop (a refusal).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct epoll_event ev = { .events = EPOLLOUT }, got;
	unsigned int wakeups = 0, spurious = 0;
	char reply[256] = "-", first[32] = "none";
	double t0;
	int fd, ep, n;

	if (argc != 4 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1)
		return fprintf(stderr, "usage: epoll_client IPV4 PORT MSG\n"), 2;
	a.sin_port = htons((unsigned short)atoi(argv[2]));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ep = epoll_create1(0);
	if (fd < 0 || ep < 0)
		return perror("epoll_client"), 1;
	t0 = now_ms();
	if (connect(fd, (void *)&a, sizeof(a)) && errno != EINPROGRESS)
		return perror("epoll_client: connect"), 1;
	ev.data.fd = fd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		return perror("epoll_client: epoll_ctl"), 1;
	for (;;) {
		n = epoll_wait(ep, &got, 1, 30000);
		if (n <= 0) {
			snprintf(first, sizeof(first), "%s", n ? strerror(errno) : "TIMEOUT");
			break;
		}
		wakeups++;
		if (got.events & (EPOLLERR | EPOLLHUP)) {
			int err = 0;
			socklen_t l = sizeof(err);

			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
			if (write(fd, argv[3], strlen(argv[3])) < 0)
				err = errno;
			snprintf(first, sizeof(first), "%s", strerrorname_np(err) ?: "ERR");
			break;
		}
		if (write(fd, argv[3], strlen(argv[3])) < 0) {
			if (errno == EAGAIN) {
				spurious++;
				if (spurious > 1000)
					break;
				continue;
			}
			snprintf(first, sizeof(first), "%s", strerrorname_np(errno) ?: "ERR");
			break;
		}
		snprintf(first, sizeof(first), "ok ms_to_writable=%.1f", now_ms() - t0);
		ev.events = EPOLLIN;
		epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
		if (epoll_wait(ep, &got, 1, 30000) == 1) {
			ssize_t r = read(fd, reply, sizeof(reply) - 1);

			reply[r > 0 ? r : 0] = '\0';
			if (r <= 0)
				snprintf(reply, sizeof(reply), "%s", r ? strerrorname_np(errno) : "EOF");
		}
		break;
	}
	printf("wakeups=%u spurious=%u first_write=%s reply=%s\n", wakeups, spurious, first, reply);
	return 0;
}
