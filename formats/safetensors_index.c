/* Sharded safetensors: model.safetensors.index.json names a shard per tensor. Every shard is
 * read and validated; the index and the shards must agree on every tensor. */
#include "ferry/json_file.h"
#include "ferry/safetensors.h"

#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ferry_safetensors_read_index(struct ferry_ckpt *ck, const char *index_path,
                                 struct ferry_error *err)
{
    json_t *root;
    int jrc = ferry_json_load(index_path, JSON_REJECT_DUPLICATES, &root, err);
    if (jrc) return jrc;
    int rc = 0;
    char *dup = strdup(index_path);
    const char *dir = dup ? dirname(dup) : ".";
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map)) {
        rc = ferry_error_set(err, FERRY_EMALFORMED, index_path, FERRY_NO_OFFSET, "weight_map",
                             "missing or not an object");
        goto out;
    }
    /* shards in order of first mention */
    const char *name;
    json_t *v;
    json_t *done = json_object();
    json_object_foreach(map, name, v)
    {
        const char *shard = json_string_value(v);
        if (!shard || !shard[0] || strchr(shard, '/') || strcmp(shard, "..") == 0) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, index_path, FERRY_NO_OFFSET, name,
                                 "shard must be a plain file name in the same folder");
            break;
        }
        if (json_object_get(done, shard)) continue;
        json_object_set_new(done, shard, json_true());
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", dir, shard);
        if ((rc = ferry_safetensors_read(ck, p, err))) {
            if (rc == FERRY_ENOINPUT && err) { /* the index promises it: the model is incomplete */
                err->code = rc = FERRY_EMALFORMED;
                snprintf(err->cause, sizeof(err->cause), "shard named by %s is missing",
                         index_path);
            }
            break;
        }
    }
    json_decref(done);
    if (rc) goto out;
    for (uint64_t i = 0; i < ck->ntensors; i++) {
        const struct ferry_tensor *t = &ck->tensors[i];
        const char *shard = json_string_value(json_object_get(map, t->name));
        const char *path = ck->files[t->file].path;
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        if (!shard || strcmp(shard, base) != 0) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, t->name,
                                 "tensor is not mapped to this shard in %s", index_path);
            goto out;
        }
    }
    if (json_object_size(map) != ck->ntensors) {
        json_object_foreach(map, name, v)
        {
            if (!ferry_ckpt_find_tensor(ck, name)) {
                rc = ferry_error_set(err, FERRY_EMALFORMED, index_path, FERRY_NO_OFFSET, name,
                                     "listed in weight_map but missing from shard %s",
                                     json_string_value(v));
                goto out;
            }
        }
    }
out:
    free(dup);
    json_decref(root);
    return rc;
}
