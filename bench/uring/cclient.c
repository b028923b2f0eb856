/* cclient ROOT N SIZE THREADS SEED: like client.py but in C (open, TCGETS like
 * isatty(), fstat, read to EOF, close, memcmp against the expected bytes).
 * Prints "secs bad". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const char *root;
static int n, nth;
static size_t size;
static int *order;
static _Atomic int next_idx, bad;
static uint8_t *big;

static void *worker(void *a)
{
	uint8_t *buf = malloc(size + 4096), *exp = malloc(size);
	char p[4096];
	for (;;) {
		int k = atomic_fetch_add(&next_idx, 1);
		if (k >= n)
			break;
		int i = order[k];
		snprintf(p, sizeof(p), "%s/f%05d", root, i);
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror(p);
			exit(1);
		}
		struct termios t;
		ioctl(fd, TCGETS, &t); /* isatty() */
		struct stat stt;
		fstat(fd, &stt);
		size_t got = 0;
		for (;;) {
			ssize_t r = read(fd, buf + got, size + 4096 - got);
			if (r <= 0)
				break;
			got += r;
		}
		close(fd);
		for (int j = 0; j < 4; j++)
			exp[j] = (i >> (8 * j)) & 0xff;
		memcpy(exp + 4, big + (i % 251), size - 4);
		if (got != size || memcmp(buf, exp, size))
			atomic_fetch_add(&bad, 1);
	}
	free(buf);
	free(exp);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 6)
		return 2;
	root = argv[1];
	n = atoi(argv[2]);
	size = strtoul(argv[3], 0, 10);
	nth = atoi(argv[4]);
	srand(atoi(argv[5]));
	big = malloc(size + 256);
	for (size_t k = 0; k < size + 256; k++)
		big[k] = (k * 7 + (k >> 9)) & 0xff;
	order = malloc(n * sizeof(int));
	for (int i = 0; i < n; i++)
		order[i] = i;
	for (int i = n - 1; i > 0; i--) {
		int j = rand() % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	pthread_t th[64];
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int t = 0; t < nth; t++)
		pthread_create(&th[t], NULL, worker, NULL);
	for (int t = 0; t < nth; t++)
		pthread_join(th[t], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.6f %d\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9, bad);
	return 0;
}
