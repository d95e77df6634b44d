/* berth: an embeddable HTTP/1.1 server library.
 *
 * One handler API over transports chosen at run time (HTTP_BACKEND).
 * This is the only public header (it includes berth_version.h, generated
 * by the build); every symbol it declares starts with berth_ and is
 * exported from libberth.so.1 under the version node BERTH_1.
 *
 * Conventions, for every call of this header (docs/API.md has the why):
 *
 * Return values. A call that can fail returns an int (a long where a
 * length is returned): 0, or a count or length >= 0, on success; on
 * failure a negative code of enum berth_err, which berth_strerror names.
 * Absence is such a code too: BERTH_ENOENT (no such header, parameter,
 * listener). So `rc < 0` is the one test of failure, `rc == 0` of success.
 * A question (berth_req_body_first, berth_req_stopping, berth_req_is_tls,
 * berth_stream_gone, berth_stream_stopping, berth_ws_offered,
 * berth_str_eq_bytes, berth_str_eq_nocase) answers 1 or 0 and cannot
 * fail. A call that makes an object (berth_router_new, berth_server_new,
 * berth_res_defer, berth_ws_upgrade...) returns it or NULL; the log says
 * why where there is more than one reason. Accessors of what always
 * exists (berth_req_method, berth_server_port...) return it.
 *
 * Structs and upgrades (the ABI). A struct the application allocates and
 * berth reads (berth_config, berth_tls_config, berth_ws_config,
 * berth_static_opts, berth_route_opts, berth_multipart_config,
 * berth_cookie) begins with `size`, which its
 * init macro sets to the struct's size as the application was compiled;
 * berth reads only the fields within that size and takes the defaults
 * for the others, so a program built against an older berth.h of the
 * same soname runs unchanged with a newer library, and new fields only
 * ever come at the end. Always fill such a struct with its init macro
 * (berth_config_init(&cfg)...) before setting fields: one whose size is 0
 * is refused (BERTH_EINVAL, or NULL from berth_server_new). A struct
 * berth fills in (berth_tls_info, berth_listener_info) goes through a
 * call that takes the caller's size (the macro passes sizeof) and berth
 * writes nothing beyond it. berth_done, which berth hands to callbacks,
 * begins with its size and grows only at its end. berth_str and
 * berth_addr never change within soname 1. A program needs a library at
 * least as new as the header it was built with: compare berth_version()
 * with BERTH_VERSION_NUM at start-up if it cannot be sure.
 *
 * Threading: a handler runs on the backend thread that owns the connection.
 * A berth_req / berth_res is valid from the call of the handler until the
 * response is complete (normally: when the handler returns). Strings
 * passed in are NUL-terminated and copied unless a call says otherwise.
 */
#ifndef BERTH_H
#define BERTH_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "berth_version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define BERTH_API __attribute__((visibility("default")))
#else
#define BERTH_API
#endif
/* A printf-like call: GCC and clang check its format against its arguments. */
#if defined(__GNUC__)
#define BERTH_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define BERTH_PRINTF(fmt, first)
#endif

/* ---- Versions and errors ---------------------------------------------
 * berth_version.h defines BERTH_VERSION ("1.0.0"), BERTH_VERSION_MAJOR,
 * _MINOR, _PATCH and BERTH_VERSION_NUM (major << 16 | minor << 8 |
 * patch) of the header a program is compiled with; these calls tell the
 * library's. The major version is the soname's: an incompatible change
 * makes libberth.so.2 (and a node BERTH_2); a compatible one raises the
 * minor version and adds a node BERTH_1.x for its new calls. */
BERTH_API unsigned berth_version(void);            /* e.g. 0x010000 for 1.0.0 */
BERTH_API const char *berth_version_string(void);  /* e.g. "1.0.0" */

/* The failure codes of every call (see "Return values" above). */
enum berth_err {
    BERTH_OK = 0,
    BERTH_EINVAL = -1,    /* an argument or the input is not valid (a bad
                             status, CR/LF in a header, a bad escape...) */
    BERTH_ENOENT = -2,    /* absent: no such header, parameter, listener... */
    BERTH_ENOSPC = -3,    /* the result does not fit the caller's buffer */
    BERTH_ENOMEM = -4,    /* out of memory */
    BERTH_EAGAIN = -5,    /* a buffer is full: wait (berth_stream_wait,
                             berth_ws_wait) or drop, and retry */
    BERTH_EGONE = -6,     /* the client has gone, or the response or
                             WebSocket is over (ended, closing) */
    BERTH_ETIMEDOUT = -7, /* a wait ran out of time */
    BERTH_ESTATE = -8,    /* not now or not from this thread: a route added
                             after the start, a wait on the connection's
                             own thread, a server started twice... */
    BERTH_EEXIST = -9,    /* already there: a route of the same shape */
    BERTH_ESYS = -10,     /* the operating system refused (bind, a thread,
                             a file): the log names the call and the error */
};
/* A short English text for a code of enum berth_err ("invalid argument");
 * "unknown error" for other values. Never NULL; static storage. */
BERTH_API const char *berth_strerror(int err);

/* A byte string that is not NUL-terminated. */
typedef struct berth_str {
    const char *ptr;
    size_t len;
} berth_str;

typedef struct berth_req berth_req;
typedef struct berth_res berth_res;
typedef struct berth_server berth_server;
typedef struct berth_router berth_router;

/* The one handler signature, identical on every backend. */
typedef void (*berth_handler_fn)(berth_req *req, berth_res *res, void *user);

/* A before hook (berth_config.before, berth_router_use, a route's): runs
 * once the request's head is read, before its handler (request IDs,
 * authentication, CORS preflight). Headers it sets on res stay on the
 * response whoever completes it. Return 0 to go on, non-zero when it
 * answered the request itself with res (its status, headers, body): no
 * later hook nor the handler runs, a request body is read and dropped.
 * It may not defer. */
typedef int (*berth_before_fn)(berth_req *req, berth_res *res, void *user);

/* Receives a request body piece by piece as it arrives (opt-in per route).
 * Called with the decoded body bytes (chunked framing removed); the handler
 * of the route runs once the body is complete. berth_req_body_first tells
 * the first piece. It runs at least once for every request the route gets:
 * a request without a body (none declared, Content-Length: 0, or a chunked
 * body of no chunk) gets one call with len 0 before the handler, so what
 * the first call sets up (an open file, say) always exists. Return 0 to go on, or non-zero to refuse the request: a
 * status from 400 to 599 (413, 415...) is answered as such, any other
 * non-zero value with 400; the connection then closes. */
typedef int (*berth_body_fn)(berth_req *req, const char *data, size_t len, void *user);

/* An address of either end of a connection. Fixed for soname 1 (it is
 * part of berth_listener_info). */
typedef struct berth_addr {
    int family;           /* BERTH_AF_INET, BERTH_AF_INET6, BERTH_AF_UNIX; 0: unknown */
    uint16_t port;        /* host byte order; 0 for Unix sockets */
    unsigned char raw[16];/* the address in network order: 4 bytes (IPv4) or 16 (IPv6) */
    char text[108];       /* "192.0.2.7", "2001:db8::1" (no brackets), or a Unix
                             socket's path ("" when it has none) */
} berth_addr;
#define BERTH_AF_UNIX 1
#define BERTH_AF_INET 4   /* also IPv4 clients of a dual-stack IPv6 listener */
#define BERTH_AF_INET6 6

/* How a request ended, for completion callbacks. */
enum berth_outcome {
    BERTH_DONE_COMPLETED, /* the whole response was handed to berth's output */
    BERTH_DONE_ABORTED,   /* the client went away (or stopped reading) before that */
    BERTH_DONE_REJECTED,  /* answered with an error before a handler could run: no
                             route (404, 405), a limit (413, 431...), bad framing
                             (400), on_body's refusal, a timeout (408) */
    BERTH_DONE_STOPPED,   /* cut by the server's stop (drain_timeout_ms) */
};

/* Why a request was not completed (berth_done.reason). */
enum berth_reason {
    BERTH_REASON_NONE = 0,       /* completed (BERTH_DONE_COMPLETED) */
    BERTH_REASON_CLIENT_CLOSED,  /* the client closed the connection first */
    BERTH_REASON_CLIENT_RESET,   /* the connection failed under berth: a reset,
                                    a failed read or write */
    BERTH_REASON_TLS,            /* a TLS failure: the client's alert, a bad
                                    record; or plain HTTP on a TLS port
                                    (answered 400, BERTH_DONE_REJECTED) */
    BERTH_REASON_HEADER_TIMEOUT, /* 408: the head took over header_timeout_ms */
    BERTH_REASON_BODY_TIMEOUT,   /* 408: the body paused over body_timeout_ms */
    BERTH_REASON_WRITE_TIMEOUT,  /* the client read nothing for write_timeout_ms */
    BERTH_REASON_LIMIT,          /* a limit: 413, 414, 431, 503 (max_body,
                                    max_buffered_bodies, max_connections...) */
    BERTH_REASON_BAD_REQUEST,    /* a malformed or unsupported request: 400,
                                    417, 501, 505 */
    BERTH_REASON_NO_ROUTE,       /* 404, 405 */
    BERTH_REASON_REFUSED,        /* on_body refused the body */
    BERTH_REASON_STOP,           /* cut by the server's stop */
    BERTH_REASON_INTERNAL,       /* berth could not go on: out of memory (500) */
};

/* What a completion callback learns. Valid during the call only. berth
 * makes it; new fields come only at the end (check size before reading
 * one added after 1.0). */
typedef struct berth_done {
    size_t size;          /* sizeof(berth_done) in the library that made it */
    int outcome;          /* enum berth_outcome */
    int status;           /* the status sent (or started); 0 if none */
    berth_str method;     /* as received; empty if no request line was read */
    berth_str target;
    int version_minor;
    uint64_t body_received; /* request body bytes */
    uint64_t bytes_sent;  /* response body bytes handed to berth (no head) */
    uint64_t duration_us; /* from the request's arrival (or on_done's call) */
    const berth_addr *peer; /* the client (berth_req_peer), or NULL if unknown */
    int tls;              /* 1 if the request came over TLS */
    void *data;           /* berth_req_data */
    int reason;           /* enum berth_reason: BERTH_REASON_NONE when
                             completed, else why not */
    const struct berth_done_priv *priv; /* berth's: berth_done_req_header... */
    int http_version;     /* 10, 11 or 20 (berth_req_http_version); 0 if no
                             request line was read. Since 1.1: check size */
} berth_done;

/* A completion callback: the request is over. Runs on the connection's
 * thread, never inside another berth call. */
typedef void (*berth_done_fn)(const berth_done *done, void *arg);
/* During a completion callback: the request's header `name` (case-
 * insensitive, the first if repeated), as received; 0 and *value, or
 * BERTH_ENOENT (also when no head was read). */
BERTH_API int berth_done_req_header(const berth_done *done, const char *name, berth_str *value);
/* During a completion callback: a response header the handler, a hook or
 * on_error set (berth's own Date, Server, Content-Length, Connection and
 * Transfer-Encoding are not among them; nor, for a streamed response,
 * the Content-Type given to berth_stream_start or berth_stream_send);
 * 0 and *value, or BERTH_ENOENT. */
BERTH_API int berth_done_res_header(const berth_done *done, const char *name, berth_str *value);

/* ---- Request ---------------------------------------------------------- */

