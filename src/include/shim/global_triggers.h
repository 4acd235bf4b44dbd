/*
 * global_triggers.h -- the internal triggers of GLOBAL tables
 * (src/shim/global_triggers.c).
 */
#ifndef LOCALITY_SHIM_GLOBAL_TRIGGERS_H
#define LOCALITY_SHIM_GLOBAL_TRIGGERS_H

#include "postgres.h"


/*
 * LocalitySetGlobalTriggers creates (global) or drops the internal
 * triggers that stamp writes to relid and record its tombstones.
 */
extern void LocalitySetGlobalTriggers(Oid relid, bool global);

#endif							/* LOCALITY_SHIM_GLOBAL_TRIGGERS_H */
