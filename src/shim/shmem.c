/*
 * shmem.c -- pg_locality's areas of shared memory (apply workers' state,
 * circuit breakers), each guarded by its own LWLock.
 *
 * Every area is a struct whose first member is `LWLock *lock`; modules
 * register theirs while shared_preload_libraries is processed, and the one
 * pair of hooks here reserves and initialises them all.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "shim.h"

#define MAX_AREAS 8

typedef struct ShmemArea
{
	const char *name;			/* also the name of its LWLock tranche */
	Size		size;
	void	  **location;
} ShmemArea;

static ShmemArea Areas[MAX_AREAS];
static int	NumAreas = 0;

static shmem_request_hook_type PrevShmemRequest = NULL;
static shmem_startup_hook_type PrevShmemStartup = NULL;

static void
ShmemRequest(void)
{
	int			i;

	if (PrevShmemRequest)
		PrevShmemRequest();
	for (i = 0; i < NumAreas; i++)
	{
		RequestAddinShmemSpace(MAXALIGN(Areas[i].size));
		RequestNamedLWLockTranche(Areas[i].name, 1);
	}
}

static void
ShmemStartup(void)
{
	int			i;

	if (PrevShmemStartup)
		PrevShmemStartup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	for (i = 0; i < NumAreas; i++)
	{
		bool		found;
		void	   *area = ShmemInitStruct(Areas[i].name, Areas[i].size, &found);

		if (!found)
		{
			memset(area, 0, Areas[i].size);
			*(LWLock **) area = &(GetNamedLWLockTranche(Areas[i].name))->lock;
		}
		*Areas[i].location = area;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * LocalityShmemArea registers an area of size bytes named name, whose
 * address is stored in *location at server start.  Call from _PG_init
 * while preloading.
 */
void
LocalityShmemArea(const char *name, Size size, void **location)
{
	if (NumAreas == MAX_AREAS)
		elog(ERROR, "pg_locality: too many shared memory areas");
	if (NumAreas == 0)
	{
		PrevShmemRequest = shmem_request_hook;
		shmem_request_hook = ShmemRequest;
		PrevShmemStartup = shmem_startup_hook;
		shmem_startup_hook = ShmemStartup;
	}
	Areas[NumAreas].name = name;
	Areas[NumAreas].size = size;
	Areas[NumAreas].location = location;
	NumAreas++;
}
