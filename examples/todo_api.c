/* A todo REST API on SQLite; every reply, errors included, is JSON.
 *   GET  /todos         the list          POST /todos        add {"title":"..","done":false}
 *   GET  /todos/{id}    one todo          PUT  /todos/{id}   change title and/or done
 *   DELETE /todos/{id}  remove it (204)   GET  /health       no token needed
 * Middleware asks for "Authorization: Bearer $TODO_TOKEN" (default "secret")
 * on /todos, and adds CORS headers (answering preflights 204) and the
 * request's ID (X-Request-Id: the client's, else berth's) to every reply.
 * Each worker thread opens its own connection to the database file
 * $TODO_DB (default /tmp/todo_api.db, WAL mode: the threads share the data) when it
 * starts and closes it when it ends; SQLite parses the JSON bodies (a body
 * it refuses, or a field of the wrong type, is 400) and writes the replies.
 * Build needs libsqlite3-dev. Try: PORT=8080 ./todo_api &
 *   curl -H 'Authorization: Bearer secret' -d '{"title":"milk"}' localhost:8080/todos */
#define _POSIX_C_SOURCE 200809L /* signals and strtoll under -std=c11 */
#include <berth.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SQL: one todo as JSON, from its row; a body's fields, NULL when of the
 * wrong type (or the body no object), `absent` when not there. */
#define TODO "json_object('id', id, 'title', title, 'done', json(iif(done, 'true', 'false')))"
#define FIELD(name, type, value, absent)                                                  \
    "CASE coalesce(json_type(?1, '$." name "'), '-') WHEN " type " THEN " value           \
    " WHEN '-' THEN iif(json_type(?1) = 'object', " absent ", NULL) END"
#define TITLE(absent) FIELD("title", "'text'", "json_extract(?1, '$.title')", absent)
#define DONE(absent) FIELD("done", "'true' THEN 1 WHEN 'false'", "0", absent)

static berth_server *server;
static const char *db_path, *token;

static void on_signal(int sig) { (void)sig; berth_server_stop(server); }

/* thread_init: this worker's connection (NULL if it cannot open: 503). */
static void *open_db(void *user)
{
    (void)user;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL)) {
        fprintf(stderr, "todo_api: %s: %s\n", db_path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000); /* writers take turns on the file */
    return db;
}

static void close_db(void *db, void *user) { (void)user; sqlite3_close(db); }

/* For every path: the request ID and CORS on every reply; preflights end here. */
static int cors(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char id[65];
    if (berth_req_id(req, id, sizeof id) > 0)
        berth_res_header(res, "X-Request-Id", id);
    berth_res_header(res, "Access-Control-Allow-Origin", "*");
    berth_res_header(res, "Access-Control-Expose-Headers", "X-Request-Id");
    if (!berth_str_eq_bytes(berth_req_method(req), "OPTIONS"))
        return 0;
    berth_res_status(res, 204);
    berth_res_header(res, "Access-Control-Allow-Methods", "GET, POST, PUT, DELETE");
    berth_res_header(res, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    return 1;
}

/* For /todos: the bearer token, or 401. */
static int auth(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_str h;
    size_t n = strlen(token);
    if (berth_req_header(req, "Authorization", &h) == 0 && h.len == 7 + n &&
        memcmp(h.ptr, "Bearer ", 7) == 0 && memcmp(h.ptr + 7, token, n) == 0)
        return 0;
    berth_res_header(res, "WWW-Authenticate", "Bearer");
    berth_res_error_json(res, 401, "a bearer token is needed");
    return 1;
}

/* berth's own errors (404, 405, 413...) as JSON too. */
static void on_error(berth_req *req, berth_res *res, int status, void *user)
{
    (void)req, (void)user;
    berth_res_error_json(res, status, NULL);
}

/* Runs the route's statement (?1: the body, ?2: the path's id) and answers
 * with its first row's JSON (NULL: 204), 404 if it has no row, 400 if
 * SQLite refused the body (malformed JSON; a NULL field: wrong or absent). */
static void run(berth_req *req, berth_res *res, void *user)
{
    const char *sql = user;
    sqlite3 *db = berth_req_thread_data(req);
    berth_str body = berth_req_body(req);
    char idtext[24] = "", *end = idtext;
    long long id = berth_req_param_decoded(req, "id", idtext, sizeof idtext) > 0
                       ? strtoll(idtext, &end, 10) : 0;
    sqlite3_stmt *st = NULL;
    int rc = !db ? SQLITE_CANTOPEN : *end ? SQLITE_DONE /* not a number: 404 */
                                      : sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, body.ptr, (int)body.len, SQLITE_STATIC); /* a NULL ptr: NULL */
        sqlite3_bind_int64(st, 2, id); /* (a statement without ?1 or ?2 ignores it) */
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL)
        berth_res_status(res, 204);
    else if (rc == SQLITE_ROW)
        berth_res_sendf(res, sql[0] == 'I' ? 201 : 200, "application/json", "%s",
                        (const char *)sqlite3_column_text(st, 0));
    else if (rc == SQLITE_DONE)
        berth_res_error_json(res, 404, "no such todo");
    else if (rc == SQLITE_CONSTRAINT || rc == SQLITE_ERROR)
        berth_res_error_json(res, 400, "expected {\"title\": string, \"done\": boolean}");
    else
        berth_res_error_json(res, 503, db ? sqlite3_errmsg(db) : "no database");
    sqlite3_finalize(st);
}

