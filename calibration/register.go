package calibration

import (
	"fmt"
	"math"
	"sync"
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
// cameras are those of the images as published (Pinhole.Reduced applies a
// CameraInfo's binning and ROI), and P's Tx, Ty place each camera's centre
// in the frame its CameraInfo names (Pinhole.Offset), as depth_image_proc
// uses them. The rays of the depth camera (undistorted) are computed once,
// so reuse a Registration for a stream of frames. A Registration is safe for
// concurrent use.
type Registration struct {
	depth, rgb Pinhole
	// ext maps points from the depth camera's centre to the RGB camera's:
	// the depth→RGB extrinsic between their frames, with both offsets.
	ext  Extrinsic
	rgbK coeffs
	// same is set when both cameras are one camera: registration is a copy.
	same bool
	// rays holds, for each depth pixel (row-major), M·(x, y, 1) where (x, y)
	// is the pixel's ideal normalised ray and M is R, or K_rgb·R when the RGB
	// camera has no distortion: a point at depth z maps to z·ray + t, with t
	// = T or K_rgb·T, in the RGB frame (or its homogeneous pixel
	// coordinates).
	rays []float32
	t    [3]float32
	m    [9]float64
	// corners holds the same for the (width+1)×(height+1) pixel corners,
	// for filling holes; computed on first use.
	cornersOnce sync.Once
	corners     []float32
}

// NewRegistration prepares the registration of depthCam images into rgbCam;
// depthToRGB maps points of the depth camera's frame to the RGB camera's (the
// frames their CameraInfos name). For rectified topics (image_rect) pass the
// cameras' Rectified() models.
func NewRegistration(depthCam, rgbCam Pinhole, depthToRGB Extrinsic) (*Registration, error) {
	if err := depthCam.Validate(); err != nil {
		return nil, fmt.Errorf("depth camera: %w", err)
	}
	if err := rgbCam.Validate(); err != nil {
		return nil, fmt.Errorf("rgb camera: %w", err)
	}
	od, or := depthCam.Offset(), rgbCam.Offset()
	ext := Extrinsic{R: identity3(), T: od}.Then(depthToRGB).Then(Extrinsic{R: identity3(), T: [3]float64{-or[0], -or[1], -or[2]}})
	for i, v := range append(ext.R[:], ext.T[:]...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("calibration: depth→RGB extrinsic element %d is %g (with the cameras' P offsets)", i, v)
		}
	}
	k, _ := rgbCam.coefficients()
	r := &Registration{depth: depthCam, rgb: rgbCam, ext: ext, rgbK: k}
	r.same = ext == Identity() && depthCam.Width == rgbCam.Width && depthCam.Height == rgbCam.Height &&
		depthCam.K == rgbCam.K && k.zero
	if dk, _ := depthCam.coefficients(); !dk.zero {
		r.same = false
	}
	m, t := ext.R, ext.T
	if k.zero {
		m = mul3(rgbCam.K, m)
		t = [3]float64{
			rgbCam.K[0]*t[0] + rgbCam.K[1]*t[1] + rgbCam.K[2]*t[2],
			rgbCam.K[3]*t[0] + rgbCam.K[4]*t[1] + rgbCam.K[5]*t[2],
			rgbCam.K[6]*t[0] + rgbCam.K[7]*t[1] + rgbCam.K[8]*t[2],
		}
	}
	r.m = m
	r.t = [3]float32{float32(t[0]), float32(t[1]), float32(t[2])}
	r.rays = r.rayGrid(depthCam.Width, depthCam.Height, 0)
	return r, nil
}

// rayGrid returns M·(x, y, 1) for the w×h pixel positions (u + off, v + off).
func (r *Registration) rayGrid(w, h int, off float64) []float32 {
	rays := make([]float32, 3*w*h)
	m := r.m
	for v := 0; v < h; v++ {
		for u := 0; u < w; u++ {
			x, y := r.depth.UndistortPixel(float64(u)+off, float64(v)+off)
			i := 3 * (v*w + u)
			rays[i] = float32(m[0]*x + m[1]*y + m[2])
			rays[i+1] = float32(m[3]*x + m[4]*y + m[5])
			rays[i+2] = float32(m[6]*x + m[7]*y + m[8])
		}
	}
	return rays
}

// DepthCamera returns the camera the registration reads from.
func (r *Registration) DepthCamera() Pinhole { return r.depth }

// RGBCamera returns the camera the registration writes for.
func (r *Registration) RGBCamera() Pinhole { return r.rgb }

// Register writes into dst (RGB width×height, row-major) the depth in metres
// along the RGB camera's optical axis of what src (depth width×height, metres,
// 0 = invalid) sees. Pixels no depth lands on are 0; so are points that land
// outside the image or at or behind the RGB camera's centre (depth_image_proc
// would project those through the centre, mirrored). With fillHoles each
// depth pixel covers its footprint instead of one pixel: the box its four
// projected corners span, at the mean depth of its top-left and bottom-right
// corners, dropped when it leaves the image, as depth_image_proc's
// fill_upsampling_holes does. This closes the holes left when the RGB image
// has the higher resolution. (depth_image_proc spans the box from the top-left
// and bottom-right corners alone, which leaves gaps where a rotation about the
// optical axis or lens distortion tilts the footprints, and truncates towards
// zero where this rounds to the nearest pixel.)
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
	if fillHoles {
		r.fill(zbuf, src)
	} else {
		r.splat(zbuf, src)
	}
	for i, d := range zbuf {
		if d == inf {
			zbuf[i] = 0
		}
	}
	return nil
}

