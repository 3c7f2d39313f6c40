package engine

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// Options are the engine's settings. They are process-wide, as the BLAS library they drive is: Configure them
// once at start-up (the inference library and the trainer do), before kernels run.
type Options struct {
	// Threads (optional) is the engine's parallelism: the goroutines kernels split their work into and the
	// OpenBLAS threads. It defaults to the current value (runtime.GOMAXPROCS at start).
	Threads int
	// Winograd (optional) selects the path of 3×3 stride-1 convolutions: "auto" (the measured policy of
	// useWinograd), "never" (always im2col + GEMM) or "always". It defaults to auto. The environment variable
	// CEN_WINOGRAD (never, 0 or always), when set, overrides it: that is how the test suite reruns the PyTorch
	// parity tests on either path with the same binary.
	Winograd string
	// GEMMThreading (optional) is "split" (each GEMM split across the engine's goroutines, OpenBLAS
	// single-threaded in each) or "openblas" (OpenBLAS's own thread pool). It defaults to split, which measured
	// faster (OpenBLAS's threads spin in sched_yield between GEMMs). CEN_OPENBLAS_THREADS=1 overrides it to
	// openblas.
	GEMMThreading string
	// ScratchLimit (optional) bounds, in bytes, the column and transform buffers the engine keeps between
	// calls for reuse. It defaults to 256 MiB; buffers beyond it are left to the garbage collector. (Tensor
	// storage handed back with Release is recycled apart from these and needs no limit: buffers of a size no
	// longer used are dropped after two garbage collections.)
	ScratchLimit int64
}

// DefaultScratchLimit is Options.ScratchLimit's default.
const DefaultScratchLimit = 256 << 20

var (
	// wgPolicy selects the path of eligible convolutions (wgAuto, wgNever, wgAlways).
	wgPolicy atomic.Int32
	// openblasThreads selects the GEMM threading: OpenBLAS's own threads (true) or, by default, each GEMM split
	// across the engine's goroutines with OpenBLAS single-threaded. Measured on the refinenet-r50 training step
	// (240×320, batch 2, 2 cores): OpenBLAS threads spend 7.5 s of system time per step spinning in sched_yield
	// between GEMMs; splitting removes that and the step takes 15.4 s instead of 17.1 s.
	openblasThreads atomic.Bool
)

// envErr is a malformed environment override. It must not be silently ignored, nor crash a program at import:
// Configure reports it, and until then the default applies. (A variable initialiser, so the overrides are in
// place before any init function sizes the thread pools.)
var envErr = applyEnv()

const (
	wgAuto   = iota // useWinograd's measured policy
	wgNever         // always im2col + GEMM
	wgAlways        // Winograd for every 3×3/s1/p1/d1 convolution
)

func winogradPolicy(v string) (int32, error) {
	switch strings.ToLower(v) {
	case "", "auto":
		return wgAuto, nil
	case "never", "0":
		return wgNever, nil
	case "always":
		return wgAlways, nil
	}
	return 0, fmt.Errorf("winograd policy %q: use auto, never or always", v)
}

// applyEnv applies the environment overrides.
func applyEnv() error {
	if v, ok := os.LookupEnv("CEN_WINOGRAD"); ok {
		p, err := winogradPolicy(v)
		if err != nil {
			return fmt.Errorf("engine: CEN_WINOGRAD: %w", err)
		}
		wgPolicy.Store(p)
	}
	if v := os.Getenv("CEN_OPENBLAS_THREADS"); v != "" {
		openblasThreads.Store(true)
	}
	return nil
}

// Configure applies o. Fields left at their zero value keep their defaults; environment overrides win over
// o, as documented per field.
func Configure(o Options) error {
	if envErr != nil {
		return envErr
	}
	p, err := winogradPolicy(o.Winograd)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	var native bool
	switch strings.ToLower(o.GEMMThreading) {
	case "", "split":
	case "openblas":
		native = true
	default:
		return fmt.Errorf("engine: GEMM threading %q: use split or openblas", o.GEMMThreading)
	}
	if o.Threads < 0 || o.ScratchLimit < 0 {
		return fmt.Errorf("engine: threads %d and scratch limit %d must not be negative", o.Threads, o.ScratchLimit)
	}
	wgPolicy.Store(p)
	openblasThreads.Store(native)
	limit := o.ScratchLimit
	if limit == 0 {
		limit = DefaultScratchLimit
	}
	setScratchLimit(limit)
	if err := applyEnv(); err != nil {
		return err
	}
	threads := o.Threads
	if threads == 0 {
		threads = Threads()
	}
	SetThreads(threads)
	return nil
}
