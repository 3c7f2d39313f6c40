package cen

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// Winograd F(4×4, 3×3) written in stock ONNX operators (ExportOptions.Conv3x3 = ConvWinograd), so that ONNX
// Runtime on any provider runs 3×3 stride-1 convolutions with 36 multiply-adds per input channel, output channel
// and 4×4 output tile instead of 144: a 4× cut in the GEMM work, which is 91 % of RefineNet's FLOPs.
//
// For an input x [B, C, H, W] cut into th × tw tiles of 4×4 outputs (T = th·tw), V = Bᵀ d B of every 6×6
// input tile d, then the 36 GEMMs M[ξ] = U[ξ]·V[ξ] over the channels, then y = Aᵀ M A per tile (winogradConv
// says how each step is written).
//
// The weights U = G g Gᵀ are computed once at export, in float64, with the batch norm already folded. The
// transforms are the classic ones with the points 0, ±1, ±2 and ∞ (Lavin and Gray, 2016). The plain graph stays
// the default of the library (ConvPlain); the Go engine keeps F(2×2, 3×3) (cen/engine/winograd.go), where its
// backward pass needs the smaller rounding error.

// wgPoints is the number of Winograd points of F(4×4, 3×3): (4 + 3 − 1)².
const wgPoints = 36

// Winograd transforms of F(4×4, 3×3).
var (
	wgBT = [6][6]float64{
		{4, 0, -5, 0, 1, 0},
		{0, -4, -4, 1, 1, 0},
		{0, 4, -4, -1, 1, 0},
		{0, -2, -1, 2, 1, 0},
		{0, 2, -1, -2, 1, 0},
		{0, 4, 0, -5, 0, 1},
	}
	wgG = [6][3]float64{
		{1.0 / 4, 0, 0},
		{-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6},
		{1.0 / 24, -1.0 / 12, 1.0 / 6},
		{0, 0, 1},
	}
	wgAT = [4][6]float64{
		{1, 1, 1, 1, 1, 0},
		{0, 1, -1, 2, -2, 0},
		{0, 1, 1, 4, 4, 0},
		{0, 1, -1, 8, -8, 1},
	}
)

// Eligibility of a convolution for the Winograd graph. Alone (BenchmarkWinogradLayer, ONNX Runtime CPU,
// 2 threads, ms plain → Winograd, two runs each, on a day this VM ran plain layers 20–130 % slower than in
// the first measurements), with the point-major 3-D input transform of winogradConv:
//
//	256-256 120x160 N2  422–478 → 243–252    256-256 60x80 N2  98–101 → 66–73    256-256 30x40 N2  27–31 → 19–21
//	256-256 15x20 N2    6.1–6.5 → 8.6–9.2    512-512 8x10 N2   6.5–7.1 → 12–14
//	256-256 60x80 N1      49–60 → 34–41      256-256 30x40 N1    13 → 9.4–10     256-256 15x20 N1  3.9–5.1 → 4.4–4.5
//	128-128 60x80 N1      17–26 → 16         128-128 30x40 N1   6.0 → 5.3        512-512 8x10 N1   4.2–4.3 → 7.4–7.5
//	 64-64 120x160 N1     17–36 → 25          64-64 60x80 N1   8.4–8.9 → 7.6–8.0
//
// so the export (ConvWinograd) takes layers of ≥ 128 channels with ≥ 75 tiles per sample: small planes lose,
// and 64 channels gained too little to tell from this VM's noise. In whole networks, medians of interleaved
// runs of lite-r18 at 480×640 (3×3 layers all in the encoder, one sample each): ≥ 128 channels 738 ms, ≥ 64
// 763, ≥ 256 867, plain 905, torch→ORT 864 (10 runs each); refinenet-r50 at 240×320: ≥ 128 1675, ≥ 256 1746,
// torch→ORT 2098 (7 runs each). With the earlier transposed input transform, lite-r18 gained nothing and ran
// 27 % slower with every layer as Winograd. (A decoder with Winograd layers runs its modalities as one batch,
// exportForward; the encoder runs one.)
const (
	WinogradMinChannels = 128
	WinogradMinTiles    = 75
)

// useWinogradExport reports whether the convolution c, reading cin channels of an h×w plane, is written as
// Winograd: a 3×3 window, stride 1, padding 1, dilation 1, at a known size, and (unless all) wide enough to gain.
func useWinogradExport(c *conv, cin, h, w int, all bool) bool {
	if !c.spec.Same3x3() || h <= 0 || w <= 0 {
		return false
	}
	if all {
		return true
	}
	tiles := ((h + 3) / 4) * ((w + 3) / 4)
	return min(cin, c.cout) >= WinogradMinChannels && tiles >= WinogradMinTiles
}

