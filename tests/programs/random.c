/* Asks getrandom() for bytes twice and reports whether the CPU offers RDRAND: the runtime's
 * randomness must work from any real source and never be the same twice. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <cpuid.h>

int main(void)
{
	unsigned char first[16], second[16];
	unsigned int eax, ebx, ecx = 0, edx;

	__get_cpuid(1, &eax, &ebx, &ecx, &edx);
	printf("rdrand=%d\n", (ecx >> 30) & 1);
	if (getrandom(first, sizeof(first), 0) != sizeof(first) ||
	    getrandom(second, sizeof(second), 0) != sizeof(second)) {
		printf("getrandom failed\n");
		return 1;
	}
	for (unsigned int i = 0; i < sizeof(first); i++)
		printf("%02x", first[i]);
	printf("\n");
	return memcmp(first, second, sizeof(first)) == 0 ? 2 : 0;
}
