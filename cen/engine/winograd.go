package engine

// Winograd F(2×2, 3×3) convolution for 3×3 kernels with stride 1, padding 1
// and dilation 1, the decoder's dominant layer type.
//
// Each output plane is cut into 2×2 tiles; tile (a, b) reads the 4×4 input
// patch at rows 2a-1..2a+2 and columns 2b-1..2b+2 (zero outside the input).
// With the transforms
//
//	V = Bᵀ d B   (input patch d, 4×4)
//	U = G g Gᵀ   (kernel g, 3×3 → 4×4)
//	Y = Aᵀ M A   (M = Σ_ci U ⊙ V, 4×4 → 2×2 output)
//
// the channel sum becomes 16 independent GEMMs, one per transform position
// ξ: M[ξ] (Cout×tiles) = U[ξ] (Cout×Cin) · V[ξ] (Cin×tiles). That is
// 16 multiply-adds per Cin·Cout·tile instead of 36, a 2.25× cut in GEMM
// FLOPs. The tiles of all samples form the GEMM columns, processed in chunks
// of at most wgChunkTiles tiles so the transformed buffers stay bounded.
//
// The backward pass reuses the same machinery: dx is the same convolution of
// dy with the kernels rotated by 180° and Cin/Cout swapped, and the weight
// gradient is dU[ξ] = Σ_tiles (A dY Aᵀ)[ξ] · V[ξ]ᵀ (16 GEMMs) followed by
// dW = Gᵀ dU G, the exact chain rule through the forward transforms.
//
// F(2×2, 3×3) was chosen over F(4×4, 3×3) for accuracy. Simulating one
// tile in float32 (float64 output transform) against float64, max error
// relative to max |y|: Cin 16: 1.4e-7 vs 3.0e-6; Cin 256: 5.0e-7 vs 8.7e-6;
// Cin 2048: 1.6e-6 vs 2.5e-5. F(4×4)'s points (±2, ±½) amplify rounding
// about 17×, past the engine's 1e-5 budget on the wide decoder layers.
// The output transform runs in float64: its nine-term sums cancel, and in
// float32 it was the largest error term (forcing Winograd on every eligible
// layer of the r50 parity fixture took the worst gradient error against
// PyTorch from 4.1e-4 to 1.2e-3; with float64 it is 4.0e-4).

// wgChunkTiles bounds the tiles per chunk. The buffers are 16·(Cin+Cout)
// floats per tile; it is a variable so benchmarks can tune it.
var wgChunkTiles = 1024

// wgMaxChunkFloats bounds the two transformed buffers of a chunk together
// (32 MiB), so wide layers get fewer tiles per chunk. Larger chunks gain
// about 5% on 256-256 60x80 (2400 tiles vs 960) for 2.5× the memory.
const wgMaxChunkFloats = 1 << 23

// useWinograd reports whether cs goes through the Winograd path.
func useWinograd(cs *convShape) bool {
	if !cs.s.Same3x3() {
		return false
	}
	switch wgPolicy.Load() {
	case wgNever:
		return false
	case wgAlways:
		return true
	}
	g := newWgGrid(cs.n, cs.h, cs.w)
	return min(cs.cin, cs.cout) >= wgMinChannels && g.total >= wgMinTiles
}

// Dispatch policy, from BenchmarkConv2D and BenchmarkConv2DBackward (N=4,
// 2 threads, OpenBLAS 0.3.21, the 2-core machine partly busy; ms per call,
// im2col → Winograd, forward / backward with dx):
//
//	256-256 60x80  147 → 91  / 352 → 178   (4800 tiles)
//	256-256 30x40   40 → 27  /  72 → 51
//	128-128 30x40   11 → 7.4 /  27 → 13
//	 64-64  60x80   17 → 12.6 / 34 → 24
//	 32-32  60x80  4.6 → 4.9 / 9.1 → 8.4   (median of 3)
//	 16-16  60x80  1.8 → 2.3 / 5.1 → 7.7
//	256-40  60x80   37 → 23  / 116 → 65
//	256-256 15x20  9.0 → 6.1 /  22 → 17    (320 tiles)
//	512-512  8x10  9.1 → 8.1 /  27 → 31    (80 tiles)
//	2048-512 8x10   44 → 33  /  90 → 111
//	512-512  4x5   4.1 → 10  / 7.6 → 24    (24 tiles)
//
// Below a few hundred tiles the 16 GEMMs get too few columns (and the
// weight-gradient GEMMs too short a sum) to pay for the transforms, whose
// weight part scales with Cin·Cout rather than with the plane (the 8x10
// forwards gain a little, the backwards lose more; one rule for both keeps
// a layer's forward and backward on the same arithmetic). At 32 channels
// the paths are even, at 16 the GEMMs are too small for the transforms'
// memory traffic; the encoder's 3×3 layers start at 64.
const (
	wgMinChannels = 64
	wgMinTiles    = 256
)