int main(void)
{
    const char *port = getenv("PORT");
    db_path = getenv("TODO_DB") ? getenv("TODO_DB") : "/tmp/todo_api.db";
    token = getenv("TODO_TOKEN") ? getenv("TODO_TOKEN") : "secret";
    sqlite3 *db = NULL; /* the schema, once, before the workers open theirs */
    if (sqlite3_open(db_path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS todos(id INTEGER "
                     "PRIMARY KEY, title TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0)",
                     NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "todo_api: %s: %s\n", db_path, sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_close(db);
    berth_router *r = berth_router_new();
    berth_route_opts small; /* a todo is at most 16 KiB of JSON: 413 above */
    berth_route_opts_init(&small);
    small.max_body = 16384;
    if (berth_router_use(r, "/", cors, NULL, NULL) ||
        berth_router_use(r, "/todos", auth, NULL, NULL) ||
        berth_router_add(r, "GET", "/health", run, "SELECT '{\"ok\":true}'") ||
        berth_router_add(r, "GET", "/todos", run, "SELECT json_group_array(json(t)) FROM (SELECT "
                         TODO " AS t FROM todos ORDER BY id)") ||
        berth_router_add_opts(r, "POST", "/todos", run, "INSERT INTO todos(title, done) VALUES ("
                              TITLE("NULL") ", " DONE("0") ") RETURNING " TODO, &small) ||
        berth_router_add(r, "GET", "/todos/{id}", run,
                         "SELECT " TODO " FROM todos WHERE id = ?2") ||
        berth_router_add_opts(r, "PUT", "/todos/{id}", run, "UPDATE todos SET title = "
                              TITLE("title") ", done = " DONE("done")
                              " WHERE id = ?2 RETURNING " TODO, &small) ||
        berth_router_add(r, "DELETE", "/todos/{id}", run, "DELETE FROM todos WHERE id = ?2 "
                         "RETURNING NULL")) {
        fprintf(stderr, "todo_api: %s\n", berth_router_error(r));
        return 1;
    }
    berth_config cfg;
    berth_config_init(&cfg);
    cfg.port = port ? (unsigned)atoi(port) : 8080;
    cfg.router = r;
    cfg.on_error = on_error;
    cfg.request_id_header = "X-Request-Id";
    cfg.thread_init = open_db;
    cfg.thread_exit = close_db;
    if (!(server = berth_server_new(&cfg)))
        return 1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = berth_server_run(server);
    berth_server_free(server);
    berth_router_free(r);
    return rc ? 1 : 0;
}
