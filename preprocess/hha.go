package preprocess

import (
	"errors"
	"fmt"
	"math"

	"github.com/cen-ros/cen/calibration"
)

// EncodeHHA computes the HHA encoding of a depth image (Gupta, Girshick,
// Arbeláez and Malik, "Learning Rich Features from RGB-D Images for Object
// Detection and Segmentation", ECCV 2014) with the 0..255 scalings of the
// authors' saveHHA.m:
//
//	H: horizontal disparity 310 / max(depth m, 1)        (31000 / max(cm, 100))
//	H: height above the lowest point along up, in cm
//	A: angle between the surface normal and up, in degrees, + 38
//
// each rounded and saturated to a byte. The result is planar, 3 × Height ×
// Width, in that order; pixels with depth 0 are 0 in all three planes, and so
// is the angle where no normal can be computed. Normals are least-squares
// planes over the 7×7 window around each pixel, as the authors fit them. cam
// is the depth image's camera (K only, 0-based pixel coordinates as in ROS).
// up is the direction opposite to gravity in the camera frame; zero means
// estimate it from the scene as the authors do (see the package
// documentation). The up direction used is returned.
//
// EncodeHHA uses the conventions of the zero HHAConf; HHAConf.Encode takes
// the others.
func EncodeHHA(depth DepthImage, cam calibration.Pinhole, up [3]float64) ([]uint8, [3]float64, error) {
	return HHAConf{}.Encode(depth, cam, up)
}

// Encode is EncodeHHA with c's conventions: its normal window, floor and hole
// encoding, and the planes in c.Order. (c.Resolution is Spec.Input's
// business: Encode works at the resolution it is given.)
func (c HHAConf) Encode(depth DepthImage, cam calibration.Pinhole, up [3]float64) ([]uint8, [3]float64, error) {
	if err := c.Validate(); err != nil {
		return nil, up, err
	}
	if err := depth.check(); err != nil {
		return nil, up, err
	}
	out := make([]uint8, 3*len(depth.Pix))
	var scratch hhaScratch
	u, err := hhaInto(out, &scratch, depth, cam, up, c)
	if err == nil && c.Order == OrderAHD {
		n := len(depth.Pix)
		for i, v := range out[:n] {
			out[i], out[2*n+i] = out[2*n+i], v
		}
	}
	return out, u, err
}

// DefaultHHAWindow is the side of the square support of each normal's plane
// fit: the reference's radius 3.
const DefaultHHAWindow = 7

// gravityWindow is the side of the support of the normals gravity is
// estimated from: the reference's radius 10. Large supports average out the
// sensor's depth staircase, which otherwise turns many normals towards the
// optical axis and drags the estimate towards a level camera.
const gravityWindow = 21

// Reference conventions (processDepthImage.m, saveHHA.m).
const (
	// referenceFloorMin: when the lowest point is less than this far below
	// the camera, the floor is assumed at referenceFloor below it (metres).
	referenceFloorMin = 0.9
	referenceFloor    = 1.3
	// referenceNoNormal is the angle the reference writes where no normal
	// can be fitted (its NaN becomes 180°): 180 + 38.
	referenceNoNormal = 218
)

// hhaScratch holds buffers reused between frames.
type hhaScratch struct {
	inv     []float32 // 1/depth, 0 where invalid
	fit     planeFitter
	row     []float32 // normals of one row, 3 per pixel
	samples []float32 // large-support normals gravity is estimated from
}

