/*
 * shim.h -- declarations shared by the C shim's files (src/shim/).
 *
 * The shim is everything PostgreSQL calls and everything that calls
 * PostgreSQL; the logic it delegates lives in the C++ core behind
 * locality_core.h.
 */
#ifndef LOCALITY_SHIM_H
#define LOCALITY_SHIM_H

#include "postgres.h"

#include "locality_core.h"

/* GUC locality.region (postmaster): this server's region, as configured. */
extern char *LocalityRegionSetting;

/* core_status.c */
extern void LocalityRaiseStatus(const LocalityStatus *status, const char *parsed_text);
extern void LocalityInitStatus(LocalityStatus *status);

/* gateway.c */
extern const char *LocalityGatewayRegion(void);
extern void LocalityDefineGatewayGucs(void);

/* shmem.c: an area of shared memory whose first member is `LWLock *lock` */
extern void LocalityShmemArea(const char *name, Size size, void **location);

/* subxact.c: NULL when fn returned, else its error's message */
extern char *LocalityTryInSubxact(void (*fn) (void *arg), void *arg);

/* staleness.c */
extern void LocalityInitStaleness(void);

#endif							/* LOCALITY_SHIM_H */
