# modgate - comment spam and captcha moderation service.
#
#   make run     install missing packages, build, start a private Redis
#                (unless MODGATE_REDIS_URL is set) and serve on 127.0.0.1:8080
#   make test    install missing packages, build, run every test, then the
#                unit and integration tests again under ASan + UBSan
#   make bench   throughput and latency against the ceiling server
#   make bench-cluster  checks/s with one Redis and with a 3-master Redis Cluster
#
# Other targets: build (default), check (tests without the sanitizer pass),
# asan, fuzz (libFuzzer, FUZZ_SECONDS per target), lint, deps, clean. SANITIZER=1 builds into build-asan/ with
# -fsanitize=address,undefined.

CC       ?= cc
PKGS     := libmicrohttpd jansson libsodium hiredis libutf8proc libcurl
# Debian packages: to build, to run, and for tests/bench only.
DEB_BUILD := make gcc pkg-config libmicrohttpd-dev libjansson-dev libsodium-dev libhiredis-dev libutf8proc-dev liblinear-dev \
             libcurl4-openssl-dev
DEB_RUN   := redis-server
DEB_TEST  := redis-server redis-tools curl python3 chromium prometheus lua-check
# The WordPress plugin's end-to-end tests (tests/integration/wordpress.py).
DEB_WP    := wordpress wordpress-theme-twentytwentythree php-cli php-mysql php-curl php-mbstring php-xml \
             mariadb-server
DEB_BENCH := wrk

ifeq ($(SANITIZER),1)
BUILD    ?= build-asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT      := -O1 -g
else
BUILD    ?= build
SANFLAGS :=
OPT      := -O2 -g
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wwrite-strings -Wformat=2 -Wvla -Wpointer-arith -Wundef -Wcast-align
CFLAGS   += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SANFLAGS) -MMD -MP \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -llinear -lpthread -lm
LDFLAGS  += $(SANFLAGS)

FILTER_SRCS  := filters/xalloc.c filters/text.c filters/wordlist.c filters/links.c \
                filters/heuristics.c filters/verdict.c filters/tokenize.c \
                filters/model.c filters/bayes.c filters/sweep.c filters/linsvm.c
# service/ in rooms by concern (docs/architecture.md): each room is a
# folder, and each is on the include path so "store.h" names one file.
SERVICE_ROOMS := codec http redis bayes captcha moderation operators integrations
SERVICE_SRCS := service/util.c service/log.c service/logline.c service/counters.c service/config.c \
                service/check.c service/routes.c service/integrations/coral.c \
                service/codec/jsonmem.c service/codec/jfast.c service/codec/hmac.c service/codec/pow.c \
                service/codec/form.c \
                service/http/http.c service/http/auth.c service/http/reply.c service/http/request.c \
                service/redis/store.c service/redis/spool.c service/redis/hireply.c service/redis/conn.c service/redis/sentinel.c service/redis/cluster.c service/redis/rthread.c \
                service/bayes/bayesdb.c service/bayes/learn.c \
                service/captcha/captcha.c service/captcha/formtoken.c \
                service/moderation/queue.c service/moderation/moderate.c service/moderation/ui.c \
                service/operators/metrics.c service/operators/policy.c service/operators/tuning.c \
                service/operators/eval.c service/redis/scall.c service/operators/threads.c service/moderation/authors.c service/moderation/reports.c service/integrations/akismet.c service/integrations/webhooks.c
SERVICE_INC  := -Iservice $(SERVICE_ROOMS:%=-Iservice/%)
MAIN_SRC     := service/main.c
FILTER_TESTS := test_text test_wordlist test_links test_heuristics test_verdict test_tokenize test_bayes test_model test_sweep test_linsvm
SERVICE_TESTS:= test_config test_jfast test_hmac test_pow test_formtoken test_logline test_form
UNIT_TESTS   := $(FILTER_TESTS) $(SERVICE_TESTS)
FUZZ_TARGETS := fuzz_filters fuzz_tokenize fuzz_request fuzz_config fuzz_reply fuzz_jfast fuzz_captcha fuzz_policy

