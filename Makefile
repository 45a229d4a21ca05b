# katls — kernel-assisted attested TLS.
#
#   make              build libkatls, the katls CLI, the BPF gate and katls.ko
#   make check        install dependencies, build, run every test (unit, ASan/UBSan,
#                     fuzz smoke, host integration, VM)
#   make demo         boot the VM with a swtpm TPM and show katls working
#   make fuzz         run every fuzz target for FUZZ_SECONDS each (default 300)
#   make bench        run the benchmarks under bench/
#   make install      install under DESTDIR/PREFIX (install-user: all but katls.ko)
#   make package      Debian packages into build/pkg (scripts/package.sh)
#   make package-check  build them and test them (tests/pkg/, one VM boot)
#
# Knobs: V=1 (verbose), KDIR=<kernel build dir>, SANITIZE=1 (ASan+UBSan build in
# build/asan), BUILD=<output dir>, PREFIX, DESTDIR.

PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
SBINDIR   ?= $(PREFIX)/sbin
LIBDIR    ?= $(PREFIX)/lib
INCDIR    ?= $(PREFIX)/include
UNITDIR   ?= $(PREFIX)/lib/systemd/system
MANDIR    ?= $(PREFIX)/share/man
DESTDIR   ?=

KDIR ?= $(shell d=/lib/modules/$$(uname -r)/build; [ -d $$d ] && echo $$d || \
		ls -d /lib/modules/*/build 2>/dev/null | sort -V | tail -n1)

ifeq ($(SANITIZE),1)
BUILD     ?= build/asan
SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD     ?= build
SANFLAGS  :=
endif

CC        ?= cc
CLANG     ?= clang
BPFTOOL   ?= bpftool
PKGS      := libssl libcrypto tss2-esys tss2-tctildr tss2-mu tss2-rc libcbor \
	     libnl-genl-3.0 json-c libbpf
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	     -Wstrict-prototypes -Wmissing-prototypes -Wshadow -Wformat=2 \
	     -fstack-protector-strong -D_FORTIFY_SOURCE=2 -D_GNU_SOURCE \
	     -MMD -MP $(SANFLAGS)
KATLS_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo 0.1)
CPPFLAGS  += -DKATLS_VERSION=\"$(KATLS_VERSION)\" -Iinclude/uapi -Iinclude -Iuserspace/lib -I$(BUILD)/bpf $(PKG_CFLAGS)
LDFLAGS   += $(SANFLAGS)
LDLIBS    += $(PKG_LIBS) -lpthread

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

LIB_SRCS   := $(sort $(wildcard userspace/lib/*.c userspace/lib/*/*.c))
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB        := $(BUILD)/libkatls.a
# The shared library exports only the public API (include/katls/, the version
# script); the CLI, katlsd and tests link the static one (internal API).
SONAME     := libkatls.so.1
SHLIB      := $(BUILD)/$(SONAME)
LIB_MAP    := userspace/lib/libkatls.map
CLI_SRCS   := $(sort $(wildcard userspace/cli/*.c))
CLI_OBJS   := $(CLI_SRCS:%.c=$(BUILD)/%.o)
CLI        := $(BUILD)/katls
DAEMON_SRCS := $(sort $(wildcard userspace/daemon/*.c))
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/%.o)
DAEMON     := $(if $(DAEMON_SRCS),$(BUILD)/katlsd)
UNIT_SRCS  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS  := $(UNIT_SRCS:%.c=$(BUILD)/%)
TOOL_SRCS  := $(sort $(wildcard tests/host/*.c tests/vm/*.c))
TOOL_BINS  := $(TOOL_SRCS:%.c=$(BUILD)/%)
EXAMPLE_SRCS := $(sort $(wildcard examples/*.c))
EXAMPLE_BINS := $(EXAMPLE_SRCS:%.c=$(BUILD)/%)
BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCH_BINS := $(BENCH_SRCS:%.c=$(BUILD)/%)
FUZZ_SRCS  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS  := $(FUZZ_SRCS:%.c=build/fuzz/%)
BPF_SRCS   := $(sort $(wildcard bpf/*.bpf.c))
BPF_OBJS   := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/bpf/%.bpf.o)
BPF_SKELS  := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/bpf/%.skel.h)

.PHONY: all userspace kmod bpf unit tests check demo fuzz fuzz-smoke bench install \
	clean deps vm-test host-test install-user package package-check
.DELETE_ON_ERROR:
.SECONDARY:

all: userspace kmod

userspace: $(LIB) $(SHLIB) $(CLI) $(DAEMON) $(TOOL_BINS) $(BENCH_BINS) \
	$(EXAMPLE_BINS)

deps:
	$(Q)scripts/deps.sh

# ---- BPF ---------------------------------------------------------------------
$(BUILD)/bpf/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)test -r /sys/kernel/btf/vmlinux || { echo "error: /sys/kernel/btf/vmlinux missing: this kernel has no BTF, cannot generate vmlinux.h" >&2; exit 1; }
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c bpf/*.h $(BUILD)/bpf/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror \
		-I$(BUILD)/bpf -Ibpf -Iinclude/uapi -c $< -o $@
	$(Q)llvm-strip -g $@

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .bpf.o,_bpf,$(notdir $<)) > $@

bpf: $(BPF_SKELS)

# ---- userspace ---------------------------------------------------------------
$(BUILD)/%.o: %.c | $(BPF_SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# One set of objects for both libraries: position-independent, and only what
# is marked KATLS_PUBLIC visible (the static library's users are unaffected).
LIB_CFLAGS := -fPIC -fvisibility=hidden
$(LIB_OBJS): CFLAGS += $(LIB_CFLAGS)
# objects built with other flags (before these existed, say) are rebuilt
$(LIB_OBJS): $(BUILD)/lib.flags
$(shell mkdir -p $(BUILD) && { echo '$(LIB_CFLAGS) $(CFLAGS)' | cmp -s - $(BUILD)/lib.flags || \
	echo '$(LIB_CFLAGS) $(CFLAGS)' >$(BUILD)/lib.flags; })
$(SHLIB): $(LIB_OBJS) $(LIB_MAP)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=$(LIB_MAP) \
		-Wl,--no-undefined -Wl,-z,relro -Wl,-z,now -Wl,--as-needed \
		-o $@ $(LIB_OBJS) $(LDLIBS)
	$(Q)ln -sf $(SONAME) $(BUILD)/libkatls.so

$(CLI): $(CLI_OBJS) $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(LIB) $(LDLIBS)

$(BUILD)/katlsd: $(DAEMON_OBJS) $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(DAEMON_OBJS) $(LIB) $(LDLIBS)

# Unit tests, test tools and benchmarks: one .c each, linked with libkatls.
$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka
# test_buf records the library's wipes
$(BUILD)/tests/unit/test_buf: LDLIBS += -Wl,--wrap=OPENSSL_cleanse
$(BUILD)/tests/vm/gate_io $(BUILD)/tests/vm/transp_attack: LDLIBS += -luring

$(TOOL_BINS) $(BENCH_BINS): $(BUILD)/%: $(BUILD)/%.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# Examples: the public headers only, linked with the shared library as a
# third-party program would be (run from the build tree through the rpath).
$(BUILD)/examples/%.o: examples/%.c include/katls/*.h | $(BPF_SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -Iinclude -Iinclude/uapi $(CFLAGS) -c $< -o $@
$(EXAMPLE_BINS): $(BUILD)/%: $(BUILD)/%.o $(SHLIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -L$(BUILD) -lkatls -Wl,-rpath,'$$ORIGIN/..'

# ---- fuzzing (clang libFuzzer; the library is rebuilt with coverage) ----------
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -D_FORTIFY_SOURCE=0 -MMD -MP \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-Iinclude/uapi -Iinclude -Iuserspace/lib -Ibuild/bpf $(PKG_CFLAGS)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=build/fuzz/%.o)
build/fuzz/userspace/lib/%.o: userspace/lib/%.c | $(BPF_SKELS)
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@
build/fuzz/tests/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJS)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_LIB_OBJS) -o $@ $(PKG_LIBS) -lpthread

FUZZ_SECONDS ?= 300
fuzz-smoke: $(FUZZ_BINS)
	$(Q)scripts/fuzz.sh 10 $(FUZZ_BINS)
fuzz: $(FUZZ_BINS)
	$(Q)scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# ---- kernel module -----------------------------------------------------------
kmod:
	$(call msg,KMOD,kmod/katls.ko)
	$(Q)test -d "$(KDIR)" || { echo "error: no kernel build dir (install linux-headers-amd64 or set KDIR)" >&2; exit 1; }
	$(Q)$(MAKE) -C $(KDIR) M=$(CURDIR) $(if $(filter 1,$(V)),V=1,-s) modules
	$(Q)scripts/kmod_btf.sh kmod/katls.ko $(KDIR) $(BUILD)/kmod

# ---- tests -------------------------------------------------------------------
unit: $(UNIT_BINS)
	$(Q)scripts/run-tests.sh unit $(UNIT_BINS)

host-test: userspace
	$(Q)scripts/run-tests.sh host $(sort $(wildcard tests/host/test_*.sh))

vm-test: all
	$(Q)scripts/run-tests.sh vm $(sort $(wildcard tests/vm/test_*.sh))

tests: $(UNIT_BINS) $(TOOL_BINS)

check: deps
	$(Q)$(MAKE) --no-print-directory all tests
	$(Q)$(MAKE) --no-print-directory SANITIZE=1 tests
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BINS)
	$(Q)scripts/check.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/vm.sh run scripts/demo-guest.sh

bench: userspace
	$(Q)scripts/run-bench.sh $(BENCH_BINS)

# ---- install -----------------------------------------------------------------
install: all install-user
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_PATH=$(DESTDIR) CONFIG_MODULE_SIG_ALL= modules_install

install-user: $(LIB) $(SHLIB) $(CLI) $(DAEMON)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(INCDIR)/linux $(DESTDIR)$(INCDIR)/katls \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(CLI) $(DESTDIR)$(BINDIR)/katls
	$(if $(DAEMON),install -m 0755 $(DAEMON) $(DESTDIR)$(SBINDIR)/katlsd)
	install -m 0644 $(LIB) $(DESTDIR)$(LIBDIR)/libkatls.a
	install -m 0644 $(SHLIB) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libkatls.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
		-e 's|@VERSION@|$(KATLS_VERSION)|' userspace/lib/katls.pc.in \
		>$(DESTDIR)$(LIBDIR)/pkgconfig/katls.pc
	install -m 0644 include/katls/*.h $(DESTDIR)$(INCDIR)/katls/
	install -m 0644 include/uapi/linux/katls.h $(DESTDIR)$(INCDIR)/linux/katls.h
	for m in $(wildcard docs/man/*.8); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man8/; done
	for m in $(wildcard docs/man/*.5); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man5/; done
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local/sbin/|$(SBINDIR)/|g' systemd/katlsd.service \
		>$(DESTDIR)$(UNITDIR)/katlsd.service
	test -e $(DESTDIR)/etc/katls/katlsd.json || \
		install -D -m 0644 etc/katls/katlsd.json $(DESTDIR)/etc/katls/katlsd.json

package: deps
	$(Q)scripts/package.sh

# Not part of `make check`: ~1.5 min package build, ~1 min DKMS on the host and
# one VM boot whose DKMS build of katls.ko under TCG dominates (23-28 min measured
# with other VMs on the 2 cores); .ci/run runs it after `make check`.
package-check: package
	$(Q)scripts/run-tests.sh pkg $(sort $(wildcard tests/pkg/test_*.sh))

clean:
	rm -rf build
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || true

-include $(shell find build -name '*.d' 2>/dev/null)
