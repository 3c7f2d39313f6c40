package engine

import (
	"os"
	"strings"
	"testing"
)

func TestScratchFreeListStaysWithinItsLimit(t *testing.T) {
	defer setScratchLimit(DefaultScratchLimit)
	setScratchLimit(1 << 20) // 1 MiB
	for _, n := range []int{1000, 100000, 200000, 50000, 300000, 10, 250000} {
		putScratch(make([]float32, n))
		if b := ScratchBytes(); b > 1<<20 {
			t.Fatalf("after returning %d floats the free list holds %d bytes, over its 1 MiB limit", n, b)
		}
	}
	// A buffer over the whole limit is never kept; a kept one is handed out again.
	before := ScratchBytes()
	putScratch(make([]float32, 1<<20))
	if ScratchBytes() != before {
		t.Fatalf("a 4 MiB buffer was kept under a 1 MiB limit")
	}
	b := getScratch(200000)
	if cap(b) < 200000 || ScratchBytes() >= before {
		t.Fatalf("getScratch did not reuse a kept buffer: cap %d, %d bytes left of %d", cap(b), ScratchBytes(), before)
	}
	putScratch(b)
}

func TestConfigureNamesTheBadOption(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Winograd: "sometimes"}, `winograd policy "sometimes"`},
		{Options{GEMMThreading: "mkl"}, `GEMM threading "mkl"`},
		{Options{Threads: -1}, "must not be negative"},
	} {
		if err := Configure(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Configure(%+v) = %v, want %q", tc.o, err, tc.want)
		}
	}
	defer func(p int32) { wgPolicy.Store(p) }(wgPolicy.Load())
	if err := Configure(Options{Winograd: "always", Threads: Threads()}); err != nil {
		t.Fatal(err)
	}
	if _, overridden := os.LookupEnv("CEN_WINOGRAD"); wgPolicy.Load() != wgAlways && !overridden {
		t.Fatalf("Winograd option not applied")
	}
	if err := Configure(Options{}); err != nil {
		t.Fatal(err)
	}
}
