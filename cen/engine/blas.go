package engine

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int num_threads);
import "C"

import (
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
	if !openblasThreads.Load() {
		// The engine splits each GEMM across its own goroutines and OpenBLAS runs single-threaded in each: no
		// OpenBLAS worker threads spin (sched_yield) while the engine's non-BLAS kernels need the cores.
		C.openblas_set_num_threads(1)
	} else {
		C.openblas_set_num_threads(C.int(n))
	}
}

// nativeThreads runs f with OpenBLAS using its own Threads() threads, whatever the GEMM threading option says: the machine's
// SGEMM peak that benchmarks compare against.
func nativeThreads(f func()) {
	C.openblas_set_num_threads(C.int(Threads()))
	defer SetThreads(Threads())
	f()
}

// Threads returns the parallelism set by [SetThreads]; it defaults to
// runtime.GOMAXPROCS(0).
func Threads() int { return int(threads.Load()) }

// sgemm is row-major C = alpha*op(A)*op(B) + beta*C with C m×n.
func sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	t := Threads()
	if openblasThreads.Load() || t <= 1 || 2*m*n*k < 1<<22 {
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
// It keeps at most maxScratchBuffers buffers of at most limit bytes in all.
var scratch = scratchList{limit: DefaultScratchLimit}

type scratchList struct {
	mu    sync.Mutex
	free  [][]float32
	bytes int64 // capacity held in free, in bytes
	limit int64
}

// maxScratchBuffers bounds the number of buffers the free list keeps.
const maxScratchBuffers = 8

func setScratchLimit(limit int64) {
	scratch.mu.Lock()
	defer scratch.mu.Unlock()
	scratch.limit = limit
	for scratch.bytes > scratch.limit && len(scratch.free) > 0 {
		scratch.dropLargest()
	}
}

// ScratchBytes reports the bytes the free list holds now (tests and memory reports).
func ScratchBytes() int64 {
	scratch.mu.Lock()
	defer scratch.mu.Unlock()
	return scratch.bytes
}

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
		scratch.remove(best)
		scratch.mu.Unlock()
		return b[:n]
	}
	scratch.mu.Unlock()
	return make([]float32, n)
}

// putScratch returns b to the free list. When the list is full, or b would take it past its byte limit, the
// smallest buffers make room for b if that is enough; otherwise b is dropped.
func putScratch(b []float32) {
	size := 4 * int64(cap(b))
	if size == 0 {
		return
	}
	scratch.mu.Lock()
	defer scratch.mu.Unlock()
	if size > scratch.limit {
		return
	}
	for len(scratch.free) > 0 && (len(scratch.free) >= maxScratchBuffers || scratch.bytes+size > scratch.limit) {
		small := 0
		for i, f := range scratch.free {
			if cap(f) < cap(scratch.free[small]) {
				small = i
			}
		}
		if cap(scratch.free[small]) >= cap(b) {
			return // every buffer kept is at least as useful as b
		}
		scratch.remove(small)
	}
	scratch.free = append(scratch.free, b[:cap(b)])
	scratch.bytes += size
}

// remove takes buffer i out of the free list. Callers hold scratch.mu.
func (s *scratchList) remove(i int) {
	s.bytes -= 4 * int64(cap(s.free[i]))
	last := len(s.free) - 1
	s.free[i] = s.free[last]
	s.free[last] = nil
	s.free = s.free[:last]
}

// dropLargest removes the largest buffer. Callers hold scratch.mu.
func (s *scratchList) dropLargest() {
	big := 0
	for i, f := range s.free {
		if cap(f) > cap(s.free[big]) {
			big = i
		}
	}
	s.remove(big)
}
