/* Unit checks of the runtime object's logic, compiled for the host: kraftld_malloc.c over a fake
 * page allocator, kraftld_files.c over a fake ramfs with ramfs_readdir's positional offsets.
 * `runtime_units malloc` / `runtime_units files`; prints one line per fact, exits non-zero on a
 * failed check. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long kraftld_size;

static int failures;
#define CHECK(what)                                                                     \
	do {                                                                            \
		if (!(what)) {                                                          \
			printf("FAILED line %d: %s\n", __LINE__, #what);                \
			failures++;                                                     \
		}                                                                       \
	} while (0)

/* The fake original allocator: glibc underneath, counting what it holds. */
struct ka_allocator;
static long fake_blocks, fake_frees_of_early;
static kraftld_size fake_bytes;
static void *early_block;

void *uk_malloc_ifpages(struct ka_allocator *a, kraftld_size size)
{
	(void)a;
	fake_blocks++;
	fake_bytes += (size + 4095) / 4096 * 4096 + 4096;
	return malloc(size);
}

static void *fake_calloc(struct ka_allocator *a, kraftld_size count, kraftld_size size)
{
	(void)a;
	fake_blocks++;
	return calloc(count, size);
}

static void *fake_realloc(struct ka_allocator *a, void *pointer, kraftld_size size)
{
	(void)a;
	if (!pointer)
		fake_blocks++;
	return realloc(pointer, size);
}

static int fake_posix_memalign(struct ka_allocator *a, void **result, kraftld_size align, kraftld_size size)
{
	(void)a;
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	fake_blocks++;
	fake_bytes += (size + 4095) / 4096 * 4096 + align;
	return posix_memalign(result, align, size);
}

static void *fake_memalign(struct ka_allocator *a, kraftld_size align, kraftld_size size)
{
	void *result = NULL;

	return fake_posix_memalign(a, &result, align, size) == 0 ? result : NULL;
}

static void fake_free(struct ka_allocator *a, void *pointer)
{
	(void)a;
	if (pointer == early_block)
		fake_frees_of_early++;
	fake_blocks--;
	free(pointer);
}

#include "../../src/kraftld/runtime/kraftld_malloc.c"

static struct ka_interface fake_allocator = {
	uk_malloc_ifpages, fake_calloc, fake_realloc, fake_posix_memalign, fake_memalign, fake_free,
};
struct ka_interface *_uk_alloc_head = &fake_allocator;

#define A ((struct ka_allocator *)&fake_allocator)

static unsigned long long rng = 88172645463325252ull;
static unsigned long next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned long)rng;
}

struct live {
	unsigned char *p;
	kraftld_size size;
	unsigned char tag;
};

static int intact(const struct live *o)
{
	for (kraftld_size i = 0; i < o->size; i++)
		if (o->p[i] != (unsigned char)(o->tag + i))
			return 0;
	return 1;
}

static void stamp(struct live *o)
{
	for (kraftld_size i = 0; i < o->size; i++)
		o->p[i] = (unsigned char)(o->tag + i);
}