// hhaInto writes the planar D, H, A encoding of depth into out.
func hhaInto(out []uint8, s *hhaScratch, depth DepthImage, cam calibration.Pinhole, up [3]float64, conf HHAConf) ([3]float64, error) {
	if !(cam.Fx() > 0) || !(cam.Fy() > 0) {
		return up, fmt.Errorf("preprocess: HHA needs positive focal lengths, got fx=%g fy=%g", cam.Fx(), cam.Fy())
	}
	w, h := depth.Width, depth.Height
	n := w * h
	d := depth.Pix
	refHoles := conf.Holes == ReferenceHoles
	s.inv = grow(s.inv, n)
	holes := false
	for i, z := range d {
		if z > 0 {
			s.inv[i] = 1 / z
		} else {
			s.inv[i] = 0
			holes = true
		}
	}
	rays := rayGrid{fx: cam.Fx(), fy: cam.Fy(), cx: cam.Cx(), cy: cam.Cy()}
	s.row = grow(s.row, 3*w)
	if up == ([3]float64{}) {
		// Large-support normals on a grid: neighbouring ones share most of
		// their support, so some 12,000 carry about all the information
		// the full field has, and sampling bounds the cost.
		stride := max(1, int(math.Sqrt(float64(n)/12000)+0.5))
		s.samples = s.samples[:0]
		s.fit.reset(s.inv, w, h, gravityWindow/2)
		for v := 0; v < h; v += stride {
			s.fit.normals(v, stride, rays, true, s.row)
			for u := 0; u < w; u += stride {
				if nv := s.row[3*u : 3*u+3]; nv[0] != 0 || nv[1] != 0 || nv[2] != 0 {
					s.samples = append(s.samples, nv...)
				}
			}
		}
		var err error
		if up, err = estimateUp(s.samples); err != nil {
			return up, err
		}
	} else {
		l := math.Sqrt(up[0]*up[0] + up[1]*up[1] + up[2]*up[2])
		if !(l > 0) || math.IsInf(l, 0) {
			return up, fmt.Errorf("preprocess: up vector %v is not a direction", up)
		}
		up = [3]float64{up[0] / l, up[1] / l, up[2] / l}
	}
	ux, uy, uz := float32(up[0]), float32(up[1]), float32(up[2])
	// The height of a point z·(xr, yr, 1) along up is z·(ux·xr + uy·yr + uz);
	// hx and hy hold the first two terms per column and row.
	ifx, ify := float32(1/cam.Fx()), float32(1/cam.Fy())
	cx, cy := float32(cam.Cx()), float32(cam.Cy())
	hx := s.row[:w] // borrowed until the normals pass
	lowest := float32(math.Inf(1))
	for x := range hx {
		hx[x] = ux * (float32(x) - cx) * ifx
	}
	for y := 0; y < h; y++ {
		hy := uy*(float32(y)-cy)*ify + uz
		for x, z := range d[y*w : (y+1)*w] {
			if z != 0 {
				lowest = min(lowest, z*(hx[x]+hy))
			}
		}
	}
	if conf.Floor == RobustFloor && !math.IsInf(float64(lowest), 1) {
		lowest = lowestSurface(d, w, h, hx, uy, uz, cy, ify, lowest)
	}
	if refHoles && holes {
		lowest = min(lowest, 0) // the reference's holes are points at the camera
	}
	if conf.Floor == ReferenceFloor && !(lowest <= -referenceFloorMin) {
		lowest = -referenceFloor
	}
	clear(out)
	disp, height, angle := out[:n], out[n:2*n], out[2*n:3*n]
	s.fit.reset(s.inv, w, h, conf.window()/2)
	holeHeight := saturate(-100 * lowest)
	for y := 0; y < h; y++ {
		s.fit.normals(y, 1, rays, refHoles, s.row)
		hy := uy*(float32(y)-cy)*ify + uz
		o := y * w
		for x, z := range d[o : o+w] {
			i := o + x
			nx, ny, nz := s.row[3*x], s.row[3*x+1], s.row[3*x+2]
			switch {
			case nx != 0 || ny != 0 || nz != 0:
				if z == 0 && !refHoles {
					continue
				}
				c := max(-1, min(1, nx*ux+ny*uy+nz*uz))
				angle[i] = saturate(acosDeg(c) + 38)
			case refHoles:
				angle[i] = referenceNoNormal
			}
			if z == 0 {
				if refHoles {
					disp[i], height[i] = 255, holeHeight
				}
				continue
			}
			xr := (float32(x) - cx) * ifx
			disp[i] = saturate(310 * min(s.inv[i], 1))
			height[i] = saturate(100 * (z*(ux*xr+hy) - lowest))
		}
	}
	return up, nil
}

