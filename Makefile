# cen: RGB-D semantic segmentation for ROS robots with Channel-Exchanging Networks.
#   make setup [GPU=1]   install every dependency (Debian packages, Go modules, ONNX Runtime); idempotent
#   make build           bin/cen
#   make test            set-up, build, then every test (unit, fuzz smoke, end-to-end with a real rosmaster)
#   make bench           benchmarks, each with its reference measured in the same run
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GPU ?= 0
GO ?= go
# Tests get at most this long per package; CI must stay under 30 minutes in all.
TEST_TIMEOUT ?= 20m
FUZZTIME ?= 300000x

.PHONY: setup build run test bench vet clean

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

# The main job on the built-in default: check the machine against a rosmaster of its own, and print versions.
run: setup build
	@bash scripts/run.sh
