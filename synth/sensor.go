package synth

import (
	"math"

	"github.com/cen-ros/cen/calibration"
)

// The depth sensor: a structured-light camera in the style of the Kinect
// NYUDv2 was recorded with. Its own geometry is fixed (it does not change with
// the output image size): the projector sits sensorBaseline to the right of
// the camera, and disparity is measured in 1/disparitySubsteps pixels of a
// sensorFocal camera, so a depth step is z² / (sensorFocal · sensorBaseline ·
// disparitySubsteps) ≈ 2.9 mm · z² (z in metres).
const (
	sensorFocal       = 577.3
	sensorBaseline    = 0.075
	disparitySubsteps = 8
	disparityNoise    = 0.05 // standard deviation of the disparity, sensor pixels
	disparityWobble   = 0.04 // amplitude of the smooth calibration error, sensor pixels
	minRange          = 0.5
	maxRange          = 6.0
	fadeRange         = 5.0 // readings start to fail here, up to fadeDropout at maxRange
	fadeDropout       = 0.5

	edgeJump     = 0.05  // a relative depth jump to a neighbour that counts as an edge
	edgeDropout  = 0.35  // probability that a pixel at an edge has no reading
	darkIR       = 0.05  // infrared reflectance below which readings start to fail
	darkIRZero   = 0.02  // ... and reach darkDropout
	darkDropout  = 0.9   //
	glassDropout = 0.95  // window glass
	speckle      = 0.003 // isolated missing pixels anywhere
	grazingLo    = 0.08  // |cos| of the incidence angle below which readings fail
	grazingHi    = 0.2   // ... and above which they never fail for that reason
)

// Salts that give each use of the per-pixel hash its own stream.
const (
	saltDepthNoise = iota + 1
	saltDropout
	saltWobble
	saltColour
)

// senseDepth turns the true depth into sensor readings: holes where the
// sensor has none, noise and quantisation in disparity, and the depth PNG's
// grid.
func senseDepth(s *scene, cam calibration.Pinhole, tr *truth, out []float32) {
	w, h := tr.w, tr.h
	shadow := projectorShadow(tr, cam.Fx()*sensorBaseline)
	fb := sensorFocal * sensorBaseline
	for v := 0; v < h; v++ {
		for u := 0; u < w; u++ {
			i := v*w + u
			out[i] = 0
			z := tr.z[i]
			if z < minRange || z > maxRange || shadow[i] {
				continue
			}
			drop := unit(hash2(s.seed+saltDropout, int64(i), 0))
			if drop < speckle || tr.glass[i] && drop < glassDropout {
				continue
			}
			if c := float64(tr.cosi[i]); c < grazingHi && drop < (grazingHi-c)/(grazingHi-grazingLo) {
				continue
			}
			if ir := float64(tr.ir[i]); ir < darkIR && drop < darkDropout*math.Min(1, (darkIR-ir)/(darkIR-darkIRZero)) {
				continue
			}
			if z > fadeRange && drop < fadeDropout*(z-fadeRange)/(maxRange-fadeRange) {
				continue
			}
			if drop < edgeDropout && atEdge(tr, u, v) {
				continue
			}
			wob := disparityWobble * (2*valueNoise(s.seed+saltWobble, float64(u)*8/float64(w), float64(v)*6/float64(h)) - 1)
			d := fb/z + disparityNoise*gauss(hash2(s.seed+saltDepthNoise, int64(i), 0)) + wob
			if d <= 0 {
				continue
			}
			q := math.Floor(d*disparitySubsteps+0.5) / disparitySubsteps
			if q <= 0 {
				continue
			}
			m := fb / q
			if m < minRange || m > maxRange {
				continue
			}
			out[i] = float32(math.Floor(m*DepthScale+0.5) / DepthScale)
		}
	}
}

// atEdge reports whether a pixel's depth jumps to one of its four neighbours.
func atEdge(tr *truth, u, v int) bool {
	z := tr.z[v*tr.w+u]
	jump := func(uu, vv int) bool {
		if uu < 0 || vv < 0 || uu >= tr.w || vv >= tr.h {
			return false
		}
		n := tr.z[vv*tr.w+uu]
		return math.Abs(n-z) > edgeJump*math.Min(n, z)
	}
	return jump(u-1, v) || jump(u+1, v) || jump(u, v-1) || jump(u, v+1)
}

// projectorShadow marks the pixels the projector's pattern cannot reach
// because a nearer surface is in the way. With the projector fb/f metres to
// the right, a point seen at column u with depth z is at projector column
// u - fb/z; scanning a row from the right, a point is lit only if its
// projector column is left of every point to its right. The shadow is the
// band on the left of each foreground edge that such sensors show.
func projectorShadow(tr *truth, fb float64) []bool {
	shadow := make([]bool, len(tr.z))
	for v := 0; v < tr.h; v++ {
		minP := math.Inf(1)
		for u := tr.w - 1; u >= 0; u-- {
			i := v*tr.w + u
			p := float64(u) - fb/tr.z[i]
			if p > minP+0.3 {
				shadow[i] = true
			} else if p < minP {
				minP = p
			}
		}
	}
	return shadow
}

// gammaLUT maps the square root of a linear value in [0, 1] (4096 steps) to
// an 8-bit level with gamma 2.2; indexing by the square root keeps the dark
// levels apart.
var gammaLUT = func() [4096]float32 {
	var t [4096]float32
	for k := range t {
		t[k] = float32(255 * math.Pow(float64(k)/4095, 2/2.2))
	}
	return t
}()

// exposeColour is the colour camera: auto exposure on the mean luminance,
// vignetting, gamma and noise that grows with the signal.
func exposeColour(s *scene, cam calibration.Pinhole, tr *truth, out []uint8) {
	w, h := tr.w, tr.h
	var sum float64
	for i := 0; i < w*h; i++ {
		sum += 0.2126*float64(tr.rad[3*i]) + 0.7152*float64(tr.rad[3*i+1]) + 0.0722*float64(tr.rad[3*i+2])
	}
	gain := s.exposure / math.Max(sum/float64(w*h), 1e-6)
	for v := 0; v < h; v++ {
		dv := (float64(v) - cam.Cy()) / (float64(h) / 2)
		for u := 0; u < w; u++ {
			du := (float64(u) - cam.Cx()) / (float64(w) / 2)
			g := gain * (1 - s.vignette*(du*du+dv*dv)/2)
			i := v*w + u
			for c := 0; c < 3; c++ {
				x := float64(tr.rad[3*i+c]) * g
				if x > 1 {
					x = 1
				} else if !(x > 0) {
					x = 0
				}
				level := float64(gammaLUT[int(math.Sqrt(x)*4095+0.5)])
				level += s.noise * (0.6 + 0.4*level/255) * gauss(hash2(s.seed+saltColour, int64(i), int64(c)))
				out[3*i+c] = toByte(level)
			}
		}
	}
}

// toByte rounds a level to the nearest of 0..255 (halves up).
func toByte(level float64) uint8 {
	switch {
	case !(level > 0):
		return 0
	case level >= 254.5:
		return 255
	}
	return uint8(level + 0.5)
}
