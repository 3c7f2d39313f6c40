package calibration

import (
	"fmt"
	"math"
	"unsafe"
)

// Extrinsic is a rigid transform p' = R·p + T between two camera frames
// (R row-major, T in metres), e.g. the depth→RGB transform from TF.
type Extrinsic struct {
	R [9]float64
	T [3]float64
}

// Identity returns the transform between coincident frames.
func Identity() Extrinsic { return Extrinsic{R: identity3()} }

// Apply transforms p.
func (e Extrinsic) Apply(p [3]float64) [3]float64 {
	return [3]float64{
		e.R[0]*p[0] + e.R[1]*p[1] + e.R[2]*p[2] + e.T[0],
		e.R[3]*p[0] + e.R[4]*p[1] + e.R[5]*p[2] + e.T[1],
		e.R[6]*p[0] + e.R[7]*p[1] + e.R[8]*p[2] + e.T[2],
	}
}

// Inverse returns the transform that undoes e (assuming R is a rotation).
func (e Extrinsic) Inverse() Extrinsic {
	var inv Extrinsic
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			inv.R[3*i+j] = e.R[3*j+i]
		}
	}
	for i := 0; i < 3; i++ {
		inv.T[i] = -(inv.R[3*i]*e.T[0] + inv.R[3*i+1]*e.T[1] + inv.R[3*i+2]*e.T[2])
	}
	return inv
}

// Then returns the transform that applies e, then f: f(e(p)).
func (e Extrinsic) Then(f Extrinsic) Extrinsic {
	var out Extrinsic
	out.R = mul3(f.R, e.R)
	for i := 0; i < 3; i++ {
		out.T[i] = f.R[3*i]*e.T[0] + f.R[3*i+1]*e.T[1] + f.R[3*i+2]*e.T[2] + f.T[i]
	}
	return out
}

// FromQuaternion builds the transform of a ROS geometry_msgs/Transform: the rotation quaternion (x, y, z, w),
// normalised, then the translation t. p' = R·p + t maps a point of the child frame into the parent frame, as
// a TF transform from parent to child does.
func FromQuaternion(x, y, z, w float64, t [3]float64) (Extrinsic, error) {
	n := math.Sqrt(x*x + y*y + z*z + w*w)
	for _, v := range []float64{x, y, z, w, t[0], t[1], t[2]} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Extrinsic{}, fmt.Errorf("calibration: transform has a non-finite value")
		}
	}
	if !(n > 1e-9) {
		return Extrinsic{}, fmt.Errorf("calibration: rotation quaternion (%g, %g, %g, %g) has no length", x, y, z, w)
	}
	x, y, z, w = x/n, y/n, z/n, w/n
	return Extrinsic{R: [9]float64{
		1 - 2*(y*y+z*z), 2 * (x*y - z*w), 2 * (x*z + y*w),
		2 * (x*y + z*w), 1 - 2*(x*x+z*z), 2 * (y*z - x*w),
		2 * (x*z - y*w), 2 * (y*z + x*w), 1 - 2*(x*x+y*y),
	}, T: t}, nil
}

// Registration maps depth images of one camera into the pixels of another, as
// depth_image_proc/register does: each depth pixel is back-projected with the
// depth camera, moved by the depth→RGB extrinsic, projected with the RGB
// camera, and the nearest depth wins where several land on one pixel. The
// rays of the depth camera (undistorted) are computed once, so reuse a
// Registration for a stream of frames. A Registration is safe for concurrent
// use.
type Registration struct {
	depth, rgb Pinhole
	ext        Extrinsic
	rgbK       coeffs
	// same is set when both cameras are one camera: registration is a copy.
	same bool
	// rays holds, for each depth pixel (row-major), M·(x, y, 1) where (x, y)
	// is the pixel's ideal normalised ray and M is R, or K_rgb·R when the RGB
	// camera has no distortion: a point at depth z maps to z·ray + t, with t
	// = T or K_rgb·T, in the RGB frame (or its homogeneous pixel
	// coordinates).
	rays []float32
	t    [3]float32
}

