/*
 * kraftld's boot parameters, compiled by Unikraft's build into the application library that
 * kraftld ships (src/kraftld/unikraft_app, prefix `kraftld`).
 *
 * kraftld.seed=[A B C D]  four 64-bit words of host randomness that kraftld-run passes at every
 *                         boot. Passing it also puts a library parameter before the `--` that
 *                         separates the program's arguments, which Unikraft only removes from
 *                         argv when some parameter precedes it.
 */
#include <uk/config.h>

#if CONFIG_LIBUKLIBPARAM
#include <uk/arch/types.h>
#include <uk/libparam.h>

__u64 kraftld_seed[4];
UK_LIBPARAM_PARAM_ARR_ALIAS(seed, kraftld_seed, __u64, 4, "host randomness from kraftld-run");
#endif /* CONFIG_LIBUKLIBPARAM */