BERTH_API berth_str berth_req_method(const berth_req *req);
BERTH_API berth_str berth_req_target(const berth_req *req); /* as sent, e.g. /a?b=1 */
BERTH_API berth_str berth_req_path(const berth_req *req);   /* target up to '?', raw */
BERTH_API berth_str berth_req_query_string(const berth_req *req); /* after '?', raw */
BERTH_API int berth_req_version_minor(const berth_req *req);      /* 0 or 1 */
/* The protocol the request came by: 10 (HTTP/1.0), 11 (HTTP/1.1) or 20
 * (HTTP/2, where berth_req_version_minor says 1). Since 1.1. */
BERTH_API int berth_req_http_version(const berth_req *req);

/* Header value by case-insensitive name; the first one if repeated.
 * 0 and *value, or BERTH_ENOENT. */
BERTH_API int berth_req_header(const berth_req *req, const char *name, berth_str *value);
BERTH_API size_t berth_req_header_count(const berth_req *req);
/* Header i (0 to berth_req_header_count - 1) as received: 0 and *name,
 * *value, or BERTH_ENOENT past the last. */
BERTH_API int berth_req_header_at(const berth_req *req, size_t i, berth_str *name, berth_str *value);

/* Query parameter, percent- and '+'-decoded into buf (NUL-terminated).
 * Returns the decoded length; BERTH_ENOENT if absent, BERTH_EINVAL if it
 * is not valid percent-encoding, BERTH_ENOSPC if it does not fit cap. */
BERTH_API long berth_req_query(const berth_req *req, const char *name, char *buf, size_t cap);
/* Query parameter as a decimal integer (an optional '-', digits, within
 * int64_t): 0 and *out; BERTH_ENOENT if absent, BERTH_EINVAL otherwise. */
BERTH_API int berth_req_query_int(const berth_req *req, const char *name, int64_t *out);

/* How much the client wants a content coding ("gzip", "br", "identity"),
 * from its Accept-Encoding fields (RFC 9110 12.5.3): the weight in
 * thousandths, 0 to 1000; 0 means refused. A coding named in the list gets
 * its own q (x-gzip counts as gzip), else "*" applies, else identity is
 * 1000 and any other coding 0. Without the field, only identity (1000):
 * berth compresses for clients that ask. Malformed elements are ignored. */
BERTH_API int berth_req_accept_encoding(const berth_req *req, const char *coding);

/* Path parameter of a router pattern such as /json/{count}; raw bytes.
 * 0 and *value, or BERTH_ENOENT if the route has no such parameter. */
BERTH_API int berth_req_param(const berth_req *req, const char *name, berth_str *value);

/* Path parameter, percent-decoded into buf and NUL-terminated ('+' stays
 * '+'). Returns the decoded length, or as berth_req_query: BERTH_ENOENT,
 * BERTH_EINVAL, BERTH_ENOSPC. A decoded
 * parameter may hold '/' (from %2F) or "..": check it before using it as
 * a file name. */
BERTH_API long berth_req_param_decoded(const berth_req *req, const char *name, char *buf,
                                       size_t cap);

/* The buffered body (empty for streamed-body routes). */
BERTH_API berth_str berth_req_body(const berth_req *req);
/* Body bytes received so far (decoded): the total once the handler runs. */
BERTH_API uint64_t berth_req_body_received(const berth_req *req);
/* In on_body: 1 in its first call (also the one call of an empty body),
 * 0 after. */
BERTH_API int berth_req_body_first(const berth_req *req);

/* ---- Request lifetime --------------------------------------------------
 * A request lives from its head's arrival until it is over: its response
 * completed, the client gone, berth's rejection, or the server's stop.
 * The data pointer and the completion callback belong to that whole span,
 * also for streamed bodies (on_body) and deferred responses, which outlive
 * the handler: set them in the before hook, on_body or the handler. */

/* A pointer of the application's for this request (NULL at first), e.g.
 * the open file of an upload. */
BERTH_API void berth_req_set_data(berth_req *req, void *data);
BERTH_API void *berth_req_data(const berth_req *req);
/* fn(done, arg) runs exactly once when the request is over, whichever way
 * (done->outcome), on the connection's thread: release what data holds
 * there. A later call replaces fn. */
BERTH_API void berth_req_on_done(berth_req *req, berth_done_fn fn, void *arg);

/* More for the same span, allocated only when used: values under keys
 * of the application's (each piece of middleware its own slot, as Go's
 * context values: the key is the address of a variable of its own, e.g.
 * `static char user_key;`), and completion callbacks that add up instead
 * of replacing each other. Several pieces of code may thus each keep
 * their state for the request without knowing of the others.
 *
 * berth_req_set_value: sets (or replaces; NULL clears) key's value. 0;
 * BERTH_EINVAL for a NULL key, BERTH_ENOSPC past 8 keys a request,
 * BERTH_ENOMEM (the first value of a request allocates ~260 bytes, freed
 * when the request is over). */
BERTH_API int berth_req_set_value(berth_req *req, const void *key, void *value);
/* key's value, or NULL if none was set. */
BERTH_API void *berth_req_value(const berth_req *req, const void *key);
/* Adds fn(done, arg), to run exactly once when the request is over, as
 * berth_req_on_done's, whose one callback it does not replace. The
 * completion callbacks run in this order: berth_req_on_done's, those
 * added here in the order added, the route's after (berth_route_opts),
 * the router's middleware in the reverse order of their before hooks
 * (the last to run before the handler is the first after it),
 * berth_config.after. 0; BERTH_EINVAL for a NULL fn, BERTH_ENOSPC past 8
 * a request, BERTH_ENOMEM. */
BERTH_API int berth_req_add_done(berth_req *req, berth_done_fn fn, void *arg);
/* During a completion callback: the value berth_req_set_value left under
 * key, or NULL. */
BERTH_API void *berth_done_value(const berth_done *done, const void *key);

/* The request's ID, for logs and for the response if the application
 * sends it: the value of the header named berth_config.request_id_header
 * when the request has one that is 1 to 64 bytes of visible ASCII (a
 * proxy's X-Request-Id), else 16 lower-case hex digits berth makes (the
 * first time it is asked for: unique in the process, random across
 * processes and restarts). The same ID every time for one request,
 * completion callbacks included (berth_done_request_id). Copied into buf
 * with a NUL: its length, or BERTH_ENOSPC if cap cannot hold it (65
 * always can). */
BERTH_API long berth_req_id(berth_req *req, char *buf, size_t cap);
BERTH_API long berth_done_request_id(const berth_done *done, char *buf, size_t cap);

/* 1 once the server has begun to stop (berth_server_stop) and this
 * request's connection has been told, 0 before. A request still in
 * progress is given until drain_timeout_ms; one whose body is still
 * arriving then is cut (the connection closes without an answer, on_done
 * reports BERTH_DONE_STOPPED with the bytes received). An on_body
 * callback that sees 1 may end early by returning 503: the client is
 * answered 503 with Connection: close at once. */
BERTH_API int berth_req_stopping(const berth_req *req);

/* ---- Who is calling ---------------------------------------------------- */

/* The client's address (with the PROXY protocol: the one the proxy
 * reported). 0 and *addr, or BERTH_ENOENT if unknown. */
BERTH_API int berth_req_peer(const berth_req *req, berth_addr *addr);
/* The address the client connected to (the listener's side); as
 * berth_req_peer. */
BERTH_API int berth_req_local(const berth_req *req, berth_addr *addr);

/* ---- Response ---------------------------------------------------------
 * Status defaults to 200. Date, Server, Content-Length and Connection are
 * written by berth. A handler's own Server header replaces berth's;
 * berth_res_header_remove(res, "Server") or (res, "Date") leaves berth's
 * out. A handler's Content-Length, Transfer-Encoding, Date and Connection
 * headers are ignored, except that `Connection: close` closes the
 * connection after this response. */

/* Sets the status: 0, or BERTH_EINVAL (the status unchanged) for one
 * outside 100-599 (RFC 9110 15). */
BERTH_API int berth_res_status(berth_res *res, int status);
/* Adds a header. 0; BERTH_EINVAL if name or value holds CR, LF or NUL or
 * the name is not a token; BERTH_ENOMEM (the header is then not added). */
BERTH_API int berth_res_header(berth_res *res, const char *name, const char *value);
BERTH_API int berth_res_header_n(berth_res *res, const char *name, size_t name_len,
                       const char *value, size_t value_len);
/* Removes every header of that name set so far (case-insensitive); for
 * "Server" and "Date", also berth's own, which is then not sent. 0, or
 * BERTH_EINVAL if the name is not a token. */
BERTH_API int berth_res_header_remove(berth_res *res, const char *name);
/* Sets the body to a copy of data: 0, or BERTH_ENOMEM. */
BERTH_API int berth_res_body(berth_res *res, const void *data, size_t len);
/* Sets the body to data without copying: it must outlive the response
 * (static data, or data owned by the user pointer). */
BERTH_API void berth_res_body_borrow(berth_res *res, const void *data, size_t len);
/* As berth_res_body_borrow, and release(arg) runs once berth is done with
 * data: after it is written, or when the client has gone, or the body is
 * replaced. On the connection's thread; exactly once. For mmap'd or
 * reference-counted data. */
BERTH_API void berth_res_body_external(berth_res *res, const void *data, size_t len,
                                       void (*release)(void *arg), void *arg);
/* The body is `length` bytes of the open regular file fd from `offset`,
 * with a Content-Length. It is never read into memory whole: sent with
 * sendfile where the connection allows, read piece by piece otherwise
 * (TLS); a HEAD response reads nothing. berth owns fd from this call on
 * and closes it when the response is done, also when the client has gone
 * or the body is replaced. 0; BERTH_EINVAL (fd closed) if fd is not a
 * regular file or the range is not inside it. The file must not shrink
 * while it is sent (the response would be cut short and the connection
 * closed). */
BERTH_API int berth_res_file(berth_res *res, int fd, uint64_t offset, uint64_t length);
/* on 0: this response is sent as the handler made it, never compressed
 * (a body mixing secrets with what the client sent, over TLS: BREACH);
 * 1: the server's rule again (berth_config.compress). */
BERTH_API void berth_res_compress(berth_res *res, int on);
/* Convenience: status, Content-Type and a copied body in one call; fails
 * as berth_res_status, berth_res_header or berth_res_body would. */
BERTH_API int berth_res_send(berth_res *res, int status, const char *content_type,
                   const void *data, size_t len);
/* Reserves len bytes of body space in the response and returns it, to be
 * filled by the handler (avoids an intermediate copy). NULL on failure. */
BERTH_API char *berth_res_body_reserve(berth_res *res, size_t len);
/* Answers with an error status (400-599) as berth answers its own errors
 * (an unrouted 404, a 405, a 413...): through berth_config.on_error when
 * set (req given, the status kept), else berth's text/plain reason. So an
 * application has one error format, its handlers' errors included. The
 * body so far, its Content-Type and Content-Encoding are dropped; other
 * headers set on res stay (as a before hook's do on berth's errors). The
 * request still counts as answered by its handler (BERTH_DONE_COMPLETED).
 * For a handler or a before hook, before berth_res_defer. 0;
 * BERTH_EINVAL for a status outside 400-599; BERTH_ESTATE for a deferred
 * res or a call made from on_error (which shapes the error itself). */
BERTH_API int berth_res_error(berth_res *res, int status);

/* ---- Reply helpers (since 1.2) -----------------------------------------
 * For a handler, a before hook or on_error, before berth_res_defer (a
 * deferred res: BERTH_ESTATE). Each either does all it says or, failing,
 * leaves res as it was. */

