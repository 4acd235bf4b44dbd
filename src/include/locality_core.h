/*
 * locality_core.h -- the one C API between the C shim and the C++ core.
 *
 * Only plain structs, buffers, integers and status codes cross this line
 * (ARCHITECTURE.md, "Layers and the C++/C boundary").  Every function is
 * noexcept on the C++ side, catches everything, and reports failure through
 * a LocalityStatus the shim turns into ereport() after the call returns, so
 * no PostgreSQL longjmp ever crosses a C++ frame and no C++ exception ever
 * reaches C.
 */
#ifndef LOCALITY_CORE_H
#define LOCALITY_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define LOCALITY_NOEXCEPT noexcept
extern "C" {
#else
#define LOCALITY_NOEXCEPT
#endif

/* Sizes of the plain text fields a status carries. */
#define LOCALITY_SQLSTATE_LEN 6     /* five characters and a NUL */
#define LOCALITY_MESSAGE_LEN 512

/*
 * LocalityStatus: result of every core call that can fail.
 *
 * ok is 1 on success.  On failure sqlstate holds the five-character
 * SQLSTATE ("22023"), and message/detail/hint the texts of the error, each
 * NUL-terminated and possibly empty; position, when non-zero, points into
 * the text a parser was given (the shim reports it as an internal query
 * position, so psql draws the caret under the offending token).  The shim raises it with
 * LocalityRaiseStatus() (src/shim/core_status.c).
 */
typedef struct LocalityStatus
{
	int			ok;
	char		sqlstate[LOCALITY_SQLSTATE_LEN];
	char		message[LOCALITY_MESSAGE_LEN];
	char		detail[LOCALITY_MESSAGE_LEN];
	char		hint[LOCALITY_MESSAGE_LEN];
	int			position;		/* 1-based character offset into the parsed
								 * text the error points at, 0 for none */
} LocalityStatus;

/* Longest region name (SPEC.md section 2); fits a NAMEDATALEN identifier. */
#define LOCALITY_REGION_NAME_MAX 63

/*
 * locality_region_name_validate: checks the region-name rule of SPEC.md
 * section 2 (1-63 characters of [a-z0-9-], starting with a letter).
 * Returns 1 when valid; otherwise 0 with status filled with 22023
 * `invalid region name "X"` and the rule as detail.  name may be NULL,
 * which counts as empty.
 */
int			locality_region_name_validate(const char *name,
										  LocalityStatus *status) LOCALITY_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif							/* LOCALITY_CORE_H */
