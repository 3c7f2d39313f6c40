package engine

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int num_threads);
import "C"

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/netlib/blas/netlib"
)

// threads is the parallelism of the engine: OpenBLAS threads and the number
// of goroutines non-BLAS kernels split their work into.
var threads atomic.Int32

// impl is the BLAS the engine calls directly, bypassing blas32's General
// wrappers so kernels can pass raw slices with explicit leading dimensions.
var impl blas.Float32 = netlib.Implementation{}

func init() {
	// blas32.Use makes every gonum float32 user in the process share OpenBLAS,
	// so there is only one BLAS thread pool to size.
	blas32.Use(impl)
	SetThreads(runtime.GOMAXPROCS(0))
}

// SetThreads sets the number of OpenBLAS threads and the number of goroutines
// the non-BLAS kernels use. Values below 1 mean 1.
func SetThreads(n int) {
	if n < 1 {
		n = 1
	}
	threads.Store(int32(n))
	if splitGemm {
		// The engine splits each GEMM across its own goroutines and OpenBLAS runs single-threaded in each: no
		// OpenBLAS worker threads spin (sched_yield) while the engine's non-BLAS kernels need the cores.
		C.openblas_set_num_threads(1)
	} else {
		C.openblas_set_num_threads(C.int(n))
	}
}

// nativeThreads runs f with OpenBLAS using its own Threads() threads, whatever splitGemm says: the machine's
// SGEMM peak that benchmarks compare against.
func nativeThreads(f func()) {
	C.openblas_set_num_threads(C.int(Threads()))
	defer SetThreads(Threads())
	f()
}

// splitGemm selects the GEMM threading: the engine's goroutines (true, the default) or OpenBLAS's own threads
// (set CEN_OPENBLAS_THREADS=1). Measured on the refinenet-r50 training step (240×320, batch 2, 2 cores): OpenBLAS
// threads spend 7.5 s of system time per step spinning in sched_yield between GEMMs; splitting removes that and
// the step takes 15.4 s instead of 17.1 s.
var splitGemm = os.Getenv("CEN_OPENBLAS_THREADS") == ""

// Threads returns the parallelism set by [SetThreads]; it defaults to
// runtime.GOMAXPROCS(0).
func Threads() int { return int(threads.Load()) }

// sgemm is row-major C = alpha*op(A)*op(B) + beta*C with C m×n.
func sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	t := Threads()
	if !splitGemm || t <= 1 || 2*m*n*k < 1<<22 {
		sgemm1(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	var wg sync.WaitGroup
	if n >= m {
		// Split the columns of C (and of op(B)).
		chunk := (n + t - 1) / t
		for j0 := chunk; j0 < n; j0 += chunk {
			j1 := min(j0+chunk, n)
			boff := j0
			if tB {
				boff = j0 * ldb
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sgemm1(tA, tB, m, j1-j0, k, alpha, a, lda, b[boff:], ldb, beta, c[j0:], ldc)
			}()
		}
		sgemm1(tA, tB, m, min(chunk, n), k, alpha, a, lda, b, ldb, beta, c, ldc)
	} else {
		// Split the rows of C (and of op(A)).
		chunk := (m + t - 1) / t
		for i0 := chunk; i0 < m; i0 += chunk {
			i1 := min(i0+chunk, m)
			aoff := i0 * lda
			if tA {
				aoff = i0
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sgemm1(tA, tB, i1-i0, n, k, alpha, a[aoff:], lda, b, ldb, beta, c[i0*ldc:], ldc)
			}()
		}
		sgemm1(tA, tB, min(chunk, m), n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
	wg.Wait()
}

func sgemm1(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	impl.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// minParallelWork is the number of element operations below which splitting
// work across goroutines costs more than it saves.
const minParallelWork = 1 << 15

// parallelFor calls f on disjoint subranges covering [0, n), in up to
// Threads() goroutines. cost is the approximate work per index; small jobs
// run inline on the caller's goroutine.
func parallelFor(n, cost int, f func(lo, hi int)) {
	if n <= 0 {
		return
	}
	t := Threads()
	if t > n {
		t = n
	}
	if t <= 1 || n*cost < minParallelWork {
		f(0, n)
		return
	}
	chunk := (n + t - 1) / t
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	f(0, min(chunk, n))
	wg.Wait()
}

// scratch is a small free list of float32 buffers for im2col columns and
// GEMM temporaries. Unlike sync.Pool it survives garbage collections, so the
// large column buffers of the first layers are not reallocated every step.
var scratch struct {
	mu   sync.Mutex
	free [][]float32
}

// maxScratchBuffers bounds the memory the free list keeps.
const maxScratchBuffers = 8

// getScratch returns a buffer of length n with unspecified contents.
func getScratch(n int) []float32 {
	scratch.mu.Lock()
	best := -1
	for i, b := range scratch.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(scratch.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := scratch.free[best]
		last := len(scratch.free) - 1
		scratch.free[best] = scratch.free[last]
		scratch.free[last] = nil
		scratch.free = scratch.free[:last]
		scratch.mu.Unlock()
		return b[:n]
	}
	scratch.mu.Unlock()
	return make([]float32, n)
}

// putScratch returns b to the free list, dropping the smallest buffer when
// the list is full.
func putScratch(b []float32) {
	if cap(b) == 0 {
		return
	}
	scratch.mu.Lock()
	defer scratch.mu.Unlock()
	if len(scratch.free) < maxScratchBuffers {
		scratch.free = append(scratch.free, b[:cap(b)])
		return
	}
	small := 0
	for i, f := range scratch.free {
		if cap(f) < cap(scratch.free[small]) {
			small = i
		}
	}
	if cap(scratch.free[small]) < cap(b) {
		scratch.free[small] = b[:cap(b)]
	}
}
