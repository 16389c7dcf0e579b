# The two commands of the README: `make run` and `make test`. Both install what is missing.
CARGO ?= cargo
SAMPLE := target/sample

.PHONY: run test tools lint unit api-fuzz wine-e2e e2e-desktop sample bench bench-smoke types types-check ui-deps ui-build ui-test \
  bundle bundle-check cross-tools cross-check installer-check

tools:
	@.ci/ensure-tools

# The desktop app on the built UI; under a virtual X server only when there is no screen.
run: tools ui-build
	$(CARGO) build -p tidemark-desktop
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then target/debug/tidemark-desktop; \
	else echo "no display: running under xvfb-run" >&2; \
	  xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- target/debug/tidemark-desktop; fi

# The CLI on a sample folder it generates (what `run` was before the desktop app).
sample: tools
	$(CARGO) build --bin tidemark
	@rm -rf $(SAMPLE) && mkdir -p $(SAMPLE)/photos/2026 $(SAMPLE)/archives
	@for i in $$(seq 1 200); do head -c $$((i * 4096)) /dev/urandom > $(SAMPLE)/photos/2026/img-$$i.raw; done
	target/debug/tidemark snapshot $(SAMPLE)/photos --to $(SAMPLE)/archives
	target/debug/tidemark sync $(SAMPLE)/photos --to $(SAMPLE)/mirror

# src-tauri embeds ui/dist at compile time (generate_context!), so the UI is built first.
lint: tools ui-build
	.ci/check-structure
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# The end-to-end tests run the real `tidemark` binary, which `cargo test` does not build for
# another package: build it first. The desktop suite needs a display: `e2e-desktop` runs it.
unit: tools ui-build
	$(CARGO) build --locked --bin tidemark
	$(CARGO) test --workspace --locked --exclude tidemark-desktop-tests

# The agent's API against the OpenAPI document it serves (generated from its code):
# schemathesis (PyPI, pinned, in a venv under target/tools) fuzzes a real agent with a few real
# jobs, in a network namespace of its own; any 5xx or answer the document does not allow fails.
api-fuzz: tools
	CARGO="$(CARGO)" .ci/api-fuzz

# The Windows build of the CLI end to end under Wine (tests/wine): .ci/wine-e2e cross-builds
# tidemark.exe (x86_64-pc-windows-gnu), boots a throwaway Wine prefix and runs the suite on it.
wine-e2e: cross-tools
	CARGO="$(CARGO)" .ci/wine-e2e

# The desktop app end to end in its real webview (tests/desktop): tauri-driver, installed by
# cargo into target/tools, drives WebKitWebDriver under a virtual X server; every test starts
# its own D-Bus session. One test at a time: each runs a whole WebKit. Screenshots land in
# target/e2e/.
TAURI_DRIVER := target/tools/bin/tauri-driver

$(TAURI_DRIVER): | tools
	$(CARGO) install tauri-driver --version 2.1.0 --locked --root target/tools

e2e-desktop: tools ui-build $(TAURI_DRIVER)
	$(CARGO) build --locked -p tidemark-desktop -p tidemark-cli
	TAURI_DRIVER=$(abspath $(TAURI_DRIVER)) xvfb-run -a -s "-screen 0 1280x800x24" \
	  $(CARGO) test --locked -p tidemark-desktop-tests -- --test-threads=1

test: lint cross-check unit api-fuzz wine-e2e e2e-desktop types-check ui-test bench-smoke bundle-check installer-check

# The Windows and macOS builds, checked from Linux (ARCHITECTURE.md, "Platforms"): clippy
# (which is `cargo check` and more) of the whole workspace for Windows, and of every crate
# but the desktop shell for both Macs, whose notifications compile Objective-C against
# Cocoa's headers that only a Mac has (CI's macOS job checks it). Nothing links: a build
# would prove no more here. Each target keeps its own folder under target/.
MAC_TARGETS := aarch64-apple-darwin x86_64-apple-darwin

cross-tools: tools
	@.ci/ensure-cross-tools

# The C libraries are compiled without optimisation here: nothing runs them, and SQLite alone
# takes 54 s per target at -O2 against 16 s at -O0.
CHECK_C := --config 'profile.dev.package.libsqlite3-sys.opt-level=0' \
  --config 'profile.dev.package.zstd-sys.opt-level=0' --config 'profile.dev.package.blake3.opt-level=0'

cross-check: cross-tools ui-build
	$(CARGO) clippy $(CHECK_C) --workspace --all-targets --locked --target x86_64-pc-windows-gnu -- -D warnings
	@set -e; for t in $(MAC_TARGETS); do \
	  v=$$(echo $$t | tr - _); \
	  echo "cross-check: $$t"; \
	  env CC_$$v=$(abspath .ci/zig-cc) AR_$$v=$(abspath .ci/zig-ar) \
	    $(CARGO) clippy $(CHECK_C) --workspace --exclude tidemark-desktop --all-targets --locked --target $$t -- -D warnings; \
	done

