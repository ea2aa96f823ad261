/*
 * kraftld's runtime object: what a program needs from a unikernel that Unikraft does not give it.
 * kraftld links it last, with `--wrap` for exit, _exit, _Exit, getrandom, syscall,
 * clock_nanosleep, uk_syscall_r_write, uk_syscall_r_writev and nolibc's stderr stdio (fprintf,
 * vfprintf, fputs, fputc) here, and for the names the
 * included files stand in front of (runtime.py lists them all). Four concerns live in files of
 * their own, included at the end: small allocations (kraftld_malloc.c), files as on Linux
 * (kraftld_files.c), stack overflows of main and of threads (kraftld_stacks.c) and the CPU-time clocks
 * (kraftld_clocks.c).
 *
 * Exit status. Unikraft calls main() and then halts, dropping its return value, and with
 * lib-musl exit(n) never reaches a halt at all (the exiting thread is killed and the guest
 * hangs, or trips an assertion once other threads exist). So:
 *  - a constructor, the last entry of .init_array, runs main(argc, argv) and passes its result
 *    to exit(), as a C runtime's start code does; Unikraft calls constructors with argc and argv
 *    right before it would call main itself, after every other constructor has run;
 *  - the exit wrappers flush C stdio and end the guest themselves: they write the status to
 *    the serial console as `ESC ] kraftld-exit-status ; N BEL` (an OSC sequence, which terminals
 *    do not show and no program output is mistaken for) and stop QEMU through the isa-debug-exit
 *    device with a code of its own (253), which no Unikraft halt (0 or 83) or crash (85) uses.
 *    atexit handlers do not run. A crash never passes through here: Unikraft's crash path keeps
 *    its code.
 *  The serial line and the debug-exit device are x86 I/O ports, written directly so the status
 *  reaches the host whatever the libc. Without an isa-debug-exit device the guest halts as
 *  Unikraft would.
 *
 * Randomness. Rust's std (HashMap's keys) and C programs ask getrandom(); Unikraft answers it only
 * with ukrandom, which needs RDRAND at boot and is off by default. The wrappers answer from, in
 * order: Unikraft's getrandom when it works; the CPU's RDRAND (QEMU's `-cpu max` offers it under
 * TCG, backed by the host); a ChaCha20 stream keyed by `kraftld.seed`, 256 bits of host
 * randomness kraftld-run passes at boot. With none of these the program stops with a message
 * and a crash status: never a guessable generator.
 *
 * Sleeping. Rust's std sleeps through clock_nanosleep(), which Unikraft 0.17 leaves as a stub
 * returning 0 at once (nanosleep() works): thread::sleep(100 ms) returned after 134 µs, and under
 * the cooperative scheduler a retry loop that sleeps starves every other thread (lwIP's among
 * them). The wrapper gives clock_nanosleep nanosleep's semantics, for relative and absolute
 * (TIMER_ABSTIME) times on CLOCK_REALTIME, CLOCK_MONOTONIC and CLOCK_BOOTTIME.
 *
 * Standard error. Unikraft's posix-tty makes fd 2 a copy of fd 1, both the one serial console:
 * the host cannot tell them apart. The write system calls (posix-fdio's uk_syscall_r_write and
 * uk_syscall_r_writev, which lib-musl's write(), writev() and stdio reach through the syscall
 * shim) are wrapped: a write to fd 2 goes out between `ESC ] kraftld-stderr ; BEL` and
 * `ESC ] kraftld-stdout ; BEL`, which kraftld-run takes out, sending what is between to its
 * stderr. nolibc's stdio writes to the console without a file descriptor (lib/nolibc/stdio.c:
 * fprintf, vfprintf, fputs and fputc send stdout's and stderr's text alike to _console_out), so
 * for nolibc those four are wrapped instead, and a call on its stderr gets the same markers.
 * nolibc's stderr is told apart by its definition, `FILE *stderr = (FILE *)&stderr`: a FILE
 * pointer to itself, which no real FILE is (musl's points to its FILE structure, and musl's
 * stderr already reaches the write system call, so these wrappers only pass musl's calls on).
 *
 * Rust's std also references a few things no Unikraft library defines; weak stand-ins follow
 * at the end (unwinding entry points, posix_spawnp). A real definition always takes precedence.
 */

