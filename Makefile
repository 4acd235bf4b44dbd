# pg_locality -- PGXS build of pg_locality.so (C shim + C++ core), tests, demo.
#
#   make demo    install what is missing, build, install, run a 3-region walkthrough
#   make test    install what is missing, build, install, then every test:
#                core unit tests (CMake/ctest), pg_regress, TAP (test/t)
#
# Servers never run as root: when make runs as root, the test and demo steps
# run as the postgres OS user in a scratch directory (scripts/as_postgres.sh).

EXTENSION = pg_locality
MODULE_big = pg_locality
# The install script is assembled from src/sql/<version>/*.sql, one file per
# concern, in name order.
EXTVERSION = 0.1
DATA_built = pg_locality--$(EXTVERSION).sql
PGFILEDESC = "pg_locality - multi-region table localities for PostgreSQL"

SHIM_SRCS = $(sort $(wildcard src/shim/*.c))
CORE_SRCS = $(sort $(wildcard src/core/*.cpp))
OBJS = $(SHIM_SRCS:.c=.o) $(CORE_SRCS:.cpp=.o)

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -Isrc/include -I$(shell $(PG_CONFIG) --includedir)
SHLIB_LINK = -lstdc++ -L$(shell $(PG_CONFIG) --libdir) -lpq

# pg_regress: every sql/*.sql, in name order (no hand-kept list).
REGRESS = $(sort $(notdir $(basename $(wildcard sql/*.sql))))
# TAP: every test/t/*.pl, with the cluster helper of test/perl on @INC.
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

# No LLVM bitcode: JIT inlining of C++ objects buys nothing here.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifeq ($(PGXS),)
# Before scripts/setup.sh has run there is no pg_config: only set-up targets work.
.DEFAULT_GOAL := setup-hint
setup-hint:
	@echo "PostgreSQL's development files are missing: run 'make test' or 'make demo' (as root), or scripts/setup.sh"
else
include $(PGXS)
endif

# Set after PGXS, which assigns PROVE_FLAGS itself.
PROVE_FLAGS = -I test/perl $(if $(VERBOSE),-v)

# The core is C++17 and is compiled without any PostgreSQL include path, so
# it cannot include a server header even by accident (boundary rule 1).
# -MMD -MP: automatic header dependencies for both languages.
CORE_CXXFLAGS = -std=c++17 -O2 -g -fPIC -fvisibility=hidden \
	-Wall -Wextra -Wpedantic -Werror=return-type \
	-Isrc/include -Isrc/core/include
override CFLAGS += -MMD -MP

pg_locality--$(EXTVERSION).sql: $(sort $(wildcard src/sql/$(EXTVERSION)/*.sql))
	cat $^ > $@

src/core/%.o: src/core/%.cpp
	$(CXX) $(CORE_CXXFLAGS) -MMD -MP -c -o $@ $<

-include $(OBJS:.o=.d)

all: check-boundary

.PHONY: check-boundary setup unit regress tap test test-as-postgres demo clean-local

check-boundary:
	@scripts/check_boundary.sh .

# Installs what a fresh machine lacks (apt-get, as root).
setup:
	@scripts/setup.sh

# Core unit tests: the CMake build of the core alone, no pg_config involved.
unit:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j2
	ctest --test-dir build --output-on-failure

# pg_regress on a temporary instance configured as SPEC.md section 1 says.
regress:
	@mkdir -p tmp_check
	scripts/server_conf.sh regress-test > tmp_check/regress.conf
	$(pg_regress_installcheck) --temp-instance=tmp_check/regress \
		--temp-config=tmp_check/regress.conf $(REGRESS)

# Multi-region TAP suites (test/t), through PGXS's prove_installcheck.
tap:
	$(prove_installcheck)

# What runs as the postgres user (in place when not root).
test-as-postgres: regress tap

test: setup
	$(MAKE) all
	$(MAKE) install
	$(MAKE) unit
	scripts/as_postgres.sh $(MAKE) test-as-postgres

demo: setup
	$(MAKE) all
	$(MAKE) install
	scripts/as_postgres.sh scripts/demo.sh

clean: clean-local
clean-local:
	rm -rf build tmp_check pg_locality--*.sql results regression.diffs regression.out log
	rm -f src/shim/*.d src/core/*.d
