package engine

import (
	"fmt"
	"math"
)

// linearTaps holds, for one output index, the two source indices and their
// weights of linear interpolation along one axis.
type linearTaps struct {
	i0, i1 int
	l0, l1 float32
}

// linearIndex computes the taps along one axis as PyTorch's CPU
// upsample_bilinear2d does, in float32 as PyTorch does for float tensors:
// align_corners=false maps dst to (dst+0.5)*in/out-0.5 clamped at 0;
// align_corners=true maps dst to dst*(in-1)/(out-1), or 0 when out == 1.
func linearIndex(in, out int, alignCorners bool) []linearTaps {
	taps := make([]linearTaps, out)
	var scale float32
	if alignCorners {
		if out > 1 {
			scale = float32(in-1) / float32(out-1)
		}
	} else {
		scale = float32(in) / float32(out)
	}
	for d := range taps {
		var src float32
		if alignCorners {
			src = scale * float32(d)
		} else {
			src = scale*(float32(d)+0.5) - 0.5
			if src < 0 {
				src = 0
			}
		}
		i0 := min(int(src), in-1)
		l1 := min(max(src-float32(i0), 0), 1)
		i1 := i0
		if i0 < in-1 {
			i1 = i0 + 1
		}
		taps[d] = linearTaps{i0: i0, i1: i1, l0: 1 - l1, l1: l1}
	}
	return taps
}

func checkResize(op string, x *Tensor, h, w int) {
	if h <= 0 || w <= 0 || x.H <= 0 || x.W <= 0 {
		panic(fmt.Sprintf("engine: %s: %v to %dx%d", op, x, h, w))
	}
}

// ResizeBilinear resizes x to h×w exactly as
// torch.nn.functional.interpolate(mode='bilinear', align_corners=alignCorners).
func ResizeBilinear(x *Tensor, h, w int, alignCorners bool) *Tensor {
	checkResize("ResizeBilinear", x, h, w)
	ty := linearIndex(x.H, h, alignCorners)
	tx := linearIndex(x.W, w, alignCorners)
	y := Empty(x.N, x.C, h, w)
	ihw, ohw := x.H*x.W, h*w
	parallelFor(x.N*x.C, 4*ohw, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src, dst := x.Data[p*ihw:(p+1)*ihw], y.Data[p*ohw:(p+1)*ohw]
			for oh, a := range ty {
				r0, r1 := src[a.i0*x.W:(a.i0+1)*x.W], src[a.i1*x.W:(a.i1+1)*x.W]
				d := dst[oh*w : (oh+1)*w]
				for ow, b := range tx {
					d[ow] = a.l0*(b.l0*r0[b.i0]+b.l1*r0[b.i1]) + a.l1*(b.l0*r1[b.i0]+b.l1*r1[b.i1])
				}
			}
		}
	})
	return y
}

// ResizeBilinearBackward returns the gradient [N, C, h, w] of the input of
// ResizeBilinear(x, dy.H, dy.W, alignCorners) where x was h×w: each output
// gradient is spread back over its four source pixels with the forward
// weights.
func ResizeBilinearBackward(dy *Tensor, h, w int, alignCorners bool) *Tensor {
	checkResize("ResizeBilinearBackward", dy, h, w)
	ty := linearIndex(h, dy.H, alignCorners)
	tx := linearIndex(w, dy.W, alignCorners)
	dx := NewTensor(dy.N, dy.C, h, w)
	ihw, ohw := h*w, dy.H*dy.W
	parallelFor(dy.N*dy.C, 4*ohw, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			dst, src := dx.Data[p*ihw:(p+1)*ihw], dy.Data[p*ohw:(p+1)*ohw]
			for oh, a := range ty {
				r0, r1 := dst[a.i0*w:(a.i0+1)*w], dst[a.i1*w:(a.i1+1)*w]
				g := src[oh*dy.W : (oh+1)*dy.W]
				for ow, b := range tx {
					v := g[ow]
					r0[b.i0] += a.l0 * b.l0 * v
					r0[b.i1] += a.l0 * b.l1 * v
					r1[b.i0] += a.l1 * b.l0 * v
					r1[b.i1] += a.l1 * b.l1 * v
				}
			}
		}
	})
	return dx
}

// cubicA is the Keys kernel parameter PyTorch uses for bicubic resizing.
const cubicA = -0.75

// cubicTaps holds, for one output index, four source indices (clamped to
// the border) and their weights.
type cubicTaps struct {
	i [4]int
	c [4]float32
}

// cubicIndex computes the taps along one axis as PyTorch's CPU bicubic
// upsampling with align_corners=false: src = (dst+0.5)*in/out-0.5 without
// clamping, index floor(src) bounded above by in-1, fraction clamped to [0,1].
func cubicIndex(in, out int) []cubicTaps {
	taps := make([]cubicTaps, out)
	scale := float32(in) / float32(out)
	for d := range taps {
		src := scale*(float32(d)+0.5) - 0.5
		i0 := min(int(math.Floor(float64(src))), in-1)
		t := min(max(src-float32(i0), 0), 1)
		cc1 := func(x float32) float32 { return ((cubicA+2)*x-(cubicA+3))*x*x + 1 }
		cc2 := func(x float32) float32 { return ((cubicA*x-5*cubicA)*x+8*cubicA)*x - 4*cubicA }
		tp := cubicTaps{c: [4]float32{cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)}}
		for j := range tp.i {
			tp.i[j] = min(max(i0-1+j, 0), in-1)
		}
		taps[d] = tp
	}
	return taps
}

// ResizeBicubic resizes x to h×w as torch.nn.functional.interpolate(
// mode='bicubic', align_corners=False): Keys kernel with a = -0.75 and source
// indices clamped to the border. Forward only; it brings logits to label size
// for evaluation.
func ResizeBicubic(x *Tensor, h, w int) *Tensor {
	checkResize("ResizeBicubic", x, h, w)
	ty := cubicIndex(x.H, h)
	tx := cubicIndex(x.W, w)
	y := Empty(x.N, x.C, h, w)
	ihw, ohw := x.H*x.W, h*w
	parallelFor(x.N*x.C, 20*ohw, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src, dst := x.Data[p*ihw:(p+1)*ihw], y.Data[p*ohw:(p+1)*ohw]
			for oh, a := range ty {
				d := dst[oh*w : (oh+1)*w]
				var rows [4][]float32
				for r := range rows {
					rows[r] = src[a.i[r]*x.W : (a.i[r]+1)*x.W]
				}
				for ow, b := range tx {
					var v float32
					for r, row := range rows {
						v += a.c[r] * (b.c[0]*row[b.i[0]] + b.c[1]*row[b.i[1]] + b.c[2]*row[b.i[2]] + b.c[3]*row[b.i[3]])
					}
					d[ow] = v
				}
			}
		}
	})
	return y
}
