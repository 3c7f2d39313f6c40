package engine

import "fmt"

// ConvSpec describes a 2-D convolution window. Stride, Pad and Dilation apply
// to both axes; Stride 0 and Dilation 0 mean 1.
type ConvSpec struct {
	KH, KW, Stride, Pad, Dilation int
}

func (s ConvSpec) norm() ConvSpec {
	if s.Stride == 0 {
		s.Stride = 1
	}
	if s.Dilation == 0 {
		s.Dilation = 1
	}
	if s.KH <= 0 || s.KW <= 0 || s.Stride < 0 || s.Pad < 0 || s.Dilation < 0 {
		panic(fmt.Sprintf("engine: invalid ConvSpec %+v", s))
	}
	return s
}

// OutSize returns the output height and width for an h×w input, as PyTorch:
// (h + 2*Pad - Dilation*(KH-1) - 1)/Stride + 1.
func (s ConvSpec) OutSize(h, w int) (int, int) {
	s = s.norm()
	ho := (h+2*s.Pad-s.Dilation*(s.KH-1)-1)/s.Stride + 1
	wo := (w+2*s.Pad-s.Dilation*(s.KW-1)-1)/s.Stride + 1
	return ho, wo
}

// Same3x3 reports whether s is a 3×3 window with stride 1, padding 1 and dilation 1 (0 counting as 1): the
// convolution that keeps the plane size, which Winograd F(m×m, 3×3) computes (the engine's F(2×2), the ONNX
// export's F(4×4)).
func (s ConvSpec) Same3x3() bool {
	s = s.norm()
	return s.KH == 3 && s.KW == 3 && s.Stride == 1 && s.Pad == 1 && s.Dilation == 1
}

// pointwise reports whether the input already is the column matrix.
func (s ConvSpec) pointwise() bool {
	return s.KH == 1 && s.KW == 1 && s.Stride == 1 && s.Pad == 0
}

// ConvFLOPs returns 2*N*Cout*Ho*Wo*Cin*KH*KW, the multiply-add count of
// Conv2D on x counted as two operations each.
func ConvFLOPs(x *Tensor, cout int, s ConvSpec) float64 {
	ho, wo := s.OutSize(x.H, x.W)
	return 2 * float64(x.N) * float64(cout) * float64(ho*wo) * float64(x.C*s.KH*s.KW)
}

// Column-batching policy. A GEMM whose column count is the output plane of
// one sample is inefficient when that plane is small (layers at 1/16 and 1/32
// resolution), so samples whose planes have fewer than smallPlane positions
// are concatenated until a GEMM has about minGemmCols columns, as long as the
// column buffer stays under maxColFloats. Measured on 2 cores (OpenBLAS
// 0.3.21): planes of 80 positions gain 10-40% (1x1 and 3x3); at 300
// positions the extra gather/scatter copies cancel the gain or lose up to
// 10%, hence the cut-off.
const (
	smallPlane   = 256
	maxColFloats = 1 << 24 // 64 MiB
)

// minGemmCols is a variable only so benchmarks can compare both policies
// (1 disables batching).
var minGemmCols = 2048

// samplesPerGemm returns how many samples go into one GEMM.
func samplesPerGemm(n, k, hw int) int {
	if hw >= smallPlane || hw >= minGemmCols || n <= 1 {
		return 1
	}
	nb := (minGemmCols + hw - 1) / hw
	if lim := maxColFloats / max(k*hw, 1); nb > lim {
		nb = lim
	}
	return max(1, min(nb, n))
}

type convShape struct {
	s             ConvSpec
	n, cin, h, w  int
	cout, ho, wo  int
	k, hw, planeX int
}

func newConvShape(op string, x *Tensor, w []float32, cout int, s ConvSpec) convShape {
	s = s.norm()
	ho, wo := s.OutSize(x.H, x.W)
	if cout <= 0 || ho <= 0 || wo <= 0 {
		panic(fmt.Sprintf("engine: %s: %v with cout %d and %+v gives output %dx%d", op, x, cout, s, ho, wo))
	}
	k := x.C * s.KH * s.KW
	if len(w) != cout*k {
		panic(fmt.Sprintf("engine: %s: weight has %d values, want cout*cin*kh*kw = %d", op, len(w), cout*k))
	}
	return convShape{s: s, n: x.N, cin: x.C, h: x.H, w: x.W, cout: cout, ho: ho, wo: wo,
		k: k, hw: ho * wo, planeX: x.H * x.W}
}