# Benchmarks (crates/bench): measured, never asserted on. `bench` writes docs/BENCHMARKS.md at
# full size (about twenty minutes on 2 cores, plus the release build); `bench-smoke` runs the same
# harness once on a tiny data set so it cannot rot, and writes target/bench-smoke/BENCHMARKS.md.
# The release desktop app is built too: row 8 measures it, idle and through tauri-driver
# during a job (in bench-smoke, the debug one `e2e-desktop` built, when it is there).
bench: tools ui-build $(TAURI_DRIVER)
	@test -x /usr/bin/time || { sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq time; }
	$(CARGO) build --release -p tidemark-cli -p tidemark-bench -p tidemark-desktop
	TAURI_DRIVER=$(abspath $(TAURI_DRIVER)) \
	  target/release/tidemark-bench --tidemark target/release/tidemark --out docs/BENCHMARKS.md

bench-smoke: tools $(TAURI_DRIVER)
	$(CARGO) build -p tidemark-cli -p tidemark-bench
	TAURI_DRIVER=$(abspath $(TAURI_DRIVER)) target/debug/tidemark-bench --smoke \
	  --tidemark target/debug/tidemark --out target/bench-smoke/BENCHMARKS.md

# TypeScript bindings of the IPC types (ts-rs), committed under ui/src/lib/bindings/.
# `types-check` regenerates them elsewhere and fails when the committed ones drift.
BINDINGS := ui/src/lib/bindings
BINDINGS_GEN = $(CARGO) run --quiet --locked -p tidemark-app --features ts --bin tidemark-bindings --

types: tools
	$(BINDINGS_GEN) $(BINDINGS)

types-check: tools
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BINDINGS_GEN) "$$tmp" >/dev/null && \
	if ! diff -ru $(BINDINGS) "$$tmp"; then \
	  echo "types-check: $(BINDINGS) is out of date with the Rust types; run 'make types' and commit the result" >&2; \
	  exit 1; \
	fi && echo "types-check: $(BINDINGS) matches the Rust types"

# The web UI (ui/: Svelte + Vite). `npm ci` runs again only when node_modules is missing or
# the lock file changed (npm writes node_modules/.package-lock.json on every install).
UI_DEPS := ui/node_modules/.package-lock.json

$(UI_DEPS): ui/package.json ui/package-lock.json | tools
	cd ui && npm ci --no-audit --no-fund
	@touch $@

ui-deps: $(UI_DEPS)

# ui/dist, which tauri.conf.json's frontendDist points at.
ui-build: ui-deps
	cd ui && npm run build

# Component tests (Vitest) and type checks (svelte-check, tsc).
ui-test: ui-deps
	cd ui && npm test && npm run check

# Installers of the desktop app, release build: target/release/bundle/deb/*.deb and
# target/release/bundle/rpm/*.rpm. Both also carry the `tidemark` command at /usr/bin/tidemark
# (tauri.conf.json: bundle.linux.deb.files / rpm.files), so it is built first. The Tauri CLI
# comes from ui/node_modules. Windows and macOS installers are built on their own platforms
# (.github/workflows/ci.yml).
#
# PROFILE=debug packages the debug build instead (target/debug/bundle/): `make test` checks
# installers made that way from the build it already has, because a release build of the
# whole app would add a quarter of an hour to it on two cores. The packaging and the installed
# files are the same; the release installers are built by `make bundle` and CI's matrix.
TAURI := TAURI_APP_PATH=src-tauri ui/node_modules/.bin/tauri
PROFILE ?= release
DEBUG_CLI := {"bundle":{"linux":{"deb":{"files":{"/usr/bin/tidemark":"../target/debug/tidemark"}},\
  "rpm":{"files":{"/usr/bin/tidemark":"../target/debug/tidemark"}}}}}

# Expanded when the recipe runs, so `test`'s own PROFILE reaches them.
CARGO_PROFILE_FLAG = $(if $(filter debug,$(PROFILE)),,--release)
TAURI_PROFILE_FLAGS = $(if $(filter debug,$(PROFILE)),--debug --config '$(DEBUG_CLI)')

bundle: tools ui-build
	$(CARGO) build $(CARGO_PROFILE_FLAG) --locked --bin tidemark
	$(TAURI) build --ci $(TAURI_PROFILE_FLAGS) --bundles deb,rpm -- --locked

# Reads both bundles' metadata, installs the .deb on this machine (apt-get, sudo when not
# root) and runs the installed `tidemark --version` and `tidemark-desktop` (under Xvfb).
bundle-check: bundle
	PROFILE=$(PROFILE) .ci/bundle-check

# What `make test` checks: installers of the debug build (see PROFILE above).
test: PROFILE = debug

# The Windows installer (NSIS .exe) of the debug build, cross-built here for
# x86_64-pc-windows-gnu and checked under Wine. .ci/installer-build runs
# `tauri build --debug --target x86_64-pc-windows-gnu --bundles nsis` with the CLI added as a
# resource (tidemark.exe beside tidemark-desktop.exe) and no compression (LZMA takes minutes on
# debug binaries); where the bundler cannot download its NSIS plugin from GitHub it finishes
# with .ci/nsis-offline (same template, test-only stand-in plugin). .ci/installer-check
# installs it silently in a throwaway Wine prefix, checks the files, shortcuts and Apps entry,
# runs the installed `tidemark.exe --version`, uninstalls it and checks that everything is
# gone. The installers users get come from CI's Windows job.
WIN_TARGET := x86_64-pc-windows-gnu

installer-check: cross-tools ui-build
	$(CARGO) build --locked --target $(WIN_TARGET) --bin tidemark
	.ci/installer-build
	.ci/installer-check