// lowestSurface returns the height of the lowest surface in view (RobustFloor): heights above the lowest
// reading go into 1 cm bins up to 2 m; from the bin where the 0.5 % lowest points end, the fullest bin of
// the next 20 cm is the surface, and the mean height of the points within 2 cm of it is returned.
func lowestSurface(d []float32, w, h int, hx []float32, uy, uz, cy, ify, lowest float32) float32 {
	const bins, binWidth = 200, 0.01
	var count [bins]int
	var sum [bins]float64
	total := 0
	for y := 0; y < h; y++ {
		hy := uy*(float32(y)-cy)*ify + uz
		for x, z := range d[y*w : (y+1)*w] {
			if z == 0 {
				continue
			}
			total++
			rel := z*(hx[x]+hy) - lowest
			if b := int(rel / binWidth); b < bins {
				count[b]++
				sum[b] += float64(rel)
			}
		}
	}
	start, seen := 0, 0
	for start < bins-1 && seen+count[start] < total/200 {
		seen += count[start]
		start++
	}
	peak := start
	for b := start; b < min(bins, start+20); b++ {
		if count[b] > count[peak] {
			peak = b
		}
	}
	var n int
	var m float64
	for b := max(0, peak-2); b <= min(bins-1, peak+2); b++ {
		n += count[b]
		m += sum[b]
	}
	if n == 0 {
		return lowest
	}
	return lowest + float32(m/float64(n))
}

// rayGrid is the pinhole model the normals are expressed in.
type rayGrid struct{ fx, fy, cx, cy float64 }

// planeFitter fits, around each pixel, the plane through the valid depth
// pixels of a square window, by least squares on inverse depth as the
// reference does: a plane n·p = 1 seen along the ray (xr, yr, 1) has inverse
// depth n·(xr, yr, 1), which is affine in the pixel coordinates, so the fit is
// of 1/z ≈ c0 + c1·(u − u0) + c2·(v − v0) over the window around (u0, v0).
// The moments this needs (Σ 1, u, v, u², uv, v² over the valid pixels and
// Σ 1/z, u/z, v/z) are box sums, kept as running sums: columns over the
// window's rows, updated as the row advances, then a sliding sum along the
// row, so the cost per pixel does not depend on the window. The pixel moments
// are those of the whole window (closed forms) less those of its pixels
// without depth, which are few: a window without any needs no pixel moments
// at all. They are integers, exact in float64 at any image size this package
// accepts; the inverse-depth moments are float64 too, so that the centring at
// (u0, v0) loses nothing. Windows are clipped at the image border (the
// reference's zero padding).
type planeFitter struct {
	inv     []float32
	w, h, r int
	// col holds per column, over rows [top, bottom): Σ 1/z, Σ v/z, and over
	// the pixels without depth Σ 1, Σ v, Σ v².
	col         []float64
	top, bottom int
}

func (p *planeFitter) reset(inv []float32, w, h, r int) {
	p.inv, p.w, p.h, p.r = inv, w, h, r
	p.col = grow(p.col, 5*w)
	clear(p.col)
	p.top, p.bottom = 0, 0
}

// slide brings the column sums to rows [v0 − r, v0 + r] ∩ [0, h); v0 never
// decreases between resets.
func (p *planeFitter) slide(v0 int) {
	lo, hi := max(0, v0-p.r), min(p.h, v0+p.r+1)
	// Rows that enter and leave together share one pass over the columns.
	for p.bottom < hi && p.top < lo {
		p.swapRows(p.bottom, p.top)
		p.bottom++
		p.top++
	}
	for ; p.bottom < hi; p.bottom++ {
		p.addRow(p.bottom, 1)
	}
	for ; p.top < lo; p.top++ {
		p.addRow(p.top, -1)
	}
}

// addRow adds row v's pixels to the column sums (sign 1) or removes them (−1).
func (p *planeFitter) addRow(v int, sign float64) {
	row := p.inv[v*p.w : (v+1)*p.w]
	fv := float64(v)
	col := p.col[:5*len(row)]
	for u, iz := range row {
		c := col[5*u : 5*u+5 : 5*u+5]
		if iz != 0 {
			wz := sign * float64(iz)
			c[0] += wz
			c[1] += wz * fv
		} else {
			c[2] += sign
			c[3] += sign * fv
			c[4] += sign * fv * fv
		}
	}
}

