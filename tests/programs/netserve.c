/* A C socket server for the network tests: HTTP/1.0 on TCP port 8080, UDP echo on port 8081.
 *
 * GET /        -> "hello from a C unikernel server\n"
 * GET /big     -> 1 MiB of bytes i*31+7 (mod 256), so the test can check them
 * GET /count   -> how many requests this server answered before this one
 * Anything sent to UDP 8081 comes back unchanged. The server runs until the test stops it.
 *
 * `netserve sleep` instead sleeps 100 ms through clock_nanosleep, relative on CLOCK_MONOTONIC
 * and absolute (TIMER_ABSTIME) on CLOCK_REALTIME, and prints how long each took, in µs.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BIG (1024 * 1024)

static unsigned char big[BIG];
static unsigned long answered;

static int write_all(int fd, const void *data, size_t size)
{
	const unsigned char *p = data;

	while (size) {
		ssize_t n = write(fd, p, size);

		if (n <= 0)
			return -1;
		p += n;
		size -= (size_t)n;
	}
	return 0;
}

static void reply(int fd, const char *type, const void *body, size_t size)
{
	char head[160];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.0 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 type, size);

	if (write_all(fd, head, (size_t)n) == 0)
		write_all(fd, body, size);
}

static void serve(int fd)
{
	char request[1024];
	size_t got = 0;
	char text[64];

	/* Read up to the end of the request's head. */
	while (got < sizeof(request) - 1) {
		ssize_t n = read(fd, request + got, sizeof(request) - 1 - got);

		if (n <= 0)
			return;
		got += (size_t)n;
		request[got] = 0;
		if (strstr(request, "\r\n\r\n"))
			break;
	}
	if (strncmp(request, "GET /big ", 9) == 0) {
		reply(fd, "application/octet-stream", big, BIG);
	} else if (strncmp(request, "GET /count ", 11) == 0) {
		int n = snprintf(text, sizeof(text), "%lu\n", answered);

		reply(fd, "text/plain", text, (size_t)n);
	} else {
		static const char hello[] = "hello from a C unikernel server\n";

		reply(fd, "text/plain", hello, sizeof(hello) - 1);
	}
	answered++;
}

static void *udp_echo(void *unused)
{
	struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(8081)};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	(void)unused;
	if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) < 0) {
		perror("udp");
		return NULL;
	}
	for (;;) {
		char data[2048];
		struct sockaddr_in peer;
		socklen_t length = sizeof(peer);
		ssize_t n = recvfrom(fd, data, sizeof(data), 0, (struct sockaddr *)&peer, &length);

		if (n >= 0)
			sendto(fd, data, (size_t)n, 0, (struct sockaddr *)&peer, length);
	}
	return NULL;
}

static long long now_us(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000000LL + now.tv_nsec / 1000;
}

static int sleeps(void)
{
	struct timespec relative = {.tv_sec = 0, .tv_nsec = 100000000}, until;
	long long before = now_us();
	int failed = clock_nanosleep(CLOCK_MONOTONIC, 0, &relative, NULL);

	printf("relative: %lld us (%d)\n", now_us() - before, failed);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 100000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_nsec -= 1000000000;
		until.tv_sec++;
	}
	before = now_us();
	failed = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &until, NULL);
	printf("absolute: %lld us (%d)\n", now_us() - before, failed);
	return 0;
}

int main(int argc, char *argv[])
{
	struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(8080)};
	int one = 1;
	int server;
	pthread_t udp;

	if (argc > 1 && strcmp(argv[1], "sleep") == 0)
		return sleeps();
	for (size_t i = 0; i < BIG; i++)
		big[i] = (unsigned char)(i * 31 + 7);
	pthread_create(&udp, NULL, udp_echo, NULL);
	server = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (server < 0 || bind(server, (struct sockaddr *)&address, sizeof(address)) < 0 ||
	    listen(server, 32) < 0) {
		perror("tcp");
		return 1;
	}
	printf("listening on 8080 (tcp) and 8081 (udp)\n");
	fflush(stdout);
	for (;;) {
		int client = accept(server, NULL, NULL);

		if (client < 0)
			continue;
		serve(client);
		close(client);
	}
}
