/* A route whose multipart/form-data body berth parses
 * (berth_route_opts.multipart): the router installs this file's on_body
 * and handler in place of the application's, so the parser is made from
 * the Content-Type on the first piece, fed every piece, ended before the
 * application's handler runs, and lives in the request's exchange, which
 * frees it when the request is over, whichever way (exch.c). The glue
 * every upload service would otherwise write by hand. */
#include "multipart.h"

#include "exch.h"
#include "request.h"
#include "router.h"

int berth_mp_route_body(berth_req *req, const char *data, size_t len, void *user)
{
    berth_exch *x = req->exch;
    if (!x->mp) {
        berth_str type = {"", 0};
        berth_req_header(req, "Content-Type", &type);
        int status;
        if (!(x->mp = berth_multipart_make(type, &req->mp_route->cfg, user, &status)))
            return status;
        berth_multipart_bind(x->mp, req);
    }
    if (berth_multipart_feed(x->mp, data, len) != 0)
        return berth_multipart_status(x->mp);
    return 0;
}

void berth_mp_route_handler(berth_req *req, berth_res *res, void *user)
{
    berth_multipart *mp = req->exch->mp; /* on_body ran at least once (empty body too) */
    if (berth_multipart_end(mp) != 0) {
        berth_res_error(res, berth_multipart_status(mp)); /* cut short, or no part */
        return;
    }
    berth_multipart_bind(mp, NULL); /* the request may be deferred: no callback runs now */
    req->mp_route->handler(req, res, user);
}

berth_multipart *berth_req_multipart(const berth_req *req) { return req->exch->mp; }
