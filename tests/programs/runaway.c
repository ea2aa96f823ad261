/* A recursion in main that never ends, for a libc-less (nolibc) image: the runtime's guard at the
 * bottom of the boot stack must report it as a stack overflow. */
#include <stdio.h>

static long depth;

static long recurse(long d)
{
	volatile char frame[256];

	frame[0] = (char)d;
	depth = d;
	return recurse(d + 1) + frame[0];
}

int main(void)
{
	printf("runaway recursion in main\n");
	return (int)recurse(0);
}
