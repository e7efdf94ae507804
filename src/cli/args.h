/* A small table-driven option parser for the CLI verbs: --name VALUE, --flag, --help. */
#ifndef LOWBIT_CLI_ARGS_H
#define LOWBIT_CLI_ARGS_H

#include <stdint.h>

typedef enum lb_arg_kind { LB_ARG_STR, LB_ARG_INT, LB_ARG_FLOAT, LB_ARG_U64, LB_ARG_FLAG } lb_arg_kind;

typedef struct lb_arg {
  const char *name;  /* without the leading dashes */
  lb_arg_kind kind;
  void *dst;         /* const char **, int *, float *, uint64_t *, int * (flag set to 1) */
  const char *help;
  int seen;          /* set by the parser */
} lb_arg;

typedef struct lb_args_spec {
  const char *verb;
  const char *usage;     /* "lowbit train [options]" */
  const char *summary;   /* one paragraph */
  lb_arg *args;
  int n_args;
  const char **positional; /* may be NULL */
  int max_positional;
  int n_positional;        /* set by the parser */
} lb_args_spec;

/* "-o FILE" is accepted for the option named "out" or "output", whichever the verb has.
 * Returns -1 to continue, or an exit code: 0 after printing --help, 2 after a usage error
 * (printed as one line on stderr). */
int lb_args_parse(lb_args_spec *spec, int argc, char **argv);
/* Whether the option named `name` was given. */
int lb_args_seen(const lb_args_spec *spec, const char *name);

#endif
