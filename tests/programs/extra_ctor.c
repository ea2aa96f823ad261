/* Linked in or left out: its constructor shows whether it is part of the image. */
#include <stdio.h>

__attribute__((constructor)) static void extra_ctor(void)
{
	printf("extra object present\n");
}