FILTER_OBJS  := $(FILTER_SRCS:%.c=$(BUILD)/%.o)
SERVICE_OBJS := $(SERVICE_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/ui_files.o $(BUILD)/lua_scripts.o \
                $(BUILD)/starter_data.o
BIN          := $(BUILD)/modgate
UNIT_BINS    := $(UNIT_TESTS:%=$(BUILD)/tests/%) $(FUZZ_TARGETS:%=$(BUILD)/tests/%)
BENCH_BINS   := $(BUILD)/tests/pow_bench

.DELETE_ON_ERROR:

.PHONY: all build run demo test check unit integration asan bench bench-cluster fuzz deps deps-build deps-test clean lint \
        wordpress-plugin

all build: $(BIN)

$(BIN): $(BUILD)/$(MAIN_SRC:.c=.o) $(SERVICE_OBJS) $(FILTER_OBJS)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LDLIBS)

# The moderator page's files, compiled in (service/tools/embed.c).
UI_FILES := /ui/ 'text/html; charset=utf-8' service/moderation/ui/index.html \
            /ui/app.js 'text/javascript; charset=utf-8' service/moderation/ui/app.js \
            /ui/app.css 'text/css; charset=utf-8' service/moderation/ui/app.css
$(BUILD)/tools/embed: service/tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 $(WARN) -o $@ $<
$(BUILD)/ui_files.c: $(BUILD)/tools/embed service/moderation/ui/index.html service/moderation/ui/app.js service/moderation/ui/app.css
	$(BUILD)/tools/embed $@ $(UI_FILES)
$(BUILD)/ui_files.o: $(BUILD)/ui_files.c
	$(CC) $(CFLAGS) -Ifilters $(SERVICE_INC) -c -o $@ $<

# The shipped starter model (api.md section 7), compiled in: the binary
# itself, first linked without it (starter_none.o), builds it from the
# redistributable corpora (tests/data/README.md: attribution, licence),
# source-balanced; any changed object (a new TOK_VERSION, a tokenizer
# change) builds it again. `modgate serve` stores it into Redis.
STARTER_CORPORA := tests/data/sms.jsonl tests/data/youtube-dev.jsonl
define starter_asm
/* Generated by the Makefile: the shipped starter model, compiled in. */\n\
__asm__(".section .rodata\\n.balign 16\\n.globl bayesdb_starter_begin\\nbayesdb_starter_begin:\\n"\n\
        $(1)".globl bayesdb_starter_end\\nbayesdb_starter_end:\\n.byte 0\\n.previous\\n");\n
endef
$(BUILD)/starter_none.c:
	@mkdir -p $(dir $@)
	@printf '$(call starter_asm,)' > $@
$(BUILD)/starter_data.c: $(BUILD)/starter.jsonl
	@printf '$(call starter_asm,".incbin \\"$(BUILD)/starter.jsonl\\"\\n")' > $@
$(BUILD)/starter_none.o $(BUILD)/starter_data.o: $(BUILD)/%.o: $(BUILD)/%.c
	$(CC) $(CFLAGS) -c -o $@ $<
$(BUILD)/tools/modgate-nostarter: $(BUILD)/$(MAIN_SRC:.c=.o) $(filter-out $(BUILD)/starter_data.o,$(SERVICE_OBJS)) \
		$(FILTER_OBJS) $(BUILD)/starter_none.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LDLIBS)
$(BUILD)/starter.jsonl: $(BUILD)/tools/modgate-nostarter $(STARTER_CORPORA)
	$(BUILD)/tools/modgate-nostarter model build --balanced $(STARTER_CORPORA) > $@

