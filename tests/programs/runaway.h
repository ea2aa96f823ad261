/* A recursion that never ends, 256 bytes a frame, for the stack guards to catch: runaway.c runs it
 * in main on a libc-less (nolibc) image, probe.c in main or in a thread of 64 KiB on lib-musl.
 * `runaway_depth` keeps how deep it went, so a caller can say so should the recursion return. */
#ifndef KRAFTLD_TESTS_RUNAWAY_H
#define KRAFTLD_TESTS_RUNAWAY_H

static long runaway_depth;

static long runaway_recurse(long depth)
{
	volatile char frame[256];

	frame[0] = (char)depth;
	runaway_depth = depth;
	return runaway_recurse(depth + 1) + frame[0];
}

#endif
