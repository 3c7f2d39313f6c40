package preprocess

import (
	"math"
	"math/rand/v2"

	"github.com/cen-ros/cen/calibration"
)

// An analytic room for HHA tests: a floor, three walls, a ceiling and
// axis-aligned boxes, in a world frame with x right, y down (gravity) and z
// forward, seen by a camera at the origin that is pitched and rolled. Every
// pixel's surface, normal and height are known exactly; a Kinect-like sensor
// model turns the true depth into what such a camera reports.

type aabb struct{ lo, hi [3]float64 }

type room struct {
	camHeight    float64 // the floor is at y = camHeight
	ceiling      float64 // y of the ceiling (negative: above the camera)
	left, right  float64 // x of the side walls
	front        float64 // z of the front wall
	boxes        []aabb
	rot          [9]float64 // camera → world, row-major
	sensorNoise  bool
	seed         uint64
	projectorOff float64 // projector's x offset from the camera, metres
	noise        float64 // standard deviation of the disparity noise, sensor pixels
	wobble       float64 // amplitude of the smooth disparity error, sensor pixels
	corrBlock    int     // side of the block the sensor's disparity noise is shared over (1: per pixel)
}

// pixelShare is the part of the disparity noise's standard deviation that is
// each pixel's own when the noise is correlated.
const pixelShare = 0.3

// boxBlur averages f over (2r+1)² windows, clipped at the border.
func boxBlur(f []float64, w, h, r int) []float64 {
	tmp, out := make([]float64, len(f)), make([]float64, len(f))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s float64
			var n int
			for k := max(0, x-r); k <= min(w-1, x+r); k++ {
				s += f[y*w+k]
				n++
			}
			tmp[y*w+x] = s / float64(n)
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s float64
			var n int
			for k := max(0, y-r); k <= min(h-1, y+r); k++ {
				s += tmp[k*w+x]
				n++
			}
			out[y*w+x] = s / float64(n)
		}
	}
	return out
}

// truthScene is what the camera sees, pixel by pixel.
type truthScene struct {
	w, h    int
	depth   DepthImage // sensed depth (noise-free when the room says so)
	z       []float64  // true depth along the optical axis
	surface []int      // surface id, -1 where nothing is hit
	normal  [][3]float64
	height  []float64 // height above the floor along true up, metres
	up      [3]float64
}

func rotXYZ(pitch, roll float64) [9]float64 {
	// Pitch about x (negative looks down with y down), then roll about the
	// optical axis.
	sp, cp := math.Sincos(pitch * math.Pi / 180)
	sr, cr := math.Sincos(roll * math.Pi / 180)
	rx := [9]float64{1, 0, 0, 0, cp, -sp, 0, sp, cp}
	rz := [9]float64{cr, -sr, 0, sr, cr, 0, 0, 0, 1}
	var m [9]float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				m[3*i+j] += rx[3*i+k] * rz[3*k+j]
			}
		}
	}
	return m
}

func apply(r [9]float64, v [3]float64) [3]float64 {
	return [3]float64{r[0]*v[0] + r[1]*v[1] + r[2]*v[2], r[3]*v[0] + r[4]*v[1] + r[5]*v[2], r[6]*v[0] + r[7]*v[1] + r[8]*v[2]}
}

func applyT(r [9]float64, v [3]float64) [3]float64 {
	return [3]float64{r[0]*v[0] + r[3]*v[1] + r[6]*v[2], r[1]*v[0] + r[4]*v[1] + r[7]*v[2], r[2]*v[0] + r[5]*v[1] + r[8]*v[2]}
}

