# CovetPy developer entry points.  `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NATIVE := $(wildcard native/*.c native/*.h) native/sources.txt
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test test-fastapi-docs fuzz native-test system-deps autobahn-deps conformance-ws lint typecheck check-examples \
        clean bench-features

# The runtime modules setup.py compiles with mypyc; an edit to one rebuilds them in place.
RUNTIME_PY := $(shell sed -n 's/^COMPILED_RUNTIME = \[\([^]]*\)\].*/\1/p' setup.py | tr -d '",' | sed 's|[^ ]*|covet/runtime/&.py|g')

# What serving (and `covet build`) needs: CovetPy itself, editable, with the compiler. Its own build skips mypyc
# (COVET_PURE_BUILD): the runtime is compiled once, in place, below. -qq: pip's and setuptools' chatter hides what
# is happening; these lines say it instead, and errors still show.
SERVE_STAMP := $(VENV)/.installed-serve
$(SERVE_STAMP): pyproject.toml setup.py
	@test -x $(PY) || { echo "make: creating the virtualenv $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "make: installing CovetPy (editable) and what serving needs into $(VENV) (pip; about a minute)"
	@$(PY) -m pip install -qq --upgrade pip 'setuptools>=77'
	@COVET_PURE_BUILD=1 $(PY) -m pip install -qq -e '.[build]'
	@touch $@

# And what the tests need (pyproject's `test` extra, installed from its list: no second build of CovetPy).
$(STAMP): $(SERVE_STAMP)
	@echo "make: installing the test dependencies into $(VENV) (pip; a few minutes the first time)"
	@$(PY) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['test']))" > $(VENV)/test-requirements.txt
	@$(PY) -m pip install -qq -r $(VENV)/test-requirements.txt
	@touch $@

# An edit to a compiled runtime module rebuilds the extensions in place (a stale one would shadow the edit).
RTSTAMP := $(VENV)/.runtime-built
$(RTSTAMP): $(SERVE_STAMP) $(RUNTIME_PY)
	@echo "make: compiling the hot runtime modules with mypyc (2 to 4 minutes, once; an edit recompiles them)"
	@$(PY) setup.py -q build_ext --inplace
	@touch $(RTSTAMP)

# covet/_native comes in two flavours, built in place: -O3 for `make run` and the benchmarks, and instrumented for
# gcov (setup.py's COVET_COVERAGE=1, objects and counters in build/coverage/) for `make test`. Building one removes
# the other's stamp, so the next target that needs the other flavour puts it back (a second or two).
NATIVE_FAST := $(VENV)/.native-fast
NATIVE_COV  := $(VENV)/.native-coverage
$(NATIVE_FAST): $(RTSTAMP) $(NATIVE) setup.py
	@echo "make: building the C core (covet/_native, -O3)"
	@rm -f covet/_native.*.so covet/_h2native.*.so $(NATIVE_COV)
	@COVET_PURE_BUILD=1 $(PY) setup.py -q build_ext --inplace
	@touch $@

$(NATIVE_COV): $(RTSTAMP) $(STAMP) $(NATIVE) setup.py
	rm -f covet/_native.*.so covet/_h2native.*.so $(NATIVE_FAST)
	COVET_COVERAGE=1 COVET_PURE_BUILD=1 $(PY) setup.py -q build_ext --inplace \
	  --build-lib build/coverage/lib --build-temp build/coverage/temp
	touch $@

run: $(NATIVE_FAST)
	@echo "make: serving examples/hello.py (Ctrl-C stops; $(VENV)/bin/covet is the command line)"
	@$(VENV)/bin/covet serve examples.hello:app --host $(HOST) --port $(PORT)

