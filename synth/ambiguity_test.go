package synth

import (
	"math"
	"testing"
)

// classStats gathers, per class, what each modality can see over a set of
// frames: a colour histogram, and where the measured depth puts the surface
// relative to the wall or floor behind it.
type classStats struct {
	colour [numClasses][colourBins]float64
	pixels [numClasses]float64
	// off counts valid-depth pixels whose back-projected point lies more
	// than 3 cm in front of the nearest wall (wall-mounted classes) or above
	// the floor (floor classes); valid counts all valid-depth pixels.
	off, valid [numClasses]float64
	height     [numClasses][40]float64 // height above the floor, 5 cm bins
	holes      [numClasses]float64
}

// colourBins is the size of the colour histogram: chromaticity r/(r+g+b)
// and g/(r+g+b) in 8 × 8 bins over 0.15..0.55, times 3 levels of
// brightness, plus one bin for near-black. Chromaticity rather than RGB
// keeps a surface's colour in one bin however the lamp lights it.
const colourBins = 8*8*3 + 1

func colourBin(px []uint8) int {
	sum := float64(px[0]) + float64(px[1]) + float64(px[2])
	if sum < 30 {
		return colourBins - 1
	}
	bin := func(x float64) int { return min(7, max(0, int((x-0.15)/0.05))) }
	l := min(2, int(sum/255))
	return (l*8+bin(float64(px[0])/sum))*8 + bin(float64(px[1])/sum)
}

var wallClasses = map[uint8]bool{clsWall: true, clsDoor: true, clsPoster: true, clsPanel: true}

func gatherStats(t *testing.T, frames, h, w int) *classStats {
	t.Helper()
	st := &classStats{}
	for k := 0; k < frames; k++ {
		s := frameScene(77, k)
		f := render(s, h, w, nil)
		for v := 0; v < h; v++ {
			for u := 0; u < w; u++ {
				i := v*w + u
				c := f.Labels[i]
				if c == Void {
					continue
				}
				px := f.RGB.Pix[3*i : 3*i+3]
				st.colour[c][colourBin(px)]++
				st.pixels[c]++
				z := float64(f.Depth.Pix[i])
				if z == 0 {
					st.holes[c]++
					continue
				}
				q := f.Camera.Backproject(float64(u), float64(v), z)
				p := s.cam.pos.add(s.cam.right.scale(q[0])).add(s.cam.down.scale(q[1])).add(s.cam.fwd.scale(q[2]))
				var off float64
				if wallClasses[c] {
					off = math.Min(math.Min(p.x, s.lx-p.x), math.Min(p.y, s.ly-p.y))
				} else {
					off = p.z
				}
				st.valid[c]++
				if off > 0.03 {
					st.off[c]++
				}
				if b := int(p.z / 0.05); b >= 0 && b < 40 {
					st.height[c][b]++
				}
			}
		}
	}
	return st
}

// overlap is the histogram intersection of two normalised histograms: 1 for
// identical distributions, 0 for disjoint ones.
func overlap(a, b []float64) float64 {
	var sa, sb float64
	for i := range a {
		sa += a[i]
		sb += b[i]
	}
	var o float64
	for i := range a {
		o += math.Min(a[i]/sa, b[i]/sb)
	}
	return o
}

func TestAmbiguousPairsAreAmbiguousForOneModalityOnly(t *testing.T) {
	st := gatherStats(t, 200, 48, 64)
	for c := uint8(0); c < numClasses; c++ {
		if st.pixels[c] < 500 {
			t.Fatalf("class %s has only %.0f pixels in the sample", ClassNames[c], st.pixels[c])
		}
	}
	offFrac := func(c uint8) float64 { return st.off[c] / st.valid[c] }

	t.Run("geometry decides", func(t *testing.T) {
		// Colour distributions overlap strongly; the depth offset of one
		// class is near zero, of the other clearly not.
		for _, p := range [][2]uint8{{clsPoster, clsPanel}, {clsRug, clsPlatform}} {
			a, b := p[0], p[1]
			o := overlap(st.colour[a][:], st.colour[b][:])
			t.Logf("%s/%s: colour overlap %.2f, off the surface %.2f / %.2f", ClassNames[a], ClassNames[b], o, offFrac(a), offFrac(b))
			if o < 0.6 {
				t.Errorf("%s and %s: colour overlap %.2f, want ≥ 0.6", ClassNames[a], ClassNames[b], o)
			}
			if offFrac(a) > 0.1 || offFrac(b) < 0.6 {
				t.Errorf("%s and %s: %.2f and %.2f of the pixels lie > 3 cm off their surface, want ≤ 0.1 and ≥ 0.6",
					ClassNames[a], ClassNames[b], offFrac(a), offFrac(b))
			}
		}
	})

	t.Run("appearance decides", func(t *testing.T) {
		// Colour distributions overlap little; depth puts both classes in
		// the same place.
		for _, p := range [][2]uint8{{clsCabinet, clsCrate}, {clsDoor, clsWall}, {clsPoster, clsWall}, {clsRug, clsFloor}} {
			a, b := p[0], p[1]
			o := overlap(st.colour[a][:], st.colour[b][:])
			hOverlap := overlap(st.height[a][:], st.height[b][:])
			t.Logf("%s/%s: colour overlap %.2f, height overlap %.2f, off the surface %.2f / %.2f, holes %.3f / %.3f",
				ClassNames[a], ClassNames[b], o, hOverlap, offFrac(a), offFrac(b), st.holes[a]/st.pixels[a], st.holes[b]/st.pixels[b])
			if o > 0.35 {
				t.Errorf("%s and %s: colour overlap %.2f, want ≤ 0.35", ClassNames[a], ClassNames[b], o)
			}
			if a == clsCabinet {
				if hOverlap < 0.7 {
					t.Errorf("cabinet and crate: height distributions overlap %.2f, want ≥ 0.7", hOverlap)
				}
			} else if offFrac(a) > 0.1 || offFrac(b) > 0.1 {
				t.Errorf("%s and %s: %.2f and %.2f of the pixels lie > 3 cm off the surface, want both ≤ 0.1",
					ClassNames[a], ClassNames[b], offFrac(a), offFrac(b))
			}
			// Holes must not tell the classes apart either.
			if d := math.Abs(st.holes[a]/st.pixels[a] - st.holes[b]/st.pixels[b]); a == clsCabinet && d > 0.05 {
				t.Errorf("cabinet and crate: hole rates differ by %.3f, want ≤ 0.05", d)
			}
		}
	})
}
