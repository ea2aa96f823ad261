/*
 * Small allocations at the cost they have on Linux: a size-class allocator in front of Unikraft's
 * default allocator. Included by kraftld_runtime.c (one object, one compile).
 *
 * Why. lib-musl's malloc family (lib-musl/mem.c) forwards to uk_malloc() on the default
 * allocator, and the default (ukboot's INITBBUDDY, lib/ukallocbbuddy) is a page allocator whose
 * malloc is uk_malloc_ifpages (lib/ukalloc/alloc.c): every allocation is rounded up to whole pages
 * plus a header, so malloc(16) costs 4 KiB and a 128 MiB guest holds ~32,000 of them. The other
 * allocators in the tree do not fit: ukallocregion never frees, ukallocpool serves one object
 * size, mimalloc and tinyalloc are external libraries.
 *
 * Where. Not with `--wrap=malloc`: musl's own calls (strdup, fopen, getline's realloc of the
 * caller's buffer…) are resolved inside the prelinked libmusl.o and would bypass a wrapper, so a
 * pointer could be freed by the other allocator. Instead, before any program constructor, the
 * default allocator's malloc/calloc/realloc/posix_memalign/memalign/free entries (the first six
 * members of struct uk_alloc, lib/ukalloc/include/uk/alloc.h, in every configuration) are replaced
 * by the functions below, which keep the originals for large requests. Every caller of the default
 * allocator — the program, musl, Unikraft's libraries — then goes through one allocator. It is
 * installed only over uk_malloc_ifpages, the page-rounding interface: an allocator with a real
 * malloc (mimalloc, tinyalloc, tlsf through uk_malloc_ifmalloc) is left alone.
 *
 * How. Requests up to KA_MAX_SMALL bytes come from 4 KiB pages of one size class each, carved
 * from chunks of about 1 MiB taken from the original allocator. A page keeps its own free list and count;
 * an empty page goes back to its chunk for any class, an empty chunk back to the original
 * allocator (all but one, so a loop that allocates and frees one object does not take and give a
 * chunk each time). free() tells a small object from a large one by the chunk table, a sorted
 * array of chunk addresses searched by bisection: exact, whatever the large allocator's layout,
 * and a pointer allocated before the switch (ukboot and lib-musl's initialisation allocate) goes
 * to the original free. Objects are 16-byte aligned, as x86-64 malloc's are (Rust's allocator
 * relies on it for alignments up to 16); larger alignments go to the original allocator.
 *
 * Locking. None, as in the allocator it stands in front of: lib/ukallocbbuddy/bbuddy.c takes no
 * lock either. Unikraft's scheduler (ukschedcoop) is cooperative on one CPU
 * (CONFIG_UKPLAT_LCPU_MAXCOUNT defaults to 1): a thread runs until it blocks or yields, and
 * nothing here blocks or yields, so no other thread can enter midway.
 */

#define KA_PAGE_SIZE 4096UL
/* A chunk is one request to the original allocator: 1 MiB less room for its header (32 bytes for
 * uk_malloc_ifpages), so the buddy allocator serves it with 256 pages exactly; a request of a
 * full 1 MiB, or a page-aligned one, would take 257 pages and the buddy allocator would round
 * them to 512. The chunk's header sits at its start, its pages are the whole 4 KiB pages after
 * the header: 255 of them when the chunk starts just past a page boundary, as ifpages' does. */
#define KA_CHUNK_SIZE ((1UL << 20) - 64)
#define KA_CHUNK_PAGES 256
#define KA_PAGE_HEADER 48UL                           /* a multiple of 16: objects stay aligned */
#define KA_MAX_CHUNKS 8192                            /* 8 GiB of small objects; beyond, large path */
#define KA_ALIGN 16UL
#define KA_ENOMEM 12

/* Size classes, multiples of 16. The last ones fill a page with 3 and 2 objects. */
static const unsigned short ka_class_size[] = {
	16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 1008, 1344, 2016,
};
#define KA_CLASSES (sizeof(ka_class_size) / sizeof(ka_class_size[0]))
#define KA_MAX_SMALL 2016UL

