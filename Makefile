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

.PHONY: all test clean

all: jclip

build:
	mkdir -p build

jclip: cli/main.c cli/json.h $(SRC)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ cli/main.c jclip.c $(LDLIBS)

build/test_runner: test/run.c $(wildcard test/*.c test/*.h) cli/json.h $(SRC) | build
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ test/run.c $(LDLIBS)

test: build/test_runner jclip
	./build/test_runner $(SUITES)

clean:
	rm -rf build jclip
