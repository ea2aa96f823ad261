/*
 * kraftld's runtime object: carries a unikernel program's exit status out to the host.
 *
 * Unikraft calls main() and then halts, dropping its return value, and exit(n) ends the same way.
 * kraftld links this object last, with `--wrap` for exit, _exit, _Exit and ukplat_terminate:
 *
 *  - a constructor, the last entry of .init_array, runs main(argc, argv) and passes its result to
 *    exit(), as a C runtime's start code does; Unikraft calls constructors with argc and argv
 *    right before it would call main itself, after every other constructor has run;
 *  - the exit wrappers record the status, then let the libc's own exit run atexit handlers and
 *    flush stdio;
 *  - when the libc finally asks the platform to halt, the ukplat_terminate wrapper writes the
 *    status to the serial console as `ESC ] kraftld-exit-status ; N BEL` (an OSC sequence, which
 *    terminals do not show and no program output is mistaken for) and ends QEMU through the
 *    isa-debug-exit device with a code of its own (253), which no Unikraft halt (0 or 83) or
 *    crash (85) uses. A crash never passes through here: Unikraft's crash path keeps its code.
 *
 * The serial line and the debug-exit device are x86 I/O ports, written directly so the status
 * reaches the host whatever the libc (nolibc or musl) and however far it has shut down.
 * Without an isa-debug-exit device the write is ignored and the guest halts as Unikraft would.
 */

#define KRAFTLD_SERIAL_PORT 0x3f8 /* COM1, Unikraft's console on qemu and firecracker */
#define KRAFTLD_SERIAL_LSR (KRAFTLD_SERIAL_PORT + 5)
#define KRAFTLD_SERIAL_THR_EMPTY 0x20
#define KRAFTLD_DEBUG_EXIT_PORT 0x501 /* QEMU's isa-debug-exit default */
#define KRAFTLD_DEBUG_EXIT_VALUE 0x7e /* QEMU then exits with (0x7e << 1) | 1 = 253 */
#define KRAFTLD_UKPLAT_HALT 0         /* enum ukplat_gstate's UKPLAT_HALT */

extern int main(int argc, char *argv[]);

/* Weak: a libc without one of these links all the same; the status is then reported at once. */
extern void __real_exit(int status) __attribute__((weak, noreturn));
extern void __real__exit(int status) __attribute__((weak, noreturn));
extern void __real__Exit(int status) __attribute__((weak, noreturn));
extern void __real_ukplat_terminate(int request) __attribute__((noreturn));

void __wrap_exit(int status) __attribute__((noreturn));
void __wrap__exit(int status) __attribute__((noreturn));
void __wrap__Exit(int status) __attribute__((noreturn));
void __wrap_ukplat_terminate(int request) __attribute__((noreturn));

static volatile int kraftld_exiting;
static volatile int kraftld_status;

static inline void kraftld_outb(unsigned short port, unsigned char value)
{
	__asm__ __volatile__("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline void kraftld_outw(unsigned short port, unsigned short value)
{
	__asm__ __volatile__("outw %0, %1" : : "a"(value), "Nd"(port));
}

static inline unsigned char kraftld_inb(unsigned short port)
{
	unsigned char value;

	__asm__ __volatile__("inb %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

static void kraftld_serial_write(const char *text)
{
	for (; *text; text++) {
		/* An absent UART reads as 0xff, so this never waits forever. */
		while (!(kraftld_inb(KRAFTLD_SERIAL_LSR) & KRAFTLD_SERIAL_THR_EMPTY))
			;
		kraftld_outb(KRAFTLD_SERIAL_PORT, (unsigned char)*text);
	}
}

static __attribute__((noreturn)) void kraftld_finish(void)
{
	static const char prefix[] = "\033]kraftld-exit-status;";
	char line[sizeof(prefix) + 16];
	char digits[12];
	unsigned int magnitude;
	int status = kraftld_status;
	int length = 0;
	int count = 0;

	for (const char *p = prefix; *p; p++)
		line[length++] = *p;
	if (status < 0)
		line[length++] = '-';
	magnitude = status < 0 ? 0u - (unsigned int)status : (unsigned int)status;
	do {
		digits[count++] = (char)('0' + magnitude % 10);
		magnitude /= 10;
	} while (magnitude);
	while (count)
		line[length++] = digits[--count];
	line[length++] = '\a';
	line[length] = '\0';
	kraftld_serial_write(line);

	kraftld_outw(KRAFTLD_DEBUG_EXIT_PORT, KRAFTLD_DEBUG_EXIT_VALUE);
	__real_ukplat_terminate(KRAFTLD_UKPLAT_HALT);
}

static __attribute__((noreturn)) void kraftld_exit(int status, void (*libc_exit)(int))
{
	if (!kraftld_exiting) {
		kraftld_status = status;
		kraftld_exiting = 1;
	}
	if (libc_exit)
		libc_exit(status);
	kraftld_finish();
}

void __wrap_exit(int status)
{
	kraftld_exit(status, __real_exit);
}

void __wrap__exit(int status)
{
	kraftld_exit(status, __real__exit);
}

void __wrap__Exit(int status)
{
	kraftld_exit(status, __real__Exit);
}

void __wrap_ukplat_terminate(int request)
{
	if (kraftld_exiting)
		kraftld_finish();
	__real_ukplat_terminate(request);
}

static void kraftld_start(int argc, char *argv[])
{
	__wrap_exit(main(argc, argv));
}

/* Unprioritised .init_array entries run in link order, after the prioritised ones: kraftld
 * links this object last, so this entry runs after every constructor of the program. */
__attribute__((section(".init_array"), used))
static void (*const kraftld_start_entry)(int, char *[]) = kraftld_start;

/*
 * Rust without std, built with panic=abort, still links the toolchain's precompiled libcore,
 * whose unwind tables name rust_eh_personality. Unikraft's linker script keeps every .eh_frame,
 * so the name must resolve even though nothing unwinds under panic=abort. This weak stand-in is
 * never called there; std's own definition, when std is linked, takes precedence.
 */
__attribute__((weak)) int rust_eh_personality(void)
{
	return 3; /* _URC_FATAL_PHASE1_ERROR: refuse to unwind */
}