struct ka_allocator; /* Unikraft's struct uk_alloc, of which only the first six members are used */
struct ka_interface {
	void *(*malloc)(struct ka_allocator *a, kraftld_size size);
	void *(*calloc)(struct ka_allocator *a, kraftld_size count, kraftld_size size);
	void *(*realloc)(struct ka_allocator *a, void *pointer, kraftld_size size);
	int (*posix_memalign)(struct ka_allocator *a, void **result, kraftld_size align, kraftld_size size);
	void *(*memalign)(struct ka_allocator *a, kraftld_size align, kraftld_size size);
	void (*free)(struct ka_allocator *a, void *pointer);
};

extern struct ka_interface *_uk_alloc_head __attribute__((weak));
extern void *uk_malloc_ifpages(struct ka_allocator *a, kraftld_size size) __attribute__((weak));

struct ka_free {
	struct ka_free *next;
};

struct ka_page { /* at the start of each of a chunk's pages */
	struct ka_page *next, *prev; /* in its class's list of pages with room */
	struct ka_free *free;         /* freed objects */
	unsigned int used;            /* live objects */
	unsigned int fresh;           /* objects never handed out yet, from the page's start */
	unsigned int capacity;
	unsigned int size_class;
	unsigned int listed;
	unsigned int pad;
};

struct ka_chunk { /* at the start of a chunk */
	struct ka_chunk *next, *prev; /* in the list of chunks with free pages */
	char *first_page;
	unsigned int pages;      /* whole pages in the chunk */
	unsigned int free_pages;
	unsigned int listed;
	unsigned int fresh;      /* pages never used yet, from first_page on */
	unsigned int stack_top;  /* pages given back, stacked */
	unsigned short stack[KA_CHUNK_PAGES];
};

_Static_assert(sizeof(struct ka_page) <= KA_PAGE_HEADER, "objects start after the page's header");
_Static_assert(sizeof(struct ka_chunk) + KA_PAGE_SIZE < KA_CHUNK_SIZE, "a chunk's header leaves it pages");

static struct ka_interface ka_original;
static struct ka_page *ka_pages_with_room[KA_CLASSES];
static struct ka_chunk *ka_chunks_with_room;
static kraftld_size ka_chunk_count;
static char *ka_chunks[KA_MAX_CHUNKS]; /* sorted by address */

static void ka_set_errno(int error)
{
	if (__errno_location)
		*__errno_location() = error;
}

static int ka_class_of(kraftld_size size)
{
	unsigned int low = 0, high = KA_CLASSES - 1;

	while (low < high) { /* the first class at least `size` */
		unsigned int middle = (low + high) / 2;

		if (ka_class_size[middle] < size)
			low = middle + 1;
		else
			high = middle;
	}
	return (int)low;
}

/* The chunk holding `pointer`, or null when the pointer is not a small object. */
static char *ka_chunk_of(const void *pointer)
{
	const char *p = pointer;
	kraftld_size low = 0, high = ka_chunk_count;

	if (!ka_chunk_count || p < ka_chunks[0] || p >= ka_chunks[ka_chunk_count - 1] + KA_CHUNK_SIZE)
		return (char *)0;
	while (high - low > 1) { /* the last chunk at or below the pointer */
		kraftld_size middle = (low + high) / 2;

		if (ka_chunks[middle] <= p)
			low = middle;
		else
			high = middle;
	}
	return p < ka_chunks[low] + KA_CHUNK_SIZE ? ka_chunks[low] : (char *)0;
}

static void ka_list_chunk(struct ka_chunk *chunk)
{
	chunk->prev = (struct ka_chunk *)0;
	chunk->next = ka_chunks_with_room;
	if (chunk->next)
		chunk->next->prev = chunk;
	ka_chunks_with_room = chunk;
	chunk->listed = 1;
}

static void ka_unlist_chunk(struct ka_chunk *chunk)
{
	if (chunk->prev)
		chunk->prev->next = chunk->next;
	else
		ka_chunks_with_room = chunk->next;
	if (chunk->next)
		chunk->next->prev = chunk->prev;
	chunk->listed = 0;
}

static struct ka_chunk *ka_new_chunk(struct ka_allocator *a)
{
	char *memory, *pages;
	kraftld_size at;
	struct ka_chunk *chunk;

