# jclip Makefile. `make` builds ./jclip; `make test` builds and runs every test suite.
#
# Sections: 1. build (library, CLI, install)  2. test models  3. tests  4. dist (amalgamation
# and drop-in checks)  5. fuzz  6. bench  7. the real model. `make help` lists the targets.

# =============================================================================================
# 1. Build: the library (one translation unit, jclip.c), the CLI, the installed library
# =============================================================================================
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT)
WARN    := -std=c11 -Wall -Wextra -Wshadow
CPPFLAGS += -D_GNU_SOURCE
LDLIBS  := -lm -lpthread
SRC     := jclip.c jclip.h jclip_base.h $(wildcard kernels/*.c kernels/*.h tokenizer/*.c tokenizer/*.h image/*.c image/*.h model/*.c model/*.h)
CLI_SRC := $(wildcard cli/*.c)
PY      ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
SHARED  ?= $(if $(JCLIP_SHARED),$(JCLIP_SHARED),../shared)
# The smallest model file (tools/make_micro_model.py), for fuzz seeds and drop-in checks.
MICRO_MODEL := build/models/micro.jclip

ifeq ($(SANITIZE),1)
CFLAGS  += -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

.PHONY: all help test test-models model clean

all: jclip

help:
	@echo "build:   make [jclip] | lib | install [PREFIX=...] | BLAS=openblas | SANITIZE=1"
	@echo "test:    make test [SUITES='model cli'] | test-arm64 | alloc-test | tsan-test"
	@echo "dist:    make amalgamate | dist-check | amalg-test | example | install-check"
	@echo "fuzz:    make fuzz | fuzz-replay | fuzz-run T=image [FUZZ_TIME=600]"
	@echo "bench:   make bench-gemm | bench-tokenizer | bench-webp   (./jclip bench for the model)"
	@echo "model:   make model [MODEL=clip-vit-base-patch32|clip-vit-base-patch16|jina-embeddings-v2-base-en]"
	@echo "         (download and convert; default jina-clip-v1)"
	@echo "families: make test-families-full   (CLIP B/32, B/16, jina-v2-base goldens; 600 MB models each)"

build:
	mkdir -p build

# A stamp named after the compiler and flags: switching between a plain and a SANITIZE=1
# build (or another CC) rebuilds the binaries instead of reusing stale ones.
FLAGS_STAMP := build/flags.$(shell echo '$(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS)' | cksum | cut -d' ' -f1)
$(FLAGS_STAMP): | build
	@rm -f build/flags.*
	@touch $@

jclip: $(CLI_SRC) $(wildcard cli/*.h) $(SRC) $(FLAGS_STAMP)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_SRC) jclip.c $(LDLIBS)

clean:
	rm -rf build jclip

# ---- Install: static + shared library, header, CLI (when cli/main.c exists), pkg-config ----
PREFIX      ?= /usr/local
DESTDIR     ?=
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
BINDIR      ?= $(PREFIX)/bin
JCLIP_VER   := $(shell sed -n 's/^\#define JCLIP_VERSION "\(.*\)"/\1/p' jclip.h)
JCLIP_SOMAJ := $(firstword $(subst ., ,$(JCLIP_VER)))
.PHONY: install lib install-check

build/lib/jclip.o: $(SRC) | build
	@mkdir -p build/lib
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=default -c -o $@ jclip.c

build/lib/libjclip.a: build/lib/jclip.o
	rm -f $@ && ar rcs $@ $<

build/lib/libjclip.so.$(JCLIP_VER): build/lib/jclip.o
	$(CC) -shared -Wl,-soname,libjclip.so.$(JCLIP_SOMAJ) -o $@ $< $(LDLIBS)

build/lib/jclip.pc: jclip.pc.in jclip.h
	@mkdir -p build/lib
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(JCLIP_VER)|' $< > $@

lib: build/lib/libjclip.a build/lib/libjclip.so.$(JCLIP_VER)

install: lib build/lib/jclip.pc
	@if [ -f cli/main.c ]; then $(MAKE) --no-print-directory jclip; fi
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR)
	install -m 644 build/lib/libjclip.a $(DESTDIR)$(LIBDIR)/
	install -m 755 build/lib/libjclip.so.$(JCLIP_VER) $(DESTDIR)$(LIBDIR)/
	ln -sf libjclip.so.$(JCLIP_VER) $(DESTDIR)$(LIBDIR)/libjclip.so.$(JCLIP_SOMAJ)
	ln -sf libjclip.so.$(JCLIP_SOMAJ) $(DESTDIR)$(LIBDIR)/libjclip.so
	install -m 644 jclip.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 build/lib/jclip.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	@if [ -f jclip ]; then install -m 755 jclip $(DESTDIR)$(BINDIR)/; else echo "install: no CLI (cli/main.c absent)"; fi

# Installs into build/install-check and builds the example against it through pkg-config,
# linked statically and dynamically.
install-check: $(MICRO_MODEL)
	rm -rf build/install-check build/lib/jclip.pc
	$(MAKE) --no-print-directory install PREFIX=$(CURDIR)/build/install-check
	PKG_CONFIG_PATH=build/install-check/lib/pkgconfig; export PKG_CONFIG_PATH; \
	  $(CC) $(DIST_WARN) -o build/install-check/embed_shared examples/embed_text.c $$(pkg-config --cflags --libs jclip) && \
	  $(CC) $(DIST_WARN) -o build/install-check/embed_static examples/embed_text.c $$(pkg-config --cflags jclip) \
	    build/install-check/lib/libjclip.a $$(pkg-config --libs-only-l --static jclip | sed 's/-ljclip//')
	LD_LIBRARY_PATH=build/install-check/lib build/install-check/embed_shared $(MICRO_MODEL) "a cat" "a dog"
	build/install-check/embed_static $(MICRO_MODEL) "a cat" "a dog"
	rm -f build/lib/jclip.pc

# --- BLAS=openblas (wt-perf2) ------------------------------------------------------------------
# `make BLAS=openblas` builds ./jclip and the test runner with every GEMM of more than 8 rows
# handed to OpenBLAS cblas_sgemm (Debian libopenblas-dev), for comparison only: it is off by
# default and the default library never depends on it. Unset OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE when running it (see bench-gemm). A stamp rebuilds on switching.
BLAS_STAMP := build/blas.$(if $(BLAS),$(BLAS),none)
$(BLAS_STAMP): | build
	@rm -f build/blas.*
	@touch $@
jclip build/test_runner: $(BLAS_STAMP)
ifeq ($(BLAS),openblas)
CPPFLAGS += -DJCLIP_BLAS_OPENBLAS -I$(OPENBLAS_INC)
LDLIBS   += -lopenblas
endif

# =============================================================================================
# 2. Test models: deterministic random checkpoints in the real Hugging Face layout, made by the
# shared make_checkpoint.py (cached under build/ckpt) and converted like the real one; the
# one-tower files come from the tiny checkpoint without its vision or text weights.
# =============================================================================================
# The other families (ARCHITECTURE-CLIP.md): OpenAI CLIP and jina-embeddings-v2 from their own
# generators. The tiny presets are test models; the full-size ones (600 MB each) only run with
# `make test-families-full`, outside `make test`.
FAMILY_TINY := build/models/tiny-b32-s1.jclip build/models/jina-v2-tiny-s1.jclip
FAMILY_FULL := build/models/b32-s1.jclip build/models/b16-s1.jclip build/models/jina-v2-base-s1.jclip
DTYPE_MODELS := $(foreach c,tiny-s1 tiny-s1-real,build/models/$(c)-bf16.jclip build/models/$(c)-q8.jclip) build/models/tiny-s1-real.jclip
# The other families in bf16 / q8 (plain and tools/realistic_family.py checkpoints), and f32 files
# with the q8 smoothing folded in (--smooth on: must match the plain f32 file).
FAMILY_DTYPE_MODELS := $(foreach c,tiny-b32-s1 jina-v2-tiny-s1 tiny-b32-s1-real jina-v2-tiny-s1-real,build/models/$(c)-bf16.jclip build/models/$(c)-q8.jclip) \
               build/models/tiny-b32-s1-real.jclip build/models/jina-v2-tiny-s1-real.jclip \
               build/models/tiny-b32-s1-smooth.jclip build/models/tiny-s1-smooth.jclip \
               build/models/micro-clip-mixed.jclip build/models/micro-clip-wide.jclip
TEST_MODELS := build/models/tiny-s1.jclip build/models/full-s1.jclip build/models/tiny-s1-text.jclip build/models/tiny-s1-vision.jclip \
               $(DTYPE_MODELS) $(FAMILY_TINY) $(FAMILY_DTYPE_MODELS)

build/ckpt/%/model.safetensors:
	@test -f $(SHARED)/tools/make_checkpoint.py || { echo "error: $(SHARED)/tools/make_checkpoint.py not found (set JCLIP_SHARED to the shared/ directory)"; exit 1; }
	$(PY) $(SHARED)/tools/make_checkpoint.py --preset $(firstword $(subst -s, ,$*)) --seed $(lastword $(subst -s, ,$*)) --out build/ckpt/$* > /dev/null

# <preset>-s<seed>-real: the same with make_checkpoint.py --realistic (heavy-tailed weights,
# outlier LayerNorm channels), for the reduced-precision accuracy checks.
build/ckpt/%-real/model.safetensors:
	@test -f $(SHARED)/tools/make_checkpoint.py || { echo "error: $(SHARED)/tools/make_checkpoint.py not found (set JCLIP_SHARED to the shared/ directory)"; exit 1; }
	$(PY) $(SHARED)/tools/make_checkpoint.py --realistic --preset $(firstword $(subst -s, ,$*)) --seed $(lastword $(subst -s, ,$*)) --out build/ckpt/$*-real --quiet > /dev/null

build/ckpt/tiny-b32-s%/model.safetensors:
	$(PY) $(SHARED)/tools/make_clip_checkpoint.py --preset tiny-b32 --seed $* --out build/ckpt/tiny-b32-s$* --quiet
build/ckpt/b32-s%/model.safetensors:
	$(PY) $(SHARED)/tools/make_clip_checkpoint.py --preset b32 --seed $* --out build/ckpt/b32-s$* --quiet
build/ckpt/b16-s%/model.safetensors:
	$(PY) $(SHARED)/tools/make_clip_checkpoint.py --preset b16 --seed $* --out build/ckpt/b16-s$* --quiet
build/ckpt/jina-v2-tiny-s%/model.safetensors:
	$(PY) $(SHARED)/tools/make_jina_v2_checkpoint.py --preset tiny --seed $* --out build/ckpt/jina-v2-tiny-s$* --quiet
build/ckpt/jina-v2-base-s%/model.safetensors:
	$(PY) $(SHARED)/tools/make_jina_v2_checkpoint.py --preset base --seed $* --out build/ckpt/jina-v2-base-s$* --quiet

# The families' generators have no --realistic: tools/realistic_family.py applies its rule.
# Explicit targets (seed 1): as patterns, the generator rules above would match them first.
FAMILY_REAL := tiny-b32-s1 jina-v2-tiny-s1
$(FAMILY_REAL:%=build/ckpt/%-real/model.safetensors): build/ckpt/%-real/model.safetensors: build/ckpt/%/model.safetensors tools/realistic_family.py
	$(PY) tools/realistic_family.py build/ckpt/$* build/ckpt/$*-real --seed 1 2> /dev/null

build/ckpt/%-text/model.safetensors: build/ckpt/%/model.safetensors tools/drop_tower.py
	$(PY) tools/drop_tower.py build/ckpt/$* build/ckpt/$*-text --drop vision

build/ckpt/%-vision/model.safetensors: build/ckpt/%/model.safetensors tools/drop_tower.py
	$(PY) tools/drop_tower.py build/ckpt/$* build/ckpt/$*-vision --drop text

build/models/%.jclip: build/ckpt/%/model.safetensors convert/convert.py
	@mkdir -p build/models
	$(PY) convert/convert.py build/ckpt/$* -o $@ -q

# The same checkpoint with bf16 / q8 linear weights (convert.py --dtype).
build/models/%-bf16.jclip: build/ckpt/%/model.safetensors convert/convert.py
	@mkdir -p build/models
	$(PY) convert/convert.py build/ckpt/$* -o $@ -q --dtype bf16

build/models/%-q8.jclip: build/ckpt/%/model.safetensors convert/convert.py
	@mkdir -p build/models
	$(PY) convert/convert.py build/ckpt/$* -o $@ -q --dtype q8

build/models/%-smooth.jclip: build/ckpt/%/model.safetensors convert/convert.py
	@mkdir -p build/models
	$(PY) convert/convert.py build/ckpt/$* -o $@ -q --smooth on

.PRECIOUS: build/ckpt/%/model.safetensors build/ckpt/%-text/model.safetensors build/ckpt/%-vision/model.safetensors \
           build/ckpt/%-real/model.safetensors build/ckpt/tiny-b32-s%/model.safetensors build/ckpt/b32-s%/model.safetensors \
           build/ckpt/b16-s%/model.safetensors build/ckpt/jina-v2-tiny-s%/model.safetensors build/ckpt/jina-v2-base-s%/model.safetensors

test-models: $(TEST_MODELS)

.PHONY: family-models test-families-full
family-models: $(FAMILY_FULL)

# The full-size CLIP B/32, B/16 and jina-embeddings-v2-base goldens (minutes; not in CI).
test-families-full: build/test_runner $(FAMILY_TINY) $(FAMILY_FULL)
	JCLIP_SHARED=$(SHARED) JCLIP_TEST_FULL_FAMILIES=1 ./build/test_runner families

# =============================================================================================
# 3. Tests: one runner (test/run.c) whose last line is "N passed, N failed"; SUITES picks some
# =============================================================================================
build/test_runner: test/run.c $(wildcard test/*.c test/*.h test/fuzz/*.c test/fuzz/*.h) cli/json.h cli/http.c cli/http.h $(SRC) $(FLAGS_STAMP) | build
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ test/run.c $(LDLIBS)

# The hostile suite reads the micro model (section 5) and the fuzz targets.
test: build/test_runner jclip $(TEST_MODELS) $(MICRO_MODEL)
	JCLIP_SHARED=$(SHARED) ./build/test_runner $(SUITES)

# test-arm64: the NEON tables (model kernels, WebP pixel stages), cross-compiled and run under qemu-user (Debian
# gcc-aarch64-linux-gnu + qemu-user); the tiny model is enough there. The bf16/q8 kernels run
# twice: -cpu max (BFDOT + SDOT) and -cpu cortex-a53 (neither: the widening fallbacks).
.PHONY: test-arm64
build/test_runner_arm64: test/run.c $(wildcard test/*.c test/*.h) cli/json.h $(SRC) | build
	aarch64-linux-gnu-gcc $(WARN) $(CPPFLAGS) $(CFLAGS) -static -o $@ test/run.c $(LDLIBS)
test-arm64: build/test_runner_arm64 build/models/tiny-s1.jclip $(FAMILY_TINY)
	JCLIP_SHARED=$(SHARED) JCLIP_SKIP_FULL=1 qemu-aarch64 ./build/test_runner_arm64 kernels model families webp
	qemu-aarch64 -cpu max ./build/test_runner_arm64 qkernels
	qemu-aarch64 -cpu cortex-a53 ./build/test_runner_arm64 qkernels

# ---- Hostile-input tests beyond the runner ------------------------------------------------
# alloc-test: fail the Nth allocation for every N (load, ctx, embeddings), under ASan + LSan.
# tsan-test: the runner's hostile suite (4 threads sharing a model) under ThreadSanitizer.
.PHONY: alloc-test tsan-test
build/alloc_fail: test/alloc_fail.c test/test.h $(SRC) | build
	$(CC) $(WARN) $(CPPFLAGS) -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -o $@ test/alloc_fail.c $(LDLIBS)

alloc-test: build/alloc_fail $(MICRO_MODEL) build/models/tiny-s1.jclip
	ASAN_OPTIONS=detect_leaks=1 JCLIP_SHARED=$(SHARED) build/alloc_fail

build/test_runner_tsan: test/run.c $(wildcard test/*.c test/*.h test/fuzz/*.c test/fuzz/*.h) cli/json.h cli/http.c cli/http.h $(SRC) | build
	$(CC) $(WARN) $(CPPFLAGS) -g -O1 -fsanitize=thread -o $@ test/run.c $(LDLIBS)

# build/jclip_tsan: the CLI under TSan; the server suite runs it with concurrent clients.
build/jclip_tsan: $(CLI_SRC) cli/json.h cli/http.h $(SRC) | build
	$(CC) $(WARN) $(CPPFLAGS) -g -O1 -fsanitize=thread -o $@ $(CLI_SRC) jclip.c $(LDLIBS)

tsan-test: build/test_runner_tsan build/jclip_tsan jclip $(MICRO_MODEL) build/models/tiny-s1.jclip
	TSAN_OPTIONS=halt_on_error=1 JCLIP_SHARED=$(SHARED) build/test_runner_tsan hostile
	TSAN_OPTIONS=halt_on_error=1 JCLIP_SHARED=$(SHARED) JCLIP_SERVE_BIN=build/jclip_tsan build/test_runner_tsan server

# =============================================================================================
# 4. Dist: the drop-in pair dist/jclip.c + dist/jclip.h and everything CI checks about it
# =============================================================================================
DIST_WARN  := -std=c11 -Wall -Wextra -Wshadow -Werror
AARCH64_CC ?= aarch64-linux-gnu-gcc
.PHONY: amalgamate dist-check example

dist/jclip.c dist/jclip.h: tools/amalgamate.py $(SRC)
	$(PY) tools/amalgamate.py --out dist

amalgamate: dist/jclip.c dist/jclip.h

# The example program, built from the dist pair alone (copied beside it, as a user would).
build/dist/embed_text: examples/embed_text.c dist/jclip.c dist/jclip.h
	@mkdir -p build/dist/example
	cp dist/jclip.c dist/jclip.h examples/embed_text.c build/dist/example/
	cd build/dist/example && $(CC) $(DIST_WARN) -O2 -o ../embed_text embed_text.c jclip.c -lm -lpthread

example: build/dist/embed_text $(MICRO_MODEL)
	build/dist/embed_text $(MICRO_MODEL) "a photo of a cat" "a dog on a red sofa"

# Everything CI checks about drop-in use; each step names itself.
dist-check: amalgamate $(MICRO_MODEL)
	@mkdir -p build/dist
	@echo "== dist: gcc and clang, $(DIST_WARN), the pair alone"
	cd dist && gcc $(DIST_WARN) -O2 -c jclip.c -o ../build/dist/jclip-gcc.o
	cd dist && clang $(DIST_WARN) -O2 -c jclip.c -o ../build/dist/jclip-clang.o
	@echo "== dist: C++ include (g++ and clang++) and link against the C object"
	g++ -std=c++11 -Wall -Wextra -Wshadow -Werror -Idist -o build/dist/cxx_include test/cxx_include.cc build/dist/jclip-gcc.o -lm -lpthread
	clang++ -std=c++11 -Wall -Wextra -Wshadow -Werror -Idist -c -o build/dist/cxx_include-clang.o test/cxx_include.cc
	build/dist/cxx_include
	@echo "== dist: jclip.c in one translation unit after <png.h>, <jpeglib.h> and <zlib.h> (no name clashes)"
	printf '#include <stdio.h>\n#include <png.h>\n#include <jpeglib.h>\n#include <zlib.h>\n#include "jclip.c"\n' > build/dist/with_libs.c
	gcc $(DIST_WARN) -fsyntax-only -Idist build/dist/with_libs.c
	clang $(DIST_WARN) -fsyntax-only -Idist build/dist/with_libs.c
	@echo "== dist: only jclip_* symbols exported"
	@bad=$$(nm -g --defined-only build/dist/jclip-gcc.o build/dist/jclip-clang.o | awk 'NF==3 {print $$3}' | grep -v '^jclip_' || true); \
	  if [ -n "$$bad" ]; then echo "non-jclip_ exported symbols: $$bad"; exit 1; fi; \
	  nm -g --defined-only build/dist/jclip-gcc.o | awk 'NF==3 {print "   " $$3}'
	@echo "== dist: -DJCLIP_NO_THREADS (no pthread) build of the example"
	gcc $(DIST_WARN) -O2 -DJCLIP_NO_THREADS -Idist -o build/dist/embed_text_nothreads examples/embed_text.c dist/jclip.c -lm
	@! nm build/dist/embed_text_nothreads | grep -q pthread_create || { echo "JCLIP_NO_THREADS build references pthread_create"; exit 1; }
	build/dist/embed_text_nothreads $(MICRO_MODEL) "a photo of a cat" "a dog"
	@echo "== dist: example program"
	$(MAKE) --no-print-directory example
	@echo "== dist: aarch64 cross-compile"
	@if command -v $(AARCH64_CC) >/dev/null; then \
	  $(AARCH64_CC) $(DIST_WARN) -O2 -c dist/jclip.c -o build/dist/jclip-aarch64.o && echo "   build/dist/jclip-aarch64.o: aarch64 object"; \
	  $(AARCH64_CC) $(DIST_WARN) -O2 -DJCLIP_NO_THREADS -c dist/jclip.c -o build/dist/jclip-aarch64-nothreads.o; \
	else echo "SKIP: $(AARCH64_CC) not installed (apt-get install gcc-aarch64-linux-gnu)"; fi
	@echo "== dist: make install into build/install-check, example built with pkg-config (shared + static)"
	$(MAKE) --no-print-directory install-check
	@echo "== dist: the test suite against the amalgamated jclip.c"
	$(MAKE) --no-print-directory amalg-test
	@echo "dist-check: all passed"

# The runner compiled with dist/jclip.c standing where ../jclip.c is (no other library source
# is reachable from build/amalg, so every test exercises the amalgamation).
build/amalg/test_runner: dist/jclip.c dist/jclip.h test/run.c $(wildcard test/*.c test/*.h) cli/json.h cli/http.c cli/http.h
	rm -rf build/amalg && mkdir -p build/amalg/test build/amalg/cli build/amalg/test/fuzz
	cp dist/jclip.c dist/jclip.h build/amalg/
	cp test/*.c test/*.h build/amalg/test/
	cp test/fuzz/*.c test/fuzz/*.h build/amalg/test/fuzz/
	cp cli/json.h cli/http.c cli/http.h build/amalg/cli/
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ build/amalg/test/run.c $(LDLIBS)

.PHONY: amalg-test
amalg-test: build/amalg/test_runner $(TEST_MODELS) $(MICRO_MODEL)
	JCLIP_SHARED=$(SHARED) build/amalg/test_runner $(SUITES)

# =============================================================================================
# 5. Fuzz: libFuzzer targets (clang) and plain replay binaries for the committed crashers
# =============================================================================================
FUZZ_CC      ?= clang
FUZZ_TARGETS := tokenizer json model image inflate http bpe
FUZZ_FLAGS   := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_DEPS    := test/fuzz/fuzz.h cli/json.h cli/http.c cli/http.h $(SRC)
FUZZ_TIME    ?= 600

.PHONY: fuzz fuzz-replay fuzz-run fuzz-seeds

# Micro CLIP text models with the same weights in float32 and mixed bf16 / q8 (the dtype suite).
build/models/micro-clip-mixed.jclip: tools/make_micro_model.py convert/convert.py
	@mkdir -p build/models
	$(PY) tools/make_micro_model.py --family clip --text-only --dtype mixed -o $@
build/models/micro-clip-wide.jclip: tools/make_micro_model.py convert/convert.py
	@mkdir -p build/models
	$(PY) tools/make_micro_model.py --family clip --text-only --dtype f32 --wide -o $@

$(MICRO_MODEL): tools/make_micro_model.py convert/convert.py
	@mkdir -p build/models
	$(PY) tools/make_micro_model.py -o $@

# libFuzzer binaries build/fuzz/fz_<t> and plain replay binaries build/fuzz/replay_<t> (the
# latter need no libFuzzer: `build/fuzz/replay_<t> DIR_OR_FILE...`).
build/fuzz/fz_%: test/fuzz/fz_%.c $(FUZZ_DEPS)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(WARN) $(CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(LDLIBS)

build/fuzz/replay_%: test/fuzz/fz_%.c test/fuzz/replay.c $(FUZZ_DEPS)
	@mkdir -p build/fuzz
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ $< test/fuzz/replay.c $(LDLIBS)

fuzz-seeds: $(MICRO_MODEL) tools/make_micro_model.py
	$(PY) tools/fuzz_seeds.py $(SHARED) $(MICRO_MODEL) build/fuzz/seeds

fuzz: $(FUZZ_TARGETS:%=build/fuzz/fz_%) $(FUZZ_TARGETS:%=build/fuzz/replay_%) fuzz-seeds

# Replays every committed crasher (and the corpus when present) without libFuzzer.
fuzz-replay: $(FUZZ_TARGETS:%=build/fuzz/replay_%) $(MICRO_MODEL)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  d="test/crashers/$$t"; [ -d build/fuzz/corpus/$$t ] && d="$$d build/fuzz/corpus/$$t"; \
	  mkdir -p test/crashers/$$t; echo "== $$t"; JCLIP_SHARED=$(SHARED) build/fuzz/replay_$$t $$d; done

# One target for FUZZ_TIME seconds at the lowest priority: make fuzz-run T=tokenizer
fuzz-run: build/fuzz/fz_$(T) fuzz-seeds
	@mkdir -p build/fuzz/corpus/$(T) build/fuzz/artifacts/$(T) test/crashers/$(T)
	bash -c 'time JCLIP_SHARED=$(SHARED) nice -n 19 build/fuzz/fz_$(T) -max_total_time=$(FUZZ_TIME) -timeout=10 \
	  -rss_limit_mb=2048 -artifact_prefix=build/fuzz/artifacts/$(T)/ -print_final_stats=1 \
	  build/fuzz/corpus/$(T) build/fuzz/seeds/$(T) test/crashers/$(T)'
	@echo "fuzz-run $(T): corpus $$(ls build/fuzz/corpus/$(T) | wc -l) files, $$(du -sk build/fuzz/corpus/$(T) | cut -f1) KB"

# =============================================================================================
# 6. Bench: kernel benchmarks (model benchmarks: ./jclip bench; peers: bench/peers/run.sh)
# =============================================================================================
# bench-gemm: jclip GEMM vs OpenBLAS sgemm (Debian libopenblas-dev, linked into this program
# only) with FMA/bandwidth probes. OpenBLAS picks its AVX-512 kernels only with
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset, hence the env -u in the run line.
OPENBLAS_INC ?= /usr/include/x86_64-linux-gnu/openblas-pthread
.PHONY: bench-gemm
build/bench_gemm: bench/bench_gemm.c $(SRC) | build
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(OPENBLAS_INC) -o $@ bench/bench_gemm.c -lopenblas $(LDLIBS)
bench-gemm: build/bench_gemm
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ./build/bench_gemm
# bench-tokenizer: WordPiece and CLIP BPE throughput (MB/s, one thread, best of N) on the golden
# corpus; no dependency beyond the shared data.
.PHONY: bench-tokenizer
build/bench_tokenizer: bench/bench_tokenizer.c test/bpe_blobs.h cli/json.h $(SRC) $(FLAGS_STAMP) | build
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ bench/bench_tokenizer.c $(LDLIBS)
bench-tokenizer: build/bench_tokenizer
	JCLIP_SHARED=$(SHARED) ./build/bench_tokenizer
# bench-webp: jclip's WebP decoder vs libwebp 1.2.4 (Debian libwebp-dev, linked into this
# program only), single thread, lossy and lossless, best of N rounds (bench/bench_webp.c).
.PHONY: bench-webp
build/bench_webp: bench/bench_webp.c $(SRC) | build
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ bench/bench_webp.c -lwebp $(LDLIBS)
bench-webp: build/bench_webp
	JCLIP_SHARED=$(SHARED) ./build/bench_webp

# =============================================================================================
# 7. The real model
# =============================================================================================
# The real model: download it from Hugging Face and convert it. MODEL picks the family:
# jina-clip-v1 (default), clip-vit-base-patch32, clip-vit-base-patch16, jina-embeddings-v2-base-en.
MODEL    ?= jina-clip-v1
HF_REPO_jina-clip-v1               := jinaai/jina-clip-v1
HF_REPO_clip-vit-base-patch32      := openai/clip-vit-base-patch32
HF_REPO_clip-vit-base-patch16      := openai/clip-vit-base-patch16
HF_REPO_jina-embeddings-v2-base-en := jinaai/jina-embeddings-v2-base-en
HF_REPO  ?= $(HF_REPO_$(MODEL))
HF_URL   ?= https://huggingface.co/$(HF_REPO)/resolve/main
HF_DIR   := models/hf/$(MODEL)
HF_NEED  := config.json model.safetensors
HF_MAYBE := preprocessor_config.json tokenizer.json tokenizer_config.json special_tokens_map.json vocab.txt vocab.json merges.txt

model: models/$(MODEL).jclip

models/$(MODEL).jclip: convert/convert.py
	@test -n "$(HF_REPO)" || { echo "error: unknown MODEL=$(MODEL) (jina-clip-v1, clip-vit-base-patch32, clip-vit-base-patch16, jina-embeddings-v2-base-en; or set HF_REPO)"; exit 1; }
	@command -v curl >/dev/null 2>&1 || { echo "error: make model needs curl"; exit 1; }
	@mkdir -p $(HF_DIR)
	@for f in $(HF_NEED); do \
	  test -s $(HF_DIR)/$$f || { echo "downloading $(HF_REPO)/$$f"; \
	  curl -fL --retry 2 --connect-timeout 20 -o $(HF_DIR)/$$f.part $(HF_URL)/$$f && mv $(HF_DIR)/$$f.part $(HF_DIR)/$$f; } || { \
	  rm -f $(HF_DIR)/$$f.part; \
	  echo "error: cannot download $(HF_REPO)/$$f (no network?). Download the repository elsewhere"; \
	  echo "       and convert it: $(PY) convert/convert.py DIR -o models/$(MODEL).jclip"; exit 1; }; done
	@for f in $(HF_MAYBE); do test -s $(HF_DIR)/$$f || \
	  curl -fsL --retry 2 --connect-timeout 20 -o $(HF_DIR)/$$f $(HF_URL)/$$f || rm -f $(HF_DIR)/$$f; done
	$(PY) convert/convert.py $(HF_DIR) -o $@
