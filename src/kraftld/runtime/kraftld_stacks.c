/*
 * A thread's stack overflow reported as one. Included by kraftld_runtime.c.
 *
 * Without ukvmem nothing guards a stack: the guard page musl puts below a thread's stack is
 * mprotect()ed by a stub (lib/ukmmap/mmap.c), so a recursion past the stack writes over the
 * memory below it, and the guest fails later and elsewhere (a Rust thread that overran its 2 MiB
 * ended in an assertion of the page allocator, bbuddy.c, when pthread_join freed its stack). So
 * every thread the program starts with pthread_create (Rust's std::thread among them) first
 * marks the lowest bytes of its own stack, and when its start routine returns, checks the mark:
 * a mark overwritten is an overflow, and the guest stops with a message saying so and the size
 * the thread had. This catches an overflow after the fact, at the thread's end, and only one
 * that reached the stack's last bytes; it costs one small allocation per thread.
 */

/* The mark covers the lowest 4 KiB: an overflowing recursion need not write every word of its
 * frames (a frame's unused array, say), but it writes a return address at least once a frame. */
#define KS_MARK_WORDS 512
#define KS_MARK 0x6b7261667464ULL /* "kraftd" */

struct ks_start {
	void *(*routine)(void *);
	void *argument;
};

extern int __real_pthread_create(void *thread, const void *attr, void *(*routine)(void *), void *argument)
	__attribute__((weak));
extern int pthread_getattr_np(unsigned long thread, void *attr) __attribute__((weak));
extern int pthread_attr_getstack(const void *attr, void **stack, kraftld_size *size) __attribute__((weak));
extern int pthread_attr_destroy(void *attr) __attribute__((weak));
extern unsigned long pthread_self(void) __attribute__((weak));
extern void *malloc(kraftld_size size) __attribute__((weak));
extern void free(void *pointer) __attribute__((weak));

int __wrap_pthread_create(void *thread, const void *attr, void *(*routine)(void *), void *argument);

/* The lowest words of this thread's stack and its size, or null. */
static unsigned long long *ks_stack_bottom(kraftld_size *size)
{
	unsigned long attr[16]; /* musl's pthread_attr_t: 56 bytes on x86-64 */
	void *stack = (void *)0;

	*size = 0;
	if (!pthread_getattr_np || !pthread_attr_getstack || !pthread_self || pthread_getattr_np(pthread_self(), attr))
		return (unsigned long long *)0;
	if (pthread_attr_getstack(attr, &stack, size))
		stack = (void *)0;
	if (pthread_attr_destroy)
		pthread_attr_destroy(attr);
	return *size >= 4 * 8 * KS_MARK_WORDS ? stack : (unsigned long long *)0; /* 16 KiB at least */
}

static __attribute__((noreturn)) void ks_overflowed(kraftld_size size)
{
	char line[160];
	static const char prefix[] = "\nkraftld: a thread overflowed its stack of ";
	static const char suffix[] = " KiB (no guard page catches it here); give it more: "
				     "pthread_attr_setstacksize, RUST_MIN_STACK, std::thread::Builder::stack_size\n";
	int length = 0;

	for (const char *p = prefix; *p; p++)
		line[length++] = *p;
	kraftld_write_number(line, &length, (long long)(size >> 10));
	line[length] = '\0';
	kraftld_serial_write(line);
	kraftld_serial_write(suffix);
	ukplat_terminate(KRAFTLD_UKPLAT_CRASH);
}

static void *ks_thread(void *start_argument)
{
	struct ks_start start = *(struct ks_start *)start_argument;
	kraftld_size size;
	unsigned long long *bottom = ks_stack_bottom(&size);
	void *result;
	int i;

	free(start_argument);
	for (i = 0; bottom && i < KS_MARK_WORDS; i++)
		bottom[i] = KS_MARK ^ (unsigned long long)i;
	result = start.routine(start.argument);
	for (i = 0; bottom && i < KS_MARK_WORDS; i++)
		if (bottom[i] != (KS_MARK ^ (unsigned long long)i))
			ks_overflowed(size);
	return result;
}

int __wrap_pthread_create(void *thread, const void *attr, void *(*routine)(void *), void *argument)
{
	struct ks_start *start;
	int result;

	if (!__real_pthread_create)
		return KRAFTLD_ENOSYS;
	start = malloc ? malloc(sizeof(*start)) : (struct ks_start *)0;
	if (!start) /* no room to watch it: start it unwatched */
		return __real_pthread_create(thread, attr, routine, argument);
	start->routine = routine;
	start->argument = argument;
	result = __real_pthread_create(thread, attr, ks_thread, start);
	if (result)
		free(start);
	return result;
}
