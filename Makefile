# kx-events: the commands a user and CI run. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

SERVICES := scripts/services.sh
WITH_ENV := $(SERVICES) up && source .state/env &&

.PHONY: help test lint crate-lint publish-check fmt rust-test terraform-test package smoke demo demo-down bench services services-down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

test: lint rust-test terraform-test smoke ## everything: lint, Rust tests (real PostgreSQL + moto), Terraform checks + apply against moto, arm64 smoke test

lint: crate-lint ## cargo fmt --check, clippy -D warnings, the crate's docs and MSRV, terraform fmt/validate/checkov, actionlint
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	scripts/terraform-checks.sh lint
	scripts/actionlint.sh

crate-lint: ## the published crate kx-events: clippy with all features, docs with -D warnings, rust-version true and built with that toolchain
	cargo clippy -p kx-events --all-targets --all-features -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc -p kx-events --all-features --no-deps
	scripts/msrv.sh

publish-check: ## cargo publish --dry-run -p kx-events (packages the crate and builds it from the package)
	cargo publish --dry-run --locked -p kx-events

fmt: ## format Rust and Terraform
	cargo fmt --all
	terraform fmt -recursive terraform

rust-test: ## Rust unit, integration, end-to-end and doc tests against real services
	$(WITH_ENV) cargo build --workspace --bins && cargo test --workspace && \
	  cargo test -p kx-events # alone: its default features, without the workspace's preserve_order

terraform-test: ## terraform test (mock provider), then apply + destroy of the examples against moto
	scripts/terraform-checks.sh test
	$(WITH_ENV) scripts/terraform-checks.sh apply-moto

package: ## build the arm64 Lambda zips (target/lambda/bootstrap/bootstrap.zip: consumer; target/lambda/query/bootstrap.zip: query API) and print their sizes
	scripts/package.sh

smoke: package ## run the real arm64 bootstrap under qemu against a Runtime API server
	$(WITH_ENV) scripts/smoke-arm64.sh

demo: ## run the whole pipeline locally (PostgreSQL, moto, Terraform, runner, producer, subscriber)
	scripts/demo.sh

demo-down: ## stop what the demo left running
	scripts/demo.sh down

bench: ## benchmarks: store path, handler, cold start, zip size, track!, memory (BENCH_QUICK=1 for a short run)
	$(WITH_ENV) scripts/bench.sh

services: ## start PostgreSQL and moto for tests (writes .state/env)
	$(SERVICES) up

services-down: ## stop the moto server started by `make services`
	$(SERVICES) down

clean: ## remove build output and local state
	cargo clean
	rm -rf .state