// wgGrid is the tile grid of an N×H×W batch of planes.
type wgGrid struct {
	n, h, w int
	th, tw  int // tiles per column and per row: ⌈h/2⌉, ⌈w/2⌉
	total   int // n·th·tw
}

func newWgGrid(n, h, w int) wgGrid {
	th, tw := (h+1)/2, (w+1)/2
	return wgGrid{n: n, h: h, w: w, th: th, tw: tw, total: n * th * tw}
}

// chunk returns the number of tiles per chunk for layers with cin input and
// cout output channels.
func (g *wgGrid) chunk(cin, cout int) int {
	t := min(wgChunkTiles, wgMaxChunkFloats/(16*(cin+cout)))
	t = max(t, 16)
	if t >= g.total {
		return g.total
	}
	// Even chunks, so the last one is not a sliver.
	k := (g.total + t - 1) / t
	return (g.total + k - 1) / k
}

// wgWeights writes the transformed kernels U = G g Gᵀ of w [cout][cin][3][3]
// into u as 16 matrices wgStride(cout, cin) apart. With flip false, u[ξ] is
// [cout][cin]; with flip true, it is [cin][cout] holding the kernels rotated
// by 180°, the weights of the input-gradient convolution. The transform
// runs in float64.
func wgWeights(w []float32, cout, cin int, flip bool, u []float32) {
	mat := wgStride(cout, cin)
	parallelFor(cout, cin*16*8, func(lo, hi int) {
		for co := lo; co < hi; co++ {
			for ci := 0; ci < cin; ci++ {
				k := w[(co*cin+ci)*9 : (co*cin+ci+1)*9]
				var g [9]float64
				for i := range g {
					if flip {
						g[i] = float64(k[8-i])
					} else {
						g[i] = float64(k[i])
					}
				}
				// Rows: (G g), 4×3.
				var t [12]float64
				for c := 0; c < 3; c++ {
					g0, g1, g2 := g[c], g[3+c], g[6+c]
					t[c] = g0
					t[3+c] = 0.5 * (g0 + g1 + g2)
					t[6+c] = 0.5 * (g0 - g1 + g2)
					t[9+c] = g2
				}
				off := co*cin + ci
				if flip {
					off = ci*cout + co
				}
				// Columns: (G g) Gᵀ, 4×4.
				for r := 0; r < 4; r++ {
					t0, t1, t2 := t[3*r], t[3*r+1], t[3*r+2]
					u[(4*r)*mat+off] = float32(t0)
					u[(4*r+1)*mat+off] = float32(0.5 * (t0 + t1 + t2))
					u[(4*r+2)*mat+off] = float32(0.5 * (t0 - t1 + t2))
					u[(4*r+3)*mat+off] = float32(t2)
				}
			}
		}
	})
}

// wgWeightGrad adds dW = Gᵀ dU G into dw [cout][cin][3][3], dU being 16
// matrices [cout][cin] wgStride(cout, cin) apart.
func wgWeightGrad(du []float32, cout, cin int, dw []float32) {
	mat := wgStride(cout, cin)
	parallelFor(cout, cin*16*8, func(lo, hi int) {
		for co := lo; co < hi; co++ {
			for ci := 0; ci < cin; ci++ {
				off := co*cin + ci
				var d [16]float64
				for xi := range d {
					d[xi] = float64(du[xi*mat+off])
				}
				// Rows: Gᵀ dU, 3×4.
				var t [12]float64
				for c := 0; c < 4; c++ {
					u0, u1, u2, u3 := d[c], d[4+c], d[8+c], d[12+c]
					t[c] = u0 + 0.5*(u1+u2)
					t[4+c] = 0.5 * (u1 - u2)
					t[8+c] = 0.5*(u1+u2) + u3
				}
				// Columns: (Gᵀ dU) G, 3×3.
				k := dw[off*9 : off*9+9]
				for r := 0; r < 3; r++ {
					u0, u1, u2, u3 := t[4*r], t[4*r+1], t[4*r+2], t[4*r+3]
					k[3*r] += float32(u0 + 0.5*(u1+u2))
					k[3*r+1] += float32(0.5 * (u1 - u2))
					k[3*r+2] += float32(0.5*(u1+u2) + u3)
				}
			}
		}
	})
}

