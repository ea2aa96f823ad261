/* A C probe of what programs expect from memory, stacks and files; its first argument picks the
 * check, and every line it prints is a fact the tests assert on. Built with lib-musl. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runaway.h"

/* `small COUNT SIZE`: COUNT live allocations of SIZE bytes, each written, then all freed and
 * allocated again (the freed memory must serve the second round). */
static int small(long count, size_t size)
{
	char **objects = malloc(sizeof(char *) * (size_t)count);
	long got = 0;

	if (!objects) {
		printf("no room for the table\n");
		return 1;
	}
	for (int round = 0; round < 2; round++) {
		for (got = 0; got < count; got++) {
			objects[got] = malloc(size);
			if (!objects[got])
				break;
			memset(objects[got], (int)(got & 0xff), size);
		}
		for (long i = 0; i < got; i++) {
			if ((unsigned char)objects[i][size - 1] != (unsigned char)(i & 0xff)) {
				printf("object %ld overwritten\n", i);
				return 1;
			}
		}
		printf("round %d: %ld of %ld allocations of %zu bytes\n", round, got, count, size);
		for (long i = 0; i < got; i++)
			free(objects[i]);
	}
	free(objects);
	return got == count ? 0 : 1;
}

/* `fill SIZE`: allocations of SIZE bytes until malloc says no; how many, and how many MiB. */
static int fill(size_t size)
{
	long count = 0;
	void *previous = NULL;

	for (;;) {
		void **object = malloc(size < sizeof(void *) ? sizeof(void *) : size);

		if (!object)
			break;
		*object = previous; /* a chain, so the objects can be freed */
		previous = object;
		count++;
	}
	printf("fill: %ld allocations of %zu bytes, %ld MiB\n", count, size, (long)((count * (long)size) >> 20));
	while (previous) {
		void *next = *(void **)previous;
		free(previous);
		previous = next;
	}
	return 0;
}

/* `api`: the malloc family's promises, across the small and the large path. */
static int api(void)
{
	int failures = 0;
#define CHECK(what)                                             \
	do {                                                    \
		if (!(what)) {                                  \
			printf("FAILED: %s\n", #what);          \
			failures++;                             \
		}                                               \
	} while (0)
	char *a = malloc(24), *b, *c;
	void *aligned = NULL;

	memset(a, 0x5a, 24);
	free(a);
	c = calloc(3, 8); /* likely a's slot again: must be zero all the same */
	for (int i = 0; i < 24; i++)
		CHECK(c[i] == 0);
	free(c);
	b = malloc(10);
	strcpy(b, "123456789");
	b = realloc(b, 100); /* small to a larger class */
	CHECK(strcmp(b, "123456789") == 0);
	b = realloc(b, 100000); /* small to large */
	CHECK(strcmp(b, "123456789") == 0);
	b = realloc(b, 20); /* large to small stays valid */
	CHECK(strcmp(b, "123456789") == 0);
	free(b);
	for (size_t align = 8; align <= 8192; align *= 2) {
		CHECK(posix_memalign(&aligned, align, 40) == 0);
		CHECK(((uintptr_t)aligned & (align - 1)) == 0);
		free(aligned);
	}
	CHECK(posix_memalign(&aligned, 3, 40) == EINVAL);
	for (size_t size = 1; size < 5000; size += 37) {
		a = malloc(size);
		CHECK(((uintptr_t)a & 15) == 0);
		free(a);
	}
	{
		volatile size_t huge = (size_t)1 << 40;

		CHECK(calloc(huge, huge) == NULL);
	}
	c = strdup("allocated inside musl, freed by the program");
	free(c);
	{
		/* getline reallocs the caller's buffer inside musl */
		FILE *f = fopen("/lines", "w");
		char *line = malloc(4);
		size_t capacity = 4;

		if (f) {
			fputs("a line longer than four bytes\n", f);
			fclose(f);
			f = fopen("/lines", "r");
			CHECK(f && getline(&line, &capacity, f) == 30);
			CHECK(strcmp(line, "a line longer than four bytes\n") == 0);
			if (f)
				fclose(f);
			unlink("/lines");
		}
		free(line);
	}
	printf("api: %d failures\n", failures);
	return failures != 0;
}

/* `thread MIB`: a thread given MIB+1 MiB of stack recurses through MIB MiB of frames. */
static void *deep(void *argument)
{
	long kib = (long)argument;
	volatile char frame[1024];

	frame[0] = (char)kib;
	if (kib > 1)
		deep((void *)(kib - 1));
	frame[1023] = frame[0];
	return NULL;
}

static void *report_and_recurse(void *argument)
{
	pthread_attr_t attr;
	size_t size = 0;

	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstacksize(&attr, &size);
		pthread_attr_destroy(&attr);
	}
	printf("thread stack: %zu KiB\n", size >> 10);
	return deep(argument);
}

