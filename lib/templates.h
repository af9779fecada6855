/* SPDX-License-Identifier: MIT */
/* The SPARQL query templates of sparql/<name>.rq, loaded once at start-up and looked up by file name
 * without the extension. Parameters are filled with fleet_sparql_bind (sparql_text.h). */
#ifndef FLEET_TEMPLATES_H
#define FLEET_TEMPLATES_H

#include <stddef.h>

#include "err.h"

struct fleet_templates;

/* Loads every DIR/<name>.rq. Each name in required must be present: otherwise FLEET_ERR_NOTFOUND with
 * a message naming the missing file. */
enum fleet_err fleet_templates_load(const char *dir, const char *const *required,
                                    struct fleet_templates **out, char *err, size_t errlen);
void fleet_templates_free(struct fleet_templates *t);
/* The text of template name (borrowed), or NULL. */
const char *fleet_templates_get(const struct fleet_templates *t, const char *name);

#endif
