/* Generated tables of definitions: which of a table's names a compile's other files can reach, so the store compares those alone.
 *
 * Enabling a library renumbers libuklibid's `uk/bits/libid.h` (`#define __UKLIBID_<lib> ((__u16) N)`
 * for every library, sorted, and `__UKLIBID_COUNT__`), which some 600 of a musl build's 1,400
 * compiles include through `uk/libid.h`; yet only the few sources that write
 * `uk_libid_static(lib)` or `uk_libid_static_count()` read a number from it (lib/ukstore,
 * lib/uklibid's rtmap.c): a library's own number is read at run time (`uk_libid_self()` names a
 * variable). A file that holds nothing but object-like definitions, comments and blank lines is
 * such a table, and what the preprocessor can take from it is the definitions of the names it
 * ever looks up. Those are found here, conservatively, from the compile's other files:
 *
 *   - every word and number of every line that is not a `#define` (code, `#if`, `#include`,
 *     `#undef`, string contents: `_Pragma("push_macro(\"X\")")` names a macro in a string) and
 *     of the command's `-D`/`-U` options is reached;
 *   - the body of every definition (in any file, the tables' own included) of a reached name is
 *     read, and its words but its parameters' are reached in turn, until nothing new is;
 *   - a name another file defines is looked up too (a redefinition is a diagnostic);
 *   - once a reached body pastes (`##`), a pasted word is made of words the preprocessor has
 *     seen: so a defined name that can be spelt as reached words and numbers one after another
 *     (a word first; digits anywhere after, for __LINE__ and __COUNTER__) is reached as well.
 *     Unikraft's `UK_CONCAT(a, b)` pastes in almost every compile; `__UKLIBID_libvfscore` needs
 *     the word `__UKLIBID_`, which only the unreached body of `uk_libid_static` has.
 *
 * The table's relevant part is the reached names' definitions; two tables with the same relevant
 * part, read with files that hash the same, preprocess the same. Comments are removed first
 * (outside quotes: quotes end at the line's end, as an unterminated one does in gcc), lines
 * joined at backslashes.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "launcher.h"

/* gcc takes `$` into identifiers (-fdollars-in-identifiers, its default here) */
static int is_word_part(char c)
{
	return is_part(c) || c == '$';
}

static void *grown(void *list, size_t *capacity, size_t count, size_t size)
{
	if (count < *capacity)
		return list;
	*capacity = *capacity ? 2 * *capacity : 64;
	list = realloc(list, *capacity * size);
	if (list == NULL)
		abort();
	return list;
}

/* --- the text as the preprocessor's lines ------------------------------------------------- */

