# Oriel's front door. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Code-generation tools are pinned in tools/go.mod and run from their own workspace: a
# tools module inside go.work would drag buf's pre-release protobuf into every service.
TOOL := GOWORK=$(CURDIR)/tools/go.work go tool
BUF := $(TOOL) buf
# The folder buf compares our contracts against; see `breaking`.
BREAKING_BASE ?= main

.PHONY: help
help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[1m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: dev
dev: ## Run the whole stack in one process on embedded defaults (data in ./.oriel)
	@# The stack runs without Node.js too; only the embed client is missing then.
	@$(MAKE) --no-print-directory embed-client || \
		echo "make dev: the embed client is not built (it needs Node.js 20 and npm); /embed/v1/ answers 503" >&2
	go run ./cli/cmd/oriel dev

.PHONY: demo
demo: embed-client ## Run the stack with a demo ISV (two tenants, users, a dashboard); open http://localhost:8080/demo
	go run ./cli/cmd/oriel dev --demo

# The embed client (TypeScript and ECharts from npm) is built into the folder the gateway
# embeds; it is rebuilt only when its sources change.
EMBED_WEB := gateway/embedclient/web
EMBED_JS := gateway/embedclient/dist/oriel-embed.js
$(EMBED_JS): $(shell find $(EMBED_WEB) -path '*/node_modules' -prune -o -type f -print 2>/dev/null)
	./tools/scripts/build-embed-client.sh

.PHONY: embed-client
embed-client: $(EMBED_JS) ## Build the embed client (<oriel-embed>) that the gateway serves

.PHONY: test
test: embed-client ## Run every check and every test; starts PostgreSQL and Redis when they are missing
	@# The script prints `export` lines for servers it had to start; a failure stops here.
	services="$$(./tools/scripts/test-services.sh)"; eval "$$services"; \
	$(MAKE) --no-print-directory check; \
	go test -race -count=1 -timeout 15m work; \
	GOWORK=$(CURDIR)/tools/go.work go test -count=1 ./tools/...

.PHONY: check
check: lint breaking check-generated vet ## Lint, breaking-change, freshness and vet checks

.PHONY: third-party
third-party: ## Print the third-party protos from their Go packages into third_party/
	rm -rf third_party
	$(TOOL) protodeps -out third_party

.PHONY: generate
generate: third-party ## Regenerate gen/ (Go stubs and OpenAPI) from proto/
	$(BUF) generate

.PHONY: lint
lint: third-party ## buf lint and gofmt
	$(BUF) lint
	@unformatted="$$(git ls-files -co --exclude-standard '*.go' | grep -v '^gen/' | xargs -r gofmt -l)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi

.PHONY: breaking
breaking: third-party ## buf breaking (WIRE_JSON) against $(BREAKING_BASE)
	@# buf cannot see the git-ignored third_party/ through a .git input, so the base is
	@# exported into a temporary folder and given its own printed third_party/.
	@if ! git cat-file -e "$(BREAKING_BASE):proto" 2>/dev/null; then \
		echo "breaking: $(BREAKING_BASE) has no proto/ yet; nothing to compare against"; exit 0; fi; \
	base="$$(mktemp -d)"; trap 'rm -rf "$$base"' EXIT; \
	git archive "$(BREAKING_BASE)" proto buf.yaml | tar -x -C "$$base"; \
	$(TOOL) protodeps -out "$$base/third_party"; \
	$(BUF) breaking --against "$$base"; \
	echo "breaking: no breaking change against $(BREAKING_BASE)"

.PHONY: check-generated
check-generated: generate ## Fail when gen/ differs from what the protos generate
	@if [ -n "$$(git status --porcelain -- gen)" ]; then \
		git status --short -- gen; git diff --stat -- gen; \
		echo "gen/ is stale: run 'make generate' and commit the result"; exit 1; fi

.PHONY: vet
vet: ## go vet over every module
	go vet work
	GOWORK=$(CURDIR)/tools/go.work go vet ./tools/...

.PHONY: bench
bench: embed-client ## Run the benchmarks (PostgreSQL and Redis needed, as for make test)
	services="$$(./tools/scripts/test-services.sh)"; eval "$$services"; \
	go test -run '^$$' -bench . -benchtime 3s work

.PHONY: build
build: embed-client ## Build every binary into bin/
	CGO_ENABLED=0 go build -trimpath -o bin/ ./cli/cmd/oriel ./services/content/cmd/content ./services/datagateway/cmd/datagateway ./services/datagateway/cmd/oriel-agent ./services/identity/cmd/identity ./services/tenant/cmd/tenant ./gateway/cmd/gateway

.PHONY: tidy
tidy: ## go mod tidy in every module
	for m in gen platform services/content services/datagateway services/identity services/tenant gateway cli; do (cd $$m && GOWORK=off go mod tidy); done
	cd tools && GOWORK=$(CURDIR)/tools/go.work go mod tidy
