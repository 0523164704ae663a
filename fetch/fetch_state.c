/* Resume records (see fetch_state.h), JSON via jansson, replaced atomically. */
#include "ferry/json_file.h"
#include "fetch_state.h"
#include "ferry/file.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int fetch_state_load(const char *path, uint64_t size, const char *etag, uint64_t segment,
                     struct fetch_state *s)
{
    json_t *j;
    if (ferry_json_load(path, 0, &j, NULL)) return -1;
    const char *e = json_string_value(json_object_get(j, "etag"));
    json_t *done = json_object_get(j, "done");
    int ok = json_integer_value(json_object_get(j, "size")) == (json_int_t)size &&
             json_integer_value(json_object_get(j, "segment")) == (json_int_t)segment && e &&
             !strcmp(e, etag) && etag[0] && json_is_array(done);
    for (size_t i = 0; ok && i < json_array_size(done); i++) {
        json_int_t k = json_integer_value(json_array_get(done, i));
        if (k >= 0 && (uint64_t)k < s->nsegs) s->done[k] = 1;
    }
    json_decref(j);
    return ok ? 0 : -1;
}

int fetch_state_save(const char *path, const char *url, const struct fetch_state *s,
                     struct ferry_error *err)
{
    json_t *done = json_array();
    for (uint64_t i = 0; i < s->nsegs; i++)
        if (s->done[i]) json_array_append_new(done, json_integer((json_int_t)i));
    /* the URL may be a signed link: keep only scheme, host and path */
    char clean[2048];
    snprintf(clean, sizeof(clean), "%s", url);
    clean[strcspn(clean, "?#")] = 0;
    json_t *j = json_pack("{s:s, s:I, s:s, s:I, s:o}", "url", clean, "size", (json_int_t)s->size,
                          "etag", s->etag, "segment", (json_int_t)s->segment, "done", done);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
    struct ferry_out o;
    int rc = ferry_out_open(&o, path, 1, err);
    if (!rc && !(rc = ferry_out_write(&o, text, strlen(text), err)))
        rc = ferry_out_commit(&o, err);
    else if (!rc || o.fp)
        ferry_out_abort(&o);
    free(text);
    return rc;
}
