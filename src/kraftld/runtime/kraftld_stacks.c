/*
 * Stack overflows of main and of the program's threads reported as such, when they happen.
 * Included by kraftld_runtime.c, after kraftld_malloc.c (it allocates through the same
 * allocator interface).
 *
 * Why. Without ukvmem nothing guards a stack: Unikraft's thread stacks come from the heap
 * (lib/uksched/thread.c, lib/ukallocstack without CONFIG_LIBUKALLOCSTACK_PAGE_GUARDS), and the
 * guard musl leaves below a thread's stack is mprotect()ed by a stub (lib/ukmmap/mmap.c). A
 * recursion past its stack wrote over the memory below it and the guest failed later and
 * elsewhere: "Unhandled Trap 6 (invalid opcode)" with RIP near RSP (a return address
 * overwritten), or an assertion of the page allocator (bbuddy.c) when pthread_join freed an
 * overrun thread's stack.
 *
 * Guard pages. The boot page table (plat/kvm/x86/pagetable64.S) maps the first 4 GiB one to one
 * with 2 MiB pages (the first 2 MiB in 4 KiB pages, page 0 left out; the heap starts there,
 * below 1 MiB), and nothing else maps memory when the paging API is off (no
 * ukplat_pt_get_active). So the runtime makes its own guard pages in that table: the 2 MiB page
 * holding a guard is split into 4 KiB pages (the same addresses, the same flags: a page table of
 * 512 entries, allocated once per 2 MiB and kept), and the guard's entries are marked not
 * present. A write or read of a guard then faults at once, and the page-fault handler below
 * (registered as Unikraft's own handlers are, through the .uk_event_trap_page_fault section that
 * UK_EVENT_HANDLER fills, include/uk/event.h) runs on the CPU's trap stack (IST2,
 * plat/kvm/x86/traps.c), so it works although the faulting stack is exhausted. A fault inside a
 * guard stops the guest with a message naming the stack and its size and the crash status.
 *  - main: Unikraft's main thread (uk_thread "main", lib/ukboot/boot.c) has a stack of
 *    4 KiB << CONFIG_STACK_SIZE_PAGE_ORDER from the heap; its lowest KG_MAIN_GUARD bytes (whole
 *    pages) become the guard, before main() runs. The stack's bottom is read from the current
 *    uk_thread (its _mem.stack), checked against the stack pointer before it is trusted. Without
 *    a main thread (CONFIG_LIBUKBOOT_MAINTHREAD off, nolibc's default) main runs on the boot
 *    stack, a memory region of its own of the same size (plat/kvm/x86/setup.c): the same guard.
 *  - threads the program starts with pthread_create (Rust's std::thread among them): musl maps
 *    each stack with a guard region below it (8 KiB by default, pthread_attr_setguardsize);
 *    its whole pages become the guard while the thread runs. A thread without one (a stack
 *    of the caller's, or guard size 0) gets its own lowest page as the guard. The guard is
 *    lifted before the thread's memory can go back to the allocator: when its start routine
 *    returns, or at pthread_exit.
 * A frame larger than the guard that skips over it entirely is not caught (gcc does not probe
 * the stack by default; Rust does, for frames above 4 KiB).
 *
 * With the paging API on, the guards are ukvmem's and musl's own, which the runtime only watches
 * (see kg_guard). Where no guard can be made (the paging API is on, the guard table is full, no
 * memory for a page table), a thread's stack also gets a mark: its lowest 4 KiB are filled with a
 * pattern, checked when the thread's function returns. That catches an overflow only after the
 * fact.
 *
 * One CPU and a cooperative scheduler (see kraftld_malloc.c): no lock, and no other CPU's TLB to
 * flush.
 */

