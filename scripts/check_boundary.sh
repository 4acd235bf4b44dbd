#!/bin/sh
# check_boundary.sh -- fails when a C++ core file includes a PostgreSQL header
# (ARCHITECTURE.md, boundary rule 1).  Run by both builds.
top=${1:-.}
bad=$(grep -rlE '#[[:space:]]*include[[:space:]]*[<"](postgres|postgres_fe|fmgr|funcapi|miscadmin|libpq-fe|pg_config|utils/|access/|catalog/|executor/|nodes/|replication/|storage/|commands/|parser/|optimizer/|tcop/|lib/|port/|common/)' \
      "$top/src/core" 2>/dev/null)
if [ -n "$bad" ]; then
  echo "boundary violation: these core files include PostgreSQL headers:" >&2
  echo "$bad" >&2
  exit 1
fi
exit 0
