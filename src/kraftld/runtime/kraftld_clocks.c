/*
 * The CPU-time clocks, included by kraftld_runtime.c.
 *
 * musl's clock() reads CLOCK_PROCESS_CPUTIME_ID, and programs time their own work with it or with
 * CLOCK_THREAD_CPUTIME_ID (Lua's os.clock(), benchmarks, test harnesses). Unikraft 0.17's
 * posix-time knows only the realtime, monotonic and boottime clocks (uk_sys_clock_gettime and
 * clock_getres in lib/posix-time/time.c answer EINVAL), so clock() returned -1. A unikernel is
 * one process on one CPU under a cooperative scheduler: the time since boot stands for its CPU
 * time and for its threads'. It counts the time the guest spends idle too (asleep, waiting for
 * the network), which Linux would not: README, "Differences from Linux".
 *
 * lib-musl reaches posix-time through the syscall shim's static functions (uk_syscall_r_…, as
 * kraftld_files.c explains for open), so the wrappers are on those names.
 */

#define KRAFTLD_CLOCK_PROCESS_CPUTIME_ID 2
#define KRAFTLD_CLOCK_THREAD_CPUTIME_ID 3

extern long __real_uk_syscall_r_clock_gettime(long clock, long now) __attribute__((weak));
extern long __real_uk_syscall_r_clock_getres(long clock, long resolution) __attribute__((weak));

long __wrap_uk_syscall_r_clock_gettime(long clock, long now);
long __wrap_uk_syscall_r_clock_getres(long clock, long resolution);

static long kraftld_cpu_clock(long clock)
{
	if (clock == KRAFTLD_CLOCK_PROCESS_CPUTIME_ID || clock == KRAFTLD_CLOCK_THREAD_CPUTIME_ID)
		return KRAFTLD_CLOCK_MONOTONIC;
	return clock;
}

long __wrap_uk_syscall_r_clock_gettime(long clock, long now)
{
	if (!__real_uk_syscall_r_clock_gettime)
		return -KRAFTLD_ENOSYS;
	return __real_uk_syscall_r_clock_gettime(kraftld_cpu_clock(clock), now);
}

long __wrap_uk_syscall_r_clock_getres(long clock, long resolution)
{
	if (!__real_uk_syscall_r_clock_getres)
		return -KRAFTLD_ENOSYS;
	return __real_uk_syscall_r_clock_getres(kraftld_cpu_clock(clock), resolution);
}
