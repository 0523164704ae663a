/* Every public header of libferry: a program that uses the library includes this one (C or C++). */
#ifndef FERRY_FERRY_H
#define FERRY_FERRY_H

#ifdef __cplusplus
extern "C" {
#endif

#include "ferry/version.h"
#include "ferry/archive.h"
#include "ferry/bencode.h"
#include "ferry/checklist.h"
#include "ferry/ckd.h"
#include "ferry/ckpt.h"
#include "ferry/codec.h"
#include "ferry/convert.h"
#include "ferry/cpu.h"
#include "ferry/diff.h"
#include "ferry/dtype.h"
#include "ferry/error.h"
#include "ferry/fetch.h"
#include "ferry/fetch_flow.h"
#include "ferry/file.h"
#include "ferry/generate.h"
#include "ferry/gguf.h"
#include "ferry/half.h"
#include "ferry/hash.h"
#include "ferry/hub.h"
#include "ferry/imatrix.h"
#include "ferry/json_file.h"
#include "ferry/license.h"
#include "ferry/llama.h"
#include "ferry/llama2c.h"
#include "ferry/logit_check.h"
#include "ferry/manifest.h"
#include "ferry/model.h"
#include "ferry/npy.h"
#include "ferry/perplexity.h"
#include "ferry/pool.h"
#include "ferry/pytorch.h"
#include "ferry/quant.h"
#include "ferry/safetensors.h"
#include "ferry/sampler.h"
#include "ferry/sign.h"
#include "ferry/tokenizer.h"
#include "ferry/torrent.h"
#include "ferry/torrent_check.h"
#include "ferry/torrent_fetch.h"
#include "ferry/verify.h"
#include "ferry/vocab.h"

#ifdef __cplusplus
}
#endif

#endif