/* A copy of text with backslash-newlines removed and each comment made one space. */
static char *cleaned(const char *text, size_t length)
{
	char *out = malloc(length + 1), *o = out;
	const char *p = text, *end = text + length;
	char quote = 0;

	if (out == NULL)
		abort();
	while (p < end) {
		if (*p == '\\' && p + 1 < end && p[1] == '\n') {
			p += 2;
		} else if (*p == '\\' && p + 2 < end && p[1] == '\r' && p[2] == '\n') {
			p += 3;
		} else if (quote) {
			if (*p == '\\' && p + 1 < end && p[1] != '\n') {
				*o++ = *p++;
			} else if (*p == quote || *p == '\n') {
				quote = 0;
			}
			*o++ = *p++;
		} else if (*p == '"' || *p == '\'') {
			quote = *p;
			*o++ = *p++;
		} else if (*p == '/' && p + 1 < end && p[1] == '*') {
			const char *close = memmem(p + 2, (size_t)(end - p - 2), "*/", 2);

			p = close ? close + 2 : end;
			*o++ = ' ';
		} else if (*p == '/' && p + 1 < end && p[1] == '/') {
			while (p < end && *p != '\n') /* a backslash-newline continues it, as in gcc */
				p += (*p == '\\' && p + 1 < end && p[1] == '\n') ? 2 : 1;
			*o++ = ' ';
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

/* the next word of [*p, end), or NULL; *p after it */
static const char *next_word(const char **p, const char *end, size_t *length)
{
	const char *q = *p;

	while (q < end) {
		if (is_start(*q) || *q == '$') {
			const char *start = q;

			while (q < end && is_word_part(*q))
				q++;
			*length = (size_t)(q - start);
			*p = q;
			return start;
		}
		if (*q >= '0' && *q <= '9') { /* a number: 0x_A is no word */
			while (q < end && (is_part(*q) || *q == '.'))
				q++;
			continue;
		}
		q++;
	}
	*p = end;
	return NULL;
}

/* A `#define` line: its name, whether it takes parameters, and where its parameters and body are. */
struct define {
	const char *name, *params, *params_end, *body, *end; /* params: from its "(", to its ")" */
	size_t name_length;
	int function_like;
};

/* whether line (without its newline) is a directive, and if a #define, what it defines */
static int directive(const char *line, const char *end, int *is_define, struct define *out)
{
	const char *p = line;

	while (p < end && (*p == ' ' || *p == '\t' || *p == '\f' || *p == '\v' || *p == '\r'))
		p++;
	if (p == end || *p != '#')
		return 0;
	p++;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	*is_define = end - p >= 6 && memcmp(p, "define", 6) == 0 && (end - p == 6 || !is_part(p[6]));
	if (!*is_define)
		return 1;
	p += 6;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	out->name = p;
	while (p < end && is_word_part(*p))
		p++;
	out->name_length = (size_t)(p - out->name);
	out->function_like = p < end && *p == '(';
	out->params = p;
	if (out->function_like)
		while (p < end && *p != ')')
			p++;
	out->params_end = p;
	out->body = p < end && out->function_like ? p + 1 : p;
	out->end = end;
	return 1;
}

/* --- the words reached -------------------------------------------------------------------- */

struct body {
	const char *params, *params_end, *start, *end; /* params: NULL when object-like */
	struct body *next;
};

static const char *next_word(const char **p, const char *end, size_t *length);

struct slot {
	const char *word;
	size_t length;
	int reached, defined_elsewhere;
	struct body *bodies;
};

struct reach {
	struct slot *slots;
	size_t capacity, used;
	char **texts; /* the cleaned files the slots point into */
	size_t text_n, text_capacity;
	const char **pending; /* reached words whose bodies are still to be read */
	size_t *pending_length, pending_n, pending_capacity, pending_length_capacity;
	int pastes; /* a reached body pastes (##): names can be made of the words reached */
	/* Bits by a word's hash (FILTER_BITS of them): of every prefix of every reached word, and of
	 * the reached words; `reached_word` asks these before the table, most questions being no. A
	 * bit set by another word's hash only costs a look in the table. */
	unsigned char *prefixes, *words;
};

/* FNV-1a, a byte at a time: `spellable` extends a word's hash by its next letter */
#define HASH_START ((size_t)1469598103934665603ULL)
#define HASH_NEXT(h, c) (((h) ^ (unsigned char)(c)) * (size_t)1099511628211ULL)

#define FILTER_BITS (1u << 21)
#define FILTER_SET(filter, h) ((filter)[((h) >> 7) % FILTER_BITS / 8] |= (unsigned char)(1u << ((h) >> 7) % 8))
#define FILTER_HAS(filter, h) ((filter)[((h) >> 7) % FILTER_BITS / 8] & (1u << ((h) >> 7) % 8))

static size_t word_hash(const char *word, size_t length)
{
	size_t h = HASH_START, i;

	for (i = 0; i < length; i++)
		h = HASH_NEXT(h, word[i]);
	return h;
}

static struct slot *find_hashed(struct reach *reach, const char *word, size_t length, size_t hash)
{
	size_t i;

	for (i = hash & (reach->capacity - 1); reach->slots[i].word; i = (i + 1) & (reach->capacity - 1))
		if (reach->slots[i].length == length && memcmp(reach->slots[i].word, word, length) == 0)
			break;
	return &reach->slots[i]; /* the word's, or the empty one where it would go */
}

static struct slot *find(struct reach *reach, const char *word, size_t length)
{
	return find_hashed(reach, word, length, word_hash(word, length));
}

static struct slot *lookup(struct reach *reach, const char *word, size_t length, int create)
{
	struct slot *slot = reach->capacity ? find(reach, word, length) : NULL;

	if ((slot != NULL && slot->word != NULL) || !create)
		return slot != NULL && slot->word != NULL ? slot : NULL;
	if (2 * (reach->used + 1) > reach->capacity) {
		struct slot *old = reach->slots;
		size_t old_capacity = reach->capacity, j;

		reach->capacity = old_capacity ? 2 * old_capacity : 4096;
		reach->slots = calloc(reach->capacity, sizeof(*reach->slots));
		if (reach->slots == NULL)
			abort();
		for (j = 0; j < old_capacity; j++)
			if (old[j].word != NULL)
				*find(reach, old[j].word, old[j].length) = old[j];
		free(old);
		slot = find(reach, word, length);
	}
	slot->word = word;
	slot->length = length;
	reach->used++;
	return slot;
}

static void reach_word(struct reach *reach, const char *word, size_t length)
{
	struct slot *slot = lookup(reach, word, length, 1);

	size_t h = HASH_START, i;

	if (slot->reached)
		return;
	slot->reached = 1;
	for (i = 0; i < length; i++) {
		h = HASH_NEXT(h, word[i]);
		FILTER_SET(reach->prefixes, h);
	}
	FILTER_SET(reach->words, h);
	reach->pending = grown(reach->pending, &reach->pending_capacity, reach->pending_n, sizeof(*reach->pending));
	reach->pending_length = grown(reach->pending_length, &reach->pending_length_capacity, reach->pending_n,
				      sizeof(*reach->pending_length));
	reach->pending[reach->pending_n] = slot->word;
	reach->pending_length[reach->pending_n++] = length;
}

/* whether word is one of a function-like body's parameters (NULL: none) */
static int is_param(const struct body *body, const char *word, size_t length)
{
	const char *p, *name;
	size_t n;

	if (body == NULL || body->params == NULL)
		return 0;
	if ((length == 11 && memcmp(word, "__VA_ARGS__", 11) == 0) || (length == 10 && memcmp(word, "__VA_OPT__", 10) == 0))
		return 1;
	for (p = body->params + 1; (name = next_word(&p, body->params_end, &n)) != NULL;)
		if (n == length && memcmp(name, word, length) == 0)
			return 1;
	return 0;
}

/* Every word and number between p and end but a body's parameters (an argument takes a
 * parameter's place: the parameter's name is never expanded); a word with a `$` also as its
 * parts, for where gcc takes `$` for punctuation (assembler-with-cpp). Numbers count for what
 * pasting can make: `x ## 0x10` is the word x0x10. */
static void reach_words(struct reach *reach, const char *p, const char *end, const struct body *body)
{
	const char *word;
	size_t length;

	while (p < end) {
		if (*p >= '0' && *p <= '9') {
			const char *start = p;

			while (p < end && (is_part(*p) || *p == '.'))
				p++;
			reach_word(reach, start, (size_t)(p - start));
			continue;
		}
		if (!is_start(*p) && *p != '$') {
			p++;
			continue;
		}
		word = next_word(&p, end, &length);
		if (is_param(body, word, length))
			continue;
		reach_word(reach, word, length);
		if (memchr(word, '$', length) != NULL) {
			const char *part = word, *stop = word + length;

			while (part < stop) {
				const char *dollar = memchr(part, '$', (size_t)(stop - part));
				const char *piece_end = dollar ? dollar : stop;

				if (piece_end > part && is_start(*part))
					reach_word(reach, part, (size_t)(piece_end - part));
				part = piece_end + 1;
			}
		}
	}
}

static void add_body(struct reach *reach, const struct define *define, int elsewhere)
{
	struct slot *slot = lookup(reach, define->name, define->name_length, 1);
	struct body *body = malloc(sizeof(*body));

	if (body == NULL)
		abort();
	body->params = define->function_like ? define->params : NULL;
	body->params_end = define->params_end;
	body->start = define->body;
	body->end = define->end;
	body->next = slot->bodies;
	slot->bodies = body;
	slot->defined_elsewhere |= elsewhere;
}

static char *kept_text(struct reach *reach, const char *text, size_t length)
{
	char *clean = cleaned(text, length);

	reach->texts = grown(reach->texts, &reach->text_capacity, reach->text_n, sizeof(*reach->texts));
	reach->texts[reach->text_n++] = clean;
	return clean;
}

/* the words gcc's own definitions expand to (`gcc -dM -E`: __SIZE_TYPE__ is `long unsigned int`) */
static const char *const predefined = "int unsigned long char short signed double float __int128";

struct reach *reach_new(void)
{
	struct reach *reach = calloc(1, sizeof(*reach));

	if (reach == NULL)
		abort();
	reach->prefixes = calloc(FILTER_BITS / 8, 1);
	reach->words = calloc(FILTER_BITS / 8, 1);
	if (reach->prefixes == NULL || reach->words == NULL)
		abort();
	reach_words(reach, predefined, predefined + strlen(predefined), NULL);
	return reach;
}

/* a file's definitions, and unless it is a table, the words of its other lines */
static void add_text(struct reach *reach, const char *text, size_t length, int table)
{
	char *clean = kept_text(reach, text, length), *line, *end;

	for (line = clean; *line != '\0'; line = *end ? end + 1 : end) {
		struct define define;
		int is_define = 0;

		end = strchrnul(line, '\n');
		if (directive(line, end, &is_define, &define) && is_define) {
			if (define.name_length > 0)
				add_body(reach, &define, !table);
		} else if (!table) {
			reach_words(reach, line, end, NULL);
		}
	}
}

void reach_add_file(struct reach *reach, const char *text, size_t length)
{
	add_text(reach, text, length, 0);
}

int table_is(const char *text, size_t length)
{
	char *clean = cleaned(text, length), *line, *end;
	int table = 1;

	for (line = clean; table && *line != '\0'; line = *end ? end + 1 : end) {
		struct define define;
		int is_define = 0;
		const char *p;

		end = strchrnul(line, '\n');
		for (p = line; p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\f' || *p == '\v'); p++)
			;
		if (p == end)
			continue;
		table = directive(line, end, &is_define, &define) && is_define && define.name_length > 0 &&
			is_start(define.name[0]) && !define.function_like &&
			memchr(define.name, '$', define.name_length) == NULL;
	}
	free(clean);
	return table;
}

void reach_add_table(struct reach *reach, const char *text, size_t length)
{
	add_text(reach, text, length, 1);
}

void reach_add_command(struct reach *reach, char **args)
{
	int i;

	for (i = 0; args[i] != NULL; i++) {
		const char *word = args[i];
		char *copy;

		if (strncmp(word, "-D", 2) != 0 && strncmp(word, "-U", 2) != 0)
			continue;
		if (word[2] == '\0' && args[i + 1] != NULL) /* -D NAME */
			word = args[++i];
		else
			word += 2;
		copy = kept_text(reach, word, strlen(word));
		reach_words(reach, copy, copy + strlen(copy), NULL);
	}
}

/* a reached body: its words reached; a paste in it (outside quotes) noted */
static void read_body(struct reach *reach, const struct body *body)
{
	const char *p;
	char quote = 0;

	reach_words(reach, body->start, body->end, body);
	for (p = body->start; p < body->end && !reach->pastes; p++) {
		if (quote && *p == '\\')
			p++;
		else if (quote && *p == quote)
			quote = 0;
		else if (!quote && (*p == '"' || *p == '\''))
			quote = *p;
		else if (!quote && *p == '#' && p + 1 < body->end && p[1] == '#')
			reach->pastes = 1;
	}
}

/* What a word set answers `spellable` about a part of a name: a word of it, not one, or not the
 * start of any of its words (so no longer part is one either). */
enum answer { NOT_A_WORD, A_WORD, NO_WORD_STARTS_SO };
typedef enum answer (*word_set)(const void *set, const char *word, size_t length, size_t hash);

/* Whether name can be pasted together from a set's words one after another (and the digits of
 * __LINE__ and __COUNTER__ after the first): a word first, for a number first makes a number. */
static int spellable(const char *name, size_t length, word_set holds, const void *set)
{
	unsigned char at[256] = {1};
	size_t i, k;

	if (length >= sizeof(at))
		return 1;
	for (i = 0; i < length; i++) {
		int digits = i > 0;
		size_t hash = HASH_START;

		if (!at[i])
			continue;
		for (k = i + 1; k <= length; k++) {
			enum answer answer;

			hash = HASH_NEXT(hash, name[k - 1]);
			digits = digits && name[k - 1] >= '0' && name[k - 1] <= '9';
			if (digits) {
				at[k] = 1;
				continue;
			}
			answer = holds(set, name + i, k - i, hash);
			if (answer == NO_WORD_STARTS_SO)
				break;
			if (answer == A_WORD)
				at[k] = 1;
		}
	}
	return at[length];
}

/* the words reached: the prefix filter first, most of the questions being no */
static enum answer reached_word(const void *set, const char *word, size_t length, size_t hash)
{
	struct reach *reach = (struct reach *)set;
	struct slot *slot;

	if (!FILTER_HAS(reach->prefixes, hash))
		return NO_WORD_STARTS_SO;
	if (FILTER_HAS(reach->words, hash) && (slot = find_hashed(reach, word, length, hash))->word != NULL &&
	    slot->reached)
		return A_WORD;
	return NOT_A_WORD;
}

void reach_solve(struct reach *reach)
{
	size_t i;
	int more = 1;

	while (more) {
		while (reach->pending_n > 0) {
			size_t length = reach->pending_length[--reach->pending_n];
			const char *word = reach->pending[reach->pending_n];
			struct slot *slot = lookup(reach, word, length, 0);
			const struct body *body;

			for (body = slot->bodies; body != NULL; body = body->next)
				read_body(reach, body);
		}
		/* with pastes, a macro whose name the words make can be expanded too */
		more = 0;
		for (i = 0; reach->pastes && i < reach->capacity; i++) {
			struct slot *slot = &reach->slots[i];

			if (slot->word != NULL && slot->bodies != NULL && !slot->reached &&
			    spellable(slot->word, slot->length, reached_word, reach)) {
				reach_word(reach, slot->word, slot->length);
				more = 1;
			}
		}
	}
}

/* --- what an entry keeps of a reach ------------------------------------------------------ */

/* A Bloom filter of the words reached and the names other files define (one set: a name defined
 * elsewhere taken for a word reached only makes more names relevant), and whether a reached body
 * pastes. A word the filter wrongly holds only makes a name relevant that is not, so the store
 * compiles where it could have served (both sides of a comparison ask the same filter); and
 * spelling a name asks about each of its some 300 substrings, so the filter is sized for about
 * one wrong answer in three million (32 bits a word, 16 probes: Bloom's formula). Layout:
 * REACH_MAGIC, the pastes byte, the filter's size in bits (4 bytes, little-endian, a multiple
 * of 8), its bits. */
#define REACH_MAGIC "kraftld-reach 1\n"
#define REACH_MAGIC_LENGTH 16
#define FILTER_PROBES 16

struct view {
	int pastes;
	const unsigned char *bits;
	uint32_t count; /* bits, a multiple of 8 */
};

static uint64_t mixed(uint64_t x) /* splitmix64's finaliser: FNV's bits spread for the probes */
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* probe i of word hash h: double hashing (Kirsch and Mitzenmacher) */
static uint32_t probe(uint64_t m, int i, uint32_t count)
{
	return (uint32_t)(((m & 0xffffffffu) + (uint64_t)i * ((m >> 32) | 1)) % count);
}

static void filter_add(unsigned char *bits, uint32_t count, size_t h)
{
	uint64_t m = mixed(h);
	int i;

	for (i = 0; i < FILTER_PROBES; i++) {
		uint32_t bit = probe(m, i, count);

		bits[bit / 8] |= (unsigned char)(1u << bit % 8);
	}
}

static int filter_has(const struct view *view, size_t h)
{
	uint64_t m = mixed(h);
	int i;

	for (i = 0; i < FILTER_PROBES; i++) {
		uint32_t bit = probe(m, i, view->count);

		if (!(view->bits[bit / 8] >> bit % 8 & 1))
			return 0;
	}
	return 1;
}

/* a word reached or a name defined elsewhere, but not a number of digits alone: `spellable` takes
 * any digits after a word, and a table's name is no number */
static int kept_in_filter(const struct slot *slot)
{
	size_t i;

	if (slot->word == NULL || !(slot->reached || slot->defined_elsewhere))
		return 0;
	for (i = 0; i < slot->length; i++)
		if (slot->word[i] < '0' || slot->word[i] > '9')
			return 1;
	return 0;
}

size_t reach_export(struct reach *reach, unsigned char **out)
{
	size_t words = 0, i, length;
	uint32_t count;
	unsigned char *data;

	for (i = 0; i < reach->capacity; i++)
		words += kept_in_filter(&reach->slots[i]);
	count = (uint32_t)(words < 2 ? 64 : words < (1u << 25) ? 32 * words : 1u << 30);
	length = REACH_MAGIC_LENGTH + 1 + 4 + count / 8;
	data = calloc(length, 1);
	if (data == NULL)
		abort();
	memcpy(data, REACH_MAGIC, REACH_MAGIC_LENGTH);
	data[REACH_MAGIC_LENGTH] = (unsigned char)reach->pastes;
	for (i = 0; i < 4; i++)
		data[REACH_MAGIC_LENGTH + 1 + i] = (unsigned char)(count >> (8 * i));
	for (i = 0; i < reach->capacity; i++) {
		const struct slot *slot = &reach->slots[i];

		if (kept_in_filter(slot))
			filter_add(data + REACH_MAGIC_LENGTH + 5, count, word_hash(slot->word, slot->length));
	}
	*out = data;
	return length;
}

static int read_view(const unsigned char *data, size_t length, struct view *out)
{
	const unsigned char *p = data + REACH_MAGIC_LENGTH + 1;

	if (length < REACH_MAGIC_LENGTH + 5 || memcmp(data, REACH_MAGIC, REACH_MAGIC_LENGTH) != 0 ||
	    data[REACH_MAGIC_LENGTH] > 1)
		return -1;
	out->pastes = data[REACH_MAGIC_LENGTH];
	out->count = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	out->bits = p + 4;
	if (out->count < 8 || out->count % 8 != 0 || length - REACH_MAGIC_LENGTH - 5 != out->count / 8)
		return -1;
	return 0;
}

/* the words a kept reach's filter holds */
static enum answer filtered_word(const void *set, const char *word, size_t length, size_t hash)
{
	(void)word, (void)length;
	return filter_has(set, hash) ? A_WORD : NOT_A_WORD;
}

static int relevant(const struct view *view, const char *name, size_t length)
{
	size_t hash = word_hash(name, length);

	return filter_has(view, hash) || (view->pastes && spellable(name, length, filtered_word, view));
}

struct line {
	const char *name, *body, *end;
	size_t name_length;
};

static int by_line(const void *a, const void *b)
{
	const struct line *x = a, *y = b;
	size_t n = x->name_length < y->name_length ? x->name_length : y->name_length;
	int order = memcmp(x->name, y->name, n);

	if (order != 0)
		return order;
	if (x->name_length != y->name_length)
		return x->name_length < y->name_length ? -1 : 1;
	return x->body < y->body ? -1 : x->body > y->body; /* the file's order for a name defined twice */
}

int table_hash(const unsigned char *reach, size_t reach_length, const char *text, size_t length,
	       char hex[DIGEST_HEX + 1])
{
	char *clean, *line, *end;
	struct line *lines = NULL;
	size_t n = 0, capacity = 0, i;
	struct hasher hasher;
	struct view view;

	if (read_view(reach, reach_length, &view) != 0)
		return -1;
	clean = cleaned(text, length);
	for (line = clean; *line != '\0'; line = *end ? end + 1 : end) {
		struct define define;
		int is_define = 0;

		end = strchrnul(line, '\n');
		if (!directive(line, end, &is_define, &define) || !is_define || define.name_length == 0 ||
		    !relevant(&view, define.name, define.name_length))
			continue;
		lines = grown(lines, &capacity, n, sizeof(*lines));
		lines[n].name = define.name;
		lines[n].name_length = define.name_length;
		lines[n].body = define.body;
		lines[n++].end = end;
	}
	if (n > 0)
		qsort(lines, n, sizeof(*lines), by_line);
	hasher_init(&hasher);
	hasher_update(&hasher, "kraftld-table 1", 16);
	for (i = 0; i < n; i++) {
		const char *b = lines[i].body, *e = lines[i].end;

		/* the body as the preprocessor compares a redefinition: without its ends' spaces */
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		hasher_update(&hasher, lines[i].name, lines[i].name_length);
		hasher_update(&hasher, "", 1);
		hasher_update(&hasher, b, (size_t)(e - b));
		hasher_update(&hasher, "", 1);
	}
	hasher_final(&hasher, hex);
	free(lines);
	free(clean);
	return 0;
}

void reach_free(struct reach *reach)
{
	size_t i;

	for (i = 0; i < reach->capacity; i++) {
		struct body *body = reach->slots[i].bodies;

		while (body != NULL) {
			struct body *next = body->next;

			free(body);
			body = next;
		}
	}
	for (i = 0; i < reach->text_n; i++)
		free(reach->texts[i]);
	free(reach->slots);
	free(reach->prefixes);
	free(reach->words);
	free(reach->texts);
	free(reach->pending);
	free(reach->pending_length);
	free(reach);
}
