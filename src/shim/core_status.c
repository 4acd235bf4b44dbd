/*
 * core_status.c -- turns a failed LocalityStatus from the C++ core into a
 * PostgreSQL error.
 *
 * This is the only way core failures reach the user: the core fills plain
 * storage and returns, and the shim raises afterwards, so the ereport()
 * longjmp never crosses a C++ frame (ARCHITECTURE.md, boundary rule 3).
 */
#include "postgres.h"

#include "shim.h"

/*
 * LocalityInitStatus prepares status for a core call.
 */
void
LocalityInitStatus(LocalityStatus *status)
{
	memset(status, 0, sizeof(*status));
}

/*
 * LocalityRaiseStatus raises status as an ERROR when it is not ok, keeping
 * its SQLSTATE, detail and hint (boundary rule 7).  When the core points at
 * a position in parsed_text, report it as an internal query position so
 * psql draws a caret under the offending token.
 */
void
LocalityRaiseStatus(const LocalityStatus *status, const char *parsed_text)
{
	const char *s = status->sqlstate;
	int			code;

	if (status->ok)
		return;

	/* A malformed SQLSTATE from the core must not hide the message. */
	if (strlen(s) == 5)
		code = MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
	else
		code = ERRCODE_INTERNAL_ERROR;

	ereport(ERROR,
			(errcode(code),
			 errmsg_internal("%s", status->message),
			 status->detail[0] ? errdetail_internal("%s", status->detail) : 0,
			 status->hint[0] ? errhint("%s", status->hint) : 0,
			 (status->position > 0 && parsed_text != NULL) ?
			 internalerrposition(status->position) : 0,
			 (status->position > 0 && parsed_text != NULL) ?
			 internalerrquery(parsed_text) : 0));
}
