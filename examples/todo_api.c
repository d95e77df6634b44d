/* A todo REST API on SQLite; every reply, errors included, is JSON.
 *   GET  /todos         the list          POST /todos        add {"title":"..","done":false}
 *   GET  /todos/{id}    one todo          PUT  /todos/{id}   change title and/or done
 *   DELETE /todos/{id}  remove it (204)   GET  /health       no token needed
 * Middleware asks for "Authorization: Bearer $TODO_TOKEN" (default "secret")
 * on /todos and adds CORS (preflights: 204) and X-Request-Id (the client's,
 * else berth's) everywhere. Each worker thread has its own connection to the
 * file $TODO_DB (default /tmp/todo_api.db; WAL: the threads share the data).
 * SQLite parses the bodies (400 if it cannot, or a type is wrong): libsqlite3-dev.
 * Try: ./todo_api & curl -H 'Authorization: Bearer secret' -d '{"title":"a"}'
 *        localhost:8080/todos */
#include <berth.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

/* SQL: one todo as JSON, from its row; a body's fields, NULL when of the
 * wrong type (or the body no object), `absent` when not there. */
#define TODO "'{\"id\":' || id || ',\"title\":' || json_str(title) || ',\"done\":' || " \
             "iif(done, 'true', 'false') || '}'"
#define FIELD(name, type, value, absent)                                                  \
    "CASE coalesce(json_type(?1, '$." name "'), '-') WHEN " type " THEN " value           \
    " WHEN '-' THEN iif(json_type(?1) = 'object', " absent ", NULL) END"
#define TITLE(absent) /* (SQLite would cut a title at a \u0000: refused) */                 \
    FIELD("title", "'text'", "iif(instr(?1, '\\u0000'), NULL, json_extract(?1, '$.title'))", absent)
#define DONE(absent) FIELD("done", "'true' THEN 1 WHEN 'false'", "0", absent)

static berth_server *server;

static void on_signal(int sig) { (void)sig; berth_server_stop(server); }

/* SQL json_str(text): always valid JSON (a title from "\ud800" too), by berth. */
static void json_str(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *s = (const char *)sqlite3_value_text(argv[argc - 1]); /* argc is 1 */
    size_t len = (size_t)sqlite3_value_bytes(argv[0]);
    char *out = sqlite3_malloc64(6 * len + 3);
    long n = out ? berth_json_escape(out + 1, 6 * len + 1, s, len) : -1;
    if (n < 0)
        return sqlite3_free(out), sqlite3_result_error_nomem(ctx);
    out[0] = out[n + 1] = '"';
    sqlite3_result_text(ctx, out, (int)n + 2, sqlite3_free);
}

/* thread_init: this worker's connection (NULL if it cannot open: 503). */
static void *open_db(void *db_path)
{
    sqlite3 *db = NULL;
    if (!sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) &&
        !sqlite3_busy_timeout(db, 5000) && /* writers take turns on the file */
        !sqlite3_create_function(db, "json_str", 1, SQLITE_UTF8, NULL, json_str, NULL, NULL))
        return db;
    fprintf(stderr, "todo_api: %s: %s\n", (char *)db_path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return NULL;
}

static void close_db(void *db, void *db_path) { (void)db_path; sqlite3_close(db); }