// swapRows adds row in to the column sums and removes row out.
func (p *planeFitter) swapRows(in, out int) {
	w := p.w
	rin, rout := p.inv[in*w:(in+1)*w], p.inv[out*w:(out+1)*w]
	rout = rout[:len(rin)]
	fi, fo := float64(in), float64(out)
	col := p.col[:5*len(rin)]
	for u, a := range rin {
		b := rout[u]
		c := col[5*u : 5*u+5 : 5*u+5]
		wa, wb := float64(a), float64(b)
		c[0] += wa - wb
		c[1] += wa*fi - wb*fo
		if a == 0 {
			c[2]++
			c[3] += fi
			c[4] += fi * fi
		}
		if b == 0 {
			c[2]--
			c[3] -= fo
			c[4] -= fo * fo
		}
	}
}

// sumTo returns Σ k and Σ k² for k in [a, b].
func sumTo(a, b int) (float64, float64) {
	s1 := func(n int) float64 { return float64(n) * float64(n+1) / 2 }
	s2 := func(n int) float64 { return float64(n) * float64(n+1) * float64(2*n+1) / 6 }
	return s1(b) - s1(a-1), s2(b) - s2(a-1)
}

// colSums are the plane fit's running sums over a window's columns: of the
// inverse depth (t, and its moments in u and v) and of the pixels without
// depth (q and its moments). A column's five window sums m are those of
// planeFitter.col; fc is the column.
type colSums struct{ t, tu, tv, q, qu, quu, qv, quv, qvv float64 }

func (s *colSums) add(m []float64, fc float64) {
	s.t += m[0]
	s.tu += fc * m[0]
	s.tv += m[1]
	if m[2] != 0 {
		s.q += m[2]
		s.qu += fc * m[2]
		s.quu += fc * fc * m[2]
		s.qv += m[3]
		s.quv += fc * m[3]
		s.qvv += m[4]
	}
}

func (s *colSums) sub(m []float64, fc float64) {
	s.t -= m[0]
	s.tu -= fc * m[0]
	s.tv -= m[1]
	if m[2] != 0 {
		s.q -= m[2]
		s.qu -= fc * m[2]
		s.quu -= fc * fc * m[2]
		s.qv -= m[3]
		s.quv -= fc * m[3]
		s.qvv -= m[4]
	}
}