// NewRegistration prepares the registration of depthCam images into rgbCam.
// For rectified topics (image_rect) pass the cameras' Rectified() models.
func NewRegistration(depthCam, rgbCam Pinhole, depthToRGB Extrinsic) (*Registration, error) {
	if err := depthCam.Validate(); err != nil {
		return nil, fmt.Errorf("depth camera: %w", err)
	}
	if err := rgbCam.Validate(); err != nil {
		return nil, fmt.Errorf("rgb camera: %w", err)
	}
	for i, v := range append(depthToRGB.R[:], depthToRGB.T[:]...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("calibration: depth→RGB extrinsic element %d is %g", i, v)
		}
	}
	k, _ := rgbCam.coefficients()
	r := &Registration{depth: depthCam, rgb: rgbCam, ext: depthToRGB, rgbK: k}
	r.same = depthToRGB == Identity() && depthCam.Width == rgbCam.Width && depthCam.Height == rgbCam.Height &&
		depthCam.K == rgbCam.K && k.zero
	if dk, _ := depthCam.coefficients(); !dk.zero {
		r.same = false
	}
	r.rays = make([]float32, 3*depthCam.Width*depthCam.Height)
	m, t := depthToRGB.R, depthToRGB.T
	if k.zero {
		m = mul3(rgbCam.K, m)
		t = [3]float64{
			rgbCam.K[0]*t[0] + rgbCam.K[1]*t[1] + rgbCam.K[2]*t[2],
			rgbCam.K[3]*t[0] + rgbCam.K[4]*t[1] + rgbCam.K[5]*t[2],
			rgbCam.K[6]*t[0] + rgbCam.K[7]*t[1] + rgbCam.K[8]*t[2],
		}
	}
	r.t = [3]float32{float32(t[0]), float32(t[1]), float32(t[2])}
	for v := 0; v < depthCam.Height; v++ {
		for u := 0; u < depthCam.Width; u++ {
			x, y := depthCam.UndistortPixel(float64(u), float64(v))
			i := 3 * (v*depthCam.Width + u)
			r.rays[i] = float32(m[0]*x + m[1]*y + m[2])
			r.rays[i+1] = float32(m[3]*x + m[4]*y + m[5])
			r.rays[i+2] = float32(m[6]*x + m[7]*y + m[8])
		}
	}
	return r, nil
}

// DepthCamera returns the camera the registration reads from.
func (r *Registration) DepthCamera() Pinhole { return r.depth }

// RGBCamera returns the camera the registration writes for.
func (r *Registration) RGBCamera() Pinhole { return r.rgb }