/* For every path: the request ID and CORS on every reply; preflights end here. */
static int cors(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char id[65];
    if (berth_req_id(req, id, sizeof id) > 0)
        berth_res_header(res, "X-Request-Id", id);
    berth_res_header(res, "Access-Control-Allow-Origin", "*");
    if (!berth_str_eq_bytes(berth_req_method(req), "OPTIONS"))
        return 0;
    berth_res_status(res, 204);
    berth_res_header(res, "Access-Control-Allow-Methods", "GET, POST, PUT, DELETE");
    berth_res_header(res, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    return 1;
}

/* For /todos: the header user says ("Bearer <token>"), or 401. */
static int auth(berth_req *req, berth_res *res, void *user)
{
    berth_str h;
    if (berth_req_header(req, "Authorization", &h) == 0 && berth_str_eq_bytes(h, user))
        return 0;
    berth_res_header(res, "WWW-Authenticate", "Bearer");
    berth_res_error_json(res, 401, "a bearer token is needed");
    return 1;
}

/* Runs the route's statement (?1: the body, ?2: the path's id) and answers
 * with its first row's JSON (NULL: 204), 404 if it has no row, 400 if
 * SQLite refused the body (malformed JSON; a NULL field: wrong or absent). */
static void run(berth_req *req, berth_res *res, void *user)
{
    const char *sql = user;
    sqlite3 *db = berth_req_thread_data(req);
    berth_str body = berth_req_body(req);
    char id[24]; /* "7" matches the integer 7 in SQL; "x" nothing (404) */
    if (berth_req_param_decoded(req, "id", id, sizeof id) < 0)
        id[0] = '\0';
    sqlite3_stmt *st = NULL;
    int rc = db ? sqlite3_prepare_v2(db, sql, -1, &st, NULL) : SQLITE_CANTOPEN;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, body.ptr, (int)body.len, SQLITE_STATIC); /* a NULL ptr: NULL */
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC); /* (unused ones are ignored) */
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
    static char bearer[256];
    const char *token = getenv("TODO_TOKEN");
    snprintf(bearer, sizeof bearer, "Bearer %s", token ? token : "secret");
    char *db_path = getenv("TODO_DB") ? getenv("TODO_DB") : "/tmp/todo_api.db";
    sqlite3 *db = NULL; /* the schema, once, before the workers open theirs */
    if (sqlite3_open(db_path, &db) ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS todos(id INTEGER "
                     "PRIMARY KEY, title TEXT NOT NULL, done INTEGER NOT NULL)", NULL, NULL, NULL))
        return fprintf(stderr, "todo_api: %s: %s\n", db_path, sqlite3_errmsg(db)), 1;
    sqlite3_close(db);
    berth_router *r = berth_router_new();
    if (berth_router_use(r, "/", cors, NULL, NULL) ||
        berth_router_use(r, "/todos", auth, NULL, bearer) ||
        berth_router_add(r, "GET", "/health", run, "SELECT '{\"ok\":true}'") ||
        berth_router_add(r, "GET", "/todos", run, "SELECT '[' || coalesce(group_concat(t, ','), '')"
                         " || ']' FROM (SELECT " TODO " AS t FROM todos ORDER BY id)") ||
        berth_router_add(r, "POST", "/todos", run, "INSERT INTO todos(title, done) VALUES ("
                         TITLE("NULL") ", " DONE("0") ") RETURNING " TODO) ||
        berth_router_add(r, "GET", "/todos/{id}", run,
                         "SELECT " TODO " FROM todos WHERE id = ?2") ||
        berth_router_add(r, "PUT", "/todos/{id}", run, "UPDATE todos SET title = " TITLE("title")
                         ", done = " DONE("done") " WHERE id = ?2 RETURNING " TODO) ||
        berth_router_add(r, "DELETE", "/todos/{id}", run, "DELETE FROM todos WHERE id = ?2 "
                         "RETURNING NULL")) {
        fprintf(stderr, "todo_api: %s\n", berth_router_error(r));
        return 1;
    }
    berth_config cfg;
    berth_config_init(&cfg);
    cfg.port = getenv("PORT") ? (unsigned)atoi(getenv("PORT")) : 8080;
    cfg.max_body = 16384; /* a todo is at most 16 KiB of JSON: 413 above */
    cfg.router = r;
    cfg.on_error = berth_on_error_json; /* berth's own errors (404, 405, 413...) as JSON too */
    cfg.request_id_header = "X-Request-Id";
    cfg.hook_user = db_path; /* open_db's */
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