# System packages the tests use (curl, chromium for the /docs page, promtool from Debian's prometheus for
# tests/test_metrics.py, wrk for tests/test_supervisor.py's load, redis-server for tests/test_broadcast.py), the fuzzer needs (clang), the C format check of native/tests/run.sh needs
# (clang-format), the io_uring core's TLS builds against (OpenSSL's headers, libssl-dev), and HTTP/2's native
# framing builds against (nghttp2's, libnghttp2-dev: without them HTTP/2 is framed by h2); installed only when missing.
system-deps:
	@missing=""; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v clang >/dev/null || missing="$$missing clang"; \
	command -v clang-format >/dev/null || missing="$$missing clang-format"; \
	command -v ccache >/dev/null || missing="$$missing ccache"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v h2load >/dev/null || missing="$$missing nghttp2-client"; \
	test -f /usr/include/openssl/ssl.h || missing="$$missing libssl-dev"; \
	test -f /usr/include/nghttp2/nghttp2.h || missing="$$missing libnghttp2-dev"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
	  else echo "make: please install:$$missing (apt-get install$$missing)"; exit 1; fi; \
	fi

# Autobahn|Testsuite's wstest, for tests/test_autobahn.py and conformance-ws: a Python 2.7 virtualenv in
# .cache/autobahn-venv, installed once (tests/autobahn/setup.sh). Where it cannot be (no Python 2.7 here), the
# script says why in one line and `make test` goes on: tests/test_autobahn.py then skips with that line.
autobahn-deps:
	@bash tests/autobahn/setup.sh || [ $$? = 3 ]

# The whole suite, with line coverage of covet/ and native/ (tests/coverage.sh): fails below 90% for either.
test: $(NATIVE_COV) system-deps autobahn-deps
	PY=$(PY) bash tests/coverage.sh

# FastAPI's docs examples ported to CovetPy (tests/test_fastapi_docs.py) on the full matrix: every variant of every app
# on every loop (`make test` runs each app once); then the report by chapter and by cause.
test-fastapi-docs: $(NATIVE_COV)
	COVET_FASTAPI_DOCS=full $(PY) -m pytest -q -n 2 tests/test_fastapi_docs.py; \
	status=$$?; $(PY) -m tests.fastapi_docs report; exit $$status

# Autobahn|Testsuite's fuzzingclient against tests/autobahn/echo.py: every case (9.*, limits and performance,
# included) on every loop, compiled and interpreted server runtime; about two minutes. Fails on a FAILED case, or
# where wstest cannot be installed. Reports in .cache/autobahn/<mode>-<loop>/reports/servers/index.html.
conformance-ws: $(NATIVE_FAST)
	@bash tests/autobahn/setup.sh
	$(PY) tests/autobahn/run.py --full --mode compiled --mode interpreted

typecheck: $(STAMP)
	$(PY) -m mypy

# Ruff's checks (pyproject.toml's [tool.ruff]); it reports, it does not reformat.
lint: $(STAMP)
	$(PY) -m ruff check covet tests perf examples

# The CI compile check: the example app type-checks and compiles.
check-examples: $(STAMP)
	cd examples && ../$(VENV)/bin/covet check hello:app

fuzz: system-deps
	bash native/fuzz/run.sh

# The C core's own tests under AddressSanitizer and UBSan, then the io_uring server's tests against an ASan build.
native-test: system-deps $(STAMP)
	bash native/tests/run.sh
	PY=$(PY) bash native/tests/asan_server.sh

