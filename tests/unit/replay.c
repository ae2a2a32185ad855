/* replay.c - run a fuzz target's inputs without libFuzzer.
 *
 * `make unit` links each tests/unit/fuzz_NAME.c with this main() into
 * replay_NAME, built like every unit test (gcc, and the sanitizers of a
 * SANITIZE build), and runs it over tests/unit/corpus/NAME/: the seeds, and
 * every input a fuzzer ever crashed on (kept there as crash-*), so a crash
 * found once is a regression test for good.  A target aborts on a failed
 * property; this prints which file it was first.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *current;

/* A target aborts on a failed property (and a SANITIZE build on a finding):
 * say on which input, then die of the signal as before. */
static void on_abort(int sig)
{
	if (current) {
		(void)!write(2, "replay: failed on ", 18);
		(void)!write(2, current, strlen(current));
		(void)!write(2, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The whole of PATH (malloc'd, *LEN bytes), or NULL. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL, *grown;
	size_t cap = 0, n;

	*len = 0;
	if (!f)
		return NULL;
	do {
		if (*len == cap) {
			cap = cap ? cap * 2 : 4096;
			if (!(grown = realloc(data, cap))) {
				free(data);
				data = NULL;
				break;
			}
			data = grown;
		}
		n = fread(data + *len, 1, cap - *len, f);
		*len += n;
	} while (n > 0);
	if (ferror(f)) {
		free(data);
		data = NULL;
	}
	fclose(f);
	return data;
}

int main(int argc, char **argv)
{
	size_t len;
	uint8_t *data;
	int i;

	signal(SIGABRT, on_abort);
	for (i = 1; i < argc; i++) {
		if (!(data = slurp(argv[i], &len))) {
			fprintf(stderr, "%s: cannot read %s: %s\n", argv[0], argv[i], strerror(errno));
			return 1;
		}
		current = argv[i];
		LLVMFuzzerTestOneInput(data, len);
		free(data);
	}
	printf("%s: %d input(s) replayed\n", argv[0], argc - 1);
	return 0;
}
