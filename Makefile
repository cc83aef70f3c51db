# The README's commands. `make test` is what CI runs.
GO      ?= go
FUZZTIME ?= 15s
VERSION ?= 0.0.0-dev
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build test fmt vet tidy unit fuzz cross lint-scripts release-check bench

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o equus .

test: fmt vet tidy unit fuzz cross lint-scripts release-check

fmt:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt: unformatted files:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# go.mod and go.sum must be what `go mod tidy` makes of them; -diff prints
# the change and fails without writing anything.
tidy:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

cross:
	GOOS=linux   GOARCH=arm64 $(GO) build -o /dev/null .
	GOOS=darwin  GOARCH=arm64 $(GO) build -o /dev/null .
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null .

lint-scripts:
	scripts/lint-scripts.sh

# goreleaser check and an offline snapshot release into dist/.
release-check:
	GO=$(GO) scripts/release-check.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
