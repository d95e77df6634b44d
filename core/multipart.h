/* What berth itself does with the multipart parser (multipart.c) for a
 * route whose body it parses (berth_route_opts.multipart,
 * multipart_route.c). */
#ifndef BERTH_MULTIPART_H
#define BERTH_MULTIPART_H

#include "berth.h"

/* berth_multipart_new, telling why not in *status when NULL: 415 (not
 * multipart/form-data with a valid boundary, or cfg not filled by
 * berth_multipart_config_init) or 503 (memory). */
berth_multipart *berth_multipart_make(berth_str content_type, const berth_multipart_config *cfg,
                                      void *user, int *status);
/* The request the parser's body is, for berth_multipart_req. */
void berth_multipart_bind(berth_multipart *mp, berth_req *req);
/* The reason of a failure of the parser's own (malformed, cut short, a
 * limit), NULL while none or when a callback stopped it (its status
 * says enough). */
const char *berth_multipart_own_error(const berth_multipart *mp);

/* A multipart route's on_body and handler in place of the application's
 * (router.c installs them): the parser is made, fed and ended there. */
int berth_mp_route_body(berth_req *req, const char *data, size_t len, void *user);
void berth_mp_route_handler(berth_req *req, berth_res *res, void *user);
/* The text of berth's answer for req's error status when berth knows
 * more than the reason (a multipart body's failure), else NULL. req may
 * be NULL. error.c's: its text/plain answers and berth_on_error_json. */
const char *berth_req_error_text(const berth_req *req, int status);

#endif