clean:
	rm -rf build .venv covet/*.so covet/runtime/*.so .pytest_cache .mypy_cache .hypothesis .coverage .coverage.* htmlcov

PEERS := perf/.venv-peers/.installed
$(PEERS): perf/requirements-peers.txt
	test -x perf/.venv-peers/bin/python || $(PYTHON) -m venv perf/.venv-peers
	perf/.venv-peers/bin/pip install -q -r perf/requirements-peers.txt
	touch $(PEERS)

# wrk and nginx from apt when missing (root only); Robyn in its own venv (it pins an older uvloop).
bench-deps:
	@missing=""; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v h2load >/dev/null || missing="$$missing nghttp2-client"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
	  else echo "make: please install:$$missing (apt-get install$$missing)"; exit 1; fi; \
	fi
	@test perf/.venv-robyn/.installed -nt perf/apps/requirements-robyn.txt || { \
	  { test -x perf/.venv-robyn/bin/python || $(PYTHON) -m venv perf/.venv-robyn; } && \
	  echo '*' > perf/.venv-robyn/.gitignore && \
	  perf/.venv-robyn/bin/pip install -q -r perf/apps/requirements-robyn.txt && \
	  touch perf/.venv-robyn/.installed; }

PERFSTAMP := $(VENV)/.perf-installed
$(PERFSTAMP): $(STAMP)
	@$(PY) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['perf']))" > $(VENV)/perf-requirements.txt
	$(PY) -m pip install -q -r $(VENV)/perf-requirements.txt
	touch $(PERFSTAMP)

.PHONY: bench bench-quick bench-deps bench-memory bench-micro bench-instructions bench-ws bench-realistic
# The whole comparison: every peer, 10 s rounds; writes docs/performance.md and docs/img/.
bench: $(PERFSTAMP) $(NATIVE_FAST) $(PEERS) bench-deps
	$(PY) perf/bench.py --docs
	$(PY) perf/memory.py --docs
	rm -f perf/results/micro-pure.json perf/results/micro.json perf/results/micro-compiled.json
	COVET_PURE_RUNTIME=1 $(PY) perf/micro.py --fast -q -o perf/results/micro-pure.json
	$(PY) perf/micro.py --fast -q -o perf/results/micro.json
	COVET_MICRO_BUILD=perf/.build-compiled $(PY) perf/micro.py --fast -q -o perf/results/micro-compiled.json
	$(PY) perf/micro.py --report perf/results/micro-pure.json perf/results/micro.json \
	  perf/results/micro-compiled.json --docs
	$(PY) perf/features.py --docs

# WebSockets against uvicorn, Granian, socketify and websockets (perf/ws_bench.py): echo, broadcast to 1,000
# subscribers, idle memory; one server at a time; about 15 minutes. The peers and picows in their own venv.
WS_PEERS := perf/.venv-ws-peers/.installed
$(WS_PEERS): perf/requirements-ws-peers.txt
	test -x perf/.venv-ws-peers/bin/python || $(PYTHON) -m venv perf/.venv-ws-peers
	perf/.venv-ws-peers/bin/pip install -q -r perf/requirements-ws-peers.txt
	touch $(WS_PEERS)

bench-ws: $(NATIVE_FAST) $(WS_PEERS)
	$(PY) perf/ws_bench.py --docs

# A reduced set for development: fewer peers, 3 s rounds, under 3 minutes.
bench-quick: $(PERFSTAMP) $(NATIVE_FAST) $(PEERS) bench-deps
	$(PY) perf/bench.py --quick

bench-memory: $(PERFSTAMP) $(NATIVE_FAST) $(PEERS) bench-deps
	$(PY) perf/memory.py

# What dependencies, middleware and the rest cost (against the CovetPy before them, and FastAPI): about 10 minutes.
bench-features: $(PERFSTAMP) $(NATIVE_FAST) $(PEERS) bench-deps
	$(PY) perf/features.py --docs

bench-micro: $(PERFSTAMP) $(NATIVE_FAST)
	$(PY) perf/micro.py --fast -o perf/results/micro.json

# Issue 19's routes that do work (perf/apps/realistic_app.py), interpreted against compiled, in process (pyperf) and
# end to end (io_uring); writes the "realistic" section of docs/performance.md. About 10 minutes.
bench-realistic: $(PERFSTAMP) $(NATIVE_FAST)
	$(PY) perf/realistic.py --docs

# A change to the request path in instructions per request (callgrind), against the revisions before issues 14 and
# 13: noise-free where timed CPU is not, so a 2% budget can be judged cell by cell. About 15 minutes.
bench-instructions: $(PERFSTAMP) $(NATIVE_FAST)
	@command -v valgrind >/dev/null || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	  apt-get install -y -qq valgrind; else echo "make: please install valgrind"; exit 1; fi; }
	$(PY) perf/instructions.py --repeat 2 --docs