// normals writes the unit normal of row v0's pixels at columns 0, sx, 2·sx,
// ... into out (3 per pixel, at 3·u), oriented towards the camera, or zero
// where the window's valid pixels do not fix a plane (fewer than three, or
// collinear). At a pixel without depth the normal of its neighbours' plane is
// oriented by its z component alone when holeOrient is set (the reference's
// way), else left zero.
func (p *planeFitter) normals(v0, sx int, rays rayGrid, holeOrient bool, out []float32) {
	p.slide(v0)
	w, r := p.w, p.r
	col := p.col
	row := p.inv[v0*w : (v0+1)*w]
	fv0 := float64(v0)
	// The window's rows, and their count and moments.
	r0, r1 := max(0, v0-r), min(p.h-1, v0+r)
	nr := float64(r1 - r0 + 1)
	rv, rvv := sumTo(r0, r1)
	side := 2*r + 1
	// A whole window of valid pixels has moments symmetric about its centre,
	// Σ(u − u0)² = Σ(v − v0)² = (2r+1)²·r(r+1)/3, and the slopes decouple.
	full := float64(side * side)
	iFull2 := 3 / (full * float64(r*(r+1)))
	rowsWhole := r1-r0+1 == side
	next := 1 // columns to the next output
	// Running sums over columns [u0 − r, u0 + r]: inverse depth, and the
	// pixels without depth.
	var cs colSums
	for c := 0; c < min(r, w); c++ {
		cs.add(col[5*c:5*c+5:5*c+5], float64(c))
	}
	for u0 := 0; u0 < w; u0++ {
		if c := u0 + r; c < w {
			cs.add(col[5*c:5*c+5:5*c+5], float64(c))
		}
		if c := u0 - r - 1; c >= 0 {
			cs.sub(col[5*c:5*c+5:5*c+5], float64(c))
		}
		t, tu, tv, q, qu, quu, qv, quv, qvv := cs.t, cs.tu, cs.tv, cs.q, cs.qu, cs.quu, cs.qv, cs.quv, cs.qvv
		if next--; next > 0 {
			continue
		}
		next = sx
		o := out[3*u0 : 3*u0+3 : 3*u0+3]
		o[0], o[1], o[2] = 0, 0, 0
		centre := row[u0] != 0
		if !centre && !holeOrient {
			continue
		}
		c0, c1 := max(0, u0-r), min(w-1, u0+r)
		nc := float64(c1 - c0 + 1)
		s := nr*nc - q
		if s < 3 {
			continue
		}
		fu0 := float64(u0)
		is := 1 / s
		t0, t1, t2 := t, tu-fu0*t, tv-fv0*t
		var k0, k1, k2 float64
		if q == 0 && rowsWhole && c1-c0+1 == side {
			k0, k1, k2 = t0*is, t1*iFull2, t2*iFull2
		} else {
			// The valid pixels' moments: the window's less the missing
			// ones', about the window's centre, then about their mean,
			// where the 2×2 system for the slopes is best conditioned.
			cu, cuu := sumTo(c0, c1)
			su, suu := nr*cu-qu, nr*cuu-quu
			sv, svv := nc*rv-qv, nc*rvv-qvv
			suv := cu*rv - quv
			a := su - fu0*s
			b := sv - fv0*s
			aa := suu - 2*fu0*su + fu0*fu0*s
			ab := suv - fu0*sv - fv0*su + fu0*fv0*s
			bb := svv - 2*fv0*sv + fv0*fv0*s
			ma, mb := a*is, b*is
			a11, a12, a22 := aa-a*ma, ab-a*mb, bb-b*mb
			det := a11*a22 - a12*a12
			if !(det > 1e-9*a11*a22) {
				// The valid pixels are collinear (or one): no plane is
				// fixed. (The reference's arithmetic then returns
				// rounding noise, or NaN, which it encodes as 180°.)
				continue
			}
			idet := 1 / det
			e1, e2 := t1-ma*t0, t2-mb*t0
			k1 = (e1*a22 - e2*a12) * idet
			k2 = (a11*e2 - a12*e1) * idet
			k0 = (t0 - a*k1 - b*k2) * is
		}
		nx := k1 * rays.fx
		ny := k2 * rays.fy
		nz := k0 + k1*(rays.cx-fu0) + k2*(rays.cy-fv0)
		l2 := nx*nx + ny*ny + nz*nz
		if !(l2 > 0) || l2 > math.MaxFloat64 {
			continue
		}
		il := 1 / math.Sqrt(l2)
		// n·p = 1 on the plane: n points away from the camera along the
		// centre's ray when k0 = n·(xr, yr, 1) > 0.
		away := k0 > 0
		if !centre || k0 == 0 {
			away = nz > 0
		}
		if away {
			il = -il
		}
		o[0], o[1], o[2] = float32(nx*il), float32(ny*il), float32(nz*il)
	}
}

// saturate rounds half away from zero and clamps to a byte, as MATLAB's
// uint8() does.
func saturate(v float32) uint8 {
	if !(v > 0) {
		return 0
	}
	if v >= 254.5 {
		return 255
	}
	return uint8(v + 0.5)
}

// acosTable samples acos(1 − t²) in degrees for t in [0, 1]: as a function
// of t = √(1 − c) the arc cosine has a slope between √2 and 2, so linear
// interpolation between acosBins samples is good to a few 1e-5° everywhere,
// the steep ends of acos included (the angle channel is whole degrees).
var acosTable = func() (t [acosBins + 2]float32) {
	for i := range t {
		x := min(1, float64(i)/acosBins)
		t[i] = float32(math.Acos(1-x*x) * 180 / math.Pi)
	}
	return t
}()

const acosBins = 1024

