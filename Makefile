# The two commands of the README: `make run` and `make test`. Both install what is missing.
CARGO ?= cargo
SAMPLE := target/sample

.PHONY: run test tools lint unit sample

tools:
	@.ci/ensure-tools

# Until the desktop app lands, `run` shows the CLI on a sample folder it generates.
run: tools
	$(CARGO) build --bin tidemark
	@rm -rf $(SAMPLE) && mkdir -p $(SAMPLE)/photos/2026 $(SAMPLE)/archives
	@for i in $$(seq 1 200); do head -c $$((i * 4096)) /dev/urandom > $(SAMPLE)/photos/2026/img-$$i.raw; done
	target/debug/tidemark snapshot $(SAMPLE)/photos --to $(SAMPLE)/archives
	target/debug/tidemark sync $(SAMPLE)/photos --to $(SAMPLE)/mirror

lint: tools
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# The end-to-end tests run the real `tidemark` binary, which `cargo test` does not build for
# another package: build it first.
unit: tools
	$(CARGO) build --locked --bin tidemark
	$(CARGO) test --workspace --locked

test: lint unit