// wgInput writes V = Bᵀ d B of tiles [t0, t0+cnt) of the c-channel planes x
// into v, 16 matrices [c][cnt].
func wgInput(g *wgGrid, x []float32, c, t0, cnt int, v []float32) {
	tps := g.th * g.tw
	plane := g.h * g.w
	pw := 2*g.tw + 2 // padded row: column p holds input column p-1
	stride := wgStride(c, cnt)
	parallelFor(c, cnt*48, func(lo, hi int) {
		buf := make([]float32, 8*pw)
		var vs [16][]float32
		for ci := lo; ci < hi; ci++ {
			for xi := range vs {
				vs[xi] = v[xi*stride+ci*cnt : xi*stride+(ci+1)*cnt]
			}
			for j := 0; j < cnt; {
				tile := t0 + j
				nn, r := tile/tps, tile%tps
				a, b0 := r/g.tw, r%g.tw
				b1 := min(g.tw, b0+cnt-j)
				src := x[(nn*c+ci)*plane : (nn*c+ci+1)*plane]
				// Padded columns [p0, p1) cover tiles b0..b1-1.
				p0, p1 := 2*b0, 2*b1+2
				d := buf[:4*pw]
				for k := 0; k < 4; k++ {
					row := d[k*pw+p0 : k*pw+p1]
					ih := 2*a - 1 + k
					if ih < 0 || ih >= g.h {
						clear(row)
						continue
					}
					// Input columns p0-1 .. p1-2, clipped to [0, w).
					c0, c1 := p0-1, min(p1-1, g.w)
					q := 0
					if c0 < 0 {
						row[0] = 0
						q, c0 = 1, 0
					}
					n := 0
					if c1 > c0 {
						n = copy(row[q:], src[ih*g.w+c0:ih*g.w+c1])
					}
					clear(row[q+n:])
				}
				// Vertical Bᵀ: rows d0-d2, d1+d2, d2-d1, d1-d3.
				e := buf[4*pw : 8*pw]
				r0, r1, r2, r3 := d[p0:p1], d[pw+p0:pw+p1], d[2*pw+p0:2*pw+p1], d[3*pw+p0:3*pw+p1]
				e0, e1, e2, e3 := e[p0:p1], e[pw+p0:pw+p1], e[2*pw+p0:2*pw+p1], e[3*pw+p0:3*pw+p1]
				r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
				e0, e1, e2, e3 = e0[:len(r0)], e1[:len(r0)], e2[:len(r0)], e3[:len(r0)]
				for p, d0 := range r0 {
					d1, d2, d3 := r1[p], r2[p], r3[p]
					e0[p] = d0 - d2
					e1[p] = d1 + d2
					e2[p] = d2 - d1
					e3[p] = d1 - d3
				}
				// Horizontal B: the same combination of columns 2b..2b+3
				// (relative to p0: 2(b-b0)..).
				for b := b0; b < b1; b, j = b+1, j+1 {
					p := 2 * (b - b0)
					q0 := e0[p : p+4 : p+4]
					q1 := e1[p : p+4 : p+4]
					q2 := e2[p : p+4 : p+4]
					q3 := e3[p : p+4 : p+4]
					vs[0][j] = q0[0] - q0[2]
					vs[1][j] = q0[1] + q0[2]
					vs[2][j] = q0[2] - q0[1]
					vs[3][j] = q0[1] - q0[3]
					vs[4][j] = q1[0] - q1[2]
					vs[5][j] = q1[1] + q1[2]
					vs[6][j] = q1[2] - q1[1]
					vs[7][j] = q1[1] - q1[3]
					vs[8][j] = q2[0] - q2[2]
					vs[9][j] = q2[1] + q2[2]
					vs[10][j] = q2[2] - q2[1]
					vs[11][j] = q2[1] - q2[3]
					vs[12][j] = q3[0] - q3[2]
					vs[13][j] = q3[1] + q3[2]
					vs[14][j] = q3[2] - q3[1]
					vs[15][j] = q3[1] - q3[3]
				}
			}
		}
	})
}