/* As berth_res_send with a body formatted as printf would (fmt and the
 * arguments after it), of any length: one that fits the response's own
 * space (256 bytes) or a block of the worker's pool (up to 16 KiB) costs
 * no allocation; a longer one is formatted into memory of its exact size.
 * The arguments may point into res's current body (it is replaced after
 * the formatting). 0; BERTH_EINVAL for a status outside 100-599, a NULL
 * fmt, a content_type berth_res_header refuses, or an output printf
 * cannot make (an encoding error, over INT_MAX bytes); BERTH_ENOMEM. */
BERTH_API int berth_res_sendf(berth_res *res, int status, const char *content_type,
                              const char *fmt, ...) BERTH_PRINTF(4, 5);
/* berth_res_sendf with a va_list (which it reads and leaves as vprintf
 * does: va_end it, do not read it again). */
BERTH_API int berth_res_vsendf(berth_res *res, int status, const char *content_type,
                               const char *fmt, va_list ap) BERTH_PRINTF(4, 0);
/* An error answered as JSON without a JSON library: the status and
 * Content-Type: application/json, with the body
 *   {"error":{"status":404,"message":"..."}}
 * in that order, without spaces or a final newline; message is
 * JSON-escaped (berth_json_escape), berth_status_reason(status) when
 * NULL. Replaces the body, and Content-Type and Content-Encoding set
 * before (other headers stay). Not through berth_config.on_error, so an
 * on_error hook may call it to answer berth's own errors as JSON. 0;
 * BERTH_EINVAL for a status outside 400-599; BERTH_ENOMEM. */
BERTH_API int berth_res_error_json(berth_res *res, int status, const char *message);
/* An on_error hook (berth_config.on_error = berth_on_error_json) that
 * answers every error as berth_res_error_json does: the status's reason
 * as the message, or for a route's multipart body that was malformed,
 * cut short or over a limit, the parser's reason (berth_multipart_error).
 * user is not read. */
BERTH_API void berth_on_error_json(berth_req *req, berth_res *res, int status, void *user);
/* Escapes len bytes of s as the content of a JSON string (RFC 8259 7,
 * without the quotes) into out (cap bytes incl. NUL): a quotation mark and
 * a backslash get a backslash before them; backspace, form feed, line
 * feed, carriage return and tab their short escapes (b f n r t after a
 * backslash); the other bytes below 0x20, DEL, U+2028 and U+2029
 * (JavaScript's line ends) a six-byte u escape in lower-case hex (u001f,
 * u007f, u2028); valid UTF-8 is copied; each maximal ill-formed
 * subsequence (Unicode 15, 3.9: what Python's and the WHATWG decoders
 * replace) becomes one u escape of U+FFFD. So the output is ASCII
 * printable but for valid UTF-8, and the same for the same input. Returns
 * its length (without the NUL); with out NULL and cap 0, the length it
 * needs, as snprintf measures; BERTH_ENOSPC if it does not fit cap (out
 * is then "" when cap > 0; 6 * len + 1 always fits); BERTH_EINVAL for s
 * NULL with len > 0, or out NULL with cap > 0. */
BERTH_API long berth_json_escape(char *out, size_t cap, const char *s, size_t len);

/* ---- Deferred and streamed responses ----------------------------------
 * A handler may return without a complete response: it calls
 * berth_res_defer and gets a stream handle, which any thread may use until
 * it calls berth_stream_send or berth_stream_end (exactly one of them, even
 * after the client has gone). The response is then either sent whole
 * (berth_stream_send) or streamed: berth_stream_start, any number of
 * berth_stream_write, berth_stream_end (chunked transfer coding for
 * HTTP/1.1 clients, close-delimited for HTTP/1.0, DATA frames over
 * HTTP/2).
 *
 * The berth_req is valid only until the handler returns: copy what the
 * deferred work needs. Calls made on the connection's own thread (in the
 * handler, a stream timer or on_close) take effect at once; on the fast
 * backend they also write at once, blocking that connection's thread.
 * Calls from other threads are queued and wake the connection's loop. */

typedef struct berth_stream berth_stream;
typedef struct berth_timer berth_timer;
typedef void (*berth_stream_fn)(berth_stream *stream, void *arg);

/* Keeps the response open after the handler returns. Status and headers
 * already set on res are kept. NULL if out of memory: the response is then
 * sent as it stands when the handler returns. On an HTTP/2 stream each
 * stream has its own handle (docs/HTTP2.md): the body goes out as DATA
 * frames as the client's flow control allows, berth_stream_buffered counts
 * the bytes not yet framed for that stream, and on the fast backend what a
 * handler writes before it returns leaves once it has returned. */
BERTH_API berth_stream *berth_res_defer(berth_res *res);

/* The stream calls below answer BERTH_EGONE once the client has gone or
 * the handle was ended (stop producing). BERTH_ENOMEM: an operation berth
 * could not queue (out of memory) fails the response as a whole; its
 * connection closes (the client never sees it complete) and later calls
 * answer BERTH_EGONE. A call that ends the stream (send, end) releases the
 * handle whatever it answers, BERTH_EINVAL excepted. */
/* Adds a header before the response starts; same rules as berth_res_header. */
BERTH_API int berth_stream_header(berth_stream *s, const char *name, const char *value);
/* Sends the whole response and releases the handle (also when the client
 * has gone); BERTH_EINVAL for a status outside 100-599, the handle then
 * still the application's. */
BERTH_API int berth_stream_send(berth_stream *s, int status, const char *content_type,
                                const void *body, size_t len);
/* Starts a streamed response of unknown length; BERTH_EINVAL for a bad
 * Content-Type or a status outside 100-599. */
BERTH_API int berth_stream_start(berth_stream *s, int status, const char *content_type);
/* Queues a copy of data as the next piece of the body. 0; BERTH_EAGAIN
 * when accepting len more bytes would pass the stream's buffer limit
 * (wait, or drop, and retry). */
BERTH_API int berth_stream_write(berth_stream *s, const void *data, size_t len);
/* Ends the response and releases the handle. */
BERTH_API int berth_stream_end(berth_stream *s);
/* Bytes accepted but not yet written to the socket. */
BERTH_API size_t berth_stream_buffered(berth_stream *s);
/* Blocks the calling thread until at most `below` bytes are buffered: 0;
 * BERTH_EGONE when the client goes away; BERTH_ETIMEDOUT after
 * timeout_ms (0 waits forever). On the connection's own thread (a
 * handler, timer or callback) it would wait for itself: it returns
 * BERTH_ESTATE at once. */
BERTH_API int berth_stream_wait(berth_stream *s, size_t below, unsigned timeout_ms);
/* 1 once the client has gone. */
BERTH_API int berth_stream_gone(berth_stream *s);
/* fn runs once on the connection's thread if the client goes away before
 * the response ends (cancel upstream work there); the handle stays valid
 * until berth_stream_end. It runs from the connection's loop, never inside
 * another berth call: a write that finds the client gone answers
 * BERTH_EGONE and
 * on_close follows after the current callback returns. Connection-thread
 * only. */
BERTH_API void berth_stream_on_close(berth_stream *s, berth_stream_fn fn, void *arg);

/* fn runs once on the connection's thread when the server starts to stop
 * while this response is open (not after send or end). End the response
 * there, or soon from the thread that feeds it: the server waits for open
 * streams until drain_timeout_ms and then cuts them (on_close runs).
 * Connection-thread only, like on_close. */
BERTH_API void berth_stream_on_stop(berth_stream *s, berth_stream_fn fn, void *arg);
/* 1 once the server is stopping (any thread): a producer that polls
 * instead of using on_stop. */
BERTH_API int berth_stream_stopping(berth_stream *s);

/* A timer on the connection's thread, backend-neutral: fn runs after
 * delay_ms, then every repeat_ms if non-zero. Timers stop by themselves
 * when the response ends or the client goes away. Connection-thread only
 * (handler, timer or on_close); NULL otherwise. */
BERTH_API berth_timer *berth_stream_timer(berth_stream *s, unsigned delay_ms, unsigned repeat_ms,
                                          berth_stream_fn fn, void *arg);
BERTH_API void berth_timer_stop(berth_timer *t);

/* Server-sent events (text/event-stream) over a deferred response:
 * berth_sse_start defers and starts the stream and, if keepalive_ms is
 * non-zero, writes a comment line that often to keep proxies from timing
 * out. berth_sse_send frames one event; data may hold several lines (LF,
 * CRLF or CR), each sent as its own data: line. event and id may be NULL.
 * Returns as berth_stream_write; BERTH_EINVAL if event or id holds a line
 * break (it would break the framing). */
BERTH_API berth_stream *berth_sse_start(berth_res *res, unsigned keepalive_ms);
BERTH_API int berth_sse_send(berth_stream *s, const char *event, const char *id,
                             const char *data, size_t len);

/* ---- WebSocket (RFC 6455) ----------------------------------------------
 * A GET handler turns its connection into a WebSocket with
 * berth_ws_upgrade: berth checks the client's handshake and answers 101
 * (or refuses it: 400, or 426 for a version other than 13), and from then
 * on the connection carries messages, over TLS too. The callbacks run on
 * the connection's thread, never inside another berth call: on_open once,
 * on_message for each whole message (fragments are reassembled, text is
 * valid UTF-8), on_close exactly once, whichever way the connection ended
 * (the handle is invalid once on_close returns). Pings are answered by
 * berth. permessage-deflate (RFC 7692) is accepted when the config's
 * deflate is set (docs/API.md, "WebSocket compression"), else declined.
 *
 * Sends copy the data and work from the connection's thread (at once) or
 * any other thread (queued, applied by the connection's loop), as stream
 * writes do: 0; BERTH_EGONE when the connection is closing or gone;
 * BERTH_EINVAL for invalid arguments; BERTH_EAGAIN when the bytes
 * buffered and not yet written plus len would pass max_buffer (wait with
 * berth_ws_wait, or drop, and retry). A message into an empty buffer is
 * always accepted.
 *
 * When the server stops, every message a send had accepted goes out before
 * the 1001. After its close frame berth reads and drops what the client
 * still sends, until it closes (2 s without input or 30 s in all at most),
 * so that the close frame is not lost to a reset. */

typedef struct berth_ws berth_ws;
enum { BERTH_WS_TEXT = 1, BERTH_WS_BINARY = 2 };

typedef struct berth_ws_config {
    size_t size;           /* set by berth_ws_config_init */
    void (*on_open)(berth_ws *ws, void *user);
    /* type: BERTH_WS_TEXT or BERTH_WS_BINARY; data valid during the call. */
    void (*on_message)(berth_ws *ws, int type, const char *data, size_t len, void *user);
    /* code: the peer's close code (1005: it sent none), the one berth sent
     * (1001 server stop or no answer to a ping, 1002 protocol error, 1007
     * invalid UTF-8, 1008 too many fragments, 1009 message too big), the
     * application's, or 1006 when the connection was lost without a close. */
    void (*on_close)(berth_ws *ws, int code, berth_str reason, void *user);
    const char *protocol;  /* the subprotocol chosen among those the client
                              offered (berth_ws_offered); NULL: none */
    uint64_t max_message;  /* a longer message closes with 1009. 16 MiB */
    size_t max_buffer;     /* send buffer limit (see above); 0: the server's
                              max_stream_buffer */
    unsigned ping_ms;      /* after this long without input berth pings; with
                              no answer in as long again, it closes (1001).
                              0: never. 30 s */
    unsigned max_fragments; /* frames one message may span; one more closes
                              with 1008 (empty fragments never reach
                              max_message: without this bound a message
                              could go on forever). 0: no limit. 65536 */
    /* Runs once on the connection's thread when the server begins to stop
     * (after berth_config.on_stop returned), before berth's 1001: messages
     * it sends (berth_ws_send) go out first, e.g. a goodbye. The 1001
     * follows unless it closed the connection itself (berth_ws_close: its
     * code then). Not after the connection began to close. NULL: none. */
    void (*on_stop)(berth_ws *ws, void *user);
    /* permessage-deflate (RFC 7692): 1 accepts the client's first valid
     * offer, 0 declines it. Messages of 32 bytes and more are sent
     * compressed; received ones are inflated against max_message. Off by
     * default: a connection that compresses holds ~48 KiB more with the
     * default window (docs/API.md, "WebSocket compression"). 0 */
    int deflate;
    int deflate_level;     /* zlib's level for messages sent, 1-9 (outside:
                              the nearest). 1 */
    /* The largest window (2^bits bytes) berth keeps for either side,
     * 8-15 (outside: the nearest): the server's own (answered as
     * server_max_window_bits below 15) and the client's when its offer
     * lets the server choose (client_max_window_bits). 12 */
    unsigned deflate_window_bits;
} berth_ws_config;