// Register writes into dst (RGB width×height, row-major) the depth in metres
// along the RGB camera's optical axis of what src (depth width×height, metres,
// 0 = invalid) sees. Pixels no depth lands on are 0. With fillHoles each depth
// pixel covers its whole footprint in the RGB image instead of one pixel,
// which closes the holes left when the RGB image has the higher resolution
// (depth_image_proc's fill_upsampling_holes).
func (r *Registration) Register(dst, src []float32, fillHoles bool) error {
	dw, dh := r.depth.Width, r.depth.Height
	rw, rh := r.rgb.Width, r.rgb.Height
	if len(src) != dw*dh {
		return fmt.Errorf("calibration: depth image has %d pixels, the depth camera %dx%d needs %d", len(src), dw, dh, dw*dh)
	}
	if len(dst) != rw*rh {
		return fmt.Errorf("calibration: registered image has %d pixels, the RGB camera %dx%d needs %d", len(dst), rw, rh, rw*rh)
	}
	if r.same {
		for i, z := range src {
			if z > 0 && z <= math.MaxFloat32 {
				dst[i] = z
			} else {
				dst[i] = 0
			}
		}
		return nil
	}
	// The z-buffer holds the bits of positive float32 depths, which order
	// like the depths, so keeping the nearest is a branch-free integer min.
	// It starts at +Inf; pixels left there become 0 at the end.
	zbuf := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst))
	const inf = 0x7f800000
	for i := range zbuf {
		zbuf[i] = inf
	}
	tx, ty, tz := r.t[0], r.t[1], r.t[2]
	fx, fy, cx, cy, skew := r.rgb.K[0], r.rgb.K[4], r.rgb.K[2], r.rgb.K[5], r.rgb.K[1]
	// Half the footprint of a depth pixel in RGB pixels at unit depth ratio.
	hx := 0.5 * fx / r.depth.K[0]
	hy := 0.5 * fy / r.depth.K[4]
	distort := !r.rgbK.zero
	maxU, maxV := float32(rw)-0.5, float32(rh)-0.5
	pending, pendingZ := -1, uint32(0)
	for v := 0; v < dh; v++ {
		row := src[v*dw : (v+1)*dw]
		rays := r.rays[3*v*dw : 3*(v+1)*dw]
		for u, z := range row {
			if !(z > 0) || z > math.MaxFloat32 {
				continue
			}
			ray := rays[3*u : 3*u+3 : 3*u+3]
			qz := z*ray[2] + tz
			if !(qz > 0) || qz > math.MaxFloat32 {
				continue
			}
			inv := 1 / qz
			fu, fv := (z*ray[0]+tx)*inv, (z*ray[1]+ty)*inv
			if distort {
				x, y := r.rgbK.distort(float64(fu), float64(fv))
				fu, fv = float32(fx*x+skew*y+cx), float32(fy*y+cy)
			}
			q := qz
			if !fillHoles {
				// Round to the nearest pixel; the bounds test keeps int() exact.
				if !(fu >= -0.5 && fv >= -0.5 && fu < maxU && fv < maxV) {
					continue
				}
				// Neighbouring depth pixels often land on the same RGB
				// pixel; merging them in a register avoids a store-to-load
				// dependency through memory.
				i := int(fv+0.5)*rw + int(fu+0.5)
				if i == pending {
					pendingZ = min(pendingZ, math.Float32bits(q))
					continue
				}
				if pending >= 0 {
					zbuf[pending] = min(zbuf[pending], pendingZ)
				}
				pending, pendingZ = i, math.Float32bits(q)
				continue
			}
			// A point much nearer the RGB camera than the depth camera
			// would cover a huge footprint; maxFootprint bounds it.
			s := float64(z * inv)
			ex, ey := min(hx*s, maxFootprint), min(hy*s, maxFootprint)
			u0, u1 := math.Round(float64(fu)-ex), math.Round(float64(fu)+ex)
			v0, v1 := math.Round(float64(fv)-ey), math.Round(float64(fv)+ey)
			if !(u1 >= 0 && v1 >= 0 && u0 < float64(rw) && v0 < float64(rh)) { // also false for NaN
				continue
			}
			// Footprints of neighbouring pixels overlap by up to one pixel so
			// that lens distortion and rounding leave no gaps; the z-buffer
			// settles the overlap.
			a0, a1 := clampInt(u0, rw), clampInt(u1, rw)
			b0, b1 := clampInt(v0, rh), clampInt(v1, rh)
			qb := math.Float32bits(q)
			for b := b0; b <= b1; b++ {
				line := zbuf[b*rw : (b+1)*rw]
				for a := a0; a <= a1; a++ {
					line[a] = min(line[a], qb)
				}
			}
		}
	}
	if pending >= 0 {
		zbuf[pending] = min(zbuf[pending], pendingZ)
	}
	for i, d := range zbuf {
		if d == inf {
			zbuf[i] = 0
		}
	}
	return nil
}

// maxFootprint is the largest half-size in RGB pixels a depth pixel may cover
// when filling holes.
const maxFootprint = 8

func clampInt(v float64, n int) int {
	if v < 0 {
		return 0
	}
	if v >= float64(n) {
		return n - 1
	}
	return int(v)
}

// Register is the one-shot form of NewRegistration and Registration.Register:
// it returns depth (depthCam's size, metres) registered into rgbCam's pixels.
func Register(depth []float32, depthCam, rgbCam Pinhole, depthToRGB Extrinsic, fillHoles bool) ([]float32, error) {
	r, err := NewRegistration(depthCam, rgbCam, depthToRGB)
	if err != nil {
		return nil, err
	}
	dst := make([]float32, rgbCam.Width*rgbCam.Height)
	if err := r.Register(dst, depth, fillHoles); err != nil {
		return nil, err
	}
	return dst, nil
}

// mul3 returns the product of two row-major 3×3 matrices.
func mul3(a, b [9]float64) [9]float64 {
	var c [9]float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			c[3*i+j] = a[3*i]*b[j] + a[3*i+1]*b[3+j] + a[3*i+2]*b[6+j]
		}
	}
	return c
}