// wgGradTiles writes A dY Aᵀ of the 2×2 output-gradient tiles [t0, t0+cnt)
// of the c-channel planes dy into z, 16 matrices [c][cnt]; positions past
// the plane's edge count as zero.
func wgGradTiles(g *wgGrid, dy []float32, c, t0, cnt int, z []float32) {
	tps := g.th * g.tw
	plane := g.h * g.w
	stride := wgStride(c, cnt)
	parallelFor(c, cnt*32, func(lo, hi int) {
		var zs [16][]float32
		for ci := lo; ci < hi; ci++ {
			for xi := range zs {
				zs[xi] = z[xi*stride+ci*cnt : xi*stride+(ci+1)*cnt]
			}
			for j := 0; j < cnt; {
				tile := t0 + j
				nn, r := tile/tps, tile%tps
				a, b0 := r/g.tw, r%g.tw
				b1 := min(g.tw, b0+cnt-j)
				src := dy[(nn*c+ci)*plane : (nn*c+ci+1)*plane]
				oh := 2 * a
				two := oh+1 < g.h
				for b := b0; b < b1; b, j = b+1, j+1 {
					ow := 2 * b
					var q00, q01, q10, q11 float32
					q00 = src[oh*g.w+ow]
					if ow+1 < g.w {
						q01 = src[oh*g.w+ow+1]
					}
					if two {
						q10 = src[(oh+1)*g.w+ow]
						if ow+1 < g.w {
							q11 = src[(oh+1)*g.w+ow+1]
						}
					}
					// Rows A·dY: q0, q0+q1, q0-q1, -q1.
					s0, s1 := q00+q10, q01+q11
					d0, d1 := q00-q10, q01-q11
					zs[0][j] = q00
					zs[1][j] = q00 + q01
					zs[2][j] = q00 - q01
					zs[3][j] = -q01
					zs[4][j] = s0
					zs[5][j] = s0 + s1
					zs[6][j] = s0 - s1
					zs[7][j] = -s1
					zs[8][j] = d0
					zs[9][j] = d0 + d1
					zs[10][j] = d0 - d1
					zs[11][j] = -d1
					zs[12][j] = -q10
					zs[13][j] = -q10 - q11
					zs[14][j] = q11 - q10
					zs[15][j] = q11
				}
			}
		}
	})
}

// wgOutput writes Y = Aᵀ M A (+ bias) of tiles [t0, t0+cnt) from m, 16
// matrices [c][cnt], into the c-channel planes y, dropping the positions
// past the plane's edge.
func wgOutput(g *wgGrid, m []float32, c, t0, cnt int, bias []float32, y []float32) {
	tps := g.th * g.tw
	plane := g.h * g.w
	stride := wgStride(c, cnt)
	parallelFor(c, cnt*40, func(lo, hi int) {
		var ms [16][]float32
		for co := lo; co < hi; co++ {
			for xi := range ms {
				ms[xi] = m[xi*stride+co*cnt : xi*stride+(co+1)*cnt]
			}
			var bv float64
			if bias != nil {
				bv = float64(bias[co])
			}
			for j := 0; j < cnt; {
				tile := t0 + j
				nn, r := tile/tps, tile%tps
				a, b0 := r/g.tw, r%g.tw
				b1 := min(g.tw, b0+cnt-j)
				dst := y[(nn*c+co)*plane : (nn*c+co+1)*plane]
				oh := 2 * a
				two := oh+1 < g.h
				for b := b0; b < b1; b, j = b+1, j+1 {
					// Rows Aᵀ·M: m0+m1+m2, m1-m2-m3. In float64: the outputs
					// are sums of up to nine values that partly cancel.
					m0, m1, m2, m3 := float64(ms[0][j]), float64(ms[1][j]), float64(ms[2][j]), float64(ms[3][j])
					m4, m5, m6, m7 := float64(ms[4][j]), float64(ms[5][j]), float64(ms[6][j]), float64(ms[7][j])
					m8, m9, m10, m11 := float64(ms[8][j]), float64(ms[9][j]), float64(ms[10][j]), float64(ms[11][j])
					m12, m13, m14, m15 := float64(ms[12][j]), float64(ms[13][j]), float64(ms[14][j]), float64(ms[15][j])
					s0, s1, s2, s3 := m0+m4+m8, m1+m5+m9, m2+m6+m10, m3+m7+m11
					t0, t1, t2, t3 := m4-m8-m12, m5-m9-m13, m6-m10-m14, m7-m11-m15
					ow := 2 * b
					row := dst[oh*g.w:]
					row[ow] = float32(s0 + s1 + s2 + bv)
					if ow+1 < g.w {
						row[ow+1] = float32(s1 - s2 - s3 + bv)
					}
					if two {
						row = dst[(oh+1)*g.w:]
						row[ow] = float32(t0 + t1 + t2 + bv)
						if ow+1 < g.w {
							row[ow+1] = float32(t1 - t2 - t3 + bv)
						}
					}
				}
			}
		}
	})
}