// cast intersects the ray o + t·d (world) with the room: the nearest t > 0,
// the surface id and its world normal.
func (rm *room) cast(o, d [3]float64) (float64, int, [3]float64) {
	best, id, n := math.Inf(1), -1, [3]float64{}
	plane := func(axis int, at float64, sid int, normal [3]float64) {
		if d[axis] == 0 {
			return
		}
		if t := (at - o[axis]) / d[axis]; t > 1e-9 && t < best {
			best, id, n = t, sid, normal
		}
	}
	plane(1, rm.camHeight, 0, [3]float64{0, -1, 0})
	plane(1, rm.ceiling, 1, [3]float64{0, 1, 0})
	plane(0, rm.left, 2, [3]float64{1, 0, 0})
	plane(0, rm.right, 3, [3]float64{-1, 0, 0})
	plane(2, rm.front, 4, [3]float64{0, 0, -1})
	for bi, b := range rm.boxes {
		tmin, tmax, axis := math.Inf(-1), math.Inf(1), -1
		for a := 0; a < 3; a++ {
			if d[a] == 0 {
				if o[a] < b.lo[a] || o[a] > b.hi[a] {
					tmax = -1
				}
				continue
			}
			t0, t1 := (b.lo[a]-o[a])/d[a], (b.hi[a]-o[a])/d[a]
			if t0 > t1 {
				t0, t1 = t1, t0
			}
			if t0 > tmin {
				tmin, axis = t0, a
			}
			tmax = min(tmax, t1)
		}
		if axis >= 0 && tmin <= tmax && tmin > 1e-9 && tmin < best {
			best, id = tmin, 5+bi
			n = [3]float64{}
			n[axis] = -math.Copysign(1, d[axis])
		}
	}
	return best, id, n
}

// render sees the room through cam.
func (rm *room) render(cam calibration.Pinhole) *truthScene {
	w, h := cam.Width, cam.Height
	ts := &truthScene{w: w, h: h, depth: DepthImage{w, h, make([]float32, w*h)}, z: make([]float64, w*h),
		surface: make([]int, w*h), normal: make([][3]float64, w*h), height: make([]float64, w*h)}
	ts.up = applyT(rm.rot, [3]float64{0, -1, 0})
	cosi := make([]float64, w*h)
	for v := 0; v < h; v++ {
		for u := 0; u < w; u++ {
			i := v*w + u
			rayCam := [3]float64{(float64(u) - cam.Cx()) / cam.Fx(), (float64(v) - cam.Cy()) / cam.Fy(), 1}
			d := apply(rm.rot, rayCam)
			t, id, n := rm.cast([3]float64{}, d)
			ts.surface[i] = id
			if id < 0 {
				continue
			}
			ts.z[i] = t // the ray has unit z in the camera frame
			p := [3]float64{t * d[0], t * d[1], t * d[2]}
			ts.height[i] = rm.camHeight - p[1]
			ts.normal[i] = applyT(rm.rot, n)
			l := math.Sqrt(d[0]*d[0] + d[1]*d[1] + d[2]*d[2])
			cosi[i] = math.Abs(d[0]*n[0]+d[1]*n[1]+d[2]*n[2]) / l
		}
	}
	if !rm.sensorNoise {
		for i, z := range ts.z {
			ts.depth.Pix[i] = float32(z)
		}
		return ts
	}
	rm.sense(cam, ts, cosi)
	return ts
}