#define KRAFTLD_SERIAL_PORT 0x3f8 /* COM1, Unikraft's console on qemu and firecracker */
#define KRAFTLD_SERIAL_LSR (KRAFTLD_SERIAL_PORT + 5)
#define KRAFTLD_SERIAL_THR_EMPTY 0x20
#define KRAFTLD_DEBUG_EXIT_PORT 0x501 /* QEMU's isa-debug-exit default */
#define KRAFTLD_DEBUG_EXIT_VALUE 0x7e /* QEMU then exits with (0x7e << 1) | 1 = 253 */
#define KRAFTLD_UKPLAT_HALT 0         /* enum ukplat_gstate */
#define KRAFTLD_UKPLAT_CRASH 3
#define KRAFTLD_SYS_GETRANDOM 318     /* x86_64 */
#define KRAFTLD_ENOSYS 38
#define KRAFTLD_EINTR 4
#define KRAFTLD_EINVAL 22
#define KRAFTLD_CLOCK_REALTIME 0
#define KRAFTLD_CLOCK_MONOTONIC 1
#define KRAFTLD_CLOCK_BOOTTIME 7
#define KRAFTLD_TIMER_ABSTIME 1
#define KRAFTLD_NSEC_PER_SEC 1000000000L

#include <stdarg.h> /* gcc's own, freestanding */
#define EOF_VALUE (-1)

typedef unsigned long kraftld_size;
typedef long kraftld_ssize;

extern int main(int argc, char *argv[]);
extern void ukplat_terminate(int request) __attribute__((noreturn));

/* Weak: whatever the libc lacks links all the same. */
extern int fflush(void *stream) __attribute__((weak));
extern int *__errno_location(void) __attribute__((weak));
extern long __real_syscall(long number, ...) __attribute__((weak));
extern kraftld_ssize __real_getrandom(void *buffer, kraftld_size length, unsigned int flags) __attribute__((weak));
struct kraftld_timespec {
	long tv_sec;
	long tv_nsec;
};
extern int nanosleep(const struct kraftld_timespec *request, struct kraftld_timespec *remain) __attribute__((weak));
extern int clock_gettime(int clock, struct kraftld_timespec *now) __attribute__((weak));
extern int __real_clock_nanosleep(int clock, int flags, const struct kraftld_timespec *request,
				  struct kraftld_timespec *remain) __attribute__((weak));
extern long __real_uk_syscall_r_write(long fd, long buffer, long length) __attribute__((weak));
extern long __real_uk_syscall_r_writev(long fd, long iov, long count) __attribute__((weak));
/* kraftld_params.c, built into kraftld's application library when uklibparam is on. */
extern unsigned long long kraftld_seed[4] __attribute__((weak));

void __wrap_exit(int status) __attribute__((noreturn));
void __wrap__exit(int status) __attribute__((noreturn));
void __wrap__Exit(int status) __attribute__((noreturn));
kraftld_ssize __wrap_getrandom(void *buffer, kraftld_size length, unsigned int flags);
long __wrap_syscall(long number, long a, long b, long c, long d, long e, long f);
int __wrap_clock_nanosleep(int clock, int flags, const struct kraftld_timespec *request,
			   struct kraftld_timespec *remain);
long __wrap_uk_syscall_r_write(long fd, long buffer, long length);
long __wrap_uk_syscall_r_writev(long fd, long iov, long count);

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

static void kraftld_write_number(char *line, int *length, long long value)
{
	char digits[24];
	unsigned long long magnitude = value < 0 ? 0ull - (unsigned long long)value : (unsigned long long)value;
	int count = 0;

	if (value < 0)
		line[(*length)++] = '-';
	do {
		digits[count++] = (char)('0' + magnitude % 10);
		magnitude /= 10;
	} while (magnitude);
	while (count)
		line[(*length)++] = digits[--count];
}