static int thread(long mib)
{
	pthread_attr_t attr;
	pthread_t id;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, (size_t)(mib + 1) << 20);
	if (pthread_create(&id, &attr, report_and_recurse, (void *)(mib << 10)) != 0) {
		printf("pthread_create failed\n");
		return 1;
	}
	pthread_join(id, NULL);
	printf("thread recursed through %ld MiB\n", mib);
	return 0;
}

/* `overflow KIB`: a thread given 64 KiB of stack recurses through KIB KiB. */
static int overflow(long kib)
{
	pthread_attr_t attr;
	pthread_t id;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	if (pthread_create(&id, &attr, deep, (void *)kib) != 0) {
		printf("pthread_create failed\n");
		return 1;
	}
	pthread_join(id, NULL);
	printf("thread recursed through %ld KiB in 64 KiB\n", kib);
	return 0;
}

/* `main MIB`: the main thread recurses through MIB MiB of frames. */
static int main_stack(long mib)
{
	deep((void *)(mib << 10));
	printf("main recursed through %ld MiB\n", mib);
	return 0;
}

/* `runaway main|thread`: a recursion that never ends (runaway.h), in main or in a thread of 64 KiB
 * (the last line it prints comes before it starts). */
static void *runaway_thread(void *argument)
{
	return (void *)runaway_recurse((long)argument);
}

static int runaway(const char *where)
{
	pthread_attr_t attr;
	pthread_t id;

	printf("runaway recursion in %s\n", where);
	fflush(stdout);
	if (strcmp(where, "main") == 0)
		return (int)runaway_recurse(0);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	if (pthread_create(&id, &attr, runaway_thread, (void *)0) != 0) {
		printf("pthread_create failed\n");
		return 1;
	}
	pthread_join(id, NULL);
	printf("the thread returned at depth %ld\n", runaway_depth);
	return 0;
}

/* `floats`: fprintf's floating-point arguments through kraftld's stdio wrappers (which must
 * pass on the vector registers they arrive in). */
static int floats(void)
{
	volatile double half = 1.5, quarter = 2.25;

	fprintf(stderr, "stderr %.2f\n", half);
	fprintf(stdout, "floats: %.2f %.3f %d\n", half, quarter, 7);
	return 0;
}

/* `exits`: threads that end through pthread_exit, then their memory used again (a guard left in
 * place would fault there). */
static void *exit_early(void *argument)
{
	pthread_exit(argument);
}

static int exits(void)
{
	long total = 0;

	for (long i = 0; i < 20; i++) {
		pthread_attr_t attr;
		pthread_t id;
		void *result = NULL;

		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 64 << 10);
		if (pthread_create(&id, &attr, exit_early, (void *)i) != 0 || pthread_join(id, &result) != 0) {
			printf("thread %ld failed\n", i);
			return 1;
		}
		total += (long)result;
	}
	for (int round = 0; round < 4; round++) {
		char *block = malloc(8 << 20);

		if (!block) {
			printf("no 8 MiB block\n");
			return 1;
		}
		memset(block, round, 8 << 20);
		free(block);
	}
	printf("20 threads ended by pthread_exit (results %ld), their memory reused\n", total);
	return 0;
}