	if (ka_chunk_count == KA_MAX_CHUNKS)
		return (struct ka_chunk *)0;
	memory = ka_original.malloc(a, KA_CHUNK_SIZE);
	if (!memory)
		return (struct ka_chunk *)0;
	pages = (char *)(((kraftld_size)memory + sizeof(struct ka_chunk) + KA_PAGE_SIZE - 1) & ~(KA_PAGE_SIZE - 1));
	for (at = ka_chunk_count; at > 0 && ka_chunks[at - 1] > (char *)memory; at--)
		ka_chunks[at] = ka_chunks[at - 1];
	ka_chunks[at] = memory;
	ka_chunk_count++;
	chunk = (struct ka_chunk *)memory;
	chunk->first_page = pages;
	chunk->pages = (unsigned int)((memory + KA_CHUNK_SIZE - pages) / KA_PAGE_SIZE);
	chunk->free_pages = chunk->pages;
	chunk->fresh = 0;
	chunk->stack_top = 0;
	ka_list_chunk(chunk);
	return chunk;
}

static void ka_release_chunk(struct ka_allocator *a, struct ka_chunk *chunk)
{
	kraftld_size at = 0;

	while (ka_chunks[at] != (char *)chunk)
		at++;
	for (; at + 1 < ka_chunk_count; at++)
		ka_chunks[at] = ka_chunks[at + 1];
	ka_chunk_count--;
	ka_unlist_chunk(chunk);
	ka_original.free(a, chunk);
}

static void ka_list_page(struct ka_page *page)
{
	struct ka_page **head = &ka_pages_with_room[page->size_class];

	page->prev = (struct ka_page *)0;
	page->next = *head;
	if (page->next)
		page->next->prev = page;
	*head = page;
	page->listed = 1;
}

static void ka_unlist_page(struct ka_page *page)
{
	if (page->prev)
		page->prev->next = page->next;
	else
		ka_pages_with_room[page->size_class] = page->next;
	if (page->next)
		page->next->prev = page->prev;
	page->listed = 0;
}

static struct ka_page *ka_new_page(struct ka_allocator *a, int size_class)
{
	struct ka_chunk *chunk = ka_chunks_with_room;
	struct ka_page *page;
	unsigned int index;

	if (!chunk && !(chunk = ka_new_chunk(a)))
		return (struct ka_page *)0;
	index = chunk->stack_top ? chunk->stack[--chunk->stack_top] : chunk->fresh++;
	if (--chunk->free_pages == 0)
		ka_unlist_chunk(chunk);
	page = (struct ka_page *)(chunk->first_page + index * KA_PAGE_SIZE);
	page->free = (struct ka_free *)0;
	page->used = 0;
	page->fresh = 0;
	page->size_class = (unsigned int)size_class;
	page->capacity = (unsigned int)((KA_PAGE_SIZE - KA_PAGE_HEADER) / ka_class_size[size_class]);
	ka_list_page(page);
	return page;
}

static void *ka_small(struct ka_allocator *a, kraftld_size size)
{
	int size_class = ka_class_of(size ? size : 1);
	struct ka_page *page = ka_pages_with_room[size_class];
	void *object;

	if (!page && !(page = ka_new_page(a, size_class)))
		return (void *)0;
	if (page->free) {
		object = page->free;
		page->free = page->free->next;
	} else {
		object = (char *)page + KA_PAGE_HEADER + page->fresh++ * (kraftld_size)ka_class_size[size_class];
	}
	if (++page->used == page->capacity)
		ka_unlist_page(page);
	return object;
}

static void ka_small_free(struct ka_allocator *a, char *chunk, void *object)
{
	struct ka_page *page = (struct ka_page *)((kraftld_size)object & ~(KA_PAGE_SIZE - 1));
	struct ka_chunk *header = (struct ka_chunk *)chunk;
	struct ka_free *slot = object;

	slot->next = page->free;
	page->free = slot;
	if (!page->listed)
		ka_list_page(page);
	if (--page->used)
		return;
	/* The page is empty: back to its chunk, for any class. */
	ka_unlist_page(page);
	header->stack[header->stack_top++] = (unsigned short)(((char *)page - header->first_page) / KA_PAGE_SIZE);
	if (header->free_pages++ == 0)
		ka_list_chunk(header);
	if (header->free_pages == header->pages && (ka_chunks_with_room != header || header->next))
		ka_release_chunk(a, header);
}

static kraftld_size ka_object_size(const void *object)
{
	const struct ka_page *page = (const struct ka_page *)((kraftld_size)object & ~(KA_PAGE_SIZE - 1));

	return ka_class_size[page->size_class];
}