/* Fills *cfg with the defaults above (no callbacks) and its size. */
#define berth_ws_config_init(cfg) berth_ws_config_init_sized((cfg), sizeof *(cfg))
BERTH_API void berth_ws_config_init_sized(berth_ws_config *cfg, size_t size);
/* In a GET handler: checks the handshake and answers 101. Returns the
 * connection's handle (user is passed to its callbacks), or NULL with res
 * set to the refusal (400, 426) when the request is not a valid WebSocket
 * handshake, such as a plain GET, or to 500 when cfg was not filled by
 * berth_ws_config_init (or memory ran out). Headers set on res before the
 * call go out with the 101; the handler sends nothing else. On an HTTP/2
 * stream: NULL, res untouched (RFC 8441 is not served yet). */
BERTH_API berth_ws *berth_ws_upgrade(berth_req *req, berth_res *res, const berth_ws_config *cfg,
                                     void *user);
/* 1 if the client offered that subprotocol (Sec-WebSocket-Protocol). */
BERTH_API int berth_ws_offered(const berth_req *req, const char *protocol);
/* Sends a message (type BERTH_WS_TEXT, which must be UTF-8, or _BINARY). */
BERTH_API int berth_ws_send(berth_ws *ws, int type, const void *data, size_t len);
/* Sends a ping (125 bytes at most); the pong is not reported. */
BERTH_API int berth_ws_ping(berth_ws *ws, const void *data, size_t len);
/* Starts the close handshake: code (1000, 3000-4999...; 0: none) and a
 * reason of 123 bytes at most (may be NULL). Later sends answer
 * BERTH_EGONE; on_close follows with this code. */
BERTH_API int berth_ws_close(berth_ws *ws, int code, const char *reason);
/* Bytes accepted but not yet written; berth_ws_wait blocks a thread other
 * than the connection's until at most `below` remain: as berth_stream_wait
 * (BERTH_ESTATE on the connection's thread). */
BERTH_API size_t berth_ws_buffered(berth_ws *ws);
BERTH_API int berth_ws_wait(berth_ws *ws, size_t below, unsigned timeout_ms);
/* The pointer passed to the callbacks (set on the connection's thread). */
BERTH_API void berth_ws_set_user(berth_ws *ws, void *user);
BERTH_API void *berth_ws_user(const berth_ws *ws);
/* The pointer berth_config.thread_init returned on the connection's
 * thread (see "Worker threads and the stop"); from that thread only. */
BERTH_API void *berth_ws_thread_data(const berth_ws *ws);

/* ---- Topics (publish to WebSocket and event-stream subscribers) ---------
 * A topic is a set of subscribers: WebSocket connections (berth_ws) and
 * server-sent-event streams (berth_sse_start's handle). berth_topic_publish,
 * from any thread, sends one message to each: a WebSocket message of the
 * given type, or an event (the name may be NULL) whose data is the
 * message. Each copy goes through its connection's mailbox, so it is
 * written on that connection's own thread, in order with what else was
 * sent to it, and counts against its buffer limit (berth_ws_config.
 * max_buffer; berth_config.max_stream_buffer for a stream). A subscriber whose buffer is full
 * is a slow one, and the topic's policy says what befalls it:
 * BERTH_TOPIC_DROP skips this message for it (counted, it stays);
 * BERTH_TOPIC_CLOSE closes it (a WebSocket with 1008 after what it holds,
 * an event stream cut) and it leaves the topic. A subscriber whose
 * connection ended leaves at the next publish by itself: on_close need not
 * unsubscribe (the topic holds a reference on the handle until then;
 * berth_topic_unsubscribe_* lets go at once). All calls are thread-safe;
 * a publish holds the topic's lock while it posts to every subscriber.
 * Since 1.2. */
typedef struct berth_topic berth_topic;
enum { BERTH_TOPIC_DROP = 0, BERTH_TOPIC_CLOSE = 1 };
/* A topic with that policy for slow subscribers; NULL (bad policy, out of
 * memory). */
BERTH_API berth_topic *berth_topic_new(int slow_policy);
/* Frees it and lets go of its subscribers (they stay open). No call on
 * the topic may run or follow. */
BERTH_API void berth_topic_free(berth_topic *topic);
/* 0; BERTH_EEXIST (subscribed already), BERTH_EGONE (the connection is
 * gone or the stream ended), BERTH_EINVAL, BERTH_ENOMEM. A connection may
 * be in several topics. */
BERTH_API int berth_topic_subscribe_ws(berth_topic *topic, berth_ws *ws);
BERTH_API int berth_topic_subscribe_sse(berth_topic *topic, berth_stream *stream);
/* 0; BERTH_ENOENT (not subscribed), BERTH_EINVAL. */
BERTH_API int berth_topic_unsubscribe_ws(berth_topic *topic, berth_ws *ws);
BERTH_API int berth_topic_unsubscribe_sse(berth_topic *topic, berth_stream *stream);
/* type: BERTH_WS_TEXT (data must be UTF-8) or BERTH_WS_BINARY, for the
 * WebSocket subscribers; event: the event's name for the event-stream
 * ones (NULL: none; no line break). The number of subscribers the message
 * was queued for (slow ones dropped or closed, and those gone, are not
 * counted); BERTH_EINVAL, BERTH_ENOMEM. */
BERTH_API long berth_topic_publish(berth_topic *topic, int type, const char *event,
                                   const void *data, size_t len);
/* Subscribers now (those gone since the last publish included); messages
 * skipped for slow subscribers; slow subscribers closed. */
BERTH_API size_t berth_topic_count(berth_topic *topic);
BERTH_API uint64_t berth_topic_dropped(berth_topic *topic);
BERTH_API uint64_t berth_topic_closed(berth_topic *topic);

/* ---- Router -----------------------------------------------------------
 * A router is the application's, and every worker of a running server
 * reads it without a lock. So, from berth_server_start until
 * berth_server_wait returns (berth_server_free waits too), its routes are
 * fixed and it must not be freed: add every route before the start, free
 * the router after the wait. berth checks both: a berth_router_add* while
 * a server using the router runs fails with BERTH_ESTATE and logs why;
 * berth_router_free then logs, and aborts in a build without NDEBUG (with
 * NDEBUG it leaves the router allocated rather than free memory in use).
 * One router may serve several servers. */

BERTH_API berth_router *berth_router_new(void);
BERTH_API void berth_router_free(berth_router *router);
/* Adds a route. method: an upper-case token ("GET", "POST"...; methods are
 * case-sensitive) or "*" for any. pattern: a path of segments, each one
 *   - literal text:                      /users/list
 *   - a parameter, with an optional literal prefix and suffix:
 *                                        /users/{id}   /files/{name}.json   /v{major}
 *   - as the last segment, a wildcard that takes the rest of the path,
 *     slashes included, possibly empty:  /static/{path...}  (matches
 *     /static/ and below, not /static)
 * Parameter names are letters, digits, '_' and '-', each used once; a
 * parameter matches one non-empty segment (its text between prefix and
 * suffix). Matching does not depend on the order routes were added in:
 * segment by segment, literal text beats a parameter with a prefix or
 * suffix, which beats a bare parameter, which beats a wildcard; a route for
 * the method beats a "*" route. HEAD requests are served by GET routes
 * (body removed) unless a HEAD route matches. Parameters are raw bytes
 * (berth_req_param) or decoded (berth_req_param_decoded).
 * Returns 0, or when the route is refused (berth_router_error says why):
 * BERTH_EINVAL for a pattern not starting with '/', an empty segment, '*',
 * '?' or '#', a brace that encloses no single parameter, a name used
 * twice, a wildcard not last, more than 32 segments, a method that is not
 * an upper-case token; BERTH_EEXIST for a route with the same method and
 * the same path shape (names aside) as one already added; BERTH_ENOMEM;
 * BERTH_ESTATE after the start (see above). */
BERTH_API int berth_router_add(berth_router *router, const char *method, const char *pattern,
                     berth_handler_fn handler, void *user);
/* As berth_router_add, but the body is not buffered: on_body receives it
 * as it arrives (on_body may be NULL to discard it, berth_req_body_received
 * still counts it). */
BERTH_API int berth_router_add_streaming(berth_router *router, const char *method,
                               const char *pattern, berth_body_fn on_body,
                               berth_handler_fn handler, void *user);

/* A route's options (after berth_route_opts_init: as berth_router_add). */
typedef struct berth_route_opts {
    size_t size;           /* set by berth_route_opts_init */
    berth_body_fn on_body; /* streams the body to this callback (as _streaming) */
    int stream_body;       /* 1: stream the body even with on_body NULL (dropped) */
    uint64_t max_body;     /* this route's body limit (413 above), higher or lower
                              than berth_config.max_body; 0: that one */
    /* Since 1.2: this route's own middleware (see berth_router_use), run
     * after the router's: before once the route matched, after when the
     * request is over, each given hook_user. NULL: none. */
    berth_before_fn before;
    berth_done_fn after;
    void *hook_user;
    /* Since 1.2: the body is multipart/form-data, parsed as it arrives by
     * berth with this configuration (copied; see "Forms, cookies, URL
     * encoding"), in place of on_body (a route with both is refused).
     * berth makes the parser on the first piece (415 if the Content-Type
     * is not multipart/form-data with a valid boundary, 503 out of
     * memory) and feeds it every piece; a failure (400 malformed, 413 a
     * limit, a callback's status) is answered at once. The callbacks get
     * the route's user (the handler's) and reach the request through
     * berth_multipart_req; per-upload state fits berth_req_set_data or
     * berth_req_set_value. Before the handler berth ends the parser: a
     * body cut short or with no part is answered 400 without it. The
     * handler has the parser through berth_req_multipart
     * (berth_multipart_parts...); berth frees it when the request is
     * over, however it ended, after the completion callbacks. Every
     * refusal goes through berth_config.on_error, with the parser's own
     * reason as berth_on_error_json's message and berth's text/plain
     * body. NULL: none. */
    const struct berth_multipart_config *multipart;
} berth_route_opts;
#define berth_route_opts_init(opts) berth_route_opts_init_sized((opts), sizeof *(opts))
BERTH_API void berth_route_opts_init_sized(berth_route_opts *opts, size_t size);
/* As berth_router_add, with options (opts may be NULL; BERTH_EINVAL if
 * it was not filled by berth_route_opts_init). */
BERTH_API int berth_router_add_opts(berth_router *router, const char *method,
                                    const char *pattern, berth_handler_fn handler, void *user,
                                    const berth_route_opts *opts);
