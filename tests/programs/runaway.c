/* A recursion in main that never ends, for a libc-less (nolibc) image: the runtime's guard at the
 * bottom of the boot stack must report it as a stack overflow. */
#include <stdio.h>

#include "runaway.h"

int main(void)
{
	printf("runaway recursion in main\n");
	return (int)runaway_recurse(0);
}
