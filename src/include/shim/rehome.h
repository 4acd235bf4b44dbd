/*
 * rehome.h -- rows of REGIONAL BY ROW tables that move to another region
 * (rehome.c).
 */
#ifndef LOCALITY_SHIM_REHOME_H
#define LOCALITY_SHIM_REHOME_H

#include "postgres.h"

#include "shim/catalog.h"

extern void LocalityAwaitOwnership(const LocalityRegion *old_home);

#endif							/* LOCALITY_SHIM_REHOME_H */
