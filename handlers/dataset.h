/* The HttpArena dataset for GET /json/{count}: read once at start with
 * jansson, kept as pre-serialized item prefixes so that a response is
 * assembled with memcpy and one integer per item. */
#ifndef HANDLERS_DATASET_H
#define HANDLERS_DATASET_H

#include <stddef.h>
#include <stdint.h>

typedef struct dataset_item {
    char *prefix; /* the item's JSON without its closing brace */
    size_t prefix_len;
    int64_t price, quantity;
} dataset_item;

typedef struct dataset {
    dataset_item *items;
    size_t count;
    char error[256]; /* why it is empty, when count == 0 */
} dataset;

/* Loads path; on failure count is 0 and error says why. */
void dataset_load(dataset *d, const char *path);
void dataset_free(dataset *d);

#endif
