/* Shared declarations of the lowbit CLI. Exit codes: 0 ok, 1 runtime failure, 2 bad usage/input. */
#ifndef LOWBIT_CLI_H
#define LOWBIT_CLI_H

#define LB_EXIT_OK 0
#define LB_EXIT_FAIL 1
#define LB_EXIT_USAGE 2

typedef struct lb_cli_verb {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the verb */
} lb_cli_verb;

int lb_cmd_train(int argc, char **argv);
int lb_cmd_eval(int argc, char **argv);
int lb_cmd_info(int argc, char **argv);
int lb_cmd_qat(int argc, char **argv);
int lb_cmd_ptq(int argc, char **argv);
int lb_cmd_backends(int argc, char **argv);
int lb_cmd_check(int argc, char **argv); /* exit 1 means "breaks a rule" */
int lb_cmd_import(int argc, char **argv);
int lb_cmd_deploy(int argc, char **argv);
int lb_cmd_run(int argc, char **argv);
int lb_cmd_verify(int argc, char **argv);
int lb_cmd_export(int argc, char **argv);
int lb_cmd_bench(int argc, char **argv);
int lb_cmd_report(int argc, char **argv);
int lb_cmd_version(int argc, char **argv);

/* Whether path starts with the program file's magic ("LOWBITP\n"). */
int lb_cli_is_program_file(const char *path);
/* lowbit info on a program: steps, grids, weight widths, MACs, XNOR steps (program_info.c). */
int lb_cli_program_info(const char *path, int json);

struct lb_dataset;
/* Open a data set spec for a verb, keeping only the first `limit` images if limit > 0.
 * Prints a one-line error and returns an exit code on failure. */
int lb_cli_open_data(const char *verb, const char *spec, int train, int limit, struct lb_dataset *d);

#endif
