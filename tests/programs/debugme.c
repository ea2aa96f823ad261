/* A C program to debug: main sorts with musl's qsort, which calls back into the program. */
#include <stdio.h>
#include <stdlib.h>

static int calls;

static int by_value(const void *a, const void *b)
{
	int left = *(const int *)a;
	int right = *(const int *)b;

	calls++;
	return (left > right) - (left < right);
}

int main(void)
{
	int numbers[] = {42, 7, 19, 3, 88, 1};
	size_t count = sizeof(numbers) / sizeof(numbers[0]);

	qsort(numbers, count, sizeof(numbers[0]), by_value);
	printf("sorted %d %d %d after %d comparisons\n", numbers[0], numbers[1], numbers[5], calls);
	return numbers[0];
}