/* Middleware: a before hook and an after callback the router runs for
 * every request whose path is under prefix: "/" for all; "/api" for
 * /api and /api/..., not /apis (a prefix ends at a segment's end; one
 * ending in '/' matches only below it). The path is the raw one, as
 * routes match it. They run, in the order added, after
 * berth_config.before and before the route is matched: auth on /api
 * answers 401 before the router would answer 404 or 405. before (may be
 * NULL) is berth_before_fn's: 0 goes on, non-zero answered the request
 * with res (the rest of the chain, the route's and the handler do not
 * run). after (may be NULL) runs when the request is over for every
 * request whose before ran (the one that answered included), or that
 * matched the prefix when before is NULL; the order of all completion
 * callbacks is under berth_req_add_done. Per-request state goes in
 * berth_req_set_value. Neither allocates. 0; BERTH_EINVAL (a prefix not
 * starting with '/', both hooks NULL), BERTH_ENOSPC past 32 a router,
 * BERTH_ENOMEM, BERTH_ESTATE while a server using the router runs. Since
 * 1.2. */
BERTH_API int berth_router_use(berth_router *router, const char *prefix, berth_before_fn before,
                               berth_done_fn after, void *user);
/* Why the last berth_router_add* or berth_router_use call failed ("" after a success). */
BERTH_API const char *berth_router_error(const berth_router *router);

/* ---- Static files -----------------------------------------------------
 * berth_static_mount serves the directory root under a URL prefix
 * ("/static" serves root/a.css at /static/a.css; "/static" itself
 * redirects to "/static/"): GET and HEAD (other methods 405), Content-Type
 * from the extension, Last-Modified/If-Modified-Since, a strong ETag and
 * If-None-Match (304), one byte Range (206, or 416; several ranges get the
 * whole file), If-Range, a directory without its slash 301, its index file,
 * no listings. Files go out with sendfile (through the TLS layer under
 * userspace TLS). Nothing outside root is served: "..", encoded '/', '\'
 * and NUL are refused (404), and a symlink may not lead out of root
 * (openat2 RESOLVE_BENEATH; on kernels without it, symlinks are not
 * followed at all). With precompressed on, name.br or name.gz (a regular
 * file not older than name) is sent when the client's Accept-Encoding
 * weighs it above zero, br first at equal weight, with Content-Encoding,
 * its own ETag and Vary: Accept-Encoding (sent on every reply of the
 * mount). The mount's errors (400, 404, 416, 500, 503) are answered with
 * berth_res_error: through berth_config.on_error like berth's own.
 *
 * An open-file cache keeps each file's descriptor, size, ETag and
 * siblings. A file the application removes, replaces or adds is never
 * served as it was once berth_static_invalidate returns (its handler calls
 * it after the change). A file removed or replaced by another process
 * (renamed over, removed, rewritten in place: no links left, or size,
 * mtime or ctime changed) is not served 100 ms after: a request checks its
 * entry's descriptors with fstat when the last check is that old (a check
 * on every request cost about 7% more CPU per request). A sibling added
 * beside a cached file is seen within a second (names are checked by path
 * once a second). Requests on any name of the mount also check the cache
 * 32 entries at a time, when the last such step is 1000 / (entries / 32)
 * ms old (10 ms at least), and close the descriptors of files removed or
 * replaced: under traffic, within about a second for up to 3200 entries,
 * without a request of their name. No thread is started: a mount that
 * gets no requests checks nothing until berth_static_sweep. */
typedef struct berth_static_opts {
    size_t size;            /* set by berth_static_opts_init */
    const char *index;      /* served for a directory; NULL or "": none (404) */
    int dotfiles;           /* 1: names starting with '.' are served (never . or ..) */
    int precompressed;      /* 1: name.br / name.gz siblings (default 1) */
    unsigned cache_entries; /* open-file cache slots (default 256); 0: no cache,
                               each request opens its file and nothing stays open
                               after its response */
} berth_static_opts;
typedef struct berth_static berth_static;
/* Fills *opts with the defaults (index "index.html") and its size. */
#define berth_static_opts_init(opts) berth_static_opts_init_sized((opts), sizeof *(opts))
BERTH_API void berth_static_opts_init_sized(berth_static_opts *opts, size_t size);
/* Adds the routes to router and sets *out to the mount, to free with
 * berth_static_free after the server has stopped. opts may be NULL
 * (defaults). 0; BERTH_EINVAL for a bad prefix or opts not filled by
 * berth_static_opts_init; BERTH_ENOENT if root cannot be opened as a
 * directory (errno holds open's error); BERTH_EEXIST if the router has a route of
 * that shape already; BERTH_ENOMEM; BERTH_ESTATE as berth_router_add. */
BERTH_API int berth_static_mount(berth_router *router, const char *prefix, const char *root,
                                 const berth_static_opts *opts, berth_static **out);
BERTH_API void berth_static_free(berth_static *st);
/* Forgets what the cache holds for path and closes its descriptors at
 * once: for an application that removes, replaces or adds files under
 * root itself (its DELETE or PUT handler calls it after the change). path
 * is below root as in the URL after the prefix, decoded ("css/site.css";
 * a leading '/' is ignored): the file, everything beneath it if it is a
 * directory, and the file whose sibling it is ("page.html.gz" also
 * forgets "page.html"). NULL or "": the whole cache. Any thread; the next
 * request for the name opens it again. Costs a pass over the cache's
 * entries under its lock. */
BERTH_API void berth_static_invalidate(berth_static *st, const char *path);
/* Checks every cache entry now (one fstat per descriptor, under the
 * cache's lock) and closes those of files removed or replaced; returns how
 * many entries were dropped. Requests do this by themselves a batch at a
 * time; call it from a timer of the application's own to give back the
 * disk space of files that other processes removed while the mount gets
 * no requests. Any thread. */
BERTH_API size_t berth_static_sweep(berth_static *st);

/* ---- TLS -------------------------------------------------------------- */

/* A TLS listener (wolfSSL), beside the plaintext one. Certificate and key
 * come from PEM files or PEM text; with neither, berth makes a self-signed
 * certificate in memory (ECDSA P-256, CN=localhost) and says so (on
 * berth_config.log, else stderr).
 * A certificate without its key, an unreadable file, or a key that does
 * not match the certificate makes berth_server_new fail with a message.
 * TLS 1.3 and 1.2, key exchange with X25519, P-256 or P-384 only; after a
 * TLS 1.3 handshake the records go to kernel TLS or to berth's own record
 * layer and wolfSSL's per-connection object is freed (a client KeyUpdate
 * then ends the connection cleanly). docs/TLS.md has the whole policy. */
typedef struct berth_tls_config {
    size_t size;                 /* set by berth_tls_config_init */
    unsigned port;               /* 0-65535; 0: an ephemeral port (berth_server_tls_port) */
    const char *cert_file;       /* PEM certificate chain, leaf first */
    const char *key_file;        /* PEM private key */
    const char *cert_pem;        /* or the same as NUL-terminated PEM text */
    const char *key_pem;
    int min_version;             /* 12: TLS 1.2 and 1.3 (default); 13: TLS 1.3 only */
    const char *ciphers;         /* cipher names (OpenSSL's, wolfSSL's or IANA's),
                                    ':'-separated, in the server's order of
                                    preference, and exactly these: nothing
                                    outside the list is negotiated, empty
                                    entries are ignored, an unknown name (or a
                                    keyword such as HIGH) makes berth_server_new
                                    fail. NULL: berth's default, AEADs only
                                    (docs/TLS.md says which and why) */
    unsigned handshake_timeout_ms; /* a handshake must complete in this. 10 s */
    int alpn_lenient;            /* 0 (default): a client whose ALPN offer has no
                                    protocol of `alpn` (below; only "spdy/3.1",
                                    say) gets
                                    the no_application_protocol alert and no
                                    connection (RFC 7301 3.2); 1: it goes on
                                    without ALPN and is served HTTP/1.1. A
                                    client that offers no ALPN is served either
                                    way. */
    int ktls;                    /* 1: after a TLS 1.3 handshake, hand the records
                                    to kernel TLS where the kernel offers it
                                    (then files go out with sendfile); 0: keep
                                    them in userspace. Default 1 (berth-serve:
                                    0 with BERTH_KTLS=off) */
    const char *alpn;            /* the application protocols offered by ALPN,
                                    ','-separated, in the server's order of
                                    preference (which decides, not the
                                    client's): "h2" (when built with nghttp2)
                                    and "http/1.1"; an unknown name, or "h2"
                                    without nghttp2, makes berth_server_new
                                    fail. A connection that negotiated
                                    "http/1.1" stays HTTP/1 (the h2 preface
                                    on it is answered 505). NULL: "h2,http/1.1"
                                    with nghttp2, else "http/1.1"
                                    (berth-serve: TLS_ALPN) */
} berth_tls_config;

/* Fills *tls with the defaults above (port 8443, no certificate). */
#define berth_tls_config_init(tls) berth_tls_config_init_sized((tls), sizeof *(tls))
BERTH_API void berth_tls_config_init_sized(berth_tls_config *tls, size_t size);

/* What a request's connection negotiated. */
typedef struct berth_tls_info {
    const char *version;         /* "TLSv1.3" or "TLSv1.2" */
    const char *cipher;          /* e.g. "TLS_CHACHA20_POLY1305_SHA256" */
    berth_str alpn;              /* "h2" or "http/1.1", or empty if the client offered none */
    berth_str sni;               /* the server name the client asked for, or empty */
    int resumed;                 /* 1 if the session was resumed from a ticket */
} berth_tls_info;

/* What req's TLS connection negotiated: 0 and *info (the strings valid
 * while the request is), or BERTH_ENOENT when req did not come over TLS.
 * berth writes at most `size` bytes of *info (the macro passes sizeof). */
#define berth_req_tls(req, info) berth_req_tls_sized((req), (info), sizeof *(info))
BERTH_API int berth_req_tls_sized(const berth_req *req, berth_tls_info *info, size_t size);
/* 1 if req came over TLS, 0 otherwise. */
BERTH_API int berth_req_is_tls(const berth_req *req);

/* ---- Hooks ------------------------------------------------------------
 * Server-wide callbacks around every request, set in berth_config; each
 * gets berth_config.hook_user. Unset, they cost nothing. */

/* berth_before_fn (declared above, under Handlers): berth_config.before
 * runs for every request once its head is read, before the router's
 * middleware and routing. */
/* Runs when berth answers with an error of its own: 400, 404, 405 (Allow
 * is set), 408, 413, 414, 417, 431, 500, 501 (a transfer coding berth does
 * not decode), 503, 505, and when a handler calls berth_res_error (any
 * status 400-599: the static files' 400, 404, 416, 500, 503 among them),
 * and for a client that speaks plain HTTP to a TLS port (400, with req
 * when its head parsed; written in plaintext, then the connection closes).
 * It may add headers and
 * set a body (with its Content-Type), e.g. JSON with CORS headers; the
 * status stays. Without a body berth sends its text/plain reason (for a
 * multipart route's body, the parser's: see berth_route_opts.multipart);
 * berth_on_error_json is a hook answering as JSON. req is
 * NULL when no request head could be read (414, 431, most 400s, 503). */
typedef void (*berth_error_fn)(berth_req *req, berth_res *res, int status, void *user);
/* Receives berth's messages (configuration errors, listeners, warnings,
 * which path TLS records take), one line without a newline, instead of
 * stderr: every message of the server, from whichever of its threads says
 * it (the workers' too), so it may be called from several threads at once
 * and must be thread-safe. */
typedef void (*berth_log_fn)(const char *message, void *user);

