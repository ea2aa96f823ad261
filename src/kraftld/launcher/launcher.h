/* What the launcher's files share: the hash, the object store, its tables, and running the compiler. */
#ifndef KRAFTLD_LAUNCHER_H
#define KRAFTLD_LAUNCHER_H

#include <stddef.h>
#include <stdint.h>

/* The characters of a C identifier: its first, and the rest (objects.c's CONFIG_ words,
 * tables.c's words) */
static inline int is_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline int is_part(char c)
{
	return is_start(c) || (c >= '0' && c <= '9');
}

#define DIGEST_BYTES 20
#define DIGEST_HEX (2 * DIGEST_BYTES)

struct hasher {
	uint8_t b[128];
	uint64_t h[8];
	uint64_t t[2];
	size_t c;
};

void hasher_init(struct hasher *ctx);
void hasher_update(struct hasher *ctx, const void *data, size_t length);
void hasher_final(struct hasher *ctx, char hex[DIGEST_HEX + 1]);

/* Runs args (NULL-terminated) with its standard error on stderr_fd; returns its exit status as
 * a shell would (128 + signal), 127 when it cannot be started. */
int run_compiler(char **args, int stderr_fd);

/* The object store (objects.c): a compile served from it, or run and kept in it. */
struct compile {
	char **args;           /* the command as it runs in the build folder, NULL-terminated */
	const char *output;    /* its -o, relative to the build folder */
	const char *depfile;   /* its -Wp,-MD, file, as gcc writes it (before the launcher's rewrite) */
	const char *store;     /* the store's folder */
	const char *config;    /* Unikraft's configuration header, relative to the build folder */
	const char *build_dir; /* the build folder's real path (the working directory) */
	const char *prefix_map; /* the launcher's -fdebug-prefix-map=BUILD_DIR=…: the same object for every folder */
};

/* Whether the store may serve this command: one object compiled with a dependency file, and no
 * macro definitions in its debug information (-g3 would record the whole configuration header). */
int objects_eligible(char **args, const char **output);

/* Serves the compile from the store or runs it (then keeps it when it can); the exit status. */
int objects_compile(const struct compile *compile);

/* Generated tables (tables.c): the part of a file of definitions a compile's other files reach.
 * reach_add_file each file that is not a table, reach_add_table each table, reach_add_command
 * (its -D and -U options), reach_solve, then reach_export what an entry keeps of it (malloc'd),
 * which table_hash reads, then and later, for the hash of a table's reached definitions (-1: not
 * such a record). A reach points into nothing it was given: the texts may go once added. */
struct reach;
int table_is(const char *text, size_t length);
struct reach *reach_new(void);
void reach_add_file(struct reach *reach, const char *text, size_t length);
void reach_add_table(struct reach *reach, const char *text, size_t length);
void reach_add_command(struct reach *reach, char **args);
void reach_solve(struct reach *reach);
size_t reach_export(struct reach *reach, unsigned char **out);
void reach_free(struct reach *reach);
int table_hash(const unsigned char *reach, size_t reach_length, const char *text, size_t length,
	       char hex[DIGEST_HEX + 1]);

#endif
