/* A JSON REST API with CORS: notes kept in memory.
 *   GET /notes            all notes          POST /notes          add one (text body)
 *   GET /notes/{id}       one note           DELETE /notes/{id}   remove it
 * A before hook adds CORS headers to every response and answers preflight
 * requests; berth's own errors (404, 405, 413...) come back as JSON too.
 * Try: PORT=8080 ./rest_api & curl -d 'buy milk' localhost:8080/notes */
#define _POSIX_C_SOURCE 200809L /* open flags, threads, clocks under -std=c11 */
#include <berth.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NOTES 256

static berth_server *server;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *notes[MAX_NOTES]; /* by id; NULL: free */

static void on_signal(int sig) { (void)sig; berth_server_stop(server); }

/* Appends s to out as a JSON string (quotes, escapes). */
static size_t json_str(char *out, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < len && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, cap - o, "\\%c", c);
        else if (c < 0x20)
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        else
            out[o++] = (char)c;
    }
    out[o++] = '"';
    return o;
}

static void send_json(berth_res *res, int status, const char *body, size_t len)
{
    berth_res_send(res, status, "application/json", body, len);
}

static void error_json(berth_res *res, int status, const char *message)
{
    char body[200];
    int n = snprintf(body, sizeof body, "{\"error\":{\"status\":%d,\"message\":\"%s\"}}", status,
                     message);
    send_json(res, status, body, (size_t)n);
}

/* berth's own errors, as JSON (the before hook's CORS headers stay). */
static void on_error(berth_req *req, berth_res *res, int status, void *user)
{
    (void)req, (void)user;
    error_json(res, status, berth_status_reason(status));
}

static int cors(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_res_header(res, "Access-Control-Allow-Origin", "*");
    if (!berth_str_eq_bytes(berth_req_method(req), "OPTIONS"))
        return 0;
    berth_res_status(res, 204); /* preflight */
    berth_res_header(res, "Access-Control-Allow-Methods", "GET, POST, DELETE");
    berth_res_header(res, "Access-Control-Allow-Headers", "Content-Type");
    return 1;
}

/* The id in the path, or -1. */
static long note_id(berth_req *req)
{
    char buf[16], *end;
    long id = berth_req_param_decoded(req, "id", buf, sizeof buf) > 0 ? strtol(buf, &end, 10) : -1;
    return id < 0 || id >= MAX_NOTES || *end ? -1 : id;
}

/* Appends note i as JSON; the lock is held. */
static size_t note_json(char *out, size_t cap, int i)
{
    size_t o = (size_t)snprintf(out, cap, "{\"id\":%d,\"text\":", i);
    o += json_str(out + o, cap - o - 2, notes[i], strlen(notes[i]));
    out[o++] = '}';
    return o;
}

static void list(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    size_t cap = MAX_NOTES * 1100, o = 1;
    char *body = malloc(cap);
    if (!body)
        return error_json(res, 503, "out of memory");
    body[0] = '[';
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_NOTES; i++) {
        if (notes[i]) {
            if (o > 1)
                body[o++] = ',';
            o += note_json(body + o, cap - o - 1, i);
        }
    }
    pthread_mutex_unlock(&lock);
    body[o++] = ']';
    berth_res_header(res, "Content-Type", "application/json");
    berth_res_body_external(res, body, o, free, body); /* freed once sent */
}

static void add(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_str text = berth_req_body(req);
    if (text.len == 0)
        return error_json(res, 422, "the note is empty");
    int id = -1;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_NOTES && id < 0; i++)
        if (!notes[i] && (notes[i] = calloc(1, text.len + 1)))
            memcpy(notes[id = i], text.ptr, text.len);
    pthread_mutex_unlock(&lock);
    if (id < 0)
        return error_json(res, 507, "no room for another note");
    char body[64];
    int n = snprintf(body, sizeof body, "{\"id\":%d}", id);
    send_json(res, 201, body, (size_t)n);
}

static void one(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    long id = note_id(req);
    char body[1200];
    size_t n = 0;
    pthread_mutex_lock(&lock);
    if (id >= 0 && notes[id])
        n = note_json(body, sizeof body, (int)id);
    pthread_mutex_unlock(&lock);
    if (!n)
        return error_json(res, 404, "no such note");
    send_json(res, 200, body, n);
}

static void del(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    long id = note_id(req);
    pthread_mutex_lock(&lock);
    char *gone = id >= 0 ? notes[id] : NULL;
    if (gone)
        notes[id] = NULL;
    pthread_mutex_unlock(&lock);
    if (!gone)
        return error_json(res, 404, "no such note");
    free(gone);
    berth_res_status(res, 204);
}

int main(void)
{
    berth_router *r = berth_router_new();
    berth_route_opts small;
    berth_route_opts_init(&small);
    small.max_body = 1024; /* a note is at most 1 KiB: 413 above */
    if (berth_router_add(r, "GET", "/notes", list, NULL) || berth_router_add(r, "GET", "/notes/{id}", one, NULL) ||
        berth_router_add_opts(r, "POST", "/notes", add, NULL, &small) ||
        berth_router_add(r, "DELETE", "/notes/{id}", del, NULL)) {
        fprintf(stderr, "rest_api: %s\n", berth_router_error(r));
        return 1;
    }
    berth_config cfg;
    berth_config_init(&cfg);
    const char *port = getenv("PORT");
    cfg.port = port ? (unsigned)atoi(port) : 8080;
    cfg.router = r;
    cfg.before = cors;
    cfg.on_error = on_error;
    if (!(server = berth_server_new(&cfg)))
        return 1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = berth_server_run(server);
    berth_server_free(server);
    berth_router_free(r);
    for (int i = 0; i < MAX_NOTES; i++)
        free(notes[i]);
    return rc ? 1 : 0;
}
