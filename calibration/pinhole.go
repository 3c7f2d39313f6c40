package calibration

import (
	"fmt"
	"math"
)

// Distortion model names as written in CameraInfo.distortion_model.
const (
	PlumbBob           = "plumb_bob"
	RationalPolynomial = "rational_polynomial"
)

// Pinhole is a calibrated camera: the fields of a sensor_msgs/CameraInfo
// without header, binning and ROI (Reduced applies those). K, R and P are
// row-major.
type Pinhole struct {
	// Name is the camera_name of a calibration file (optional).
	Name string
	// Width and Height are the image size in pixels the calibration is for.
	Width, Height int
	// K is the 3×3 intrinsic matrix of the raw (distorted) image.
	K [9]float64
	// Model is the distortion model: PlumbBob, RationalPolynomial, or empty
	// when D is empty or all zero.
	Model string
	// D holds the distortion coefficients: k1, k2, p1, p2, k3 for plumb_bob
	// and k1, k2, p1, p2, k3, k4, k5, k6 for rational_polynomial. Missing
	// trailing coefficients are zero.
	D []float64
	// R is the 3×3 rectification rotation (identity for a monocular camera).
	R [9]float64
	// P is the 3×4 projection matrix of the rectified image.
	P [12]float64
}

// FromCameraInfo builds a Pinhole from the fields of a sensor_msgs/CameraInfo
// message and checks that they describe a usable camera.
func FromCameraInfo(width, height int, model string, d []float64, k, r [9]float64, p [12]float64) (Pinhole, error) {
	c := Pinhole{Width: width, Height: height, K: k, Model: model, D: append([]float64(nil), d...), R: r, P: p}
	if err := c.Validate(); err != nil {
		return Pinhole{}, err
	}
	return c, nil
}

// Validate reports whether c has a positive size, positive focal lengths and a
// distortion model this package can apply.
func (c Pinhole) Validate() error {
	if c.Width <= 0 || c.Height <= 0 {
		return fmt.Errorf("calibration: camera size %dx%d is not positive", c.Width, c.Height)
	}
	if !(c.K[0] > 0) || !(c.K[4] > 0) || math.IsInf(c.K[0], 0) || math.IsInf(c.K[4], 0) {
		return fmt.Errorf("calibration: focal lengths fx=%g fy=%g must be positive and finite", c.K[0], c.K[4])
	}
	for i, v := range c.K {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("calibration: K[%d] is %g", i, v)
		}
	}
	if _, err := c.coefficients(); err != nil {
		return err
	}
	return nil
}

// coeffs are the eight rational_polynomial coefficients; plumb_bob leaves k4..k6 zero.
type coeffs struct {
	k1, k2, p1, p2, k3, k4, k5, k6 float64
	zero                           bool
}

func (c Pinhole) coefficients() (coeffs, error) {
	allZero := true
	for i, v := range c.D {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return coeffs{}, fmt.Errorf("calibration: distortion coefficient %d is %g", i, v)
		}
		if v != 0 {
			allZero = false
		}
	}
	if allZero {
		return coeffs{zero: true}, nil
	}
	var max int
	switch c.Model {
	case PlumbBob:
		max = 5
	case RationalPolynomial:
		max = 8
	default:
		return coeffs{}, fmt.Errorf("calibration: distortion model %q is not supported (use %s or %s)", c.Model, PlumbBob, RationalPolynomial)
	}
	if len(c.D) > max {
		return coeffs{}, fmt.Errorf("calibration: %s takes at most %d coefficients, got %d", c.Model, max, len(c.D))
	}
	var d [8]float64
	copy(d[:], c.D)
	return coeffs{k1: d[0], k2: d[1], p1: d[2], p2: d[3], k3: d[4], k4: d[5], k5: d[6], k6: d[7]}, nil
}

// ROI is a CameraInfo's region of interest: the part of the full image, in
// full-resolution pixels, that the camera publishes. The zero ROI is the full
// image.
type ROI struct {
	X, Y, Width, Height int
}

