package engine

import (
	"fmt"
	"math/rand/v2"
)

// ReLU returns max(x, 0) elementwise.
func ReLU(x *Tensor) *Tensor {
	y := Empty(x.N, x.C, x.H, x.W)
	parallelFor(len(x.Data), 1, func(lo, hi int) {
		d := y.Data[lo:hi]
		for i, v := range x.Data[lo:hi] {
			if v > 0 {
				d[i] = v
			} else {
				d[i] = 0
			}
		}
	})
	return y
}

// ReLUInPlace replaces x with max(x, 0) elementwise.
func ReLUInPlace(x *Tensor) {
	parallelFor(len(x.Data), 1, func(lo, hi int) {
		d := x.Data[lo:hi]
		for i, v := range d {
			if v < 0 {
				d[i] = 0
			}
		}
	})
}

// ReLUBackward returns the input gradient of ReLU from its output y: dy
// passes where y > 0. Using the output lets callers apply ReLU in place.
func ReLUBackward(y, dy *Tensor) *Tensor {
	mustSameShape("ReLUBackward", y, dy)
	dx := dy.Clone()
	ReLUBackwardInPlace(y, dx)
	return dx
}

// ReLUBackwardInPlace turns dy into the input gradient of ReLU (see ReLUBackward): it zeroes dy where y <= 0.
func ReLUBackwardInPlace(y, dy *Tensor) {
	mustSameShape("ReLUBackwardInPlace", y, dy)
	parallelFor(len(y.Data), 1, func(lo, hi int) {
		g := dy.Data[lo:hi]
		for i, v := range y.Data[lo:hi] {
			if !(v > 0) {
				g[i] = 0
			}
		}
	})
}

// Add returns a + b elementwise.
func Add(a, b *Tensor) *Tensor {
	mustSameShape("Add", a, b)
	y := Empty(a.N, a.C, a.H, a.W)
	parallelFor(len(a.Data), 1, func(lo, hi int) {
		d, bs := y.Data[lo:hi], b.Data[lo:hi]
		for i, v := range a.Data[lo:hi] {
			d[i] = v + bs[i]
		}
	})
	return y
}

// AddInPlace adds src to dst elementwise.
func AddInPlace(dst, src *Tensor) {
	mustSameShape("AddInPlace", dst, src)
	parallelFor(len(dst.Data), 1, func(lo, hi int) {
		d := dst.Data[lo:hi]
		for i, v := range src.Data[lo:hi] {
			d[i] += v
		}
	})
}

// DropoutMask records which elements Dropout kept, one byte each (a float32 mask would be as large as the
// activation it masks), and the scale of the kept ones.
type DropoutMask struct {
	kept  []bool
	scale float32 // 1/(1-p), or 0 for p = 1
}

// At returns the factor element i was multiplied by: 0 where dropped, 1/(1-p) where kept.
func (m *DropoutMask) At(i int) float32 { return m.factor(m.kept[i]) }

// Dropout applies inverted dropout as PyTorch in training mode: each element
// is zeroed with probability p and the kept ones are scaled by 1/(1-p). It
// returns the output and the mask for the backward. The draws come from rng
// in element order, so a seeded rng gives a reproducible mask. p must be in
// [0, 1]; p = 1 zeroes everything.
func Dropout(x *Tensor, p float32, rng *rand.Rand) (y *Tensor, mask *DropoutMask) {
	if p < 0 || p > 1 {
		panic(fmt.Sprintf("engine: Dropout probability %v outside [0, 1]", p))
	}
	mask = &DropoutMask{kept: make([]bool, len(x.Data))}
	if p < 1 {
		mask.scale = 1 / (1 - p)
	}
	// The mask is drawn sequentially because rng is not safe for concurrent use.
	for i := range mask.kept {
		mask.kept[i] = rng.Float32() >= p
	}
	y = Empty(x.N, x.C, x.H, x.W)
	parallelFor(len(x.Data), 1, func(lo, hi int) {
		d, m := y.Data[lo:hi], mask.kept[lo:hi]
		for i, v := range x.Data[lo:hi] {
			d[i] = v * mask.factor(m[i])
		}
	})
	return y, mask
}

// factor is the multiplier of an element kept (or not).
func (m *DropoutMask) factor(kept bool) float32 {
	if kept {
		return m.scale
	}
	return 0
}

// DropoutBackward returns dy scaled by the mask returned by Dropout.
func DropoutBackward(mask *DropoutMask, dy *Tensor) *Tensor {
	dx := dy.Clone()
	DropoutBackwardInPlace(mask, dx)
	return dx
}

// DropoutBackwardInPlace scales dy by the mask returned by Dropout, turning it into the input gradient.
func DropoutBackwardInPlace(mask *DropoutMask, dy *Tensor) {
	if len(mask.kept) != len(dy.Data) {
		panic(fmt.Sprintf("engine: DropoutBackward: mask has %d values, dy is %v", len(mask.kept), dy))
	}
	parallelFor(len(dy.Data), 1, func(lo, hi int) {
		d, m := dy.Data[lo:hi], mask.kept[lo:hi]
		for i, v := range d {
			d[i] = v * mask.factor(m[i])
		}
	})
}