// Kinect-like structured light: the projector sits projectorOff to the right
// of the camera; disparity, in pixels of a 577 px sensor, carries Gaussian
// noise and a smooth calibration error and is quantised to 1/8 pixel, so
// noise and depth steps grow with the square of the depth (2.9 mm at 1 m,
// 4.6 cm at 4 m). Readings fail outside 0.5–6 m (increasingly past 5 m), in
// the projector's shadow, at grazing incidence, at random next to depth
// edges, and at random anywhere.
func (rm *room) sense(cam calibration.Pinhole, ts *truthScene, cosi []float64) {
	const (
		focal, subpx     = 577.3, 8
		minZ, maxZ, fade = 0.5, 6.0, 5.0
	)
	fb := focal * rm.projectorOff
	noise, wobble := rm.noise, rm.wobble
	rng := rand.New(rand.NewPCG(rm.seed, 0x6b696e656374))
	proj := apply(rm.rot, [3]float64{rm.projectorOff, 0, 0})
	w, h := ts.w, ts.h
	// A smooth error field: a few random sinusoids over the image.
	var waves [4][4]float64
	for k := range waves {
		waves[k] = [4]float64{rng.Float64()*6 + 2, rng.Float64()*6 + 2, rng.Float64() * 2 * math.Pi, rng.Float64() * 2 * math.Pi}
	}
	// The sensor matches the projected pattern over a block of pixels, so
	// its disparity error is mostly shared by neighbours: a Gaussian field
	// averaged over corrBlock×corrBlock pixels (scaled back to noise), plus
	// a little per-pixel noise.
	field := make([]float64, w*h)
	for i := range field {
		field[i] = rng.NormFloat64()
	}
	if rm.corrBlock > 1 {
		field = boxBlur(field, w, h, rm.corrBlock/2)
		for i := range field {
			field[i] *= float64(rm.corrBlock)
		}
	}
	for v := 0; v < h; v++ {
		for u := 0; u < w; u++ {
			i := v*w + u
			z := ts.z[i]
			drop := rng.Float64()
			g := field[i]
			if rm.corrBlock > 1 {
				g = math.Sqrt(1-pixelShare*pixelShare)*g + pixelShare*rng.NormFloat64()
			}
			if ts.surface[i] < 0 || z < minZ || z > maxZ || drop < 0.003 || z > fade && drop < 0.5*(z-fade)/(maxZ-fade) {
				continue
			}
			if c := cosi[i]; c < 0.2 && drop < (0.2-c)/0.1 {
				continue
			}
			edge := false
			for _, j := range [4]int{i - 1, i + 1, i - w, i + w} {
				if j >= 0 && j < w*h && math.Abs(ts.z[j]-z) > 0.05*min(ts.z[j], z) {
					edge = true
				}
			}
			if edge && drop < 0.35 {
				continue
			}
			// In the projector's shadow when the segment from the projector
			// to the point hits something nearer.
			rayCam := [3]float64{(float64(u) - cam.Cx()) / cam.Fx(), (float64(v) - cam.Cy()) / cam.Fy(), 1}
			d := apply(rm.rot, rayCam)
			p := [3]float64{z * d[0], z * d[1], z * d[2]}
			seg := [3]float64{p[0] - proj[0], p[1] - proj[1], p[2] - proj[2]}
			if t, _, _ := rm.cast(proj, seg); t < 1-1e-6 {
				continue
			}
			var wob float64
			x, y := float64(u)/float64(w), float64(v)/float64(h)
			for _, wv := range waves {
				wob += math.Sin(wv[0]*x+wv[2]) * math.Sin(wv[1]*y+wv[3])
			}
			disp := fb/z + noise*g + wobble*wob/2
			q := math.Floor(disp*subpx+0.5) / subpx
			if q <= 0 {
				continue
			}
			if m := fb / q; m >= minZ && m <= maxZ {
				ts.depth.Pix[i] = float32(math.Floor(m*1000+0.5) / 1000)
			}
		}
	}
}

// testRoom is a furnished room whose floor is camHeight below a camera
// pitched and rolled by the given angles (degrees; negative pitch looks down).
func testRoom(camHeight, pitch, roll float64, noisy bool, corrBlock int, seed uint64) *room {
	// Boxes by their extent above the floor (up is −y).
	box := func(x0, x1, h0, h1, z0, z1 float64) aabb {
		return aabb{[3]float64{x0, camHeight - h1, z0}, [3]float64{x1, camHeight - h0, z1}}
	}
	return &room{
		camHeight: camHeight, ceiling: camHeight - 2.7, left: -1.9, right: 2.3, front: 4.2,
		boxes: []aabb{
			box(-1.9, -1.1, 0, 0.8, 1.8, 3.0),  // a cabinet against the left wall
			box(0.2, 1.2, 0.7, 0.75, 2.0, 2.8), // a table top
			box(0.3, 0.35, 0, 0.7, 2.1, 2.15),  // one of its legs
			box(1.6, 2.3, 0, 1.5, 3.5, 4.2),    // a wardrobe in the corner
			box(-0.6, -0.1, 0, 0.25, 1.3, 1.8), // a crate on the floor
		},
		rot: rotXYZ(pitch, roll), sensorNoise: noisy, seed: seed, projectorOff: 0.075, corrBlock: corrBlock, noise: 0.05, wobble: 0.04,
	}
}