// Conv2D returns the convolution of x [N,Cin,H,W] with w [Cout,Cin,KH,KW]
// (flattened) plus bias b (nil or length Cout), with the same arithmetic as
// torch.nn.functional.conv2d. The result is [N,Cout,Ho,Wo].
func Conv2D(x *Tensor, w []float32, cout int, b []float32, s ConvSpec) *Tensor {
	cs := newConvShape("Conv2D", x, w, cout, s)
	if b != nil && len(b) != cout {
		panic(fmt.Sprintf("engine: Conv2D: bias has %d values, want %d", len(b), cout))
	}
	y := Empty(cs.n, cout, cs.ho, cs.wo) // every path writes every output
	if useWinograd(&cs) {
		winogradConv2D(&cs, x, w, b, y)
		return y
	}
	hw, k := cs.hw, cs.k
	nb := samplesPerGemm(cs.n, k, hw)
	direct := cs.s.pointwise()
	var col, tmp []float32
	if nb > 1 || !direct {
		col = getScratch(k * nb * hw)
		defer putScratch(col)
	}
	if nb > 1 {
		tmp = getScratch(cout * nb * hw)
		defer putScratch(tmp)
	}
	for n0 := 0; n0 < cs.n; n0 += nb {
		cnt := min(nb, cs.n-n0)
		cols := cnt * hw
		if cnt == 1 {
			var a []float32
			if direct {
				a = x.Data[n0*cs.cin*cs.planeX : (n0+1)*cs.cin*cs.planeX]
			} else {
				a = col[:k*hw]
				im2col(&cs, x.Data, n0, 1, a)
			}
			out := y.Data[n0*cout*hw : (n0+1)*cout*hw]
			var beta float32
			if b != nil {
				// Seed C with the bias so the GEMM adds it for free.
				for co, bv := range b {
					fill(out[co*hw:(co+1)*hw], bv)
				}
				beta = 1
			}
			sgemm(false, false, cout, hw, k, 1, w, k, a, hw, beta, out, hw)
			continue
		}
		a := col[:k*cols]
		if direct {
			gatherSamples(x.Data, n0, cnt, cs.cin, hw, a)
		} else {
			im2col(&cs, x.Data, n0, cnt, a)
		}
		t := tmp[:cout*cols]
		sgemm(false, false, cout, cols, k, 1, w, k, a, cols, 0, t, cols)
		scatterSamples(t, n0, cnt, cout, hw, b, y.Data)
	}
	return y
}