static int malloc_units(void)
{
	enum { COUNT = 200000, LIVE = 4000 };
	static void *objects[COUNT];
	static struct live live[LIVE];
	long blocks_before;

	early_block = uk_malloc_ifpages(A, 100); /* allocated before the switch */
	ka_install();
	CHECK(fake_allocator.malloc == ka_malloc && fake_allocator.free == ka_free);
	blocks_before = fake_blocks;
	fake_bytes = 0;
	for (int i = 0; i < COUNT; i++) {
		objects[i] = fake_allocator.malloc(A, 16);
		CHECK(objects[i] && ((uintptr_t)objects[i] & 15) == 0);
		memset(objects[i], i & 0xff, 16);
	}
	printf("200000 x malloc(16): %lu KiB from the page allocator (%.1f bytes each)\n",
	       (unsigned long)(fake_bytes >> 10), (double)fake_bytes / COUNT);
	/* glibc's malloc(16) takes 32 bytes; within that and far from a page each */
	CHECK(fake_bytes <= (kraftld_size)COUNT * 32);
	for (int i = 0; i < COUNT; i++)
		CHECK(((unsigned char *)objects[i])[15] == (i & 0xff));
	for (int i = 0; i < COUNT; i++)
		fake_allocator.free(A, objects[i]);
	printf("after freeing them: %ld chunks kept\n", fake_blocks - blocks_before);
	CHECK(fake_blocks - blocks_before <= 1);

	fake_allocator.free(A, early_block); /* not a small object: the original frees it */
	CHECK(fake_frees_of_early == 1);

	/* Random use of the whole interface, contents checked at every step. */
	for (long step = 0; step < 400000; step++) {
		struct live *o = &live[next_random() % LIVE];
		unsigned long how = next_random() % 8;
		kraftld_size size = next_random() % 3 == 0 ? next_random() % 5000 : next_random() % 300;

		if (o->p) {
			CHECK(intact(o));
			if (how < 4) {
				fake_allocator.free(A, o->p);
				o->p = NULL;
				continue;
			}
			/* realloc keeps the common prefix */
			unsigned char *moved = fake_allocator.realloc(A, o->p, size ? size : 1);

			CHECK(moved != NULL);
			kraftld_size keep = o->size < (size ? size : 1) ? o->size : (size ? size : 1);
			o->p = moved;
			o->size = keep;
			CHECK(intact(o));
			o->size = size ? size : 1;
			stamp(o);
			continue;
		}
		o->tag = (unsigned char)next_random();
		o->size = size;
		if (how == 0) {
			o->p = fake_allocator.calloc(A, 1, size);
			for (kraftld_size i = 0; o->p && i < size; i++)
				CHECK(o->p[i] == 0);
		} else if (how == 1) {
			void *aligned = NULL;
			kraftld_size align = (kraftld_size)8 << (next_random() % 10);

			CHECK(fake_allocator.posix_memalign(A, &aligned, align, size) == 0);
			CHECK(((uintptr_t)aligned & (align - 1)) == 0);
			o->p = aligned;
		} else if (how == 2) {
			kraftld_size align = (kraftld_size)1 << (next_random() % 12);

			o->p = fake_allocator.memalign(A, align, size);
			CHECK(((uintptr_t)o->p & (align - 1)) == 0);
		} else {
			o->p = fake_allocator.malloc(A, size);
			CHECK(((uintptr_t)o->p & 15) == 0);
		}
		if (!o->p) {
			printf("FAILED: no object (way %lu, %lu bytes)\n", how, (unsigned long)size);
			failures++;
			return 1;
		}
		stamp(o);
	}
	for (int i = 0; i < LIVE; i++) {
		if (live[i].p) {
			CHECK(intact(&live[i]));
			fake_allocator.free(A, live[i].p);
		}
	}
	printf("after the random run: %ld blocks held\n", fake_blocks - blocks_before);
	CHECK(fake_blocks - blocks_before <= 1);
	{
		void *r = NULL;

		CHECK(fake_allocator.posix_memalign(A, &r, 3, 10) == EINVAL);
		CHECK(fake_allocator.calloc(A, (kraftld_size)1 << 40, (kraftld_size)1 << 40) == NULL);
		r = fake_allocator.malloc(A, 10);
		CHECK(fake_allocator.realloc(A, r, 0) == NULL); /* freed */
	}
	printf("malloc: %d failures\n", failures);
	return failures != 0;
}

#include "../../src/kraftld/runtime/kraftld_files.c"

/* A fake ramfs folder: entries at positions, as ramfs_readdir gives them to vfscore's readdir. */
#define NAMES 40
static char names[NAMES][16];
static int present = 0;
static long offsets[8];

struct fake_dir {
	int fd;
};

static void remove_name(const char *name)
{
	for (int i = 0; i < present; i++) {
		if (strcmp(names[i], name) == 0) {
			memmove(names[i], names[i + 1], sizeof(names[0]) * (size_t)(present - i - 1));
			present--;
			return;
		}
	}
}

