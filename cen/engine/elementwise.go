package engine

import (
	"fmt"
	"math/rand/v2"
)

// ReLU returns max(x, 0) elementwise.
func ReLU(x *Tensor) *Tensor {
	y := NewTensor(x.N, x.C, x.H, x.W)
	parallelFor(len(x.Data), 1, func(lo, hi int) {
		d := y.Data[lo:hi]
		for i, v := range x.Data[lo:hi] {
			if v > 0 {
				d[i] = v
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
	dx := NewTensor(y.N, y.C, y.H, y.W)
	parallelFor(len(y.Data), 1, func(lo, hi int) {
		d, g := dx.Data[lo:hi], dy.Data[lo:hi]
		for i, v := range y.Data[lo:hi] {
			if v > 0 {
				d[i] = g[i]
			}
		}
	})
	return dx
}

// Add returns a + b elementwise.
func Add(a, b *Tensor) *Tensor {
	mustSameShape("Add", a, b)
	y := NewTensor(a.N, a.C, a.H, a.W)
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

// Dropout applies inverted dropout as PyTorch in training mode: each element
// is zeroed with probability p and the kept ones are scaled by 1/(1-p). It
// returns the output and the mask (0 or 1/(1-p) per element) for the
// backward. The draws come from rng in element order, so a seeded rng gives a
// reproducible mask. p must be in [0, 1]; p = 1 zeroes everything.
func Dropout(x *Tensor, p float32, rng *rand.Rand) (y *Tensor, mask []float32) {
	if p < 0 || p > 1 {
		panic(fmt.Sprintf("engine: Dropout probability %v outside [0, 1]", p))
	}
	mask = make([]float32, len(x.Data))
	var keep float32
	if p < 1 {
		keep = 1 / (1 - p)
	}
	// The mask is drawn sequentially because rng is not safe for concurrent use.
	for i := range mask {
		if rng.Float32() >= p {
			mask[i] = keep
		}
	}
	y = NewTensor(x.N, x.C, x.H, x.W)
	parallelFor(len(x.Data), 1, func(lo, hi int) {
		d, m := y.Data[lo:hi], mask[lo:hi]
		for i, v := range x.Data[lo:hi] {
			d[i] = v * m[i]
		}
	})
	return y, mask
}

// DropoutBackward returns dy scaled by the mask returned by Dropout.
func DropoutBackward(mask []float32, dy *Tensor) *Tensor {
	if len(mask) != len(dy.Data) {
		panic(fmt.Sprintf("engine: DropoutBackward: mask has %d values, dy is %v", len(mask), dy))
	}
	dx := NewTensor(dy.N, dy.C, dy.H, dy.W)
	parallelFor(len(dy.Data), 1, func(lo, hi int) {
		d, m := dx.Data[lo:hi], mask[lo:hi]
		for i, v := range dy.Data[lo:hi] {
			d[i] = v * m[i]
		}
	})
	return dx
}