// winogradWeights returns U = G g Gᵀ of the kernels w [cout, cin, 3, 3] as [36, cout, cin] (point-major, so
// that each point's slice is the left operand of its GEMM).
func winogradWeights(w []float32, cout, cin int) []float32 {
	u := make([]float32, wgPoints*cout*cin)
	for o := 0; o < cout; o++ {
		for i := 0; i < cin; i++ {
			g := w[(o*cin+i)*9 : (o*cin+i)*9+9]
			// t = G g (6×3), then U = t Gᵀ (6×6).
			var t [6][3]float64
			for a := 0; a < 6; a++ {
				for c := 0; c < 3; c++ {
					for k := 0; k < 3; k++ {
						t[a][c] += wgG[a][k] * float64(g[k*3+c])
					}
				}
			}
			for a := 0; a < 6; a++ {
				for b := 0; b < 6; b++ {
					var v float64
					for k := 0; k < 3; k++ {
						v += t[a][k] * wgG[b][k]
					}
					u[((a*6+b)*cout+o)*cin+i] = float32(v)
				}
			}
		}
	}
	return u
}

// constInts returns the name of an int64 initializer with the given values, shared by every node that needs it.
func (b *onnxBuilder) constInts(v ...int64) string {
	key := fmt.Sprint(v)
	if n, ok := b.consts[key]; ok {
		return n
	}
	if b.consts == nil {
		b.consts = map[string]string{}
	}
	n := b.ints(b.fresh("const_i64"), []int64{int64(len(v))}, v)
	b.consts[key] = n
	return n
}

// winogradConv writes the 3×3 stride-1 convolution of x [B, cin, h, w] with the transformed weights u
// [36, cout, cin] and the bias (a [cout] initializer, or "") as Winograd F(4×4, 3×3), and returns the output
// [B, cout, h, w]. B is free; cin, cout, h and w are fixed.
//
// The transforms are convolutions, so that ONNX Runtime's convolution kernels do the gathering and the padding
// (its strided Slice and general Transpose move data an element at a time, and MatMuls over an axis of 6 are
// slow: measured, each of those ways cost more than the GEMMs):
//
//	input:  x seen as [B, 1, cin, h, w]: a 3-D Conv, 6 fixed 1×6×1 kernels (the rows of Bᵀ), stride 1×4×1
//	        → [B, 6, cin, th, w], then one of group 6 with 6 1×1×6 kernels each, stride 1×1×4
//	        → [B, 36, cin, th, tw]: point-major, with the channels as a spatial axis, so no Transpose
//	GEMMs:  MatMul [36, cout, cin] · [B, 36, cin, T] → [B, 36, cout, T]
//	output: Transpose to [B, cout·36, th, tw], ConvTranspose, group = cout, 16 fixed 4×4 kernels Aᵀ·A per point,
//	        stride 4, with the bias, cropped to h×w by its pads
//
// At 256→256 channels on 60×80 (batch 2) the MatMul is half the time and the transforms, memory-bound on 22 MB
// intermediates, the other half. The input transform was first two grouped 2-D Convs (group cin, then 6·cin)
// giving [B, cin·36, th, tw] and a Transpose to point-major: in refinenet-r50 at 240×320 the 3-D form took
// the network's Conv time from 720 to 652 ms and its Transposes' from 188 to 98 (ONNX Runtime profile), and
// the network ran 1653 against 1900 ms (medians of 8 interleaved runs; torch→ORT 2236), though only 1639
// (at ≥ 128 channels) against 1633 in a second set of 8 (torch→ORT 2132; noise here is ±20 %). Other forms
// were exact and measured no faster (BenchmarkWinogradLayer, or that network): stacking the channels along the rows of a 2-D
// plane with one-channel transform convolutions (49.8–56 ms against 46.6–52.7, a layer); F(6×6, 3×3), whose
// GEMMs over 140 instead of 300 tiles run at 89 instead of 109 GFLOP/s (63.5 against 62.9), and again with
// the two samples' tiles in one GEMM (58–77 against 69–74, 75–88 with the merge); the GEMMs as a 1×1 Conv of
// group 36 (63–72 against 53–54); the output transform as a MatMul [16, 36] and a DepthToSpace (68–71 against
// 58–69), as one 3-D ConvTranspose of 36 channels (49 against 21 ms with its Transpose, a layer), or as a 2-D
// one over the rows of all output channels (network: 1655 against 1653 ms).
func (b *onnxBuilder) winogradConv(x, u, bias string, cin, cout, h, w int) string {
	th, tw := int64(h+3)/4, int64(w+3)/4
	C, co := int64(cin), int64(cout)
	krow, kcol, kout := b.winogradKernels(cout)
	// Bᵀ over the rows (6 outputs), then over the columns (6 per row point): 36·(W + 6·tw) multiply-adds per
	// channel and tile row, instead of 1296·tw in one pass.
	v := b.node("Reshape", []string{x, b.constInts(-1, 1, C, int64(h), int64(w))}, nil, "")
	v = b.node("Conv", []string{v, krow}, []*onnx.AttributeProto{
		attrInts("kernel_shape", 1, 6, 1), attrInts("strides", 1, 4, 1),
		attrInts("pads", 0, 1, 0, 0, 4*th+1-int64(h), 0),
	}, "") // [B, 6, C, th, w]
	v = b.node("Conv", []string{v, kcol}, []*onnx.AttributeProto{
		attrInts("kernel_shape", 1, 1, 6), attrInts("strides", 1, 1, 4), attrInt("group", 6),
		attrInts("pads", 0, 0, 1, 0, 0, 4*tw+1-int64(w)),
	}, "") // [B, 36, C, th, tw]
	v = b.node("Reshape", []string{v, b.constInts(-1, wgPoints, C, th*tw)}, nil, "")
	m := b.node("MatMul", []string{u, v}, nil, "")                                                 // [B, 36, Cout, T]
	m = b.node("Transpose", []string{m}, []*onnx.AttributeProto{attrInts("perm", 0, 2, 1, 3)}, "") // [B, Cout, 36, T]
	m = b.node("Reshape", []string{m, b.constInts(-1, co*wgPoints, th, tw)}, nil, "")
	ins := []string{m, kout}
	if bias != "" {
		ins = append(ins, bias)
	}
	return b.node("ConvTranspose", ins, []*onnx.AttributeProto{
		attrInts("kernel_shape", 4, 4), attrInts("strides", 4, 4), attrInt("group", co),
		attrInts("pads", 0, 0, 4*th-int64(h), 4*tw-int64(w)),
	}, "")
}

