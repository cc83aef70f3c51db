# The README's commands. `make test` is what CI runs.
GO      ?= go
FUZZTIME ?= 15s
VERSION ?= 0.0.0-dev
LDFLAGS := -s -w -X main.version=$(VERSION)
# As the release builds it (.goreleaser.yaml): static, so that no dynamic
# loader runs before every command, and without urfave/cli's markdown and
# man page writers (tools/equus-man has them), whose packages would set
# themselves up at every start. Each costs a run of `helen run` about as
# much CPU as the check (tools/equus-load/cli-cost.sh measures it).
BUILDTAGS := urfave_cli_no_docs

.PHONY: build test fmt vet tidy unit fuzz cross lint-scripts release-check bench

build:
	CGO_ENABLED=0 $(GO) build -tags '$(BUILDTAGS)' -ldflags '$(LDFLAGS)' -o equus .

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