#define KS_MARK_WORDS 512
#define KS_MARK 0x6b7261667464ULL /* "kraftd" */
#define KG_PAGE 4096UL
#define KG_LARGE (2UL << 20)
#define KG_MAIN_GUARD (16UL << 10)    /* the lowest 16 KiB of main's stack */
#define KG_GUARDS 64                  /* guards at once: main and 63 threads; beyond, marks */
#define KG_PRESENT 0x1ULL
#define KG_LARGE_PAGE 0x80ULL         /* PS: a 2 MiB page in a page directory */
#define KG_ADDRESS 0x000ffffffffff000ULL
#define KG_TABLE_FLAGS 0x7ULL         /* present, writable, user: what a table entry passes on */
#define KG_LOW_MEMORY (4UL << 30)     /* the part of the boot page table mapped one to one */
#define KG_EVENT_NOT_HANDLED 0

struct ks_start {
	void *(*routine)(void *);
	void *argument;
};

struct kg_guard {
	kraftld_size low, high;   /* the pages not present */
	int ours;                 /* made so by the runtime, or by ukvmem (only watched here) */
	kraftld_size stack;       /* the lowest address of the stack it guards: its key */
	kraftld_size stack_size;
	int is_main;              /* main's, or a thread's */
};

struct kg_trap { /* Unikraft's struct ukarch_trap_ctx (arch/x86/x86_64/include/uk/asm/traps.h) */
	void *regs;
	int trapnr;
	int error_code;
	unsigned long fault_address;
};

extern int __real_pthread_create(void *thread, const void *attr, void *(*routine)(void *), void *argument)
	__attribute__((weak));
extern void __real_pthread_exit(void *result) __attribute__((weak, noreturn));
extern int pthread_getattr_np(unsigned long thread, void *attr) __attribute__((weak));
extern int pthread_attr_getstack(const void *attr, void **stack, kraftld_size *size) __attribute__((weak));
extern int pthread_attr_getguardsize(const void *attr, kraftld_size *size) __attribute__((weak));
extern int pthread_attr_destroy(void *attr) __attribute__((weak));
extern unsigned long pthread_self(void) __attribute__((weak));
extern void *malloc(kraftld_size size) __attribute__((weak));
extern void free(void *pointer) __attribute__((weak));
/* Defined only when the paging API is on (plat/common/paging.c): then page tables are no longer
 * the boot table, and ukvmem guards stacks itself. */
extern void *ukplat_pt_get_active(void) __attribute__((weak));
/* Unikraft's memory regions (plat/common/memory.c): where the boot stack is. */
extern int ukplat_memregion_count(void) __attribute__((weak));
extern int ukplat_memregion_get(int index, void **region) __attribute__((weak));
/* The running uk_thread (lib/uksched/sched.c): an array of one per CPU. */
extern char *__uk_sched_thread_current[] __attribute__((weak));

int __wrap_pthread_create(void *thread, const void *attr, void *(*routine)(void *), void *argument);
void __wrap_pthread_exit(void *result) __attribute__((noreturn));

/* struct uk_thread's fields read here (lib/uksched/include/uk/thread.h, Unikraft 0.17 on x86-64,
 * as gdb's `ptype /o struct uk_thread` shows them): the stack's lowest address and the name. */
#define KG_THREAD_STACK 96
#define KG_THREAD_NAME 184

static struct kg_guard kg_guards[KG_GUARDS];

