/* The index of a sharded checkpoint (model.safetensors.index.json, pytorch_model.bin.index.json):
 * a weight_map from tensor name to shard file, read the same way for both containers. */
#include "shard_index.h"
#include "ferry/json_file.h"

#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int shard_index_read(struct ferry_ckpt *ck, const char *index_path, shard_reader read_shard,
                     struct ferry_error *err)
{
    json_t *root;
    int rc = ferry_json_load(index_path, JSON_REJECT_DUPLICATES, &root, err);
    if (rc) return rc;
    char *dup = strdup(index_path);
    const char *dir = dup ? dirname(dup) : ".";
    json_t *map = json_object_get(root, "weight_map"), *done = json_object();
    const char *name;
    json_t *v;
    if (!json_is_object(map)) {
        rc = ferry_error_set(err, FERRY_EMALFORMED, index_path, FERRY_NO_OFFSET, "weight_map",
                             "missing or not an object");
        goto out;
    }
    /* each shard once, in order of first mention */
    json_object_foreach(map, name, v)
    {
        const char *shard = json_string_value(v);
        if (!shard || !shard[0] || strchr(shard, '/') || strcmp(shard, "..") == 0) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, index_path, FERRY_NO_OFFSET, name,
                                 "shard must be a plain file name in the same folder");
            goto out;
        }
        if (json_object_get(done, shard)) continue;
        json_object_set_new(done, shard, json_true());
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", dir, shard);
        if ((rc = read_shard(ck, p, err))) {
            if (rc == FERRY_ENOINPUT && err) { /* the index promises it: the model is incomplete */
                err->code = rc = FERRY_EMALFORMED;
                snprintf(err->cause, sizeof(err->cause), "shard named by %s is missing",
                         index_path);
            }
            goto out;
        }
    }
    /* every tensor where the map says, and every mapped tensor present */
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
    if (json_object_size(map) != ck->ntensors) json_object_foreach(map, name, v)
        {
            if (!ferry_ckpt_find_tensor(ck, name)) {
                rc = ferry_error_set(err, FERRY_EMALFORMED, index_path, FERRY_NO_OFFSET, name,
                                     "listed in weight_map but missing from shard %s",
                                     json_string_value(v));
                goto out;
            }
        }
out:
    json_decref(done);
    json_decref(root);
    free(dup);
    return rc;
}