# The Redis scripts, compiled in (service/tools/lua2c.c, luascripts.h):
# NAME=FILE[+FILE...] of LUA_DIR, concatenated, the shared helpers of lib/
# first. tests/integration/harness.py (lua_script) reads this list too.
LUA_DIR     := service/redis/lua
LUA_SCRIPTS := CHECK_LUA=lib/queue_index.lua+lib/rep.lua+lib/queue_put.lua+check.lua \
               HOLD_LUA=lib/queue_index.lua+lib/rep.lua+lib/queue_put.lua+hold.lua \
               RISK_LUA=risk.lua \
               LEARN_LUA=lib/bayes_change.lua+learn.lua \
               LEARN_SNAPSHOT_LUA=learn_snapshot.lua \
               CALIB_READ_LUA=calib_read.lua \
               CALIB_PUT_LUA=calib_put.lua \
               QUEUE_LIST_LUA=lib/queue_index.lua+queue_list.lua \
               QUEUE_GET_LUA=lib/rep.lua+queue_get.lua AUTHORS_LUA=lib/queue_index.lua+lib/rep.lua+authors.lua REPORT_LUA=lib/queue_index.lua+report.lua WEBHOOKS_LUA=webhooks.lua \
               QUEUE_FETCH_LUA=queue_fetch.lua \
               QUEUE_ACT_LUA=lib/queue_index.lua+lib/bayes_change.lua+lib/rep.lua+lib/lesson.lua+queue_act.lua \
               LESSON_LUA=lib/bayes_change.lua+lib/lesson.lua+lesson.lua LESSON_DONE_LUA=lesson_done.lua LESSONS_DUE_LUA=lessons_due.lua \
               QUEUE_STREAM_LUA=queue_stream.lua \
               QUEUE_MIGRATE_LUA=lib/queue_index.lua+lib/rep.lua+lib/queue_put.lua+queue_migrate.lua \
               THREADS_PUT_LUA=threads_put.lua \
               THREADS_POLL_LUA=threads_poll.lua \
               AUTHORS_POLL_LUA=authors_poll.lua \
               THREADS_FETCH_LUA=threads_fetch.lua \
               POLICY_POLL_LUA=policy_poll.lua \
               POLICY_FETCH_LUA=policy_fetch.lua \
               POLICY_PUT_LUA=policy_put.lua \
               POLICY_LIST_LUA=policy_list.lua \
               TUNING_LABELLED_LUA=tuning_labelled.lua \
               METRICS_DEPTH_LUA=metrics_depth.lua