static __attribute__((noreturn)) void kraftld_exit(int status)
{
	static const char prefix[] = "\033]kraftld-exit-status;";
	char line[sizeof(prefix) + 24];
	int length = 0;

	if (fflush)
		fflush((void *)0);
	for (const char *p = prefix; *p; p++)
		line[length++] = *p;
	kraftld_write_number(line, &length, status);
	line[length++] = '\a';
	line[length] = '\0';
	kraftld_serial_write(line);

	kraftld_outw(KRAFTLD_DEBUG_EXIT_PORT, KRAFTLD_DEBUG_EXIT_VALUE);
	ukplat_terminate(KRAFTLD_UKPLAT_HALT);
}

void __wrap_exit(int status)
{
	kraftld_exit(status);
}

void __wrap__exit(int status)
{
	kraftld_exit(status);
}

void __wrap__Exit(int status)
{
	kraftld_exit(status);
}

/* Environment -------------------------------------------------------------------------------
 * Unikraft's posix-environ puts the Kraftfile's compiled-in variables first and those kraftld-run
 * passes (`env.vars=NAME=VALUE`) after them, and getenv() finds the first: the runner's value must
 * win, as `docker run -e` wins over the image's ENV. So before main, the last entry of each name
 * takes the place of its first and the others go. */

extern char **environ __attribute__((weak));

static int kraftld_same_name(const char *a, const char *b)
{
	while (*a && *a != '=' && *a == *b) {
		a++;
		b++;
	}
	return (*a == '=' || *a == '\0') && (*b == '=' || *b == '\0');
}

static void kraftld_environment_last_wins(void)
{
	char **env;
	unsigned long count = 0, i, j, kept;

	if (!&environ || !environ)
		return;
	env = environ;
	while (env[count])
		count++;
	for (i = 0; i < count; i++) {
		for (j = count - 1; j > i; j--) {
			if (kraftld_same_name(env[i], env[j])) {
				env[i] = env[j];
				break;
			}
		}
		for (j = kept = i + 1; j < count; j++) {
			if (!kraftld_same_name(env[i], env[j]))
				env[kept++] = env[j];
		}
		for (j = kept; j < count; j++)
			env[j] = 0;
		count = kept;
	}
}

static void kg_guard_main(void); /* kraftld_stacks.c */

static void kraftld_start(int argc, char *argv[])
{
	kraftld_environment_last_wins();
	kg_guard_main();
	kraftld_exit(main(argc, argv));
}

/* Unprioritised .init_array entries run in link order, after the prioritised ones: kraftld
 * links this object last, so this entry runs after every constructor of the program. */
__attribute__((section(".init_array"), used))
static void (*const kraftld_start_entry)(int, char *[]) = kraftld_start;

/* Randomness ------------------------------------------------------------------------------- */