/* ---- Worker threads and the stop ---------------------------------------
 * Per-thread resources (a database connection per worker, say) without a
 * lock: berth_config.thread_init(hook_user) runs on every thread of the
 * server that runs application code (handlers, hooks, callbacks, timers)
 * once, when the thread starts and before it serves anything, and what it
 * returns is that thread's data until berth_config.thread_exit(data,
 * hook_user) runs, on the same thread, after the last callback there
 * (connections closed, their on_done and on_close run). Those threads:
 * the reactor, libuv and uring workers (`threads` of them, for the
 * server's life), and fast's connection threads (one per open connection,
 * pooled: a thread serves one connection after another with the same
 * data; one parked 30 s without work ends, and new threads start as the
 * load grows). Every thread that ran thread_init runs thread_exit, also
 * when a start fails part-way. Threads that run no handler or request
 * callback (fast's acceptors and monitor, which may call only the log
 * function, and on_stop's thread) run neither. Both may be called on
 * several threads at once. NULL is valid data.
 *
 * berth_config.on_stop(server, hook_user) runs once per stop, when it
 * begins (berth_server_stop, which berth-serve calls at SIGTERM and an
 * upgrade at its hand-over), on a thread of berth's own that the server
 * starts with its workers when on_stop is set: nothing has been drained
 * yet, connections still serve, listeners still accept. The drain (the
 * 1001 of WebSockets, streams' on_stop, the listeners' close) begins when
 * it returns; what it sends (berth_ws_send, berth_stream_write from this
 * thread, as from any other) goes out before. It may block (it is no
 * worker): berth_ws_wait and berth_stream_wait work there, bounded by its
 * own timeouts; the server's state reads RUNNING until it returns. A
 * start that fails does not run it. It must not call berth_server_wait,
 * berth_server_run or berth_server_free: they wait for the stop, which
 * waits for this hook to return (a deadlock). */

/* The calling connection thread's data (thread_init's return): in
 * handlers, hooks and callbacks of req, on the connection's thread. */
BERTH_API void *berth_req_thread_data(const berth_req *req);
/* The same for a deferred response's callbacks and timers (on_close,
 * on_stop, berth_stream_timer): its connection thread's data, from that
 * thread only. (A WebSocket's: berth_ws_thread_data.) */
BERTH_API void *berth_stream_thread_data(const berth_stream *s);

/* ---- Signals and the environment ---------------------------------------
 *
 * SIGPIPE: berth never changes its disposition, and its writes never raise
 * it. A write to a socket whose peer has reset raises SIGPIPE, whose
 * default action ends the process: berth's sends say MSG_NOSIGNAL (macOS:
 * its sockets have SO_NOSIGPIPE), and for
 * sendfile, which cannot, every thread berth starts (the workers of every
 * backend, where handlers, hooks, timers and callbacks run) blocks SIGPIPE
 * in its own mask from its start, and the SIGPIPE a failed sendfile leaves
 * pending there is taken at once. An application may keep the default
 * action or its own handler; its own threads are untouched. Handler code
 * sees the mask: its writes to a closed pipe or socket fail with EPIPE
 * instead of raising the signal, and threads it creates inherit the mask.
 *
 * SIGURG, on the fast backend only: while a fast server runs, SIGURG has
 * an empty handler of berth's (SA_RESTART on Linux; without it on FreeBSD
 * and macOS, where it would restart the reads a stop interrupts) if its
 * disposition was SIG_DFL when the server started; SIG_DFL is put back when the last fast server of
 * the process has stopped (berth_server_wait). berth sends it only to its
 * own connection threads, inside its own blocking calls and waits, never
 * while a handler runs: to interrupt a read at the stop, and to wake a
 * thread for stream work another thread queued (one descriptor per
 * connection). What that asks of the application:
 *   - leave SIGURG's disposition alone while a fast server runs; to own
 *     SIGURG, set it (SIG_IGN too) before berth_server_start: berth then
 *     leaves it, wakes connection threads through a descriptor each (an
 *     eventfd; a pipe off Linux, and always on macOS: no ppoll), and a
 *     stop reaches a blocked read within 1 s instead of at once;
 *   - do not block SIGURG in a handler (fast's connection threads, where
 *     handlers run, unblock it whatever the starting thread's mask);
 *   - while berth's handler is in place, a SIGURG sent to the process (kill,
 *     or out-of-band data on a socket given an owner with F_SETOWN) is
 *     caught instead of discarded: in a thread that does not block it, a
 *     call that SA_RESTART does not restart (poll, nanosleep, a read with
 *     a timeout...; off Linux, any call it interrupts) fails with EINTR.
 *
 * The environment: the library reads HTTP_BACKEND (the backend, when
 * config.backend is NULL), and systemd's LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES (for listen entries "systemd", and to warn when systemd
 * passed sockets the configuration leaves unused), and NOTIFY_SOCKET in
 * berth_notify only; nothing else. Under CGI
 * a request's "Backend:" header arrives as HTTP_BACKEND: when
 * REQUEST_METHOD is set as well (a CGI program), berth ignores HTTP_BACKEND
 * with a warning. A program run that way, or whose environment a client
 * can otherwise reach, sets config.backend. BERTH_THREADS and BERTH_KTLS
 * are berth-serve's (config.threads, berth_tls_config.ktls). */

/* ---- Server ----------------------------------------------------------- */

typedef struct berth_config {
    size_t size;          /* set by berth_config_init */
    const char *host;     /* address to bind; default "0.0.0.0" */
    unsigned port;        /* 0-65535; 0: an ephemeral port, see berth_server_port */
    /* Listeners, replacing host, port and tls->port when set: a comma-
     * separated list of addresses, each followed by options:
     *   8080  *:8080  0.0.0.0:8080  127.0.0.1:0  [::]:8080  [::1]:8080
     *   unix:/run/app.sock   (unix:@name: Linux's abstract namespace)
     *   fd:3                 (an open listening socket; berth uses a duplicate)
     *   systemd              (every socket systemd passed: LISTEN_FDS)
     *   systemd:NAME         (those named NAME: FileDescriptorName=)
     * options: tls (needs berth_config.tls for the certificate), proxy
     * (a PROXY protocol header, v1 or v2, from a load balancer comes
     * first; berth_req_peer reports the client it names; a connection
     * without a valid one within header_timeout_ms is closed), h2 or h1
     * (that protocol only; neither: both where berth is built with HTTP/2:
     * h2 alone is HTTP/2 from the first byte, h2c in plaintext and only
     * "h2" offered by ALPN over tls; h1 alone never switches to HTTP/2).
     * E.g. "[::]:8080, [::]:8443 tls, unix:/run/app.sock proxy, 8082 h2".
     * A bad entry
     * fails berth_server_new, naming it. A server that uses none of the
     * sockets systemd passed to its process (LISTEN_PID is its pid,
     * LISTEN_FDS > 0) logs a warning naming listen = "systemd": those
     * sockets would wait unserved and their clients hang. */
    const char *listen;
    const char *backend;  /* "reactor", "fast", "fast:N", "libuv", "uring",
                             "uring:N" (io_uring; where it cannot be used,
                             the log says why once and reactor serves)
                             (a bad value
                             fails berth_server_new); NULL: from the
                             HTTP_BACKEND environment variable (a bad value
                             warns and uses reactor; ignored under CGI: see
                             Signals and the environment) */
    int threads;          /* workers; 0: the CPU count */

    /* Either a router (it must outlive the server; see Router), or a single
     * handler that gets every request. */
    berth_router *router;
    berth_handler_fn handler;
    void *user;

    size_t max_request_line;   /* bytes; over it: 414. default 8 KiB */
    size_t max_header_bytes;   /* whole header section; over it: 431. 16 KiB */
    size_t max_header_fields;  /* over it: 431. default 100 */
    uint64_t max_body;         /* over it: 413. default 64 MiB */
    /* Memory that the bodies of all requests being buffered may hold
     * together (bodies of routes without on_body; those that fit a 32 KiB
     * buffer are not counted). A request whose body would pass it is
     * answered 503 (Connection: close), before its body is read when its
     * Content-Length says so; one longer than the whole budget, 413.
     * Streamed bodies (on_body) are not buffered and not counted.
     * default 256 MiB */
    uint64_t max_buffered_bodies;

    unsigned header_timeout_ms; /* whole request head must arrive; 408. 10 s */
    unsigned body_timeout_ms;   /* max gap between body reads; 408. 30 s */
    unsigned idle_timeout_ms;   /* idle keep-alive connection closed. 60 s */
    unsigned write_timeout_ms;  /* max gap between write progress. 30 s */
    unsigned max_connections;   /* over it: 503 and close. default 100000 */
    unsigned max_threads;       /* fast only: connection threads serving at most
                                   this many connections; one accepted beyond
                                   waits (its socket queued, no thread) up to
                                   1 s for a thread to finish with another,
                                   then is answered 503 and closed. 0
                                   (default): 10000 */
    unsigned drain_timeout_ms;  /* on stop, time given to requests in flight and
                                   open streams; what is left is cut. 10 s */
    unsigned stop_grace_ms;     /* on stop, a keep-alive connection active less
                                   than this ago may send one more request,
                                   answered with Connection: close; idle ones
                                   close at once. default 100 ms */
    size_t max_stream_buffer;   /* per streamed response; berth_stream_write
                                   answers BERTH_EAGAIN beyond it. 1 MiB */
    int reuseport;              /* 1 (default): one SO_REUSEPORT listener per
                                   thread; 0: one listener shared by all. A
                                   port another socket holds is an error
                                   either way */
    /* On-the-fly compression of bodies in memory (copied, borrowed, lent,
     * reserved): gzip when the client accepts it (berth_req_accept_encoding
     * "gzip" > 0), the Content-Type is in compress_types, the body has at
     * least compress_min bytes, the status has a body (not 206), and the
     * handler set no Content-Encoding or Content-Range and did not call
     * berth_res_compress(res, 0); a body gzip would not shrink is sent as
     * it is. A deferred response sent whole (berth_stream_send) follows
     * the same rule; file bodies and streamed responses
     * (berth_stream_start) are sent as they are. HEAD gets GET's headers,
     * the compressed Content-Length included. Whenever the answer depended
     * on Accept-Encoding (everything above held but the client's part),
     * berth adds `Vary: Accept-Encoding`; a strong ETag of a compressed
     * reply becomes weak, and of a 304 to a client that accepts gzip
     * unless the handler's own Vary names Accept-Encoding (it tags each
     * encoding itself). */
    int compress;               /* 1 (default): on; 0: never */
    int gzip_level;             /* libdeflate's level, 1-12. default 1 */
    size_t compress_min;        /* bytes; smaller bodies stay as they are. 1024 */
    const char *compress_types; /* comma-separated media types; a subtype may be
                                   `*` (any) or `*+suffix` (any ending in +suffix),
                                   the type `*`. Must outlive the server. NULL:
                                   every text type, application/json, javascript,
                                   x-javascript, ecmascript, xml and wasm, any
                                   subtype ending in +json or +xml, image/svg+xml,
                                   font/ttf, font/otf (compress.c) */
    const berth_tls_config *tls; /* also listen for TLS; NULL: plaintext only.
                                   Copied by berth_server_new */

    berth_before_fn before;     /* hooks (see Hooks above); NULL: none */
    berth_done_fn after;        /* runs when each request is over, as
                                   berth_req_on_done (access logs: the
                                   headers through berth_done_req_header
                                   and berth_done_res_header) */
    berth_error_fn on_error;
    void *hook_user;
    berth_log_fn log;           /* every message of the server, from any of its
                                   threads; NULL: they go to stderr */
    void *log_user;
    /* Since 1.2. The request header whose value berth_req_id takes (e.g.
     * "X-Request-Id" behind a proxy that sets it); NULL (default): IDs are
     * always berth's own. Must outlive the server. */
    const char *request_id_header;
    /* Since 1.2. Worker-thread hooks and the stop hook (see "Worker
     * threads and the stop" below); each gets hook_user. NULL: none. */
    void *(*thread_init)(void *hook_user);
    void (*thread_exit)(void *thread_data, void *hook_user);
    void (*on_stop)(berth_server *server, void *hook_user);
} berth_config;