static inline void kg_flush(void)
{
	unsigned long cr3;

	__asm__ __volatile__("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}

static void *kg_new_table(void)
{
	struct ka_interface **head = &_uk_alloc_head, *allocator;

	__asm__("" : "+r"(head)); /* a weak object's address may be null: see kraftld_seed */
	if (!head || !(allocator = *head))
		return (void *)0;
	/* Through the allocator's own memalign: ka_memalign sends a page alignment to the page
	 * allocator, whose memory is mapped one to one as the table must be. */
	return allocator->memalign((struct ka_allocator *)allocator, KG_PAGE, KG_PAGE);
}

/* The boot page table's entry for the 4 KiB page at `address`, splitting its 2 MiB page if
 * needed; null when the address is not mapped that way. */
static unsigned long long *kg_entry(kraftld_size address)
{
	unsigned long long *table, *entry, *small;
	unsigned long cr3;

	/* The heap starts below 1 MiB (conventional memory), where the table has 4 KiB pages
	 * already; page 0 is the one left unmapped there. */
	if (address < KG_PAGE || address >= KG_LOW_MEMORY)
		return (unsigned long long *)0;
	__asm__ __volatile__("mov %%cr3, %0" : "=r"(cr3));
	table = (unsigned long long *)(cr3 & KG_ADDRESS);
	for (int shift = 39; shift > 21; shift -= 9) { /* PML4, then the page directory pointers */
		entry = &table[(address >> shift) & 511];
		if (!(*entry & KG_PRESENT) || (*entry & KG_LARGE_PAGE))
			return (unsigned long long *)0; /* a 1 GiB page: not the boot table's layout */
		table = (unsigned long long *)(*entry & KG_ADDRESS);
	}
	entry = &table[(address >> 21) & 511];
	if (!(*entry & KG_PRESENT))
		return (unsigned long long *)0;
	if (*entry & KG_LARGE_PAGE) {
		/* The flags a 2 MiB entry has in bits 0-11 mean the same in a 4 KiB entry but for PS
		 * (bit 7, PAT there) and bit 12 (PAT here): the boot table sets neither. */
		unsigned long long flags = *entry & 0xfffULL & ~KG_LARGE_PAGE;
		unsigned long long base = *entry & KG_ADDRESS & ~(KG_LARGE - 1);

		if (*entry & 0x1000ULL)
			return (unsigned long long *)0;
		small = kg_new_table();
		if (!small)
			return (unsigned long long *)0;
		for (int i = 0; i < 512; i++)
			small[i] = (base + (unsigned long long)i * KG_PAGE) | flags | (*entry & (1ULL << 63));
		*entry = (unsigned long long)(kraftld_size)small | (*entry & KG_TABLE_FLAGS);
		kg_flush();
	}
	table = (unsigned long long *)(*entry & KG_ADDRESS);
	return &table[(address >> 12) & 511];
}

/* Marks [low, high) (whole pages) not present and records it; 0 when it cannot. */
static int kg_guard(kraftld_size low, kraftld_size high, kraftld_size stack, kraftld_size stack_size, int is_main)
{
	struct kg_guard *slot = (struct kg_guard *)0;
	kraftld_size page;
	int ours = !ukplat_pt_get_active;

	if (low >= high || (low | high) & (KG_PAGE - 1))
		return 0;
	for (int i = 0; i < KG_GUARDS && !slot; i++)
		if (!kg_guards[i].high)
			slot = &kg_guards[i];
	if (!slot)
		return 0;
	for (page = low; ours && page < high; page += KG_PAGE) /* all the entries first: all or nothing */
		if (!kg_entry(page))
			return 0;
	for (page = low; ours && page < high; page += KG_PAGE)
		*kg_entry(page) &= ~KG_PRESENT;
	if (ours)
		kg_flush();
	slot->low = low;
	slot->high = high;
	slot->ours = ours;
	slot->stack = stack;
	slot->stack_size = stack_size;
	slot->is_main = is_main;
	return ours;
}

/* With the paging API on, stacks' guards are ukvmem's (CONFIG_LIBUKALLOCSTACK_PAGE_GUARDS, below
 * each Unikraft stack, CONFIG_LIBUKVMEM_STACK_GUARD_PAGES_BOTTOM pages, 1 by default) or musl's
 * mprotect()ed region (posix-mmap's real mprotect): kg_guard only watches those, so that a fault
 * there is reported as an overflow instead of Unikraft's crash report (which, for main's
 * overflow, looped printing its stack walk). It returns 0 then: a thread keeps its mark too. */

/* Lifts the guard of the stack whose lowest address is `stack`, if it has one. */
static void kg_unguard(kraftld_size stack)
{
	for (int i = 0; i < KG_GUARDS; i++) {
		struct kg_guard *slot = &kg_guards[i];

		if (slot->high && slot->stack == stack) {
			for (kraftld_size page = slot->low; slot->ours && page < slot->high; page += KG_PAGE)
				*kg_entry(page) |= KG_PRESENT;
			if (slot->ours)
				kg_flush();
			slot->high = 0;
			return;
		}
	}
}

static __attribute__((noreturn)) void kg_overflowed(int is_main, kraftld_size size)
{
	char line[200];
	static const char main_prefix[] = "\nkraftld: main overflowed its stack of ";
	static const char thread_prefix[] = "\nkraftld: a thread overflowed its stack of ";
	static const char main_hint[] = " KiB (stack overflow); give it more: CONFIG_STACK_SIZE_PAGE_ORDER "
					"in the Kraftfile (4 KiB << order; kraftld's default is 10)\n";
	static const char thread_hint[] = " KiB (stack overflow); give it more: pthread_attr_setstacksize, "
					  "RUST_MIN_STACK, std::thread::Builder::stack_size\n";
	int length = 0;

	for (const char *p = is_main ? main_prefix : thread_prefix; *p; p++)
		line[length++] = *p;
	kraftld_write_number(line, &length, (long long)(size >> 10));
	line[length] = '\0';
	kraftld_serial_write(line);
	kraftld_serial_write(is_main ? main_hint : thread_hint);
	ukplat_terminate(KRAFTLD_UKPLAT_CRASH);
}

/* Unikraft's page-fault event: a fault inside a guard is an overflow, any other is left to the
 * handlers after this one and to Unikraft's crash report. */
static int kg_page_fault(void *data)
{
	const struct kg_trap *trap = data;

	for (int i = 0; i < KG_GUARDS; i++) {
		const struct kg_guard *slot = &kg_guards[i];

		if (slot->high && trap->fault_address >= slot->low && trap->fault_address < slot->high)
			kg_overflowed(slot->is_main, slot->stack_size);
	}
	return KG_EVENT_NOT_HANDLED;
}

/* UK_EVENT_HANDLER_PRIO(UKARCH_TRAP_PAGE_FAULT, kg_page_fault, UK_PRIO_EARLIEST): first, so that a
 * handler that would take the fault for itself (ukvmem's) never sees a guard's. */
__attribute__((section(".uk_event_trap_page_fault~0"), used))
static int (*const kg_page_fault_entry)(void *) = kg_page_fault;

/* struct ukplat_memregion_desc (include/uk/plat/memory.h, packed): vbase at 8, pg_off at 16,
 * len at 24, type at 40. */
#define KG_REGION_BASE 8
#define KG_REGION_OFFSET 16
#define KG_REGION_LENGTH 24
#define KG_REGION_TYPE 40
#define KG_REGION_STACK 0x0020 /* UKPLAT_MEMRT_STACK */

/* The boot stack, which main runs on without Unikraft's main thread (nolibc's default): the
 * memory region of type stack that holds `sp` (plat/kvm/x86/setup.c allocates it). */
static kraftld_size kg_boot_stack(kraftld_size sp, kraftld_size *size)
{
	int count = ukplat_memregion_count && ukplat_memregion_get ? ukplat_memregion_count() : 0;

	for (int i = 0; i < count; i++) {
		char *region;
		kraftld_size base, length;

		if (ukplat_memregion_get(i, (void **)&region) != 0)
			break;
		base = *(kraftld_size *)(region + KG_REGION_BASE) + *(kraftld_size *)(region + KG_REGION_OFFSET);
		length = *(kraftld_size *)(region + KG_REGION_LENGTH);
		if (*(unsigned short *)(region + KG_REGION_TYPE) == KG_REGION_STACK && base < sp &&
		    sp - base <= length) {
			*size = length;
			return base;
		}
	}
	return 0;
}

/* main's guard, from kraftld_start, on main's own stack. */
static void kg_guard_main(void)
{
	char *thread, here;
	kraftld_size stack = 0, low, sp = (kraftld_size)&here, size = KG_PAGE;
	const char *name = (const char *)0;
	char **current = __uk_sched_thread_current;

	__asm__("" : "+r"(current)); /* a weak array's address may be null: see kraftld_seed */
	if (current && (thread = current[0])) {
		stack = *(kraftld_size *)(thread + KG_THREAD_STACK);
		name = *(const char **)(thread + KG_THREAD_NAME);
	}
	/* Trust the layout only if it describes this stack: its bottom below us, within 1 GiB (checked
	 * first: only then is the name's pointer read through), and Unikraft's main thread. */
	if (stack && stack < sp && sp - stack <= (1UL << 30) && (kraftld_size)name >= KG_PAGE &&
	    (kraftld_size)name < (1UL << 47) && name[0] == 'm' && name[1] == 'a' && name[2] == 'i' &&
	    name[3] == 'n' && !name[4]) {
		while (size < sp - stack) /* Unikraft's stacks are 4 KiB << an order: a power of two */
			size <<= 1;
	} else if (!(stack = kg_boot_stack(sp, &size))) {
		return;
	}
	low = (stack + KG_PAGE - 1) & ~(KG_PAGE - 1);
	if (ukplat_pt_get_active) /* ukvmem's guard, below the stack's first page */
		kg_guard(low - KG_PAGE, low, stack, size, 1);
	else if (size >= 4 * KG_MAIN_GUARD) /* a stack of 64 KiB at least keeps most of itself */
		kg_guard(low, low + KG_MAIN_GUARD, stack, size, 1);
}

/* The current thread's stack: its lowest address and size, and musl's guard size below it. */
static kraftld_size ks_stack_bottom(kraftld_size *size, kraftld_size *guard)
{
	unsigned long attr[16]; /* musl's pthread_attr_t: 56 bytes on x86-64 */
	void *stack = (void *)0;

	*size = *guard = 0;
	if (!pthread_getattr_np || !pthread_attr_getstack || !pthread_self || pthread_getattr_np(pthread_self(), attr))
		return 0;
	if (pthread_attr_getstack(attr, &stack, size))
		stack = (void *)0;
	if (pthread_attr_getguardsize && pthread_attr_getguardsize(attr, guard))
		*guard = 0;
	if (pthread_attr_destroy)
		pthread_attr_destroy(attr);
	return (kraftld_size)stack;
}

/* Guards a thread's stack; whether it could. */
static int ks_guard_thread(kraftld_size bottom, kraftld_size size, kraftld_size guard)
{
	kraftld_size low = (bottom - guard + KG_PAGE - 1) & ~(KG_PAGE - 1);
	kraftld_size high = bottom & ~(KG_PAGE - 1);

	if (guard && high > low) /* musl's guard region, its whole pages */
		return kg_guard(low, high, bottom, size, 0);
	if (ukplat_pt_get_active) /* a page of the stack's own is not ours to unmap under ukvmem */
		return 0;
	low = (bottom + KG_PAGE - 1) & ~(KG_PAGE - 1); /* none: the stack's own lowest page */
	return size >= 4 * KG_PAGE && kg_guard(low, low + KG_PAGE, bottom, size, 0);
}

static void *ks_thread(void *start_argument)
{
	struct ks_start start = *(struct ks_start *)start_argument;
	kraftld_size size, guard;
	kraftld_size bottom = ks_stack_bottom(&size, &guard);
	unsigned long long *mark = (unsigned long long *)0;
	int guarded = bottom && ks_guard_thread(bottom, size, guard);
	void *result;
	int i;

	free(start_argument);
	if (bottom && !guarded && size >= 4 * 8 * KS_MARK_WORDS) { /* 16 KiB at least */
		mark = (unsigned long long *)bottom;
		for (i = 0; i < KS_MARK_WORDS; i++)
			mark[i] = KS_MARK ^ (unsigned long long)i;
	}
	result = start.routine(start.argument);
	if (guarded)
		kg_unguard(bottom);
	for (i = 0; mark && i < KS_MARK_WORDS; i++)
		if (mark[i] != (KS_MARK ^ (unsigned long long)i))
			kg_overflowed(0, size);
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

/* A thread that ends through pthread_exit never returns to ks_thread: its guard is lifted here,
 * before musl gives its stack back. */
void __wrap_pthread_exit(void *result)
{
	kraftld_size size, guard, bottom = ks_stack_bottom(&size, &guard);

	if (bottom)
		kg_unguard(bottom);
	if (!__real_pthread_exit)
		ukplat_terminate(KRAFTLD_UKPLAT_CRASH);
	__real_pthread_exit(result);
}
