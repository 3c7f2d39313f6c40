package engine

import (
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"
)

func pooledCount(n int) int {
	buffers.mu.Lock()
	defer buffers.mu.Unlock()
	return len(buffers.free[n])
}

func TestReleasedStorageIsReusedAndNewTensorZeroesIt(t *testing.T) {
	const n, c, h, w = 1, 3, 17, 19 // a size no other test uses
	a := NewTensor(n, c, h, w)
	for i := range a.Data {
		a.Data[i] = float32(i + 1)
	}
	p := &a.Data[0]
	Release(a)
	if a.Data != nil {
		t.Fatalf("a released tensor keeps its data")
	}
	Release(a) // a second release of the emptied tensor does nothing
	if got := pooledCount(n * c * h * w); got != 1 {
		t.Fatalf("%d buffers of that size are free after one release, want 1", got)
	}
	b := NewTensor(n, c, h, w)
	if &b.Data[0] != p {
		t.Fatalf("NewTensor did not reuse the released storage")
	}
	for i, v := range b.Data {
		if v != 0 {
			t.Fatalf("NewTensor on reused storage: element %d is %v, want 0", i, v)
		}
	}
	if e := Empty(n, c, h, w); &e.Data[0] == p || len(e.Data) != n*c*h*w {
		t.Fatalf("storage in use was handed out again")
	}
	Release(nil)
}

func TestIdleReleasedBuffersAreDroppedByTheCollector(t *testing.T) {
	const size = 12347 // no other test uses it
	Release(Empty(1, 1, 1, size))
	if pooledCount(size) != 1 {
		t.Fatal("buffer not kept after release")
	}
	// The finalizer that ages the lists runs after each collection, on its own goroutine.
	deadline := time.Now().Add(10 * time.Second)
	for pooledCount(size) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a buffer no one reused survived 10 s of garbage collections")
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// TestInPlaceKernelsMatchTheirCopies checks the exchange (which works in place, with scratch planes) against
// a direct statement of Eq. 6 and of its gradient for one to three modalities, and batch norm's backward pass
// written over its own output gradient against a separate one.
func TestInPlaceKernelsMatchTheirCopies(t *testing.T) {
	rng := newRNG(80)
	same := func(name string, got, want []float32) {
		t.Helper()
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-6 {
				t.Fatalf("%s[%d] = %v, want %v", name, i, got[i], want[i])
			}
		}
	}
	for _, m := range []int{1, 2, 3} {
		const c, hw = 5, 12
		x := randTensor(rng, 2*m, c, 3, 4)
		keep := make([]bool, m*c)
		for i := range keep {
			keep[i] = rng.IntN(3) > 0
		}
		keep[0] = false // at least one replaced channel
		n := 2
		at := func(d []float32, mi, s, ch, j int) float32 { return d[((mi*n+s)*c+ch)*hw+j] }
		fwd, bwd := make([]float32, len(x.Data)), make([]float32, len(x.Data))
		for mi := 0; mi < m; mi++ {
			for s := 0; s < n; s++ {
				for ch := 0; ch < c; ch++ {
					for j := 0; j < hw; j++ {
						i := ((mi*n+s)*c+ch)*hw + j
						var others, grad float32
						for k := 0; k < m; k++ {
							if k != mi {
								others += at(x.Data, k, s, ch, j)
								if !keep[k*c+ch] {
									grad += at(x.Data, k, s, ch, j) / float32(m-1)
								}
							}
						}
						if keep[mi*c+ch] || m == 1 {
							fwd[i], bwd[i] = x.Data[i], x.Data[i]+grad
						} else {
							fwd[i], bwd[i] = others/float32(m-1), grad
						}
						if m == 1 {
							bwd[i] = x.Data[i]
						}
					}
				}
			}
		}
		got := x.Clone()
		ExchangeInPlace(got, m, keep)
		same(fmt.Sprintf("ExchangeInPlace, %d modalities", m), got.Data, fwd)
		got = x.Clone()
		ExchangeBackwardInPlace(got, m, keep)
		same(fmt.Sprintf("ExchangeBackwardInPlace, %d modalities", m), got.Data, bwd)
	}

	// Batch norm backward with dx = dy.
	x := randTensor(rng, 4, 3, 5, 6)
	gamma, beta := randSlice(rng, 6, 0.5, 1.5), randSlice(rng, 6, -1, 1)
	mean, variance := randSlice(rng, 6, -1, 1), randSlice(rng, 6, 0.5, 2)
	dy := randTensor(rng, 4, 3, 5, 6)
	dx := NewTensor(4, 3, 5, 6)
	dg, db := make([]float32, 6), make([]float32, 6)
	BatchNormEvalBackward(x, dy, 2, gamma, mean, variance, 1e-5, dx, dg, db)
	got := dy.Clone()
	dg2, db2 := make([]float32, 6), make([]float32, 6)
	BatchNormEvalBackward(x, got, 2, gamma, mean, variance, 1e-5, got, dg2, db2)
	same("BatchNormEvalBackward dx", got.Data, dx.Data)
	same("BatchNormEvalBackward dgamma", dg2, dg)
	same("BatchNormEvalBackward dbeta", db2, db)
	_, cache := BatchNormTrain(x, 2, gamma, beta, make([]float32, 6), make([]float32, 6), 0.1, 1e-5)
	clear(dg)
	clear(db)
	BatchNormTrainBackward(cache, dy, dx, dg, db)
	got = dy.Clone()
	clear(dg2)
	clear(db2)
	BatchNormTrainBackward(cache, got, got, dg2, db2)
	same("BatchNormTrainBackward dx", got.Data, dx.Data)
	same("BatchNormTrainBackward dgamma", dg2, dg)
	same("BatchNormTrainBackward dbeta", db2, db)
}
