package synth

import (
	"math"
	"sort"
	"testing"
)

// renderTruth renders frames with their noise-free ground truth.
func renderTruth(t *testing.T, seed uint64, frames, h, w int, use func(s *scene, f *Frame, tr *truth)) {
	t.Helper()
	for k := 0; k < frames; k++ {
		s := frameScene(seed, k)
		var tr *truth
		f := render(s, h, w, &tr)
		use(s, f, tr)
	}
}

func TestDepthHolesAreSensorLike(t *testing.T) {
	var pixels, holes, edgePixels, edgeHoles, far, farHoles, glass, glassHoles float64
	renderTruth(t, 21, 16, 96, 128, func(s *scene, f *Frame, tr *truth) {
		for v := 1; v < tr.h-1; v++ {
			for u := 1; u < tr.w-1; u++ {
				i := v*tr.w + u
				if f.Labels[i] == Void {
					continue
				}
				hole := f.Depth.Pix[i] == 0
				pixels++
				if hole {
					holes++
				}
				if atEdge(tr, u, v) {
					edgePixels++
					if hole {
						edgeHoles++
					}
				}
				if tr.z[i] > maxRange {
					far++
					if hole {
						farHoles++
					}
				}
				if tr.glass[i] {
					glass++
					if hole {
						glassHoles++
					}
				}
			}
		}
	})
	frac, edgeFrac := holes/pixels, edgeHoles/edgePixels
	t.Logf("holes %.3f of the pixels, %.3f at depth edges; %.0f pixels beyond range, %.0f of glass", frac, edgeFrac, far, glass)
	if frac < 0.02 || frac > 0.2 {
		t.Errorf("%.3f of the pixels have no depth, want 0.02..0.2 (Kinect-like)", frac)
	}
	if edgeFrac < 3*frac {
		t.Errorf("holes at depth edges %.3f, want well above the overall rate %.3f", edgeFrac, frac)
	}
	if far == 0 || farHoles != far {
		t.Errorf("%.0f of %.0f pixels beyond %g m have depth", far-farHoles, far, maxRange)
	}
	if glass == 0 || glassHoles/glass < 0.9 {
		t.Errorf("%.0f of %.0f window glass pixels are holes, want ≥ 90 %%", glassHoles, glass)
	}
}

func TestDepthStepGrowsWithTheSquareOfDepth(t *testing.T) {
	// The distinct values the sensor reports near depth z are one disparity
	// step apart: z² / (f·b·substeps).
	values := map[float32]bool{}
	renderTruth(t, 22, 12, 120, 160, func(s *scene, f *Frame, tr *truth) {
		for _, d := range f.Depth.Pix {
			if d > 0 {
				values[d] = true
			}
		}
	})
	sorted := make([]float64, 0, len(values))
	for d := range values {
		sorted = append(sorted, float64(d))
	}
	sort.Float64s(sorted)
	for _, z := range []float64{1, 2, 3, 4.5} {
		var gaps []float64
		for i := 1; i < len(sorted); i++ {
			if m := (sorted[i] + sorted[i-1]) / 2; math.Abs(m-z) < 0.1*z {
				gaps = append(gaps, sorted[i]-sorted[i-1])
			}
		}
		if len(gaps) < 5 {
			t.Fatalf("only %d depth values near %g m", len(gaps), z)
		}
		sort.Float64s(gaps)
		got := gaps[len(gaps)/2] / (z * z)
		want := 1 / (sensorFocal * sensorBaseline * disparitySubsteps)
		t.Logf("near %g m: median step %.4f m (%.2e · z²)", z, gaps[len(gaps)/2], got)
		if math.Abs(got-want) > 0.15*want {
			t.Errorf("near %g m the depth step is %.2e · z², want %.2e · z²", z, got, want)
		}
	}
}

