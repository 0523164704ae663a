/* PyTorch checkpoints: the zip format of torch.save (>= 1.6) and the legacy format, read
 * through an allow-list pickle interpreter; a writer whose files
 * torch.load(weights_only=True) accepts. */
#ifndef FERRY_PYTORCH_H
#define FERRY_PYTORCH_H

#include "ferry/ckpt.h"

/* Reads a .pt/.pth/.bin file; tensors are named by their dict path ("a.b.weight"). */
int ferry_pytorch_read(struct ferry_ckpt *ck, const char *path, struct ferry_error *err);

/* Reads pytorch_model.bin.index.json and every shard it names. */
int ferry_pytorch_read_index(struct ferry_ckpt *ck, const char *index_path,
                             struct ferry_error *err);

/* Writes desc's tensors as an OrderedDict state dict in torch.save's zip layout. */
int ferry_pytorch_write(const struct ferry_ckpt *desc, const char *path, int force,
                        ferry_tensor_source src, void *ctx, struct ferry_error *err);

#endif