// project maps a depth sample z on a ray (from rays or corners) to RGB pixel
// coordinates and the depth there; ok is false at or behind the RGB camera.
func (r *Registration) project(z float32, ray []float32) (fu, fv, q float32, ok bool) {
	q = z*ray[2] + r.t[2]
	if !(q > 0) || q > math.MaxFloat32 {
		return 0, 0, 0, false
	}
	inv := 1 / q
	fu, fv = (z*ray[0]+r.t[0])*inv, (z*ray[1]+r.t[1])*inv
	if !r.rgbK.zero {
		k := &r.rgb.K
		x, y := r.rgbK.distort(float64(fu), float64(fv))
		fu, fv = float32(k[0]*x+k[1]*y+k[2]), float32(k[4]*y+k[5])
	}
	return fu, fv, q, true
}

// splat lands each depth pixel on the RGB pixel nearest its projection.
func (r *Registration) splat(zbuf []uint32, src []float32) {
	dw, dh := r.depth.Width, r.depth.Height
	rw, rh := r.rgb.Width, r.rgb.Height
	tx, ty, tz := r.t[0], r.t[1], r.t[2]
	fx, fy, cx, cy, skew := r.rgb.K[0], r.rgb.K[4], r.rgb.K[2], r.rgb.K[5], r.rgb.K[1]
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
			// Round to the nearest pixel; the bounds test keeps int() exact.
			if !(fu >= -0.5 && fv >= -0.5 && fu < maxU && fv < maxV) {
				continue
			}
			// Neighbouring depth pixels often land on the same RGB pixel;
			// merging them in a register avoids a store-to-load dependency
			// through memory.
			i := int(fv+0.5)*rw + int(fu+0.5)
			if i == pending {
				pendingZ = min(pendingZ, math.Float32bits(qz))
				continue
			}
			if pending >= 0 {
				zbuf[pending] = min(zbuf[pending], pendingZ)
			}
			pending, pendingZ = i, math.Float32bits(qz)
		}
	}
	if pending >= 0 {
		zbuf[pending] = min(zbuf[pending], pendingZ)
	}
}

// fill covers each depth pixel's footprint, the box its projected corners
// span.
func (r *Registration) fill(zbuf []uint32, src []float32) {
	dw, dh := r.depth.Width, r.depth.Height
	rw, rh := r.rgb.Width, r.rgb.Height
	r.cornersOnce.Do(func() { r.corners = r.rayGrid(dw+1, dh+1, -0.5) })
	cw := dw + 1
	for v := 0; v < dh; v++ {
		for u, z := range src[v*dw : (v+1)*dw] {
			if !(z > 0) || z > math.MaxFloat32 {
				continue
			}
			// The corners top-left, top-right, bottom-left, bottom-right.
			i1, i2, i3, i4 := 3*(v*cw+u), 3*(v*cw+u+1), 3*((v+1)*cw+u), 3*((v+1)*cw+u+1)
			u1, v1, q1, ok1 := r.project(z, r.corners[i1:i1+3:i1+3])
			u2, v2, _, ok2 := r.project(z, r.corners[i2:i2+3:i2+3])
			u3, v3, _, ok3 := r.project(z, r.corners[i3:i3+3:i3+3])
			u4, v4, q4, ok4 := r.project(z, r.corners[i4:i4+3:i4+3])
			if !ok1 || !ok2 || !ok3 || !ok4 {
				continue
			}
			// Round half up to pixel indices; a box that leaves the image
			// is dropped, as depth_image_proc drops it.
			a0, a1 := math.Floor(float64(min(u1, u2, u3, u4))+0.5), math.Floor(float64(max(u1, u2, u3, u4))+0.5)
			b0, b1 := math.Floor(float64(min(v1, v2, v3, v4))+0.5), math.Floor(float64(max(v1, v2, v3, v4))+0.5)
			if !(a0 >= 0 && b0 >= 0 && a1 < float64(rw) && b1 < float64(rh)) || a1-a0 > 2*maxFootprint || b1-b0 > 2*maxFootprint {
				continue // also for NaN
			}
			qb := math.Float32bits(0.5 * (q1 + q4))
			for b := int(b0); b <= int(b1); b++ {
				line := zbuf[b*rw : (b+1)*rw]
				for a := int(a0); a <= int(a1); a++ {
					line[a] = min(line[a], qb)
				}
			}
		}
	}
}

// maxFootprint bounds the half-size in RGB pixels of a footprint; a larger one
// (a point almost at the RGB camera) is dropped rather than painted over much
// of the image.
const maxFootprint = 16

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