static int kraftld_cpu_has_rdrand(void)
{
	unsigned int eax = 1, ebx, ecx = 0, edx;

	__asm__ __volatile__("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
	return (ecx >> 30) & 1;
}

static int kraftld_rdrand(unsigned long long *value)
{
	unsigned char ok;

	/* Intel's guidance: a few retries cover transient underflow; persistent failure is a fault. */
	for (int attempt = 0; attempt < 10; attempt++) {
		__asm__ __volatile__("rdrand %0; setc %1" : "=r"(*value), "=qm"(ok));
		if (ok)
			return 1;
	}
	return 0;
}

static int kraftld_fill_rdrand(unsigned char *out, kraftld_size length)
{
	unsigned long long word;

	if (!kraftld_cpu_has_rdrand())
		return 0;
	while (length) {
		kraftld_size take = length < 8 ? length : 8;

		if (!kraftld_rdrand(&word))
			return 0;
		for (kraftld_size i = 0; i < take; i++)
			out[i] = (unsigned char)(word >> (8 * i));
		out += take;
		length -= take;
	}
	return 1;
}

#define KRAFTLD_ROTL(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define KRAFTLD_QR(a, b, c, d)                                  \
	do {                                                    \
		a += b; d ^= a; d = KRAFTLD_ROTL(d, 16);        \
		c += d; b ^= c; b = KRAFTLD_ROTL(b, 12);        \
		a += b; d ^= a; d = KRAFTLD_ROTL(d, 8);         \
		c += d; b ^= c; b = KRAFTLD_ROTL(b, 7);         \
	} while (0)

/* One ChaCha20 block (RFC 8439) with a zero nonce. */
static void kraftld_chacha20_block(const unsigned int key[8], unsigned int counter, unsigned int out[16])
{
	unsigned int x[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};

	for (int i = 0; i < 8; i++)
		x[4 + i] = key[i];
	x[12] = counter;
	x[13] = x[14] = x[15] = 0;
	for (int i = 0; i < 16; i++)
		out[i] = x[i];
	for (int round = 0; round < 10; round++) {
		KRAFTLD_QR(out[0], out[4], out[8], out[12]);
		KRAFTLD_QR(out[1], out[5], out[9], out[13]);
		KRAFTLD_QR(out[2], out[6], out[10], out[14]);
		KRAFTLD_QR(out[3], out[7], out[11], out[15]);
		KRAFTLD_QR(out[0], out[5], out[10], out[15]);
		KRAFTLD_QR(out[1], out[6], out[11], out[12]);
		KRAFTLD_QR(out[2], out[7], out[8], out[13]);
		KRAFTLD_QR(out[3], out[4], out[9], out[14]);
	}
	for (int i = 0; i < 16; i++)
		out[i] += x[i];
}

static unsigned int kraftld_stream_key[8];
static int kraftld_stream_state; /* 0: not keyed yet, 1: keyed, -1: no seed */

/* Fast key erasure: each block's first half becomes the next key, so past output cannot be
 * recomputed from the state. */
static int kraftld_fill_seeded(unsigned char *out, kraftld_size length)
{
	unsigned int block[16];

	if (kraftld_stream_state == 0) {
		unsigned long long any = 0;

		unsigned long long *seed = kraftld_seed;

		/* A weak array's address is null when nothing defines it; hide that from the
		 * compiler, which assumes an array's address never is. */
		__asm__("" : "+r"(seed));
		kraftld_stream_state = -1;
		if (seed) {
			for (int i = 0; i < 4; i++) {
				any |= seed[i];
				kraftld_stream_key[2 * i] = (unsigned int)seed[i];
				kraftld_stream_key[2 * i + 1] = (unsigned int)(seed[i] >> 32);
				seed[i] = 0; /* the key lives on only in the stream's state */
			}
			if (any)
				kraftld_stream_state = 1;
		}
	}
	if (kraftld_stream_state != 1)
		return 0;
	while (length) {
		kraftld_chacha20_block(kraftld_stream_key, 0, block);
		for (int i = 0; i < 8; i++)
			kraftld_stream_key[i] = block[i];
		for (int i = 32; i < 64 && length; i++, length--)
			*out++ = ((unsigned char *)block)[i];
	}
	return 1;
}

static __attribute__((noreturn)) void kraftld_no_randomness(void)
{
	kraftld_serial_write("\nkraftld: the program asked for random bytes and this machine has no source: "
			     "no Unikraft ukrandom, no RDRAND, no kraftld.seed (boot with kraftld-run, or "
			     "give QEMU -cpu max)\n");
	ukplat_terminate(KRAFTLD_UKPLAT_CRASH);
}

static kraftld_ssize kraftld_getrandom(void *buffer, kraftld_size length, kraftld_ssize unikraft_result)
{
	if (unikraft_result >= 0)
		return unikraft_result;
	if (kraftld_fill_rdrand(buffer, length) || kraftld_fill_seeded(buffer, length))
		return (kraftld_ssize)length;
	kraftld_no_randomness();
}

/* Whether the libc's answer means "no such system call". Unikraft's syscall shim sets errno to
 * -ENOSYS for a system call it does not provide, so both signs count. */
static int kraftld_unavailable(void)
{
	int error = __errno_location ? *__errno_location() : KRAFTLD_ENOSYS;

	return error == KRAFTLD_ENOSYS || error == -KRAFTLD_ENOSYS;
}

kraftld_ssize __wrap_getrandom(void *buffer, kraftld_size length, unsigned int flags)
{
	kraftld_ssize result = -1;

	if (__real_getrandom) {
		result = __real_getrandom(buffer, length, flags);
		if (result < 0 && !kraftld_unavailable())
			return result; /* EINTR, EFAULT…: the caller's business */
	}
	return kraftld_getrandom(buffer, length, result);
}

/* x86-64 passes a variadic call's integer arguments as it passes fixed ones, so the six
 * syscall arguments arrive here as parameters and go on to the libc's syscall() unchanged. */
long __wrap_syscall(long number, long a, long b, long c, long d, long e, long f)
{
	long result = -1;

	if (__real_syscall)
		result = __real_syscall(number, a, b, c, d, e, f);
	if (number != KRAFTLD_SYS_GETRANDOM || result >= 0 || !kraftld_unavailable())
		return result;
	return kraftld_getrandom((void *)a, (kraftld_size)b, -1);
}

/* clock_nanosleep with nanosleep's semantics (see "Sleeping" above). It returns an error number,
 * as clock_nanosleep does, where nanosleep sets errno. */
static int kraftld_sleep_error(void)
{
	return __errno_location ? *__errno_location() : KRAFTLD_EINVAL;
}

int __wrap_clock_nanosleep(int clock, int flags, const struct kraftld_timespec *request,
			   struct kraftld_timespec *remain)
{
	struct kraftld_timespec now, left;

	if (clock != KRAFTLD_CLOCK_REALTIME && clock != KRAFTLD_CLOCK_MONOTONIC && clock != KRAFTLD_CLOCK_BOOTTIME)
		return __real_clock_nanosleep ? __real_clock_nanosleep(clock, flags, request, remain)
					      : KRAFTLD_EINVAL;
	if (!nanosleep || !clock_gettime)
		return __real_clock_nanosleep ? __real_clock_nanosleep(clock, flags, request, remain)
					      : KRAFTLD_ENOSYS;
	if (request->tv_nsec < 0 || request->tv_nsec >= KRAFTLD_NSEC_PER_SEC || request->tv_sec < 0)
		return KRAFTLD_EINVAL;
	if (!(flags & KRAFTLD_TIMER_ABSTIME))
		return nanosleep(request, remain) == 0 ? 0 : kraftld_sleep_error();
	/* Absolute: sleep the difference, again if the clock has not reached the time yet (the
	 * realtime clock can be set meanwhile). A signal ends it with EINTR, remain untouched. */
	for (;;) {
		if (clock_gettime(clock, &now) != 0)
			return kraftld_sleep_error();
		left.tv_sec = request->tv_sec - now.tv_sec;
		left.tv_nsec = request->tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_nsec += KRAFTLD_NSEC_PER_SEC;
			left.tv_sec--;
		}
		if (left.tv_sec < 0 || (left.tv_sec == 0 && left.tv_nsec == 0))
			return 0;
		if (nanosleep(&left, (struct kraftld_timespec *)0) != 0)
			return kraftld_sleep_error();
	}
}

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