static void report(const char *what, int result)
{
	int error = errno; /* before printf can change it */

	printf("%s: %s\n", what, result >= 0 ? "ok" : strerror(error));
}

/* `files`: the Linux answers of open(""), link and removing a folder while reading it. */
static int files(void)
{
	char name[64];
	DIR *dir;
	struct dirent *entry;
	int removed = 0;

	report("open(\"\")", open("", O_RDONLY));
	report("openat(\"\")", openat(AT_FDCWD, "", O_RDONLY));
	close(open("/linked", O_CREAT | O_WRONLY, 0644));
	report("link", link("/linked", "/linked2"));
	report("linkat", linkat(AT_FDCWD, "/linked", AT_FDCWD, "/linked3", 0));
	report("link to a missing file", link("/missing", "/linked4"));
	mkdir("/tree", 0755);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "/tree/file%d", i);
		close(open(name, O_CREAT | O_WRONLY, 0644));
	}
	/* as std::fs::remove_dir_all does: read the folder and remove each entry while reading */
	dir = opendir("/tree");
	while (dir && (entry = readdir(dir))) {
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		snprintf(name, sizeof(name), "/tree/%s", entry->d_name);
		removed += unlink(name) == 0;
	}
	if (dir)
		closedir(dir);
	printf("removed %d of 20 while reading\n", removed);
	report("rmdir", rmdir("/tree"));
	return 0;
}

/* `clocks`: clock() and the CPU-time clocks answer, and move forward over some work. */
static int clocks(void)
{
	struct timespec process, thread, resolution;
	clock_t before = clock(), after;
	volatile unsigned long spin = 0;

	report("clock_gettime(CLOCK_PROCESS_CPUTIME_ID)", clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &process));
	report("clock_gettime(CLOCK_THREAD_CPUTIME_ID)", clock_gettime(CLOCK_THREAD_CPUTIME_ID, &thread));
	report("clock_getres(CLOCK_PROCESS_CPUTIME_ID)", clock_getres(CLOCK_PROCESS_CPUTIME_ID, &resolution));
	for (unsigned long i = 0; i < 20000000UL; i++)
		spin += i;
	after = clock();
	printf("clock() %s\n", before == (clock_t)-1 || after == (clock_t)-1 ? "failed"
				: after > before ? "moved forward" : "stood still");
	return 0;
}

int main(int argc, char *argv[])
{
	const char *what = argc > 1 ? argv[1] : "";

	if (strcmp(what, "small") == 0 && argc > 3)
		return small(atol(argv[2]), (size_t)atol(argv[3]));
	if (strcmp(what, "fill") == 0 && argc > 2)
		return fill((size_t)atol(argv[2]));
	if (strcmp(what, "api") == 0)
		return api();
	if (strcmp(what, "thread") == 0 && argc > 2)
		return thread(atol(argv[2]));
	if (strcmp(what, "overflow") == 0 && argc > 2)
		return overflow(atol(argv[2]));
	if (strcmp(what, "main") == 0 && argc > 2)
		return main_stack(atol(argv[2]));
	if (strcmp(what, "floats") == 0)
		return floats();
	if (strcmp(what, "exits") == 0)
		return exits();
	if (strcmp(what, "runaway") == 0 && argc > 2)
		return runaway(argv[2]);
	if (strcmp(what, "files") == 0)
		return files();
	if (strcmp(what, "clocks") == 0)
		return clocks();
	printf("usage: probe small COUNT SIZE | fill SIZE | api | thread MIB | overflow KIB | main MIB | runaway main|thread | exits | floats | files | clocks\n");
	return 2;
}