// winogradKernels adds the transforms as convolution kernels, once per network or output width: Bᵀ over the
// rows [6, 1, 1, 6, 1] (kernel a is row a of Bᵀ), Bᵀ over the columns [36, 1, 1, 1, 6] (kernel b of group a is
// row b of Bᵀ, so that output channel 6a + b is point (a, b)), and the output transform [cout·36, 1, 4, 4]
// (kernel (a, b) of each channel has Aᵀ[r][a]·Aᵀ[c][b] at (r, c)).
func (b *onnxBuilder) winogradKernels(cout int) (krow, kcol, kout string) {
	make1 := func(key string, dims []int64, n int, f func(k []float32) []float32) string {
		if name, ok := b.consts[key]; ok {
			return name
		}
		name := b.floats(key, dims, f(make([]float32, 0, n)))
		b.setConst(key, name)
		return name
	}
	bt := func(k []float32, groups int) []float32 {
		for g := 0; g < groups; g++ {
			for a := 0; a < 6; a++ {
				for i := 0; i < 6; i++ {
					k = append(k, float32(wgBT[a][i]))
				}
			}
		}
		return k
	}
	krow = make1("winograd_BT_rows", []int64{6, 1, 1, 6, 1}, 36, func(k []float32) []float32 { return bt(k, 1) })
	kcol = make1("winograd_BT_cols", []int64{36, 1, 1, 1, 6}, 216, func(k []float32) []float32 { return bt(k, 6) })
	kout = make1(fmt.Sprintf("winograd_AT_%d", cout), []int64{int64(cout * wgPoints), 1, 4, 4}, cout*wgPoints*16,
		func(k []float32) []float32 {
			for o := 0; o < cout; o++ {
				for a := 0; a < 6; a++ {
					for bb := 0; bb < 6; bb++ {
						for r := 0; r < 4; r++ {
							for c := 0; c < 4; c++ {
								k = append(k, float32(wgAT[r][a]*wgAT[c][bb]))
							}
						}
					}
				}
			}
			return k
		})
	return krow, kcol, kout
}

// constFloats returns the name of a float32 initializer with the given values, shared like constInts'.
func (b *onnxBuilder) constFloats(v ...float32) string {
	key := fmt.Sprint("f32", v)
	if n, ok := b.consts[key]; ok {
		return n
	}
	n := b.floats(b.fresh("const_f32"), []int64{int64(len(v))}, v)
	b.setConst(key, n)
	return n
}

func (b *onnxBuilder) setConst(key, name string) {
	if b.consts == nil {
		b.consts = map[string]string{}
	}
	b.consts[key] = name
}