// Reduced returns the camera of the images published with binning binX × binY
// (0 and 1 mean none) and region of interest roi, from the full-resolution
// calibration c, as image_geometry's PinholeCameraModel reads a CameraInfo
// (its reducedResolution camera): the principal point moves by the ROI's
// offset, then focal lengths, principal point and P's Tx, Ty divide by the
// binning, and the image is roi.Width/binX × roi.Height/binY. Like
// image_geometry it scales the principal point with the pixel edge at 0 (cx/b,
// where a super-pixel's centre would give (cx + 0.5)/b − 0.5: at most half a
// binned pixel apart). The skew scales with the binning too (image_geometry
// keeps it; it is zero in practice). Distortion acts on normalised coordinates
// and is unchanged.
func (c Pinhole) Reduced(binX, binY int, roi ROI) (Pinhole, error) {
	binX, binY = max(binX, 1), max(binY, 1)
	if roi == (ROI{}) {
		roi = ROI{Width: c.Width, Height: c.Height}
	}
	switch {
	case roi.X < 0 || roi.Y < 0 || roi.Width <= 0 || roi.Height <= 0 || roi.X+roi.Width > c.Width || roi.Y+roi.Height > c.Height:
		return Pinhole{}, fmt.Errorf("calibration: region of interest %dx%d at (%d, %d) is not inside the %dx%d image",
			roi.Width, roi.Height, roi.X, roi.Y, c.Width, c.Height)
	case roi.Width/binX < 1 || roi.Height/binY < 1:
		return Pinhole{}, fmt.Errorf("calibration: binning %dx%d leaves no pixel of the %dx%d region", binX, binY, roi.Width, roi.Height)
	}
	r := c
	r.D = append([]float64(nil), c.D...)
	r.Width, r.Height = roi.Width/binX, roi.Height/binY
	sx, sy := 1/float64(binX), 1/float64(binY)
	ox, oy := float64(roi.X), float64(roi.Y)
	r.K[0], r.K[1], r.K[2] = c.K[0]*sx, c.K[1]*sx, (c.K[2]-ox)*sx
	r.K[4], r.K[5] = c.K[4]*sy, (c.K[5]-oy)*sy
	if c.P[0] != 0 {
		r.P[0], r.P[1], r.P[2], r.P[3] = c.P[0]*sx, c.P[1]*sx, (c.P[2]-ox)*sx, c.P[3]*sx
		r.P[5], r.P[6], r.P[7] = c.P[5]*sy, (c.P[6]-oy)*sy, c.P[7]*sy
	}
	return r, nil
}

// Offset returns where the frame the camera's CameraInfo names sees the
// camera's own centre, in metres, from P's fourth column: (−Tx/fx', −Ty/fy',
// 0) with Tx = P[0,3], Ty = P[1,3] and fx', fy' P's focal lengths. It is zero
// for a monocular camera; for the second camera of a stereo pair, which
// shares the first one's frame, Tx = −fx'·baseline. A point p of that frame
// is at p − Offset() from the camera's centre, where K projects it.
func (c Pinhole) Offset() [3]float64 {
	var o [3]float64
	if c.P[0] != 0 {
		o[0] = -c.P[3] / c.P[0]
	}
	if c.P[5] != 0 {
		o[1] = -c.P[7] / c.P[5]
	}
	return o
}

// Fx returns the horizontal focal length K[0,0].
func (c Pinhole) Fx() float64 { return c.K[0] }

// Fy returns the vertical focal length K[1,1].
func (c Pinhole) Fy() float64 { return c.K[4] }

// Cx returns the principal point's column K[0,2].
func (c Pinhole) Cx() float64 { return c.K[2] }

// Cy returns the principal point's row K[1,2].
func (c Pinhole) Cy() float64 { return c.K[5] }

// Rectified returns the camera of the rectified image (image_rect topics):
// K is the left 3×3 block of P, there is no distortion and R is the identity.
// A zero P leaves K unchanged.
func (c Pinhole) Rectified() Pinhole {
	r := c
	r.D, r.Model = nil, ""
	r.R = identity3()
	if c.P[0] != 0 {
		r.K = [9]float64{c.P[0], c.P[1], c.P[2], c.P[4], c.P[5], c.P[6], c.P[8], c.P[9], c.P[10]}
	}
	return r
}