/* Fills *config with the defaults above and its size. Call before
 * setting fields. */
#define berth_config_init(config) berth_config_init_sized((config), sizeof *(config))
BERTH_API void berth_config_init_sized(berth_config *config, size_t size);

/* Creates a server. Returns NULL, with a message naming the field (on
 * config.log, else stderr), when the configuration is invalid: not filled
 * by berth_config_init (or tls not by berth_tls_config_init), no handler
 * or router, an unknown backend, threads < 0 or above 1024, a zero or
 * out-of-range limit or timeout, a bad listen entry, TLS listeners without
 * tls, unusable certificates. */
BERTH_API berth_server *berth_server_new(const berth_config *config);
/* Binds the listeners and starts the workers; returns at once. 0;
 * BERTH_ESTATE if it was started already; BERTH_ESYS or BERTH_ENOMEM with
 * a message on the log otherwise (a port in use, say). A start that fails
 * part-way (a thread or descriptor refused) stops and joins the workers
 * that had started and closes the listeners: nothing is left running, and
 * the server may be started again or freed. */
BERTH_API int berth_server_start(berth_server *server);
/* Waits until the server has stopped (after berth_server_stop). */
BERTH_API void berth_server_wait(berth_server *server);
/* start + wait. 0 after a graceful stop, or start's failure. */
BERTH_API int berth_server_run(berth_server *server);
/* Asks the server to stop. Async-signal-safe; any thread. At once (with
 * config.on_stop, once it has returned: see "Worker threads and the
 * stop"): the listeners close (new connections are refused) and open streams get
 * on_stop. Every request already read is answered, the last response on a
 * connection says Connection: close, and the connection then ends with a
 * FIN (its write side shut, input drained, never a reset). Idle keep-alive
 * connections close at once; one that was active within stop_grace_ms may
 * send one more request first. What is still open after drain_timeout_ms
 * is cut. berth_server_wait returns when every connection is gone. */
BERTH_API void berth_server_stop(berth_server *server);
BERTH_API void berth_server_free(berth_server *server);
/* The bound port (after start), useful with port 0: the first plaintext
 * TCP listener's. */
BERTH_API uint16_t berth_server_port(const berth_server *server);
/* The first TLS listener's bound port, 0 without TLS. */
BERTH_API uint16_t berth_server_tls_port(const berth_server *server);
/* A listener of a started server: its bound address and options. */
typedef struct berth_listener_info {
    berth_addr addr;
    int tls;
    int proxy;
    int http1;  /* 1 if it serves HTTP/1.x (listen option h1, or neither h1 nor h2) */
    int http2;  /* 1 if it serves HTTP/2 (option h2, or neither, in a build with HTTP/2) */
} berth_listener_info;
/* 0 and *info for listener i (in the order of config.listen; systemd
 * entries expand to each socket), BERTH_ENOENT past the last. berth writes
 * at most `size` bytes of *info (the macro passes sizeof). */
#define berth_server_listener(server, i, info) \
    berth_server_listener_sized((server), (i), (info), sizeof *(info))
BERTH_API int berth_server_listener_sized(const berth_server *server, size_t i,
                                          berth_listener_info *info, size_t size);
/* The listening sockets of listener i (numbered as berth_server_listener's)
 * of a running server, to hand to another process: a new binary's in a
 * zero-downtime upgrade (berth-serve's SIGUSR2, docs/DEPLOY.md), which
 * then serves on the very same sockets, so that no connection waiting in
 * an accept queue is lost as this server stops. A TCP listener has one
 * socket per worker thread (SO_REUSEPORT, each with its own queue: pass
 * them all) or one; the others one. Writes up to max descriptors to fds
 * and returns how many there are (more than max: call again with room);
 * BERTH_ENOENT past the last listener; BERTH_ESTATE before the start or
 * once stopping. The descriptors stay the server's (it closes them as it
 * stops: duplicate them, or pass them across exec, in time), and are
 * close-on-exec. Since 1.2.
 *
 * A process given them the systemd way (LISTEN_FDS, LISTEN_PID,
 * LISTEN_FDNAMES: dup2'd to 3, 4, ..., close-on-exec cleared) serves them
 * with config.listen "systemd:NAME" and the listener's options (tls,
 * proxy, h1, h2); the sockets of one listener, given in a row, make one
 * listener again. Once listed, a Unix socket file the server made is
 * left in place when it ends (the other process serves on it). */
BERTH_API int berth_server_listen_fds(berth_server *server, size_t i, int *fds, size_t max);
/* Tells the service manager (sd_notify(3)'s protocol) the process's
 * state, e.g. "READY=1" once berth_server_start has returned, or
 * "STOPPING=1": one datagram to the Unix socket the environment's
 * NOTIFY_SOCKET names (a path, or @name: Linux's abstract namespace).
 * systemd's Type=notify services wait for it, and so does berth-serve's
 * upgrade for the new process it started. 0 once sent; BERTH_ENOENT if
 * NOTIFY_SOCKET is unset (no manager waits: nothing to do); BERTH_EINVAL
 * for an empty state or an address that is not one; BERTH_ESYS if the
 * send failed (errno). Any thread. Since 1.2. */
BERTH_API int berth_notify(const char *state);
/* The name of the backend the server runs on ("reactor", ...). */
BERTH_API const char *berth_server_backend(const berth_server *server);
BERTH_API int berth_server_threads(const berth_server *server);
/* The server a request came to (for berth_server_stats in a handler). */
BERTH_API berth_server *berth_req_server(const berth_req *req);

/* ---- Server timers ------------------------------------------------------
 * A timer of the running server, not of a stream (berth_stream_timer's
 * end with their response): a stats feed every second, a cache sweep, a
 * deadline. fn(server, arg) runs once after delay_ms, then, if repeat_ms
 * is non-zero, again repeat_ms after each run began (a late run shifts the
 * later ones; runs never overlap, and none comes early).
 *
 * Where it runs: on the reactor, uring and libuv backends, on one of the
 * server's worker threads, which also serve connections, so fn must not
 * block (as a handler there must not); the timers go to the workers in
 * turn (the first to worker 0, the next to worker 1, ...), each timer
 * always to the same one. On the fast backend, which has no worker loops,
 * every timer of the server runs on one thread of their own, started by
 * the first timer: one slow callback delays the others there. From fn, as
 * from any thread: the stream calls, berth_server_stop, adding and
 * cancelling timers (this one included).
 *
 * The stop ends them all: no callback begins once berth_server_stop has
 * been called (with berth_config.on_stop: once that hook has returned,
 * as the stop begins for the workers then; timers run on while it runs;
 * one already running finishes), and none runs after
 * berth_server_wait (or berth_server_run) has returned. A server started
 * again starts with no timer. Since 1.2. */
typedef struct berth_server_timer berth_server_timer;
typedef void (*berth_server_timer_fn)(berth_server *server, void *arg);

/* Adds a timer to a running server: 0; BERTH_ESTATE before
 * berth_server_start (a start that fails ends the timers added during it),
 * or once berth_server_stop was called;
 * BERTH_EINVAL without server or fn; BERTH_ENOMEM; BERTH_ESYS if fast's
 * timers' thread could not be started (said on the log). Any thread.
 *
 * With timer NULL, the library frees the timer when it is over (after its
 * run, or at the stop for a periodic one). Otherwise *timer is set (before
 * fn may run, so fn may read it) to a handle the application releases
 * with exactly one berth_server_timer_cancel: also after the timer is over
 * (a one-shot that ran, a stop), until berth_server_free, which frees
 * every timer (handles included). On failure *timer is NULL. */
BERTH_API int berth_server_timer_add(berth_server *server, unsigned delay_ms, unsigned repeat_ms,
                                     berth_server_timer_fn fn, void *arg,
                                     berth_server_timer **timer);
/* Cancels the timer if it is not over, and releases the handle. Once it
 * returns, fn does not run again, nor does it still run: called from
 * another thread while fn runs, it waits for fn to return (so arg may be
 * freed then; a callback that waits for the caller would deadlock, as
 * pthread_join would). From inside fn itself it returns at once, and fn
 * is not called again. Any thread. */
BERTH_API void berth_server_timer_cancel(berth_server_timer *timer);

/* ---- Statistics and metrics -------------------------------------------
 * A server counts what it serves from berth_server_new on: each of its
 * threads in counters of its own (no shared atomics on a request's path),
 * summed when asked. Counters only grow (until the server is freed);
 * connections_open and state say how things are now. */

/* A server's state (berth_stats.state). */
enum berth_server_state {
    BERTH_STATE_STOPPED = 0,  /* not started, or berth_server_wait returned */
    BERTH_STATE_RUNNING = 1,
    BERTH_STATE_DRAINING = 2, /* berth_server_stop was called; not yet waited for */
};

#define BERTH_STATS_PROTOCOLS 3 /* requests[p]: HTTP/1.0, HTTP/1.1, HTTP/2 */
#define BERTH_STATS_METHODS 6   /* [m]: GET, HEAD, POST, PUT, DELETE, any other */
#define BERTH_STATS_CLASSES 6   /* [c]: no status sent, 1xx, 2xx, 3xx, 4xx, 5xx */
#define BERTH_STATS_BUCKETS 17  /* duration buckets, the last one unbounded */
#define BERTH_STATS_CONNS 3     /* connections_open[k]: HTTP/1, HTTP/2, WebSocket */

/* What berth_server_stats fills in. New fields come only at the end. */
typedef struct berth_stats {
    size_t size;                 /* the bytes berth wrote */
    int state;                   /* enum berth_server_state */
    const char *backend;         /* berth_server_backend */
    /* Requests that are over (answered, refused, cut off: what the after
     * hook sees, one each), by protocol, method and status class. */
    uint64_t requests[BERTH_STATS_PROTOCOLS][BERTH_STATS_METHODS][BERTH_STATS_CLASSES];
    /* How long they took, from their head's arrival to their end, as a
     * cumulative histogram: duration_count[i] requests took at most
     * duration_le_us[i] microseconds (the last bound is UINT64_MAX: all). */
    uint64_t duration_le_us[BERTH_STATS_BUCKETS];
    uint64_t duration_count[BERTH_STATS_BUCKETS];
    uint64_t duration_sum_us;
    uint64_t connections_accepted;            /* refused ones included */
    uint64_t connections_open[BERTH_STATS_CONNS]; /* now, by the protocol they speak */
    uint64_t connections_refused;             /* answered 503 at max_connections
                                                 (fast: or max_threads) */
    uint64_t tls_handshakes_full;
    uint64_t tls_handshakes_resumed;          /* from a session ticket */
    uint64_t tls_handshakes_failed;           /* a TLS connection that sent bytes and
                                                 never completed its handshake */
    uint64_t ktls_handoffs;                   /* connections whose records the kernel took */
    uint64_t bytes_received;                  /* HTTP's bytes (TLS decrypted): what */
    uint64_t bytes_sent;                      /* connections read and wrote */
    uint64_t ws_connections;                  /* WebSocket upgrades */
    uint64_t ws_messages_received;            /* whole messages, either way */
    uint64_t ws_messages_sent;
} berth_stats;