func TestDepthNoiseGrowsWithTheSquareOfDepth(t *testing.T) {
	type bin struct{ lo, hi, sum2, n float64 }
	bins := []*bin{{1.0, 1.6, 0, 0}, {2.0, 2.6, 0, 0}, {3.5, 4.5, 0, 0}}
	renderTruth(t, 23, 12, 96, 128, func(s *scene, f *Frame, tr *truth) {
		for i, d := range f.Depth.Pix {
			if d == 0 || atEdge(tr, i%tr.w, i/tr.w) {
				continue
			}
			z := tr.z[i]
			for _, b := range bins {
				if z >= b.lo && z < b.hi {
					e := (float64(d) - z) / (z * z)
					b.sum2 += e * e
					b.n++
				}
			}
		}
	})
	for _, b := range bins {
		if b.n < 200 {
			t.Fatalf("only %.0f pixels in %g..%g m", b.n, b.lo, b.hi)
		}
		sigma := math.Sqrt(b.sum2 / b.n)
		t.Logf("%g..%g m: error σ = %.2e · z² over %.0f pixels", b.lo, b.hi, sigma, b.n)
		// Disparity noise and quantisation: about 1.5e-3 · z² (Kinect:
		// 1.4e-3 · z², Khoshelham and Elberink 2012).
		if sigma < 0.8e-3 || sigma > 3e-3 {
			t.Errorf("%g..%g m: depth error σ = %.2e · z², want 0.8e-3..3e-3 · z²", b.lo, b.hi, sigma)
		}
	}
}

func TestFloorBackProjectsToAPlaneAtCameraHeight(t *testing.T) {
	for k := 0; k < 6; k++ {
		f := mustRender(t, 24, k, 120, 160)
		var heights []float64
		for v := 0; v < f.Depth.Height; v++ {
			for u := 0; u < f.Depth.Width; u++ {
				i := v*f.Depth.Width + u
				z := float64(f.Depth.Pix[i])
				if f.Labels[i] != clsFloor || z == 0 || z > 4 {
					continue
				}
				p := f.Camera.Backproject(float64(u), float64(v), z)
				heights = append(heights, -(p[0]*f.Up[0] + p[1]*f.Up[1] + p[2]*f.Up[2]))
			}
		}
		if len(heights) < 100 {
			t.Fatalf("frame %d: only %d floor pixels", k, len(heights))
		}
		sort.Float64s(heights)
		med := heights[len(heights)/2]
		spread := heights[len(heights)*9/10] - heights[len(heights)/10]
		if cam := f.Pose.Position[2]; math.Abs(med-cam) > 0.01 || spread > 0.06 {
			t.Errorf("frame %d: floor lies %.3f m below the camera (10–90 %% spread %.3f m), camera height %.3f m",
				k, med, spread, cam)
		}
	}
}

func TestUpAndPoseAgree(t *testing.T) {
	f := mustRender(t, 25, 0, 64, 80)
	r := f.Pose.Rotation
	// Up is the third row of the camera-to-room rotation (room z in camera
	// coordinates), and the rotation is orthonormal.
	if up := [3]float64{r[6], r[7], r[8]}; up != f.Up {
		t.Errorf("Up %v, rotation's z row %v", f.Up, up)
	}
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			d := r[i]*r[j] + r[3+i]*r[3+j] + r[6+i]*r[6+j]
			if want := map[bool]float64{true: 1, false: 0}[i == j]; math.Abs(d-want) > 1e-12 {
				t.Errorf("columns %d·%d = %g, want %g", i, j, d, want)
			}
		}
	}
	pitch := math.Asin(-r[8]) * 180 / math.Pi
	if h := f.Pose.Position[2]; h < 1 || h > 1.6 || pitch < 0 || pitch > 25 {
		t.Errorf("camera height %.2f m and pitch %.1f°, want 1.0..1.6 m and 0..25° down", h, pitch)
	}
}

func TestProjectorShadowFallsLeftOfNearSurfaces(t *testing.T) {
	// One row: a wall at 3 m with a box face at 1 m over columns 50..59.
	// The projector at +x cannot light the wall for f·b·(1/1 − 1/3) pixels
	// left of the box.
	const w, fx = 100, 300.0
	tr := &truth{w: w, h: 1, z: make([]float64, w)}
	for u := range tr.z {
		tr.z[u] = 3
		if u >= 50 && u < 60 {
			tr.z[u] = 1
		}
	}
	shadow := projectorShadow(tr, fx*sensorBaseline)
	width := fx * sensorBaseline * (1 - 1.0/3) // 15 pixels
	for u, s := range shadow {
		want := float64(u) < 50 && float64(u) > 50-width+0.3
		if s != want {
			t.Errorf("column %d shadowed %v, want %v", u, s, want)
		}
	}
}
