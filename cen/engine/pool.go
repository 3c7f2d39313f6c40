package engine

import (
	"fmt"
	"math"
)

// MaxPoolIndex records which input element each output of MaxPool2D took, for the backward. It stores the
// offset within the k×k window, one byte per output, rather than a plane index: a training step keeps one for
// every pooling layer until the backward pass, and four bytes each would cost as much as a float32 activation.
type MaxPoolIndex struct {
	k, stride, pad int
	n, c, h, w     int // input shape
	ho, wo         int
	win            []uint8 // (ih-h0)*k + (iw-w0) for the window origin (h0, w0) = (oh, ow)*stride - pad
}

// maxPoolWindow is the largest window MaxPoolIndex can record: k*k offsets in one byte.
const maxPoolWindow = 16

// Len returns the number of outputs.
func (ix *MaxPoolIndex) Len() int { return len(ix.win) }

// At returns the index h*W+w, within its input plane, of the element output i took.
func (ix *MaxPoolIndex) At(i int) int32 {
	o := i % (ix.ho * ix.wo)
	oh, ow := o/ix.wo, o%ix.wo
	off := int(ix.win[i])
	ih := oh*ix.stride - ix.pad + off/ix.k
	iw := ow*ix.stride - ix.pad + off%ix.k
	return int32(ih*ix.w + iw)
}

// MaxPool2D applies k×k max pooling with the given stride and padding, as
// torch.nn.functional.max_pool2d (floor mode, dilation 1). Padding counts as
// -Inf, and among equal values the first in row-major scan order wins, as
// PyTorch's CPU kernel. argmax records the chosen elements for
// MaxPool2DBackward. k is at most 16.
func MaxPool2D(x *Tensor, k, stride, pad int) (y *Tensor, argmax *MaxPoolIndex) {
	if k <= 0 || k > maxPoolWindow || stride <= 0 || pad < 0 || 2*pad > k {
		panic(fmt.Sprintf("engine: MaxPool2D: invalid kernel %d, stride %d, pad %d", k, stride, pad))
	}
	ho := (x.H+2*pad-k)/stride + 1
	wo := (x.W+2*pad-k)/stride + 1
	if ho <= 0 || wo <= 0 {
		panic(fmt.Sprintf("engine: MaxPool2D: %v too small for kernel %d", x, k))
	}
	y = Empty(x.N, x.C, ho, wo)
	argmax = &MaxPoolIndex{k: k, stride: stride, pad: pad, n: x.N, c: x.C, h: x.H, w: x.W, ho: ho, wo: wo,
		win: make([]uint8, y.Len())}
	hw, ohw := x.H*x.W, ho*wo
	negInf := float32(math.Inf(-1))
	parallelFor(x.N*x.C, ohw*k*k, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src := x.Data[p*hw : (p+1)*hw]
			dst, idx := y.Data[p*ohw:(p+1)*ohw], argmax.win[p*ohw:(p+1)*ohw]
			for oh := 0; oh < ho; oh++ {
				wh := oh*stride - pad // window origin, before clipping
				h0, h1 := max(wh, 0), min(wh+k, x.H)
				for ow := 0; ow < wo; ow++ {
					ww := ow*stride - pad
					w0, w1 := max(ww, 0), min(ww+k, x.W)
					best, bh, bw := negInf, h0, w0
					for ih := h0; ih < h1; ih++ {
						row := src[ih*x.W : (ih+1)*x.W]
						for iw := w0; iw < w1; iw++ {
							// v != v propagates NaN as PyTorch does.
							if v := row[iw]; v > best || v != v {
								best, bh, bw = v, ih, iw
							}
						}
					}
					dst[oh*wo+ow] = best
					idx[oh*wo+ow] = uint8((bh-wh)*k + bw - ww)
				}
			}
		}
	})
	return y, argmax
}

// MaxPool2DBackward returns the input gradient of MaxPool2D: each output
// gradient goes to the input element its argmax chose.
func MaxPool2DBackward(argmax *MaxPoolIndex, dy *Tensor) *Tensor {
	ix := argmax
	if dy.N != ix.n || dy.C != ix.c || dy.H != ix.ho || dy.W != ix.wo {
		panic(fmt.Sprintf("engine: MaxPool2DBackward: dy %v for pooling output [%d %d %d %d]", dy, ix.n, ix.c, ix.ho, ix.wo))
	}
	k, h, w := ix.k, ix.h, ix.w
	// Window offset → input row and column relative to the window origin.
	dh, dw := make([]int, k*k), make([]int, k*k)
	for i := range dh {
		dh[i], dw[i] = i/k, i%k
	}
	dx := NewTensor(ix.n, ix.c, h, w)
	hw, ohw := h*w, dy.H*dy.W
	parallelFor(ix.n*ix.c, ohw, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			d := dx.Data[p*hw : (p+1)*hw]
			idx := ix.win[p*ohw : (p+1)*ohw]
			g := dy.Data[p*ohw : (p+1)*ohw]
			for oh := 0; oh < ix.ho; oh++ {
				wh := oh*ix.stride - ix.pad
				for ow := 0; ow < ix.wo; ow++ {
					i := oh*ix.wo + ow
					off := idx[i]
					d[(wh+dh[off])*w+ow*ix.stride-ix.pad+dw[off]] += g[i]
				}
			}
		}
	})
	return dx
}
