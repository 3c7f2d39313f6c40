# cen: RGB-D semantic segmentation for ROS robots with Channel-Exchanging Networks.
#   make setup [GPU=1]   install every dependency (Debian packages, Go modules, ONNX Runtime); idempotent
#   make build           bin/cen
#   make test            set-up, build, then every test (unit, fuzz smoke, end-to-end with a real rosmaster)
#   make bench           benchmarks, each with its reference measured in the same run
#   make model           train the shipped model (models/synthetic-lite-r18.onnx) again, with its evaluation
#   make repro-synthetic the shape of the paper's Table 1 on synthetic scenes (docs/repro-synthetic.md)
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GPU ?= 0
GO ?= go
# Tests get at most this long per package; CI must stay under 30 minutes in all.
TEST_TIMEOUT ?= 20m
FUZZTIME ?= 30000x

.PHONY: setup build run test bench vet clean model repro-synthetic

setup:
	@GPU=$(GPU) bash scripts/setup.sh

# The version every model file records: git describe of the checkout (a commit hash when there is no tag).
VERSION ?= $(shell git describe --always --dirty --tags 2>/dev/null || echo unknown)

build:
	$(GO) build -ldflags "-X github.com/cen-ros/cen/cen.Version=$(VERSION)" -o bin/cen ./cmd/cen

vet:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed: $$bad"; exit 1; fi
	$(GO) vet ./...

test: setup build vet
	bash scripts/test.sh

bench: setup build
	bash scripts/bench.sh

clean:
	rm -rf bin

# The main job on the built-in default: the node on the shipped model, fed a synthetic bag, scored live
# (scripts/run.sh); the results land in run-out/.
run: setup build
	@bash scripts/run.sh

model: setup build
	bash scripts/model.sh

repro-synthetic: setup build
	bash scripts/repro_synthetic.sh