/*
 * Unwinding entry points. Rust's std prints backtraces through _Unwind_Backtrace and friends,
 * which a hosted link takes from libgcc_s; the unikernel has no unwinder and panics abort, so
 * these report an empty stack, and the raising entry points refuse, which makes a panic abort.
 */
typedef int kraftld_unwind_reason;
#define KRAFTLD_URC_FATAL_PHASE1_ERROR 3
#define KRAFTLD_URC_END_OF_STACK 5

extern void abort(void) __attribute__((weak, noreturn));

__attribute__((weak)) kraftld_unwind_reason _Unwind_Backtrace(void *trace, void *argument)
{
	(void)trace;
	(void)argument;
	return KRAFTLD_URC_END_OF_STACK;
}

__attribute__((weak)) unsigned long _Unwind_GetIP(void *context)
{
	(void)context;
	return 0;
}

__attribute__((weak)) unsigned long _Unwind_GetIPInfo(void *context, int *before)
{
	(void)context;
	*before = 0;
	return 0;
}

__attribute__((weak)) unsigned long _Unwind_GetCFA(void *context)
{
	(void)context;
	return 0;
}

__attribute__((weak)) void *_Unwind_FindEnclosingFunction(void *pc)
{
	(void)pc;
	return (void *)0;
}

__attribute__((weak)) kraftld_unwind_reason _Unwind_RaiseException(void *exception)
{
	(void)exception;
	return KRAFTLD_URC_FATAL_PHASE1_ERROR;
}

