#!/usr/bin/env bash
# test.sh runs every test of cen: unit and end-to-end tests (real rosmaster, roslaunch, rostopic, rosbag, ONNX
# Runtime, OpenCV), the GoCV Mat-leak check and a short fuzzing run of the image decoders. It prints the number
# of tests that passed and failed at the end. `make test` runs it after `make setup` and `make build`.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

# Each step prints how long the run has taken so far, so a slow CI run shows where its time went.
step() { printf '\n== [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "go test ./..."
go test -count=1 -v -timeout "${TEST_TIMEOUT:-20m}" ./... 2>&1 | tee -a "$log" | grep -E '^(ok|FAIL|---|panic|\s+--- FAIL)|_test\.go:[0-9]+:' || true
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

# The PyTorch parity and gradient tests use layers too small for the engine's Winograd policy: run them again with
# Winograd forced so that path is held to the same tolerances.
step "CEN_WINOGRAD=always go test ./cen/"
CEN_WINOGRAD=always go test -count=1 -v ./cen/ 2>&1 | tee -a "$log" | grep -E '^(ok|FAIL|---|panic)' || true
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

# The runtime packages (the inference path a node runs from several goroutines) run again with the race
# detector; their tests include concurrent use of one ONNX Runtime session.
step "go test -race ./cen/ort/ ./infer/ ./metrics/ ./node/..."
go test -count=1 -race -v ./cen/ort/ ./infer/ ./metrics/ ./node/... 2>&1 | tee -a "$log" | grep -E '^(ok|FAIL|---|panic|WARNING: DATA RACE)' || true
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

# Packages that use GoCV also run with Mat leak counting (their tests assert the count returns to zero).
mat_pkgs=$(go list -f '{{if or .TestImports .XTestImports}}{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}}{{end}}' ./... |
  awk '/gocv.io\/x\/gocv/ {print $1}' | grep -v '/test$' || true)
if [ -n "$mat_pkgs" ]; then
  step "go test -tags matprofile $mat_pkgs"
  go test -count=1 -v -tags matprofile $mat_pkgs 2>&1 | tee -a "$log" | grep -E '^(ok|FAIL|---|panic)' || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

# Short fuzzing of every Fuzz target, each in its own package. A number of inputs, not a duration: a duration
# fails with "context deadline exceeded" when the deadline falls while the fuzzer is minimising an input
# (FuzzParseTorch did). 300000 inputs took 2-3 minutes for the slowest targets; 30000 take about 20 seconds.
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    step "fuzz $f in $pkg (${FUZZTIME:-30000x})"
    # Minimising a new interesting input may otherwise take a minute per input; a few seconds is plenty here.
    if go test -run '^$' -fuzz "^$f\$" -fuzztime "${FUZZTIME:-30000x}" -fuzzminimizetime 5s "$pkg" >"$log.fuzz" 2>&1; then
      echo "--- PASS: $f (fuzz ${FUZZTIME:-30000x})" | tee -a "$log"
    else
      cat "$log.fuzz"
      echo "--- FAIL: $f (fuzz)" | tee -a "$log"
      status=1
    fi
  done
done
rm -f "$log.fuzz"

passed=$(grep -cE '^\s*--- PASS' "$log" || true)
failed=$(grep -cE '^\s*--- FAIL' "$log" || true)
skipped=$(grep -cE '^\s*--- SKIP' "$log" || true)
if grep -qE '^(panic:|FAIL\s)' "$log"; then status=1; fi
echo
echo "tests: $passed passed, $failed failed, $skipped skipped, in $((SECONDS / 60))m$((SECONDS % 60))s"
exit $status
