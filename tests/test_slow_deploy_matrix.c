/* The full deploy-exact matrix (slow): every backend x bits x model x BN folding of
 * test_deploy_exact.c, on 32 images. */
#define DEPLOY_FULL_MATRIX 1
#include "test_deploy_exact.c"
