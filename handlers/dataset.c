#include "dataset.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int number_of(json_t *obj, const char *key, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 1;
    }
    return 0;
}

void dataset_load(dataset *d, const char *path)
{
    memset(d, 0, sizeof *d);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) {
        snprintf(d->error, sizeof d->error, "dataset %s not loaded: %s", path, err.text);
        return;
    }
    if (!json_is_array(root)) {
        snprintf(d->error, sizeof d->error, "dataset %s is not a JSON array", path);
        json_decref(root);
        return;
    }
    size_t n = json_array_size(root);
    d->items = calloc(n ? n : 1, sizeof *d->items);
    for (size_t i = 0; d->items && i < n; i++) {
        json_t *it = json_array_get(root, i);
        dataset_item *di = &d->items[d->count];
        if (!json_is_object(it) || !number_of(it, "price", &di->price) ||
            !number_of(it, "quantity", &di->quantity)) {
            snprintf(d->error, sizeof d->error,
                     "dataset %s: item %zu lacks integer price/quantity", path, i);
            dataset_free(d);
            json_decref(root);
            return;
        }
        char *s = json_dumps(it, JSON_COMPACT | JSON_PRESERVE_ORDER);
        size_t len = s ? strlen(s) : 0;
        if (len < 2 || s[len - 1] != '}') {
            free(s);
            continue;
        }
        s[len - 1] = '\0';
        di->prefix = s;
        /* "{}" has no member, so no comma may follow it. */
        di->prefix_len = len - 1;
        d->count++;
    }
    json_decref(root);
    if (d->count == 0 && !d->error[0])
        snprintf(d->error, sizeof d->error, "dataset %s has no items", path);
}

void dataset_free(dataset *d)
{
    for (size_t i = 0; i < d->count; i++)
        free(d->items[i].prefix);
    free(d->items);
    d->items = NULL;
    d->count = 0;
}