__attribute__((weak, noreturn)) void _Unwind_Resume(void *exception)
{
	(void)exception;
	if (abort)
		abort();
	ukplat_terminate(KRAFTLD_UKPLAT_CRASH);
}

__attribute__((weak)) void _Unwind_DeleteException(void *exception)
{
	(void)exception;
}

/*
 * posix_spawnp: lib-musl has no working process creation in a unikernel (there is one process).
 * std::process::Command reaches it; it fails there with ENOSYS, as on a system without fork.
 */
__attribute__((weak)) int posix_spawnp(int *pid, const char *file, const void *file_actions,
				       const void *attributes, char *const argv[], char *const envp[])
{
	(void)pid;
	(void)file;
	(void)file_actions;
	(void)attributes;
	(void)argv;
	(void)envp;
	return KRAFTLD_ENOSYS;
}

/* Standard error (see "Standard error" above). The markers go straight to the serial port, as
 * the exit status does, around the write the console driver makes. */
#define KRAFTLD_STDERR_FD 2

long __wrap_uk_syscall_r_write(long fd, long buffer, long length)
{
	long result;

	if (!__real_uk_syscall_r_write)
		return -KRAFTLD_ENOSYS;
	if (fd != KRAFTLD_STDERR_FD)
		return __real_uk_syscall_r_write(fd, buffer, length);
	kraftld_serial_write("\033]kraftld-stderr;\a");
	result = __real_uk_syscall_r_write(fd, buffer, length);
	kraftld_serial_write("\033]kraftld-stdout;\a");
	return result;
}

long __wrap_uk_syscall_r_writev(long fd, long iov, long count)
{
	long result;

	if (!__real_uk_syscall_r_writev)
		return -KRAFTLD_ENOSYS;
	if (fd != KRAFTLD_STDERR_FD)
		return __real_uk_syscall_r_writev(fd, iov, count);
	kraftld_serial_write("\033]kraftld-stderr;\a");
	result = __real_uk_syscall_r_writev(fd, iov, count);
	kraftld_serial_write("\033]kraftld-stdout;\a");
	return result;
}

/* Small allocations (kraftld_malloc.c). */
#include "kraftld_malloc.c"

/* nolibc's stderr (see "Standard error" above). Its functions are called by the program, so
 * --wrap reaches them; nolibc's own calls between them (printf to vfprintf) stay inside it. */
extern void *stderr __attribute__((weak));
extern void *stdout __attribute__((weak));
extern kraftld_size __real_fwrite(const void *data, kraftld_size size, kraftld_size count, void *stream)
	__attribute__((weak));
extern int __real_vfprintf(void *stream, const char *format, va_list arguments) __attribute__((weak));
extern int __real_fputs(const char *text, void *stream) __attribute__((weak));
extern int __real_fputc(int c, void *stream) __attribute__((weak));

int __wrap_vfprintf(void *stream, const char *format, va_list arguments);
int __wrap_fprintf(void *stream, const char *format, ...);
int __wrap_fputs(const char *text, void *stream);
int __wrap_fputc(int c, void *stream);
kraftld_size __wrap_fwrite(const void *data, kraftld_size size, kraftld_size count, void *stream);

/* Whether `stream` is nolibc's `*name`: a FILE pointer to itself. */
static int kraftld_nolibc_stream(const void *stream, void **name)
{
	__asm__("" : "+r"(name)); /* a weak object's address may be null: see kraftld_seed */
	return name && stream && stream == *name && *name == (void *)name;
}