/* Fills *stats with server's counters now; any thread, any time between
 * berth_server_new and berth_server_free. 0. berth writes at most `size`
 * bytes of *stats (the macro passes sizeof). */
#define berth_server_stats(server, stats) \
    berth_server_stats_sized((server), (stats), sizeof *(stats))
BERTH_API int berth_server_stats_sized(const berth_server *server, berth_stats *stats,
                                       size_t size);

/* Adds a GET route at `path` answering the server's counters in
 * Prometheus' text format (0.0.4; names in docs/API.md, "Metrics"):
 * berth_server_stats of the server the request came to, formatted. 0, or
 * berth_router_add's error. */
BERTH_API int berth_metrics_mount(berth_router *router, const char *path);

/* ---- Utilities -------------------------------------------------------- */

/* 1 if s holds exactly the bytes of cstr (methods, paths), 0 otherwise. */
BERTH_API int berth_str_eq_bytes(berth_str s, const char *cstr);
/* 1 if s equals cstr ignoring ASCII case (header names, tokens such as
 * "close"), 0 otherwise; whatever the locale. */
BERTH_API int berth_str_eq_nocase(berth_str s, const char *cstr);
/* Percent-decodes src into dst (cap bytes incl. NUL); plus_as_space for
 * query strings. Returns the decoded length; BERTH_EINVAL for an invalid
 * escape, BERTH_ENOSPC if it does not fit cap. */
BERTH_API long berth_url_decode(const char *src, size_t len, char *dst, size_t cap, int plus_as_space);
/* Reason phrase of a status code ("OK", "Not Found", ...). */
BERTH_API const char *berth_status_reason(int status);

/* ---- Forms, cookies, URL encoding (since 1.2) --------------------------
 * Sans-I/O helpers over bytes the application holds: none allocates but
 * berth_multipart_new, and none keeps a pointer past its call unless it
 * says so. docs/API.md, "Forms and cookies", has examples. */

/* Percent-encodes len bytes of src into dst (cap bytes incl. NUL), the
 * inverse of berth_url_decode: the unreserved characters of RFC 3986
 * (A-Z a-z 0-9 - . _ ~) are left as they are, every other byte becomes
 * %XX (upper-case hex), so the result is safe as one path segment and as
 * a query name or value ('/', '?', '&', '=', '+', '%' and space are all
 * encoded). space_as_plus: a space becomes '+' instead of %20
 * (application/x-www-form-urlencoded; decode with plus_as_space). Returns
 * the encoded length; BERTH_ENOSPC if it does not fit cap (3 * len + 1
 * always does). */
BERTH_API long berth_url_encode(const char *src, size_t len, char *dst, size_t cap,
                                int space_as_plus);

/* application/x-www-form-urlencoded: name=value pairs separated by '&',
 * each side percent-encoded with '+' for space (as a query string).
 * berth_form_next takes the next pair off the front of *rest (which it
 * advances) and gives its raw, still encoded name and value (value empty
 * for a pair without '='); empty pairs ("a=1&&b=2") are skipped. 0, or
 * BERTH_ENOENT when none is left. Decode each with berth_url_decode(...,
 * 1): BERTH_EINVAL there for a bad escape. The strings point into *rest. */
BERTH_API int berth_form_next(berth_str *rest, berth_str *name, berth_str *value);
/* The value of the first pair of form whose decoded name is name,
 * decoded into buf (NUL-terminated): its length; BERTH_ENOENT if absent;
 * BERTH_EINVAL if a name before it, or the value, is not valid
 * percent-encoding; BERTH_ENOSPC if it does not fit cap. No allocation. */
BERTH_API long berth_form_value(berth_str form, const char *name, char *buf, size_t cap);
/* berth_form_value over the request's buffered body (berth_req_body; a
 * streamed-body route has none): for a handler of a form POST. The
 * Content-Type is not checked. */
BERTH_API long berth_req_form(const berth_req *req, const char *name, char *buf, size_t cap);

/* multipart/form-data (RFC 7578, RFC 2046 5.1), a streaming parser: fed
 * the body in pieces of any size (an on_body callback's), it calls
 * on_part when a part's header section is complete, on_data with its
 * content as it arrives (in pieces: a file is never held whole), and
 * on_part_end at the part's closing delimiter. Any split of the same body
 * gives the same calls but for where on_data's pieces are cut. The
 * preamble and epilogue are ignored; transport padding after a delimiter
 * is allowed; lines end with CRLF. A part must have
 * `Content-Disposition: form-data; name=...`.
 *
 * A callback returns 0 to go on, or non-zero to stop: berth_multipart_feed
 * then answers BERTH_ESTATE and berth_multipart_status gives that value as
 * a status when it is 400-599 (else 400), as on_body's return is read. */
typedef struct berth_multipart berth_multipart;
typedef struct berth_multipart_config {
    size_t size;           /* set by berth_multipart_config_init */
    /* A part begins: name, filename and content_type (empty when absent;
     * filename.ptr NULL when the part has no filename parameter) valid
     * during the call; other headers through berth_multipart_header. */
    int (*on_part)(berth_multipart *mp, berth_str name, berth_str filename,
                   berth_str content_type, void *user);
    /* A piece of the current part's content (valid during the call). */
    int (*on_data)(berth_multipart *mp, const char *data, size_t len, void *user);
    /* The current part is complete. */
    int (*on_part_end)(berth_multipart *mp, void *user);
    unsigned max_parts;    /* one more part: BERTH_ENOSPC (413). 128 */
    size_t max_part_header; /* bytes of one part's header section, its
                              blank line included (berth holds them until
                              it is complete): over it BERTH_ENOSPC
                              (413). 4 KiB; 4 bytes to 1 MiB, else
                              berth_multipart_new answers NULL */
    size_t max_header_total; /* all parts' header sections together: over
                              it BERTH_ENOSPC (413). 64 KiB */
} berth_multipart_config;
#define berth_multipart_config_init(cfg) berth_multipart_config_init_sized((cfg), sizeof *(cfg))
BERTH_API void berth_multipart_config_init_sized(berth_multipart_config *cfg, size_t size);
/* A parser for a body whose Content-Type field value is content_type
 * (multipart/form-data with a boundary parameter of 1 to 70 characters,
 * quoted or not). cfg is copied; user goes to the callbacks. NULL when
 * the Content-Type is not that (answer 415, or 400 for a bad boundary),
 * cfg was not filled by berth_multipart_config_init, or memory ran out.
 * One allocation (the object and max_part_header bytes); free it with
 * berth_multipart_free (from on_done, for a route). */
BERTH_API berth_multipart *berth_multipart_new(berth_str content_type,
                                               const berth_multipart_config *cfg, void *user);
/* Feeds the next len bytes of the body. 0; BERTH_EINVAL for a malformed
 * body (400); BERTH_ENOSPC for a limit passed (413); BERTH_ESTATE when a
 * callback stopped. After a failure every later call answers the same. */
BERTH_API int berth_multipart_feed(berth_multipart *mp, const char *data, size_t len);
/* The body is over: 0 if the closing delimiter ("--boundary--") was
 * seen, else BERTH_EINVAL (a body cut short, or with no part at all) or
 * the failure feed answered. */
BERTH_API int berth_multipart_end(berth_multipart *mp);
/* After a failure: the status to answer (400, 413, or a callback's);
 * 0 while none. */
BERTH_API int berth_multipart_status(const berth_multipart *mp);
/* Why it failed, in English ("" while it has not); static storage. */
BERTH_API const char *berth_multipart_error(const berth_multipart *mp);
/* In on_part: the current part's header `name` (case-insensitive, the
 * first): 0 and *value (valid during the call), or BERTH_ENOENT. */
BERTH_API int berth_multipart_header(const berth_multipart *mp, const char *name,
                                     berth_str *value);
/* Parts begun so far. */
BERTH_API unsigned berth_multipart_parts(const berth_multipart *mp);
BERTH_API void berth_multipart_free(berth_multipart *mp);
/* A route's parser (berth_route_opts.multipart): for its handler, the
 * request's, NULL on a route without one. Since 1.2. */
BERTH_API berth_multipart *berth_req_multipart(const berth_req *req);
/* In a callback of a route's parser: the request whose body it parses
 * (NULL for a parser of berth_multipart_new's). Since 1.2. */
BERTH_API berth_req *berth_multipart_req(const berth_multipart *mp);

/* Cookie request header (RFC 6265bis 4.2, 5.6): "a=1; b=2". berth_cookie_next
 * takes the next cookie off the front of *rest (a Cookie field value,
 * which it advances): 0 with its name and value (a value's surrounding
 * DQUOTEs removed, nothing decoded), or BERTH_ENOENT at the end. Pairs
 * without '=' or with an empty name are skipped. */
BERTH_API int berth_cookie_next(berth_str *rest, berth_str *name, berth_str *value);
/* The request's cookie name (case-sensitive; the first, over every Cookie
 * field: HTTP/2 clients send one a cookie): 0 and *value (valid while the
 * request is), or BERTH_ENOENT. */
BERTH_API int berth_req_cookie(const berth_req *req, const char *name, berth_str *value);

/* A Set-Cookie to build (RFC 6265bis 4.1). Fill with berth_cookie_init. */
enum { BERTH_SAMESITE_UNSET = 0, BERTH_SAMESITE_STRICT, BERTH_SAMESITE_LAX, BERTH_SAMESITE_NONE };
typedef struct berth_cookie {
    size_t size;           /* set by berth_cookie_init */
    const char *name;      /* a token (RFC 9110 5.6.2) */
    const char *value;     /* cookie-octets (no CTL, space, '"', ',', ';',
                              '\\'), optionally in DQUOTEs; NULL: empty */
    const char *domain;    /* NULL: none (host-only) */
    const char *path;      /* NULL: none */
    int64_t max_age;       /* seconds, >= 0 (0 removes it); -1: none (default) */
    int64_t expires;       /* Unix time, sent as an IMF-fixdate; 0: none */
    int secure;            /* 1: Secure */
    int http_only;         /* 1: HttpOnly */
    int same_site;         /* BERTH_SAMESITE_*; NONE needs secure */
    int partitioned;       /* 1: Partitioned (CHIPS); needs secure */
} berth_cookie;
#define berth_cookie_init(c) berth_cookie_init_sized((c), sizeof *(c))
BERTH_API void berth_cookie_init_sized(berth_cookie *c, size_t size);
/* The Set-Cookie field value of c into buf (cap bytes incl. NUL): its
 * length; BERTH_ENOSPC if it does not fit; BERTH_EINVAL when RFC 6265bis
 * forbids it: a name that is not a token, a value with a byte outside
 * cookie-octet, name and value over 4096 bytes together, a Domain or Path
 * with a CTL or ';' or over 1024 bytes, max_age below -1, expires outside
 * years 1970-9999, SameSite=None or Partitioned without Secure, a
 * __Secure- name without Secure, a __Host- name without Secure, with a
 * Domain or with a Path other than "/"; or c not filled by
 * berth_cookie_init. */
BERTH_API long berth_cookie_format(const berth_cookie *c, char *buf, size_t cap);
/* Adds Set-Cookie: the formatted c to res. 0, or as berth_cookie_format
 * and berth_res_header (nothing added on failure). */
BERTH_API int berth_res_cookie(berth_res *res, const berth_cookie *c);

#ifdef __cplusplus
}
#endif
#endif
