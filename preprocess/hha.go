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
// Width; pixels with depth 0 are 0 in all three planes, and so is the angle
// where no normal can be computed. cam is the depth image's camera (K only).
// up is the direction opposite to gravity in the camera frame; zero means
// estimate it from the normals as the authors do (iteratively, normals within
// 45° then 15° of the current estimate vote as floor or ceiling, normals
// within those angles of horizontal as walls). The up direction used is
// returned.
func EncodeHHA(depth DepthImage, cam calibration.Pinhole, up [3]float64) ([]uint8, [3]float64, error) {
	if err := depth.check(); err != nil {
		return nil, up, err
	}
	out := make([]uint8, 3*len(depth.Pix))
	var normals []float32
	u, err := hhaInto(out, &normals, depth, cam, up)
	return out, u, err
}

// Normals are central differences of back-projected neighbours: O(HW), no
// patch fit. They are noisier than the authors' least-squares patches but fast
// enough for the node; the angle channel is quantised to degrees anyway.
// scratch holds the normals between calls, reused when large enough.
func hhaInto(out []uint8, scratch *[]float32, depth DepthImage, cam calibration.Pinhole, up [3]float64) ([3]float64, error) {
	if !(cam.Fx() > 0) || !(cam.Fy() > 0) {
		return up, fmt.Errorf("preprocess: HHA needs positive focal lengths, got fx=%g fy=%g", cam.Fx(), cam.Fy())
	}
	w, h := depth.Width, depth.Height
	n := w * h
	d := depth.Pix
	clear(out)
	disp, height, angle := out[:n], out[n:2*n], out[2*n:3*n]
	ifx, ify := float32(1/cam.Fx()), float32(1/cam.Fy())
	cx, cy := float32(cam.Cx()), float32(cam.Cy())
	// Ray coefficients: a point at depth z is z·(xr[x], yr[y], 1).
	xr := make([]float32, w)
	for x := range xr {
		xr[x] = (float32(x) - cx) * ifx
	}
	yr := make([]float32, h)
	for y := range yr {
		yr[y] = (float32(y) - cy) * ify
	}
	*scratch = grow(*scratch, 3*n)
	normals := *scratch
	clear(normals)
	point := func(x, y int) (float32, float32, float32) {
		z := d[y*w+x]
		return z * xr[x], z * yr[y], z
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			z := d[i]
			if z == 0 {
				continue
			}
			// Horizontal and vertical tangents from the nearest valid
			// neighbours on each side (central, else one-sided).
			x0, x1 := x, x
			if x > 0 && d[i-1] != 0 {
				x0 = x - 1
			}
			if x+1 < w && d[i+1] != 0 {
				x1 = x + 1
			}
			y0, y1 := y, y
			if y > 0 && d[i-w] != 0 {
				y0 = y - 1
			}
			if y+1 < h && d[i+w] != 0 {
				y1 = y + 1
			}
			if x0 == x1 || y0 == y1 {
				continue
			}
			ax, ay, az := point(x1, y)
			bx, by, bz := point(x0, y)
			tx, ty, tz := ax-bx, ay-by, az-bz
			ax, ay, az = point(x, y1)
			bx, by, bz = point(x, y0)
			sx, sy, sz := ax-bx, ay-by, az-bz
			// s × t points towards the camera for a surface facing it
			// (x right, y down, z forward).
			nx, ny, nz := sy*tz-sz*ty, sz*tx-sx*tz, sx*ty-sy*tx
			l := float32(math.Sqrt(float64(nx*nx + ny*ny + nz*nz)))
			if !(l > 0) {
				continue
			}
			// Orient towards the camera: n·p < 0.
			if nx*xr[x]+ny*yr[y]+nz > 0 {
				l = -l
			}
			normals[3*i], normals[3*i+1], normals[3*i+2] = nx/l, ny/l, nz/l
		}
	}
	if up == ([3]float64{}) {
		var err error
		if up, err = estimateUp(normals); err != nil {
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
	lowest := float32(math.Inf(1))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if z := d[y*w+x]; z != 0 {
				lowest = min(lowest, z*(ux*xr[x]+uy*yr[y]+uz))
			}
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			z := d[i]
			if z == 0 {
				continue
			}
			disp[i] = saturate(310 / max(z, 1))
			height[i] = saturate(100 * (z*(ux*xr[x]+uy*yr[y]+uz) - lowest))
			nx, ny, nz := normals[3*i], normals[3*i+1], normals[3*i+2]
			if nx == 0 && ny == 0 && nz == 0 {
				continue
			}
			c := max(-1, min(1, nx*ux+ny*uy+nz*uz))
			angle[i] = saturate(acosDeg(c) + 38)
		}
	}
	return up, nil
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

// acosTable samples acos in degrees; acosDeg interpolates it linearly, to
// within 0.001° (the angle channel is rounded to whole degrees), except next
// to ±1, where a series is used.
var acosTable = func() (t [acosBins + 1]float32) {
	for i := range t {
		t[i] = float32(math.Acos(float64(i)*2/acosBins-1) * 180 / math.Pi)
	}
	return t
}()

const (
	acosBins = 4096
	// acosEdge bins at each end (|c| > 0.99) use the series instead.
	acosEdge = 20
)

func acosDeg(c float32) float32 {
	f := (c + 1) * (acosBins / 2)
	i := int(f)
	if i >= acosEdge && i < acosBins-acosEdge {
		r := f - float32(i)
		return acosTable[i] + r*(acosTable[i+1]-acosTable[i])
	}
	// Near ±1 acos is steep; use its series in e = 1 − |c| (e < 0.01, so
	// the truncation error is below 1e-8 rad).
	e := 1 - min(1, max(-1, c))
	if c < 0 {
		e = 1 + max(-1, c)
	}
	a := float32(math.Sqrt(float64(2*e))) * (1 + e/12 + 3*e*e/160) * (180 / math.Pi)
	if c < 0 {
		return 180 - a
	}
	return a
}

// errNoGravity is returned when no normal is available to estimate up from.
var errNoGravity = errors.New("preprocess: cannot estimate gravity for HHA: the depth image has no surface normals; give View.Up")

// estimateUp finds the up direction as the direction most parallel to floor
// and ceiling normals and most perpendicular to wall normals, starting from a
// level camera's up (0, -1, 0) and refining with shrinking angle thresholds.
func estimateUp(normals []float32) ([3]float64, error) {
	u := [3]float64{0, -1, 0}
	// Every 8th normal is plenty for a 3×3 scatter matrix.
	const stride = 8
	found := false
	for _, thresh := range []float64{45, 15} {
		cosT := math.Cos(thresh * math.Pi / 180)
		sinT := math.Sin(thresh * math.Pi / 180)
		for iter := 0; iter < 5; iter++ {
			var m [9]float64
			count := 0
			for i := 0; i+2 < len(normals); i += 3 * stride {
				nx, ny, nz := float64(normals[i]), float64(normals[i+1]), float64(normals[i+2])
				if nx == 0 && ny == 0 && nz == 0 {
					continue
				}
				c := math.Abs(nx*u[0] + ny*u[1] + nz*u[2])
				sign := 0.0
				switch {
				case c >= cosT:
					sign = 1
				case c <= sinT:
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