// wgStride is the distance between the 16 transform-domain matrices of
// rows×cnt values in a chunk buffer. The transforms read or write all 16
// matrices per tile; with a power-of-two distance (256 channels × 512 tiles)
// the 16 streams fall into the same cache sets and evict each other, which
// made the transforms 3× slower. One extra cache line per matrix spreads them.
func wgStride(rows, cnt int) int { return rows*cnt + 16 }

// wgGemms runs f for the 16 transform positions. When the engine splits
// GEMMs itself, the positions are spread over its goroutines with one
// single-threaded GEMM each, so every GEMM keeps all its columns; otherwise
// they run in turn through sgemm.
func wgGemms(f func(xi int, gemm func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int))) {
	if !openblasThreads.Load() && Threads() > 1 {
		parallelFor(16, minParallelWork, func(lo, hi int) {
			for xi := lo; xi < hi; xi++ {
				f(xi, sgemm1)
			}
		})
		return
	}
	for xi := 0; xi < 16; xi++ {
		f(xi, sgemm)
	}
}

// wgConv writes into y [N, cout, H, W] the 3×3/s1/p1 convolution of x
// [N, cin, H, W] with the transformed kernels u (wgWeights' layout)
// plus bias (nil for none).
func wgConv(g *wgGrid, x []float32, cin int, u []float32, cout int, bias []float32, y []float32) {
	t := g.chunk(cin, cout)
	v := getScratch(16 * wgStride(cin, t))
	defer putScratch(v)
	m := getScratch(16 * wgStride(cout, t))
	defer putScratch(m)
	for t0 := 0; t0 < g.total; t0 += t {
		cnt := min(t, g.total-t0)
		sv, sm, su := wgStride(cin, cnt), wgStride(cout, cnt), wgStride(cout, cin)
		wgInput(g, x, cin, t0, cnt, v)
		wgGemms(func(xi int, gemm func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)) {
			gemm(false, false, cout, cnt, cin, 1, u[xi*su:], cin, v[xi*sv:], cnt, 0, m[xi*sm:], cnt)
		})
		wgOutput(g, m, cout, t0, cnt, bias, y)
	}
}

// winogradConv2D is Conv2D for shapes useWinograd accepts.
func winogradConv2D(cs *convShape, x *Tensor, w []float32, b []float32, y *Tensor) {
	u := getScratch(16 * wgStride(cs.cout, cs.cin))
	defer putScratch(u)
	wgWeights(w, cs.cout, cs.cin, false, u)
	g := newWgGrid(cs.n, cs.h, cs.w)
	wgConv(&g, x.Data, cs.cin, u, cs.cout, b, y.Data)
}

// winogradConv2DBackward is the dW and dx part of Conv2DBackward for shapes
// useWinograd accepts.
func winogradConv2DBackward(cs *convShape, x *Tensor, w []float32, dy *Tensor, dx *Tensor, dw []float32) {
	cin, cout := cs.cin, cs.cout
	g := newWgGrid(cs.n, cs.h, cs.w)
	t := g.chunk(cin, cout)
	su := wgStride(cout, cin)
	du := getScratch(16 * su)
	defer putScratch(du)
	clear(du)
	var uf []float32
	if dx != nil {
		uf = getScratch(16 * su)
		defer putScratch(uf)
		wgWeights(w, cout, cin, true, uf)
	}
	// bx holds V of x, then the dx transform-domain output; bg holds
	// A dY Aᵀ, then V of dy.
	bx := getScratch(16 * wgStride(cin, t))
	defer putScratch(bx)
	bg := getScratch(16 * wgStride(cout, t))
	defer putScratch(bg)
	for t0 := 0; t0 < g.total; t0 += t {
		cnt := min(t, g.total-t0)
		sx, sg := wgStride(cin, cnt), wgStride(cout, cnt)
		wgInput(&g, x.Data, cin, t0, cnt, bx)
		wgGradTiles(&g, dy.Data, cout, t0, cnt, bg)
		// dU[ξ] += Z[ξ] · V[ξ]ᵀ
		wgGemms(func(xi int, gemm func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)) {
			gemm(false, true, cout, cin, cnt, 1, bg[xi*sg:], cnt, bx[xi*sx:], cnt, 1, du[xi*su:], cin)
		})
		if dx == nil {
			continue
		}
		wgInput(&g, dy.Data, cout, t0, cnt, bg)
		wgGemms(func(xi int, gemm func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)) {
			gemm(false, false, cin, cnt, cout, 1, uf[xi*su:], cout, bg[xi*sg:], cnt, 0, bx[xi*sx:], cnt)
		})
		wgOutput(&g, bx, cin, t0, cnt, nil, dx.Data)
	}
	wgWeightGrad(du, cout, cin, dw)
}
