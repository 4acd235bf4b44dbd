/*
 * extended_client.c -- a tiny libpq client for TAP tests that need the
 * extended query protocol the way drivers use it (psql 15 has no \bind).
 *
 *   extended_client CONNINFO STEP...
 *
 * Each STEP runs in order on one connection:
 *   prepare:NAME:SQL    PQprepare (NAME may be empty: the unnamed statement)
 *   exec:NAME[:V1,V2..] PQexecPrepared with those text parameters
 *   params:SQL[|V1,V2..] PQexecParams (Parse, Bind, Execute of the unnamed statement)
 *   pipeline:SQL;;SQL.. each SQL sent with PQsendQueryParams in pipeline mode,
 *                       one Sync after the last
 * Rows print one a line, columns joined by '|'.  An error prints
 * "ERROR SQLSTATE: message" and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpq-fe.h"

static void
PrintResult(PGconn *conn, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_TUPLES_OK)
	{
		for (int r = 0; r < PQntuples(res); r++)
		{
			for (int c = 0; c < PQnfields(res); c++)
				printf("%s%s", c > 0 ? "|" : "", PQgetisnull(res, r, c) ? "" : PQgetvalue(res, r, c));
			printf("\n");
		}
	}
	else if (st != PGRES_COMMAND_OK && st != PGRES_PIPELINE_SYNC)
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		printf("ERROR %s: %s", state ? state : "?????", PQresultErrorMessage(res));
		fflush(stdout);
		PQclear(res);
		PQfinish(conn);
		exit(1);
	}
	PQclear(res);
}

/* Splits "a,b,c" into values (modifies s); returns how many. */
static int
SplitValues(char *s, const char **values, int max)
{
	int			n = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (char *tok = strtok(s, ","); tok != NULL && n < max; tok = strtok(NULL, ","))
		values[n++] = tok;
	return n;
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;

	if (argc < 2)
	{
		fprintf(stderr, "usage: %s CONNINFO STEP...\n", argv[0]);
		return 2;
	}
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 2;
	}
	for (int i = 2; i < argc; i++)
	{
		char	   *step = strdup(argv[i]);
		const char *values[16];
		int			n;

		if (strncmp(step, "prepare:", 8) == 0)
		{
			char	   *name = step + 8;
			char	   *sql = strchr(name, ':');

			if (sql == NULL)
				return 2;
			*sql++ = '\0';
			PrintResult(conn, PQprepare(conn, name, sql, 0, NULL));
		}
		else if (strncmp(step, "exec:", 5) == 0)
		{
			char	   *name = step + 5;
			char	   *vals = strchr(name, ':');

			if (vals != NULL)
				*vals++ = '\0';
			n = SplitValues(vals, values, 16);
			PrintResult(conn, PQexecPrepared(conn, name, n, values, NULL, NULL, 0));
		}
		else if (strncmp(step, "params:", 7) == 0)
		{
			char	   *sql = step + 7;
			char	   *vals = strchr(sql, '|');

			if (vals != NULL)
				*vals++ = '\0';
			n = SplitValues(vals, values, 16);
			PrintResult(conn, PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0));
		}
		else if (strncmp(step, "pipeline:", 9) == 0)
		{
			char	   *sql = step + 9;
			int			sent = 0;

			if (!PQenterPipelineMode(conn))
				return 2;
			while (sql != NULL && *sql != '\0')
			{
				char	   *next = strstr(sql, ";;");

				if (next != NULL)
				{
					*next = '\0';
					next += 2;
				}
				if (!PQsendQueryParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0))
					return 2;
				sent++;
				sql = next;
			}
			if (!PQpipelineSync(conn))
				return 2;
			while (sent > 0)
			{
				PGresult   *res = PQgetResult(conn);

				if (res == NULL)
				{
					sent--;
					continue;
				}
				PrintResult(conn, res);
			}
			PrintResult(conn, PQgetResult(conn)); /* the Sync */
			if (!PQexitPipelineMode(conn))
				return 2;
		}
		else
		{
			fprintf(stderr, "unknown step: %s\n", step);
			return 2;
		}
		free(step);
	}
	fflush(stdout);
	PQfinish(conn);
	return 0;
}