// acosDeg returns acos(c) in degrees for c in [−1, 1] (clamped).
func acosDeg(c float32) float32 {
	a := min(1, max(c, -c))
	t := float32(math.Sqrt(float64(1-a))) * acosBins
	i := int(t)
	d := acosTable[i] + (t-float32(i))*(acosTable[i+1]-acosTable[i])
	if c < 0 {
		return 180 - d
	}
	return d
}

// errNoGravity is returned when no normal is available to estimate up from.
var errNoGravity = errors.New("preprocess: cannot estimate gravity for HHA: the depth image has no surface normals; give View.Up")

// estimateUp finds the up direction as the direction most parallel to floor
// and ceiling normals and most perpendicular to wall normals (normals, 3 per
// entry), starting from a level camera's up (0, -1, 0) and refining five
// times with normals within 45° of the estimate or of its horizontal plane,
// then five times within 15°, as the reference does.
func estimateUp(normals []float32) ([3]float64, error) {
	u := [3]float64{0, -1, 0}
	found := false
	for _, thresh := range []float64{45, 15} {
		cosT := math.Cos(thresh * math.Pi / 180)
		sinT := math.Sin(thresh * math.Pi / 180)
		for iter := 0; iter < 5; iter++ {
			var m [9]float64
			count := 0
			for i := 0; i+2 < len(normals); i += 3 {
				nx, ny, nz := float64(normals[i]), float64(normals[i+1]), float64(normals[i+2])
				c := math.Abs(nx*u[0] + ny*u[1] + nz*u[2])
				sign := 0.0
				switch {
				case c > cosT:
					sign = 1
				case c < sinT:
					sign = -1
				default:
					continue
				}
				count++
				m[0] += sign * nx * nx
				m[1] += sign * nx * ny
				m[2] += sign * nx * nz
				m[4] += sign * ny * ny
				m[5] += sign * ny * nz
				m[8] += sign * nz * nz
			}
			if count == 0 {
				break
			}
			found = true
			m[3], m[6], m[7] = m[1], m[2], m[5]
			v := largestEigenvector(m)
			if v[0]*u[0]+v[1]*u[1]+v[2]*u[2] < 0 {
				v = [3]float64{-v[0], -v[1], -v[2]}
			}
			u = v
		}
	}
	if !found {
		return u, errNoGravity
	}
	return u, nil
}

// largestEigenvector returns the unit eigenvector of the symmetric 3×3 matrix
// m (row-major) with the largest eigenvalue, by cyclic Jacobi rotations.
func largestEigenvector(m [9]float64) [3]float64 {
	a := m
	v := [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}
	for sweep := 0; sweep < 50; sweep++ {
		off := a[1]*a[1] + a[2]*a[2] + a[5]*a[5]
		if off < 1e-30 {
			break
		}
		for _, pq := range [3][2]int{{0, 1}, {0, 2}, {1, 2}} {
			p, q := pq[0], pq[1]
			apq := a[3*p+q]
			if apq == 0 {
				continue
			}
			theta := (a[3*q+q] - a[3*p+p]) / (2 * apq)
			t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
			c := 1 / math.Sqrt(t*t+1)
			s := t * c
			// a = Jᵀ a J with J the rotation in the (p, q) plane.
			for k := 0; k < 3; k++ {
				akp, akq := a[3*k+p], a[3*k+q]
				a[3*k+p], a[3*k+q] = c*akp-s*akq, s*akp+c*akq
			}
			for k := 0; k < 3; k++ {
				apk, aqk := a[3*p+k], a[3*q+k]
				a[3*p+k], a[3*q+k] = c*apk-s*aqk, s*apk+c*aqk
			}
			for k := 0; k < 3; k++ {
				vkp, vkq := v[3*k+p], v[3*k+q]
				v[3*k+p], v[3*k+q] = c*vkp-s*vkq, s*vkp+c*vkq
			}
		}
	}
	best := 0
	for i := 1; i < 3; i++ {
		if a[4*i] > a[4*best] {
			best = i
		}
	}
	e := [3]float64{v[best], v[3+best], v[6+best]}
	l := math.Sqrt(e[0]*e[0] + e[1]*e[1] + e[2]*e[2])
	return [3]float64{e[0] / l, e[1] / l, e[2] / l}
}
