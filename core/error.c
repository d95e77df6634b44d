/* berth's answers to errors: through berth_config.on_error when set, or
 * the reason as text. One path for the engine's own errors (conn.c) and
 * for a handler's berth_res_error, so an application has one error format. */
#include <stddef.h>
#include <string.h>

#include "conn_impl.h"
#include "engine.h"
#include "exch.h"
#include "multipart.h"
#include "request.h"

/* Set while on_error runs on this thread: berth_res_error refuses there
 * (the hook would call itself). */
static _Thread_local int in_error_hook;

const char *berth_req_error_text(const berth_req *req, int status)
{
    const berth_multipart *mp = req && req->exch && req->head_ok ? req->exch->mp : NULL;
    if (!mp || berth_multipart_status(mp) != status)
        return NULL;
    return berth_multipart_own_error(mp);
}

void berth_error_fill(berth_conn *c, struct berth_req *req, struct berth_res *res, int status)
{
    const berth_engine *e = c->w->engine;
    res->status = status;
    if (e->on_error) {
        in_error_hook = 1;
        e->on_error(req, res, status, e->hook_user);
        in_error_hook = 0;
        res->status = status;
        if (res->body || res->body_fd >= 0)
            return;
    }
    if (!berth_res_has_header(res, "Content-Type"))
        berth_res_header(res, "Content-Type", "text/plain; charset=utf-8");
    const char *reason = berth_req_error_text(req, status); /* a multipart body's reason */
    if (!reason)
        reason = berth_status_reason(status);
    size_t n = strlen(reason);
    char *body = berth_res_body_reserve(res, n + 1);
    if (body) {
        memcpy(body, reason, n);
        body[n] = '\n';
    }
}

int berth_res_error(berth_res *res, int status)
{
    if (!res || status < 400 || status > 599)
        return BERTH_EINVAL;
    if (res->deferred || in_error_hook)
        return BERTH_ESTATE;
    /* A handler's (or a before hook's) res is always its request's. */
    struct berth_req *req = (struct berth_req *)(void *)((char *)res - offsetof(struct berth_req, res));
    berth_res_body_drop(res);
    berth_res_header_remove(res, "Content-Type"); /* they described the body replaced */
    berth_res_header_remove(res, "Content-Encoding");
    berth_error_fill(res->conn, req, res, status);
    return 0;
}
