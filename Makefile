# jclip Makefile. `make` builds ./jclip; `make test` builds and runs the test runner.
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT)
WARN    := -std=c11 -Wall -Wextra -Wshadow
CPPFLAGS += -D_GNU_SOURCE
LDLIBS  := -lm -lpthread
SRC     := jclip.c jclip.h jclip_impl.h $(wildcard kernels/*.c kernels/*.h tokenizer/*.c tokenizer/*.h image/*.c image/*.h)

ifeq ($(SANITIZE),1)
CFLAGS  += -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

.PHONY: all test test-models model clean

all: jclip

build:
	mkdir -p build

# A stamp named after the compiler and flags: switching between a plain and a SANITIZE=1
# build (or another CC) rebuilds the binaries instead of reusing stale ones.
FLAGS_STAMP := build/flags.$(shell echo '$(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS)' | cksum | cut -d' ' -f1)
$(FLAGS_STAMP): | build
	@rm -f build/flags.*
	@touch $@

jclip: cli/main.c cli/bench.c cli/json.h $(SRC) $(FLAGS_STAMP)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ cli/main.c cli/bench.c jclip.c $(LDLIBS)

build/test_runner: test/run.c $(wildcard test/*.c test/*.h) cli/json.h $(SRC) $(FLAGS_STAMP) | build
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ test/run.c $(LDLIBS)

# Test models: deterministic random checkpoints in the real Hugging Face layout, regenerated
# with the shared make_checkpoint.py (cached under build/ckpt) and converted like the real one.
PY      ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
SHARED  ?= $(if $(JCLIP_SHARED),$(JCLIP_SHARED),../shared)
TEST_MODELS := build/models/tiny-s1.jclip build/models/full-s1.jclip

build/ckpt/%/model.safetensors:
	@test -f $(SHARED)/tools/make_checkpoint.py || { echo "error: $(SHARED)/tools/make_checkpoint.py not found (set JCLIP_SHARED to the shared/ directory)"; exit 1; }
	$(PY) $(SHARED)/tools/make_checkpoint.py --preset $(firstword $(subst -s, ,$*)) --seed $(lastword $(subst -s, ,$*)) --out build/ckpt/$* > /dev/null

build/models/%.jclip: build/ckpt/%/model.safetensors convert/convert.py
	@mkdir -p build/models
	$(PY) convert/convert.py build/ckpt/$* -o $@ -q

.PRECIOUS: build/ckpt/%/model.safetensors

test-models: $(TEST_MODELS)

test: build/test_runner jclip $(TEST_MODELS)
	JCLIP_SHARED=$(SHARED) ./build/test_runner $(SUITES)

clean:
	rm -rf build jclip

# The real model: download jinaai/jina-clip-v1 from Hugging Face and convert it.
HF_REPO  ?= jinaai/jina-clip-v1
HF_URL   ?= https://huggingface.co/$(HF_REPO)/resolve/main
HF_DIR   := models/hf/jina-clip-v1
HF_NEED  := config.json model.safetensors
HF_MAYBE := preprocessor_config.json tokenizer.json tokenizer_config.json special_tokens_map.json vocab.txt

model: models/jina-clip-v1.jclip

models/jina-clip-v1.jclip: convert/convert.py
	@command -v curl >/dev/null 2>&1 || { echo "error: make model needs curl"; exit 1; }
	@mkdir -p $(HF_DIR)
	@for f in $(HF_NEED); do \
	  test -s $(HF_DIR)/$$f || { echo "downloading $(HF_REPO)/$$f"; \
	  curl -fL --retry 2 --connect-timeout 20 -o $(HF_DIR)/$$f.part $(HF_URL)/$$f && mv $(HF_DIR)/$$f.part $(HF_DIR)/$$f; } || { \
	  rm -f $(HF_DIR)/$$f.part; \
	  echo "error: cannot download $(HF_REPO)/$$f (no network?). Download the repository elsewhere"; \
	  echo "       and convert it: $(PY) convert/convert.py DIR -o models/jina-clip-v1.jclip"; exit 1; }; done
	@for f in $(HF_MAYBE); do test -s $(HF_DIR)/$$f || \
	  curl -fsL --retry 2 --connect-timeout 20 -o $(HF_DIR)/$$f $(HF_URL)/$$f || rm -f $(HF_DIR)/$$f; done
	$(PY) convert/convert.py $(HF_DIR) -o $@

# --- kernels benchmarks (wt-simd) ------------------------------------------------------------
# bench-gemm: jclip GEMM vs OpenBLAS sgemm (Debian libopenblas-dev, linked into this program
# only) with FMA/bandwidth probes. OpenBLAS picks its AVX-512 kernels only with
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset, hence the env -u in the run line.
OPENBLAS_INC ?= /usr/include/x86_64-linux-gnu/openblas-pthread
.PHONY: bench-gemm
build/bench_gemm: bench/bench_gemm.c $(SRC) | build
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(OPENBLAS_INC) -o $@ bench/bench_gemm.c -lopenblas $(LDLIBS)
bench-gemm: build/bench_gemm
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ./build/bench_gemm
# test-arm64: the NEON table, cross-compiled and run under qemu-user (Debian
# gcc-aarch64-linux-gnu + qemu-user); the tiny model is enough there.
.PHONY: test-arm64
build/test_runner_arm64: test/run.c $(wildcard test/*.c test/*.h) cli/json.h $(SRC) | build
	aarch64-linux-gnu-gcc $(WARN) $(CPPFLAGS) $(CFLAGS) -static -o $@ test/run.c $(LDLIBS)
test-arm64: build/test_runner_arm64 build/models/tiny-s1.jclip
	JCLIP_SHARED=$(SHARED) JCLIP_SKIP_FULL=1 qemu-aarch64 ./build/test_runner_arm64 kernels model
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