long uk_syscall_r_lseek(long fd, long offset, long whence)
{
	if (whence == 0)
		offsets[fd] = offset;
	return offsets[fd] + (whence == 1 ? offset : 0);
}

int dirfd(void *dir)
{
	return ((struct fake_dir *)dir)->fd;
}

int __real_readdir64_r(void *dir, struct kf_dirent *entry, struct kf_dirent **result)
{
	int fd = dirfd(dir);
	long at = offsets[fd];

	*result = NULL;
	if (at >= present + 2)
		return 0;
	memset(entry, 0, sizeof(*entry));
	entry->d_off = at;
	entry->d_reclen = sizeof(*entry);
	strcpy(entry->d_name, at == 0 ? "." : at == 1 ? ".." : names[at - 2]);
	offsets[fd]++;
	*result = entry;
	return 0;
}

static void fill_folder(int count)
{
	present = count;
	for (int i = 0; i < count; i++)
		snprintf(names[i], sizeof(names[i]), "file%d", i);
}

/* As Rust's remove_dir_all: each entry removed as soon as it is read. */
static int remove_while_reading(struct fake_dir *dir, int stop_after, int reentrant)
{
	struct kf_dirent storage, *entry;
	int removed = 0;

	for (;;) {
		if (reentrant)
			CHECK(__wrap_readdir_r(dir, &storage, &entry) == 0);
		else
			entry = __wrap_readdir64(dir);
		if (!entry)
			break;
		if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, "..")) {
			remove_name(entry->d_name);
			if (++removed == stop_after)
				return removed;
		}
	}
	return removed;
}

static int files_units(void)
{
	struct fake_dir dir = {3}, other = {4};
	int removed;

	/* The fake has ramfs's flaw: read directly, half the entries are skipped. */
	fill_folder(20);
	{
		struct kf_dirent storage, *entry;

		removed = 0;
		while (__real_readdir64_r(&dir, &storage, &entry) == 0 && entry)
			if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, ".."))
				remove_name(entry->d_name), removed++;
		printf("without the snapshot: removed %d of 20 while reading\n", removed);
		CHECK(removed == 10);
	}
	fill_folder(20);
	offsets[3] = 0;
	removed = remove_while_reading(&dir, -1, 0);
	printf("removed %d of 20 while reading\n", removed);
	CHECK(removed == 20 && present == 0);

	/* The same DIR rewound (or a new DIR at a freed one's address) lists afresh. */
	fill_folder(30);
	offsets[3] = 0;
	CHECK(remove_while_reading(&dir, 5, 1) == 5); /* a reader that stops early */
	offsets[3] = 0;
	removed = remove_while_reading(&dir, -1, 1);
	printf("after a rewind: removed %d of 25\n", removed);
	CHECK(removed == 25 && present == 0);

	/* Two folders read at once do not mix; a listing ends once, then starts again at a rewind. */
	fill_folder(3);
	offsets[3] = offsets[4] = 0;
	{
		int first = 0, second = 0;

		while (__wrap_readdir(&dir)) {
			first++;
			if (__wrap_readdir(&other))
				second++;
		}
		CHECK(first == 5 && second == 5);
		CHECK(__wrap_readdir(&dir) == NULL);
	}
	CHECK(__wrap_uk_syscall_r_open((long)"", 0, 0) == -KF_ENOENT);
	CHECK(__wrap_uk_syscall_r_openat(-100, (long)"", 0, 0) == -KF_ENOENT);
	CHECK(__wrap_uk_syscall_r_open((long)"/x", 0, 0) == 3);
	printf("files: %d failures\n", failures);
	return failures != 0;
}

long __real_uk_syscall_r_open(long path, long flags, long mode)
{
	(void)path, (void)flags, (void)mode;
	return 3;
}

long __real_uk_syscall_r_openat(long dirfd, long path, long flags, long mode)
{
	(void)dirfd, (void)path, (void)flags, (void)mode;
	return 3;
}

int main(int argc, char *argv[])
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && strcmp(argv[1], "malloc") == 0)
		return malloc_units();
	if (argc > 1 && strcmp(argv[1], "files") == 0)
		return files_units();
	return 2;
}
