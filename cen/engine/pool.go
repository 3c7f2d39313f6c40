package engine

import (
	"fmt"
	"math"
)

// MaxPool2D applies k×k max pooling with the given stride and padding, as
// torch.nn.functional.max_pool2d (floor mode, dilation 1). Padding counts as
// -Inf, and among equal values the first in row-major scan order wins, as
// PyTorch's CPU kernel. argmax holds, per output element, the index h*W+w of
// the chosen element within its input plane.
func MaxPool2D(x *Tensor, k, stride, pad int) (y *Tensor, argmax []int32) {
	if k <= 0 || stride <= 0 || pad < 0 || 2*pad > k {
		panic(fmt.Sprintf("engine: MaxPool2D: invalid kernel %d, stride %d, pad %d", k, stride, pad))
	}
	ho := (x.H+2*pad-k)/stride + 1
	wo := (x.W+2*pad-k)/stride + 1
	if ho <= 0 || wo <= 0 {
		panic(fmt.Sprintf("engine: MaxPool2D: %v too small for kernel %d", x, k))
	}
	y = NewTensor(x.N, x.C, ho, wo)
	argmax = make([]int32, y.Len())
	hw, ohw := x.H*x.W, ho*wo
	negInf := float32(math.Inf(-1))
	parallelFor(x.N*x.C, ohw*k*k, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src := x.Data[p*hw : (p+1)*hw]
			dst, idx := y.Data[p*ohw:(p+1)*ohw], argmax[p*ohw:(p+1)*ohw]
			for oh := 0; oh < ho; oh++ {
				h0 := oh*stride - pad
				h1 := min(h0+k, x.H)
				h0 = max(h0, 0)
				for ow := 0; ow < wo; ow++ {
					w0 := ow*stride - pad
					w1 := min(w0+k, x.W)
					w0 = max(w0, 0)
					best, bi := negInf, h0*x.W+w0
					for ih := h0; ih < h1; ih++ {
						row := src[ih*x.W : (ih+1)*x.W]
						for iw := w0; iw < w1; iw++ {
							// v != v propagates NaN as PyTorch does.
							if v := row[iw]; v > best || v != v {
								best, bi = v, ih*x.W+iw
							}
						}
					}
					dst[oh*wo+ow] = best
					idx[oh*wo+ow] = int32(bi)
				}
			}
		}
	})
	return y, argmax
}

// MaxPool2DBackward returns the input gradient [n, c, h, w] of MaxPool2D:
// each output gradient goes to the input element its argmax chose.
func MaxPool2DBackward(argmax []int32, dy *Tensor, n, c, h, w int) *Tensor {
	if len(argmax) != len(dy.Data) || dy.N != n || dy.C != c {
		panic(fmt.Sprintf("engine: MaxPool2DBackward: %d argmax values for dy %v and input [%d %d %d %d]", len(argmax), dy, n, c, h, w))
	}
	dx := NewTensor(n, c, h, w)
	hw, ohw := h*w, dy.H*dy.W
	parallelFor(n*c, ohw, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			d := dx.Data[p*hw : (p+1)*hw]
			idx := argmax[p*ohw : (p+1)*ohw]
			for i, g := range dy.Data[p*ohw : (p+1)*ohw] {
				d[idx[i]] += g
			}
		}
	})
	return dx
}