static int kraftld_nolibc_stderr(const void *stream)
{
	return kraftld_nolibc_stream(stream, &stderr);
}

int __wrap_vfprintf(void *stream, const char *format, va_list arguments)
{
	int result;

	if (!__real_vfprintf)
		return -1;
	if (!kraftld_nolibc_stderr(stream))
		return __real_vfprintf(stream, format, arguments);
	kraftld_serial_write("\033]kraftld-stderr;\a");
	result = __real_vfprintf(stream, format, arguments);
	kraftld_serial_write("\033]kraftld-stdout;\a");
	return result;
}

/* SSE on for this one function (the rest of the object is general registers only): a variadic
 * function's prologue must save the vector registers the caller passed floating-point arguments
 * in, or fprintf(stderr, "%f", x) would print garbage. */
__attribute__((target("sse2"))) int __wrap_fprintf(void *stream, const char *format, ...)
{
	va_list arguments;
	int result;

	va_start(arguments, format);
	result = __wrap_vfprintf(stream, format, arguments);
	va_end(arguments);
	return result;
}

int __wrap_fputs(const char *text, void *stream)
{
	int result;

	if (!__real_fputs)
		return -1;
	if (!kraftld_nolibc_stderr(stream))
		return __real_fputs(text, stream);
	kraftld_serial_write("\033]kraftld-stderr;\a");
	result = __real_fputs(text, stream);
	kraftld_serial_write("\033]kraftld-stdout;\a");
	return result;
}

int __wrap_fputc(int c, void *stream)
{
	int result;

	if (!__real_fputc)
		return -1;
	if (!kraftld_nolibc_stderr(stream))
		return __real_fputc(c, stream);
	kraftld_serial_write("\033]kraftld-stderr;\a");
	result = __real_fputc(c, stream);
	kraftld_serial_write("\033]kraftld-stdout;\a");
	return result;
}

/* gcc compiles fprintf(f, "text\n") and fputs("text\n", f) to fwrite(…, f) (its builtins, at -O1
 * and above), and nolibc's fwrite, with vfscore, takes stdout and stderr for files, which they
 * are not, and writes nothing; without vfscore there is no fwrite at all and the link failed
 * ("undefined reference to fwrite"). So fwrite on nolibc's stdout and stderr goes to the console
 * through fputs, as nolibc's other stdio does, in pieces (a NUL through fputc). */
kraftld_size __wrap_fwrite(const void *data, kraftld_size size, kraftld_size count, void *stream)
{
	const unsigned char *bytes = data;
	kraftld_size total, done = 0;
	int error = kraftld_nolibc_stderr(stream);

	if (!error && !kraftld_nolibc_stream(stream, &stdout))
		return __real_fwrite ? __real_fwrite(data, size, count, stream) : 0;
	if (!__real_fputs || !__real_fputc || !size || !count || __builtin_mul_overflow(size, count, &total))
		return 0;
	if (error)
		kraftld_serial_write("\033]kraftld-stderr;\a");
	while (done < total) {
		char piece[256];
		kraftld_size length = 0;

		while (done + length < total && length < sizeof(piece) - 1 && bytes[done + length])
			piece[length] = (char)bytes[done + length], length++;
		piece[length] = '\0';
		if (length && __real_fputs(piece, stream) < 0)
			break;
		done += length;
		if (done < total && !bytes[done] && __real_fputc(0, stream) != EOF_VALUE)
			done++;
		else if (done < total && !bytes[done])
			break;
	}
	if (error)
		kraftld_serial_write("\033]kraftld-stdout;\a");
	return done / size;
}

/* Stack overflows of main and of threads reported as such (kraftld_stacks.c). */
#include "kraftld_stacks.c"

/* Files as on Linux (kraftld_files.c). */
#include "kraftld_files.c"

/* The CPU-time clocks (kraftld_clocks.c). */
#include "kraftld_clocks.c"