// Scaled returns the camera for the same view resized to width×height
// (pixel-centre convention: u' = (u+0.5)·sx − 0.5). Distortion, which acts
// on normalised coordinates, is unchanged.
func (c Pinhole) Scaled(width, height int) Pinhole {
	sx := float64(width) / float64(c.Width)
	sy := float64(height) / float64(c.Height)
	s := c
	s.Width, s.Height = width, height
	s.D = append([]float64(nil), c.D...)
	s.K[0] *= sx
	s.K[1] *= sx
	s.K[2] = (c.K[2]+0.5)*sx - 0.5
	s.K[4] *= sy
	s.K[5] = (c.K[5]+0.5)*sy - 0.5
	s.P[0] *= sx
	s.P[1] *= sx
	s.P[2] = (c.P[2]+0.5)*sx - 0.5
	s.P[3] *= sx
	s.P[5] *= sy
	s.P[6] = (c.P[6]+0.5)*sy - 0.5
	s.P[7] *= sy
	return s
}

// Distort maps ideal normalised coordinates (x/z, y/z) to distorted ones.
func (c Pinhole) Distort(x, y float64) (xd, yd float64) {
	k, err := c.coefficients()
	if err != nil || k.zero {
		return x, y
	}
	return k.distort(x, y)
}

func (k coeffs) distort(x, y float64) (float64, float64) {
	r2 := x*x + y*y
	r4 := r2 * r2
	r6 := r4 * r2
	radial := (1 + k.k1*r2 + k.k2*r4 + k.k3*r6) / (1 + k.k4*r2 + k.k5*r4 + k.k6*r6)
	xd := x*radial + 2*k.p1*x*y + k.p2*(r2+2*x*x)
	yd := y*radial + k.p1*(r2+2*y*y) + 2*k.p2*x*y
	return xd, yd
}

// undistortIterations bounds the fixed-point inversion of the distortion; it
// converges to well below 1e-9 for the distortions of real lenses.
const undistortIterations = 20

// Undistort maps distorted normalised coordinates to ideal ones by inverting
// Distort iteratively (the method of OpenCV's undistortPoints).
func (c Pinhole) Undistort(xd, yd float64) (x, y float64) {
	k, err := c.coefficients()
	if err != nil || k.zero {
		return xd, yd
	}
	return k.undistort(xd, yd)
}

func (k coeffs) undistort(xd, yd float64) (float64, float64) {
	x, y := xd, yd
	for i := 0; i < undistortIterations; i++ {
		r2 := x*x + y*y
		r4 := r2 * r2
		r6 := r4 * r2
		icdist := (1 + k.k4*r2 + k.k5*r4 + k.k6*r6) / (1 + k.k1*r2 + k.k2*r4 + k.k3*r6)
		dx := 2*k.p1*x*y + k.p2*(r2+2*x*x)
		dy := k.p1*(r2+2*y*y) + 2*k.p2*x*y
		nx, ny := (xd-dx)*icdist, (yd-dy)*icdist
		if math.Abs(nx-x) < 1e-12 && math.Abs(ny-y) < 1e-12 {
			return nx, ny
		}
		x, y = nx, ny
	}
	return x, y
}

// UndistortPixel maps a raw pixel (u, v) to the ideal ray (x, y, 1) through it,
// returned as normalised coordinates x and y.
func (c Pinhole) UndistortPixel(u, v float64) (x, y float64) {
	xd := (u - c.K[2] - c.K[1]*(v-c.K[5])/c.K[4]) / c.K[0]
	yd := (v - c.K[5]) / c.K[4]
	return c.Undistort(xd, yd)
}

// Project maps a point in the camera frame to raw (distorted) pixel
// coordinates. ok is false for points at or behind the camera.
func (c Pinhole) Project(p [3]float64) (u, v float64, ok bool) {
	if !(p[2] > 0) {
		return 0, 0, false
	}
	x, y := c.Distort(p[0]/p[2], p[1]/p[2])
	return c.K[0]*x + c.K[1]*y + c.K[2], c.K[4]*y + c.K[5], true
}

// Backproject returns the point at depth z (metres along the optical axis)
// seen at raw pixel (u, v).
func (c Pinhole) Backproject(u, v, z float64) [3]float64 {
	x, y := c.UndistortPixel(u, v)
	return [3]float64{x * z, y * z, z}
}

func identity3() [9]float64 { return [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1} }