static void *ka_malloc(struct ka_allocator *a, kraftld_size size)
{
	void *object;

	if (size > KA_MAX_SMALL)
		return ka_original.malloc(a, size);
	object = ka_small(a, size);
	if (!object)
		ka_set_errno(KA_ENOMEM);
	return object;
}

static void ka_free(struct ka_allocator *a, void *pointer)
{
	char *chunk;

	if (!pointer)
		return;
	chunk = ka_chunk_of(pointer);
	if (chunk)
		ka_small_free(a, chunk, pointer);
	else
		ka_original.free(a, pointer);
}

static void *ka_calloc(struct ka_allocator *a, kraftld_size count, kraftld_size size)
{
	kraftld_size total;
	unsigned char *object;

	if (__builtin_mul_overflow(count, size, &total)) {
		ka_set_errno(KA_ENOMEM);
		return (void *)0;
	}
	if (total > KA_MAX_SMALL)
		return ka_original.calloc(a, count, size);
	object = ka_small(a, total);
	if (!object) {
		ka_set_errno(KA_ENOMEM);
		return (void *)0;
	}
	__builtin_memset(object, 0, total); /* a reused object holds its last owner's bytes */
	return object;
}

static void *ka_realloc(struct ka_allocator *a, void *pointer, kraftld_size size)
{
	char *chunk;
	kraftld_size old;
	void *moved;

	if (!pointer)
		return ka_malloc(a, size);
	chunk = ka_chunk_of(pointer);
	if (!chunk) /* a large block stays with the allocator that made it */
		return ka_original.realloc(a, pointer, size);
	if (!size) { /* as uk_realloc_ifpages and glibc: free, and no object */
		ka_small_free(a, chunk, pointer);
		return (void *)0;
	}
	old = ka_object_size(pointer);
	if (size <= old && (size > old / 2 || old == ka_class_size[0]))
		return pointer;
	moved = ka_malloc(a, size);
	if (!moved)
		return (void *)0; /* the old object stays valid, as realloc promises */
	__builtin_memcpy(moved, pointer, size < old ? size : old);
	ka_small_free(a, chunk, pointer);
	return moved;
}

static int ka_fits_small(kraftld_size align, kraftld_size size)
{
	/* A power of two no larger than the objects' own alignment: any small object will do. */
	return align && !(align & (align - 1)) && align <= KA_ALIGN && size <= KA_MAX_SMALL;
}

static int ka_posix_memalign(struct ka_allocator *a, void **result, kraftld_size align, kraftld_size size)
{
	void *object;

	/* posix_memalign's own rule: a power of two multiple of sizeof(void *); the original says EINVAL. */
	if (align < sizeof(void *) || !ka_fits_small(align, size))
		return ka_original.posix_memalign(a, result, align, size);
	object = ka_small(a, size);
	if (!object)
		return KA_ENOMEM;
	*result = object;
	return 0;
}

static void *ka_memalign(struct ka_allocator *a, kraftld_size align, kraftld_size size)
{
	/* Up to 16, any malloc'd block is aligned enough (uk_malloc_ifpages's too: its header is 32
	 * bytes); Unikraft's memalign would refuse an alignment below sizeof(void *). */
	if (align && !(align & (align - 1)) && align <= KA_ALIGN)
		return ka_malloc(a, size);
	return ka_original.memalign(a, align, size);
}

/* Before every other constructor of the program (priority 101, the first one not reserved for
 * the implementation); Unikraft's allocator is up by then (ukboot's heap_init). */
static void ka_install(void)
{
	struct ka_interface **head = &_uk_alloc_head;
	struct ka_interface *allocator;

	__asm__("" : "+r"(head)); /* a weak object's address may be null: see kraftld_seed */
	if (!head || !(allocator = *head) || !uk_malloc_ifpages || allocator->malloc != uk_malloc_ifpages)
		return;
	ka_original = *allocator;
	allocator->malloc = ka_malloc;
	allocator->calloc = ka_calloc;
	allocator->realloc = ka_realloc;
	allocator->posix_memalign = ka_posix_memalign;
	allocator->memalign = ka_memalign;
	allocator->free = ka_free;
}

__attribute__((section(".init_array.00101"), used))
static void (*const kraftld_malloc_entry)(void) = ka_install;
