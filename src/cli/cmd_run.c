/* lowbit run: batch inference of an integer program on a data set (predictions, accuracy). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/progress.h"
#include "lowbit/deploy.h"

static int argmax(const float *v, int k) {
  int b = 0;
  for (int i = 1; i < k; i++)
    if (v[i] > v[b]) b = i;
  return b;
}

int lb_cmd_run(int argc, char **argv) {
  const char *prog = NULL, *data = NULL, *out = NULL;
  int batch = 256, threads = 0, json = 0, limit = 0, accuracy = 0, train_split = 0, quiet = 0;
  lb_arg args[] = {
      {"program", LB_ARG_STR, &prog, "integer program (.lbp from lowbit deploy)", 0},
      {"data", LB_ARG_STR, &data, "data set spec (test split unless --train-split)", 0},
      {"out", LB_ARG_STR, &out, "write one predicted class per line here", 0},
      {"accuracy", LB_ARG_FLAG, &accuracy, "report top-1 accuracy against the data's labels", 0},
      {"train-split", LB_ARG_FLAG, &train_split, "run on the training split", 0},
      {"batch", LB_ARG_INT, &batch, "batch size (default 256)", 0},
      {"limit", LB_ARG_INT, &limit, "use only the first N images", 0},
      {"threads", LB_ARG_INT, &threads, "threads (default: all cores)", 0},
      {"quiet", LB_ARG_FLAG, &quiet, "no progress display", 0},
      {"json", LB_ARG_FLAG, &json, "print the result as JSON", 0},
  };
  lb_args_spec spec = {"run", "lowbit run --program P.lbp --data SPEC [--out preds.txt] [--accuracy]",
                       "Run an integer program on a data set with integer arithmetic only.", args,
                       (int)(sizeof args / sizeof args[0]), NULL, 0, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  if (!prog || !data) {
    fprintf(stderr, "lowbit run: --program P.lbp and --data SPEC are required\n");
    return LB_EXIT_USAGE;
  }
  if (batch < 1 || batch > 65536 || threads < 0 || limit < 0) {
    fprintf(stderr, "lowbit run: --batch must be in 1..65536, --threads and --limit >= 0\n");
    return LB_EXIT_USAGE;
  }
  lb_set_num_threads(threads);
  lb_program *p;
  if (lb_program_load(prog, &p)) {
    fprintf(stderr, "lowbit run: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  lb_dataset d;
  rc = lb_cli_open_data("run", data, train_split, limit, &d);
  if (rc) {
    lb_program_free(p);
    return rc;
  }
  lb_engine *e = NULL;
  FILE *fo = NULL;
  float *x = NULL, *logits = NULL;
  int32_t *idx = NULL, *labels = NULL;
  if ((int64_t)d.c * d.h * d.w != (int64_t)p->in_c * p->in_h * p->in_w) {
    fprintf(stderr, "lowbit run: %s images are %dx%dx%d, the program takes %dx%dx%d\n", data, d.c, d.h, d.w, p->in_c,
            p->in_h, p->in_w);
    rc = LB_EXIT_USAGE;
  } else if (lb_engine_create(p, batch, 0, &e)) {
    fprintf(stderr, "lowbit run: %s\n", lb_last_error());
    rc = LB_EXIT_FAIL;
  } else if (out && !(fo = fopen(out, "w"))) {
    fprintf(stderr, "lowbit run: cannot write %s\n", out);
    rc = LB_EXIT_FAIL;
  }
  int64_t in_per = (int64_t)p->in_c * p->in_h * p->in_w;
  if (!rc) {
    x = malloc((size_t)(batch * in_per) * sizeof *x);
    logits = malloc((size_t)batch * (size_t)p->classes * sizeof *logits);
    idx = malloc((size_t)batch * sizeof *idx);
    labels = malloc((size_t)batch * sizeof *labels);
    if (!x || !logits || !idx || !labels) {
      fprintf(stderr, "lowbit run: out of memory\n");
      rc = LB_EXIT_FAIL;
    }
  }
  lb_augment norm = {{0}, {0}, 0, 0};
  for (int i = 0; i < 4; i++) {
    norm.mean[i] = p->norm_mean[i];
    norm.std[i] = p->norm_std[i];
  }
  long correct = 0;
  double secs = 0.0;
  lb_progress pr;
  if (!rc) lb_progress_begin(&pr, stderr, quiet || json, "run", d.n);
  for (int b0 = 0; !rc && b0 < d.n; b0 += batch) {
    int n = d.n - b0 < batch ? d.n - b0 : batch;
    for (int i = 0; i < n; i++) idx[i] = b0 + i;
    lb_batch_fill(&d, idx, n, &norm, 0, NULL, x, labels);
    double t0 = lb_now();
    lb_engine_run(e, n, x, logits);
    secs += lb_now() - t0;
    for (int i = 0; i < n; i++) {
      int c = argmax(logits + (int64_t)i * p->classes, p->classes);
      correct += c == labels[i];
      if (fo) fprintf(fo, "%d\n", c);
    }
    lb_progress_update(&pr, b0 + n, NULL);
  }
  if (!rc) lb_progress_end(&pr);
  if (fo && fclose(fo) && !rc) {
    fprintf(stderr, "lowbit run: error writing %s\n", out);
    rc = LB_EXIT_FAIL;
  }
  if (!rc) {
    double ips = secs > 0 ? d.n / secs : 0.0;
    if (json) {
      printf("{\"program\":\"%s\",\"data\":\"%s\",\"images\":%d,\"kernels\":\"%s\",\"images_per_second\":%.1f", prog,
             data, d.n, lb_engine_isa(e), ips);
      if (accuracy) printf(",\"accuracy\":%.6f,\"correct\":%ld", (double)correct / d.n, correct);
      printf("}\n");
    } else {
      printf("%s on %s: %d images, %.0f images/s (%s kernels, arena %zu bytes)", prog, data, d.n, ips,
             lb_engine_isa(e), lb_engine_arena_bytes(e));
      if (accuracy) printf(", integer accuracy %.2f%% (%ld/%d)", 100.0 * correct / d.n, correct, d.n);
      printf("\n");
    }
  }
  free(x);
  free(logits);
  free(idx);
  free(labels);
  lb_engine_free(e);
  lb_dataset_free(&d);
  lb_program_free(p);
  return rc;
}
