/* --mean/--std per-channel normalisation options, shared by eval and import. */
#ifndef LOWBIT_CLI_NORM_ARGS_H
#define LOWBIT_CLI_NORM_ARGS_H

#include "lowbit/data.h"

/* Parse "a,b,c" lists (1 to 4 numbers; one number applies to every channel) into norm->mean /
 * norm->std; NULL leaves the field as it is. std values must be > 0. Prints a one-line error
 * for the verb and returns LB_EXIT_USAGE, or returns 0. */
int lb_cli_parse_norm(const char *verb, const char *mean, const char *std, lb_augment *norm);

#endif