// Conv2DBackward computes the gradients of Conv2D given its input x, weight
// w and output gradient dy. It accumulates (+=) into dw (length Cout*Cin*KH*KW)
// and db (length Cout; nil skips it) and, if dx is non-nil, overwrites dx (same
// shape as x) with the input gradient.
func Conv2DBackward(x *Tensor, w []float32, cout int, s ConvSpec, dy *Tensor, dx *Tensor, dw, db []float32) {
	cs := newConvShape("Conv2DBackward", x, w, cout, s)
	if dy.N != cs.n || dy.C != cout || dy.H != cs.ho || dy.W != cs.wo {
		panic(fmt.Sprintf("engine: Conv2DBackward: dy is %v, want [%d %d %d %d]", dy, cs.n, cout, cs.ho, cs.wo))
	}
	if dx != nil {
		mustSameShape("Conv2DBackward dx", dx, x)
	}
	if len(dw) != len(w) {
		panic(fmt.Sprintf("engine: Conv2DBackward: dw has %d values, want %d", len(dw), len(w)))
	}
	if db != nil {
		if len(db) != cout {
			panic(fmt.Sprintf("engine: Conv2DBackward: db has %d values, want %d", len(db), cout))
		}
		biasGrad(dy, db)
	}
	if useWinograd(&cs) {
		winogradConv2DBackward(&cs, x, w, dy, dx, dw)
		return
	}
	hw, k := cs.hw, cs.k
	nb := samplesPerGemm(cs.n, k, hw)
	direct := cs.s.pointwise()
	var col, dcol, g []float32
	if nb > 1 || !direct {
		col = getScratch(k * nb * hw)
		defer putScratch(col)
		if dx != nil {
			dcol = getScratch(k * nb * hw)
			defer putScratch(dcol)
		}
	}
	if nb > 1 {
		g = getScratch(cout * nb * hw)
		defer putScratch(g)
	}
	for n0 := 0; n0 < cs.n; n0 += nb {
		cnt := min(nb, cs.n-n0)
		cols := cnt * hw
		var a, gy []float32
		switch {
		case cnt == 1 && direct:
			a = x.Data[n0*cs.cin*cs.planeX : (n0+1)*cs.cin*cs.planeX]
		case direct:
			a = col[:k*cols]
			gatherSamples(x.Data, n0, cnt, cs.cin, hw, a)
		default:
			a = col[:k*cols]
			im2col(&cs, x.Data, n0, cnt, a)
		}
		if cnt == 1 {
			gy = dy.Data[n0*cout*hw : (n0+1)*cout*hw]
		} else {
			gy = g[:cout*cols]
			gatherSamples(dy.Data, n0, cnt, cout, hw, gy)
		}
		// dW += dY · colᵀ
		sgemm(false, true, cout, k, cols, 1, gy, cols, a, cols, 1, dw, k)
		if dx == nil {
			continue
		}
		if cnt == 1 && direct {
			sgemm(true, false, k, hw, cout, 1, w, k, gy, hw, 0, dx.Data[n0*cs.cin*cs.planeX:(n0+1)*cs.cin*cs.planeX], hw)
			continue
		}
		d := dcol[:k*cols]
		sgemm(true, false, k, cols, cout, 1, w, k, gy, cols, 0, d, cols)
		if direct {
			scatterSamples(d, n0, cnt, cs.cin, hw, nil, dx.Data)
		} else {
			col2im(&cs, d, n0, cnt, dx.Data)
		}
	}
}

// biasGrad accumulates the per-channel sums of dy into db.
func biasGrad(dy *Tensor, db []float32) {
	hw := dy.H * dy.W
	parallelFor(dy.C, dy.N*hw, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var s float64
			for n := 0; n < dy.N; n++ {
				s += sum32(dy.Data[(n*dy.C+c)*hw : (n*dy.C+c+1)*hw])
			}
			db[c] += float32(s)
		}
	})
}

// gatherSamples copies samples [n0, n0+cnt) of an NCHW array with c channels
// of hw values into the matrix dst [c, cnt*hw], sample i in columns
// [i*hw, (i+1)*hw).
func gatherSamples(src []float32, n0, cnt, c, hw int, dst []float32) {
	cols := cnt * hw
	parallelFor(cnt*c, hw, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			i, ch := j/c, j%c
			copy(dst[ch*cols+i*hw:ch*cols+(i+1)*hw], src[((n0+i)*c+ch)*hw:((n0+i)*c+ch+1)*hw])
		}
	})
}

// scatterSamples is the inverse of gatherSamples, adding bias[ch] (if
// non-nil) on the way.
func scatterSamples(src []float32, n0, cnt, c, hw int, bias []float32, dst []float32) {
	cols := cnt * hw
	parallelFor(cnt*c, hw, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			i, ch := j/c, j%c
			d := dst[((n0+i)*c+ch)*hw : ((n0+i)*c+ch+1)*hw]
			s := src[ch*cols+i*hw : ch*cols+(i+1)*hw]
			if bias == nil {
				copy(d, s)
				continue
			}
			bv := bias[ch]
			for p, v := range s {
				d[p] = v + bv
			}
		}
	})
}

