/*
 * shippable.h -- what a statement shipped whole to another region may read
 * (src/shim/shippable.c).
 *
 * A forwarded statement runs at the home against the home's objects, so it
 * may only read what every region has alike: managed tables, built-in
 * functions and functions of extensions.  What it reads besides (a table
 * that is not managed, a temporary table, a function not part of an
 * extension) is evaluated here when it does not depend on the rows the
 * statement changes (an uncorrelated subquery, an expression with no
 * column of the target that is not volatile), and shipped as a constant;
 * anything else makes the statement unshippable.
 */
#ifndef LOCALITY_SHIM_SHIPPABLE_H
#define LOCALITY_SHIM_SHIPPABLE_H

#include "postgres.h"

#include "nodes/parsenodes.h"

/*
 * LocalityShippableQuery: query (parameters already replaced by values)
 * with what must be read here evaluated here and replaced by constants;
 * with evaluate false, only checked (nothing runs).  Where something cannot
 * be evaluated here: NULL, or with raise_for (the target's name) an 0A000
 * error naming it.  *nfolded (may be NULL) gets how many expressions were
 * (or would be) evaluated here.  Also turns identity columns' NextValueExpr
 * into DEFAULT, so the home draws the identity value itself (as the
 * statement would there) without privileges on the sequence.  Checking
 * only (evaluate false, nfolded NULL) returns query itself when shippable.
 */
extern Query *LocalityShippableQuery(Query *query, bool evaluate, const char *raise_for,
									 int *nfolded);

#endif							/* LOCALITY_SHIM_SHIPPABLE_H */