LUA_FILES   := $(wildcard $(LUA_DIR)/*.lua $(LUA_DIR)/lib/*.lua)
$(BUILD)/tools/lua2c: service/tools/lua2c.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 $(WARN) -o $@ $<
$(BUILD)/lua_scripts.c: $(BUILD)/tools/lua2c $(LUA_FILES) Makefile
	$(BUILD)/tools/lua2c $@ $(LUA_DIR) $(LUA_SCRIPTS)
$(BUILD)/lua_scripts.o: $(BUILD)/lua_scripts.c
	$(CC) $(CFLAGS) -Ifilters $(SERVICE_INC) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ifilters $(SERVICE_INC) -c -o $@ $<

# Filter tests link only filters/: proof that scoring needs no network code.
$(FILTER_TESTS:%=$(BUILD)/tests/%): $(BUILD)/tests/%: tests/unit/%.c $(FILTER_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ifilters -Itests $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

# Fuzz targets, built with gcc and a main that replays their corpus.
# fuzz_request includes service/check.c, so it links the rest of service/.
$(BUILD)/tests/fuzz_filters $(BUILD)/tests/fuzz_tokenize: $(BUILD)/tests/%: tests/fuzz/%.c tests/fuzz/standalone.c $(FILTER_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ifilters $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

$(BUILD)/tests/fuzz_request: tests/fuzz/fuzz_request.c tests/fuzz/standalone.c service/check.c \
		$(filter-out $(BUILD)/service/check.o,$(SERVICE_OBJS)) $(FILTER_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ifilters $(SERVICE_INC) $(LDFLAGS) -o $@ $(filter-out service/%,$(filter %.c %.o,$^)) $(LDLIBS)

$(BUILD)/tests/fuzz_config: tests/fuzz/fuzz_config.c tests/fuzz/standalone.c service/config.c \
		$(filter-out $(BUILD)/service/config.o,$(SERVICE_OBJS)) $(FILTER_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ifilters $(SERVICE_INC) $(LDFLAGS) -o $@ $(filter-out service/%,$(filter %.c %.o,$^)) $(LDLIBS)

$(BUILD)/tests/fuzz_reply: tests/fuzz/fuzz_reply.c tests/fuzz/standalone.c service/redis/store.c \
		$(filter-out $(BUILD)/service/redis/store.o,$(SERVICE_OBJS)) $(FILTER_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ifilters $(SERVICE_INC) $(LDFLAGS) -o $@ $(filter-out service/%,$(filter %.c %.o,$^)) $(LDLIBS)

$(BUILD)/tests/fuzz_jfast $(BUILD)/tests/fuzz_captcha $(BUILD)/tests/fuzz_policy: $(BUILD)/tests/%: tests/fuzz/%.c tests/fuzz/standalone.c \
		$(SERVICE_OBJS) $(FILTER_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ifilters $(SERVICE_INC) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

$(BUILD)/tests/pow_bench: tests/bench/pow_bench.c $(SERVICE_OBJS) $(FILTER_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ifilters $(SERVICE_INC) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

$(SERVICE_TESTS:%=$(BUILD)/tests/%): $(BUILD)/tests/%: tests/unit/%.c $(SERVICE_OBJS) $(FILTER_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ifilters $(SERVICE_INC) -Itests $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

# ---- the WordPress plugin ----------------------------------------------

# build/modgate-wordpress.zip: integrations/wordpress/modgate/ plus the
# ALTCHA widget it serves on its challenge page, the npm package `altcha`
# pinned in tests/interop/package-lock.json (its MIT licence goes along).
# Upload the zip in wp-admin (Plugins > Add New > Upload Plugin).
WP_PLUGIN_FILES := $(shell find integrations/wordpress/modgate -type f)
ALTCHA_DIST     := tests/interop/node_modules/altcha
wordpress-plugin: $(BUILD)/modgate-wordpress.zip
tests/interop/node_modules/.modgate-installed: tests/interop/package-lock.json
	@sh tests/interop/install.sh
$(BUILD)/modgate-wordpress.zip: $(WP_PLUGIN_FILES) tests/interop/node_modules/.modgate-installed
	@rm -rf $(BUILD)/wordpress && mkdir -p $(BUILD)/wordpress
	@cp -r integrations/wordpress/modgate $(BUILD)/wordpress/
	@mkdir -p $(BUILD)/wordpress/modgate/assets
	@cp $(ALTCHA_DIST)/dist/main/altcha.min.js $(BUILD)/wordpress/modgate/assets/altcha.min.js
	@cp $(ALTCHA_DIST)/LICENSE.txt $(BUILD)/wordpress/modgate/assets/altcha-LICENSE.txt
	@rm -f $@ && cd $(BUILD)/wordpress && python3 -m zipfile -c ../modgate-wordpress.zip modgate
	@echo "built $@"

# ---- the two commands -------------------------------------------------

run: deps
	@$(MAKE) --no-print-directory build
	@sh docker/run-local.sh $(BIN)

# The captcha demo: modgate plus the demo news CMS on http://127.0.0.1:8081/.
demo: deps deps-test
	@$(MAKE) --no-print-directory build
	@sh docker/demo/run.sh $(BIN)

test: deps deps-test lint
	@$(MAKE) --no-print-directory build $(UNIT_BINS) $(BENCH_BINS) wordpress-plugin
	@$(MAKE) --no-print-directory SANITIZER=1 build-asan/modgate $(UNIT_TESTS:%=build-asan/tests/%) \
	    $(FUZZ_TARGETS:%=build-asan/tests/%)
	@sh tests/run.sh build build-asan

check: deps deps-test
	@$(MAKE) --no-print-directory build $(UNIT_BINS) wordpress-plugin
	@sh tests/run.sh build

unit: $(UNIT_BINS)
	@sh tests/run.sh --unit-only $(BUILD)

asan:
	@$(MAKE) --no-print-directory SANITIZER=1 build-asan/modgate $(UNIT_TESTS:%=build-asan/tests/%) \
	    $(FUZZ_TARGETS:%=build-asan/tests/%)

# Real fuzzing with libFuzzer (clang): FUZZ_SECONDS per target. New inputs
# go to build-fuzz/corpus/; copy the interesting ones to tests/fuzz/corpus/.
FUZZ_SECONDS ?= 60
fuzz:
	@sh docker/install-deps.sh clang
	@$(MAKE) --no-print-directory build/ui_files.c build/lua_scripts.c build/starter_data.c
	@mkdir -p build-fuzz
	@for t in $(FUZZ_TARGETS); do \
	    srcs="$(FILTER_SRCS) build/ui_files.c build/lua_scripts.c build/starter_data.c"; [ $$t = fuzz_request ] && srcs="$$srcs $(filter-out service/check.c,$(SERVICE_SRCS))"; \
	    [ $$t = fuzz_config ] && srcs="$$srcs $(filter-out service/config.c,$(SERVICE_SRCS))"; \
	    [ $$t = fuzz_reply ] && srcs="$$srcs $(filter-out service/redis/store.c,$(SERVICE_SRCS))"; \
	    { [ $$t = fuzz_jfast ] || [ $$t = fuzz_captcha ] || [ $$t = fuzz_policy ]; } && srcs="$$srcs $(SERVICE_SRCS)"; \
	    clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Ifilters $(SERVICE_INC) \
	        $$(pkg-config --cflags $(PKGS)) -o build-fuzz/$$t tests/fuzz/$$t.c $$srcs \
	        $$(pkg-config --libs $(PKGS)) -llinear -lpthread -lm || exit 1; \
	    c=$${t#fuzz_}; mkdir -p build-fuzz/corpus/$$c; \
	    build-fuzz/$$t -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus/$$c tests/fuzz/corpus/$$c || exit 1; \
	done

bench: deps deps-test
	@sh docker/install-deps.sh $(DEB_BENCH)
	@$(MAKE) --no-print-directory build $(BENCH_BINS)
	@python3 tests/bench/bench.py --bin $(BIN)

bench-cluster: deps deps-test
	@sh docker/install-deps.sh $(DEB_BENCH)
	@$(MAKE) --no-print-directory build
	@python3 tests/bench/bench.py --bin $(BIN) --only cluster

# ---- packages ---------------------------------------------------------

deps:
	@sh docker/install-deps.sh $(DEB_BUILD) $(DEB_RUN)

# The build stage of docker/Dockerfile runs this, then `make build`.
deps-build:
	@sh docker/install-deps.sh $(DEB_BUILD)

deps-test:
	@sh docker/install-deps.sh $(DEB_TEST) $(DEB_WP)
	@command -v npm >/dev/null 2>&1 || sh docker/install-deps.sh nodejs npm
	@sh tests/interop/install.sh

# Functions that are easy to misuse; use the bounded ones instead. The
# Redis scripts are .lua files only (no Lua in a C string), checked by
# luacheck (.luacheckrc). The rooms' rules (docs/architecture.md): filters/
# includes no service/ header, only service/redis/ includes hiredis and
# only service/http/ includes microhttpd.
lint:
	@! grep -rnE --include='*.c' --exclude-dir=tools '\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol)\s*\(' \
	    service filters || (echo "banned function used" && false)
	@! grep -rn --include='*.c' --include='*.h' 'redis\.call' service filters \
	    || (echo "Lua in a C string: Redis scripts go in $(LUA_DIR)/" && false)
	@hs=$$(find service -name '*.h' -printf '%f\n' | sed 's/\./\\./g' | paste -sd'|'); \
	    ! grep -rnE "#include \"([^\"]*/)?($$hs)\"" filters \
	    || (echo "filters/ includes a service/ header: service depends on filters, never the reverse" && false)
	@! grep -rlE --include='*.c' --include='*.h' '#include\s*[<"]([^>"]*/)?hiredis[/.]' service filters \
	    | grep -v '^service/redis/' \
	    || (echo "hiredis included outside service/redis/ (the Redis room)" && false)
	@! grep -rlE --include='*.c' --include='*.h' '#include\s*[<"]([^>"]*/)?microhttpd\.h' service filters \
	    | grep -v '^service/http/' \
	    || (echo "microhttpd.h included outside service/http/ (the HTTP room)" && false)
	@python3 tests/lint/rooms.py
	@command -v luacheck >/dev/null 2>&1 || sh docker/install-deps.sh lua-check
	@luacheck -qq --no-color $(LUA_DIR)
	@command -v php >/dev/null 2>&1 || sh docker/install-deps.sh php-cli
	@for f in $$(find integrations -name '*.php'); do php -l "$$f" >/dev/null || exit 1; done

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find build build-asan -name '*.d' 2>/dev/null)
