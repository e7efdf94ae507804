/* Internal to the train part: shared between the loop and checkpoint loading. */
#ifndef LOWBIT_TRAINER_INTERNAL_H
#define LOWBIT_TRAINER_INTERNAL_H

#include "lowbit/train.h"

/* Allocate executor, optimizer and buffers for t->g (values already set) and plan the schedule. */
lb_status lb_trainer_setup(lb_trainer *t);

#include "lowbit/bytes.h"

/* The "train.config" section: written field by field, validated on reading. */
void lb_train_config_write(lb_buf *b, const lb_train_config *c);
lb_status lb_train_config_read(const void *data, size_t len, lb_train_config *c);

#endif