// validRange returns the output indices [lo, hi) whose input index
// o*stride + off falls inside [0, size).
func validRange(out, stride, off, size int) (int, int) {
	lo := 0
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	hi := 0
	if size-1-off >= 0 {
		hi = (size-1-off)/stride + 1
	}
	hi = min(hi, out)
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// im2col writes the column matrix of samples [n0, n0+cnt) of x into col
// [Cin*KH*KW, cnt*Ho*Wo]: row (ci*KH+kh)*KW+kw, column i*Ho*Wo + oh*Wo + ow
// holds x[n0+i, ci, oh*S-P+kh*D, ow*S-P+kw*D], zero outside the input.
func im2col(cs *convShape, x []float32, n0, cnt int, col []float32) {
	s := cs.s
	cols := cnt * cs.hw
	kk := s.KH * s.KW
	parallelFor(cnt*cs.cin, kk*cs.hw, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			i, ci := j/cs.cin, j%cs.cin
			src := x[((n0+i)*cs.cin+ci)*cs.planeX : ((n0+i)*cs.cin+ci+1)*cs.planeX]
			for kh := 0; kh < s.KH; kh++ {
				offH := kh*s.Dilation - s.Pad
				ohLo, ohHi := validRange(cs.ho, s.Stride, offH, cs.h)
				for kw := 0; kw < s.KW; kw++ {
					offW := kw*s.Dilation - s.Pad
					owLo, owHi := validRange(cs.wo, s.Stride, offW, cs.w)
					row := (ci*s.KH+kh)*s.KW + kw
					dst := col[row*cols+i*cs.hw : row*cols+(i+1)*cs.hw]
					clear(dst[:ohLo*cs.wo])
					clear(dst[ohHi*cs.wo:])
					for oh := ohLo; oh < ohHi; oh++ {
						d := dst[oh*cs.wo : (oh+1)*cs.wo]
						clear(d[:owLo])
						clear(d[owHi:])
						if owLo >= owHi {
							continue
						}
						base := (oh*s.Stride+offH)*cs.w + offW
						if s.Stride == 1 {
							copy(d[owLo:owHi], src[base+owLo:base+owHi])
							continue
						}
						for ow := owLo; ow < owHi; ow++ {
							d[ow] = src[base+ow*s.Stride]
						}
					}
				}
			}
		}
	})
}

// col2im overwrites samples [n0, n0+cnt) of dx with the sum of the column
// gradients dcol [Cin*KH*KW, cnt*Ho*Wo] over the positions that read each
// input element; the transpose of im2col.
func col2im(cs *convShape, dcol []float32, n0, cnt int, dx []float32) {
	s := cs.s
	cols := cnt * cs.hw
	kk := s.KH * s.KW
	parallelFor(cnt*cs.cin, kk*cs.hw, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			i, ci := j/cs.cin, j%cs.cin
			dst := dx[((n0+i)*cs.cin+ci)*cs.planeX : ((n0+i)*cs.cin+ci+1)*cs.planeX]
			clear(dst)
			for kh := 0; kh < s.KH; kh++ {
				offH := kh*s.Dilation - s.Pad
				ohLo, ohHi := validRange(cs.ho, s.Stride, offH, cs.h)
				for kw := 0; kw < s.KW; kw++ {
					offW := kw*s.Dilation - s.Pad
					owLo, owHi := validRange(cs.wo, s.Stride, offW, cs.w)
					if owLo >= owHi {
						continue
					}
					row := (ci*s.KH+kh)*s.KW + kw
					src := dcol[row*cols+i*cs.hw : row*cols+(i+1)*cs.hw]
					for oh := ohLo; oh < ohHi; oh++ {
						g := src[oh*cs.wo+owLo : oh*cs.wo+owHi]
						base := (oh*s.Stride+offH)*cs.w + offW + owLo*s.Stride
						if s.Stride == 1 {
							d := dst[base : base+len(g)]
							for p, v := range g {
								d[p] += v
							}
							continue
						}
						for p, v := range g {
							dst[base+p*s.Stride] += v
						}
					}
				}
			}
		}
	})
}

func fill(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

// sum32 sums s in float64 so long planes do not lose small terms.
func sum32(s []float32) float64 {
	var a0, a1, a2, a3 float64
	i := 0
	for ; i+4 <= len(s); i += 4 {
		a0 += float64(s[i])
		a1 += float64(s[i+1])
		a2 += float64(s[i+2])
		a3 += float64(s[i+3])
	}
	for ; i < len(s); i++ {
		a0 += float64(s[i])
	}
	return a0 + a1 + a2 + a3
}
