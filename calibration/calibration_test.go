package calibration

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const calibYAML = `image_width: 640
image_height: 480
camera_name: narrow_stereo
camera_matrix:
  rows: 3
  cols: 3
  data: [525.0, 0, 319.5, 0, 525.0, 239.5, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [0.1, -0.25, 0.001, -0.002, 0.05]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [520.0, 0, 320.0, 0, 0, 521.0, 240.0, 0, 0, 0, 1, 0]
`

func TestLoadYAMLReadsCameraCalibrationParsersFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cam.yaml")
	if err := os.WriteFile(path, []byte(calibYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadYAML(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Width != 640 || c.Height != 480 || c.Name != "narrow_stereo" || c.Model != PlumbBob {
		t.Fatalf("header fields: %+v", c)
	}
	if c.Fx() != 525 || c.Cx() != 319.5 || c.Fy() != 525 || c.Cy() != 239.5 {
		t.Fatalf("K = %v", c.K)
	}
	if len(c.D) != 5 || c.D[4] != 0.05 || c.P[0] != 520 || c.P[6] != 240 {
		t.Fatalf("D = %v, P = %v", c.D, c.P)
	}
	r := c.Rectified()
	if r.Fx() != 520 || r.Fy() != 521 || r.Cx() != 320 || len(r.D) != 0 {
		t.Fatalf("Rectified() = %+v", r)
	}
	// Round trip through MarshalYAML.
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseYAML(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if back.K != c.K || back.P != c.P || back.R != c.R || len(back.D) != 5 || back.D[1] != c.D[1] {
		t.Fatalf("round trip changed the camera: %+v vs %+v", back, c)
	}
}

func TestParseYAMLRejectsMalformedFiles(t *testing.T) {
	tests := []struct {
		name, edit, want string
	}{
		{"missing camera matrix", "camera_matrix:\n  rows: 3\n  cols: 3\n  data: [525.0, 0, 319.5, 0, 525.0, 239.5, 0, 0, 1]\n", "camera_matrix is missing"},
		{"short camera matrix", "data: [525.0, 0, 319.5, 0, 525.0, 239.5, 0, 0, 1]", "camera_matrix says 3x3 but has 2 values"},
		{"unknown model", "distortion_model: plumb_bob", `distortion model "fisheye62" is not supported`},
		{"zero width", "image_width: 640", "camera size 0x480"},
		{"not yaml", "image_width: 640", "bad calibration YAML"},
	}
	repl := map[string]string{
		"missing camera matrix": "",
		"short camera matrix":   "data: [525.0, 0]",
		"unknown model":         "distortion_model: fisheye62",
		"zero width":            "image_width: 0",
		"not yaml":              "image_width: [640",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(calibYAML, tt.edit, repl[tt.name], 1)
			c, err := ParseYAML(strings.NewReader(src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %+v, %v; want error containing %q", c, err, tt.want)
			}
		})
	}
}

func TestFromCameraInfoValidatesFields(t *testing.T) {
	k := [9]float64{500, 0, 320, 0, 500, 240, 0, 0, 1}
	tests := []struct {
		name   string
		w, h   int
		model  string
		d      []float64
		k      [9]float64
		wantOK bool
		want   string
	}{
		{"plumb bob", 640, 480, PlumbBob, []float64{0.1, 0, 0, 0, 0}, k, true, ""},
		{"rational polynomial", 640, 480, RationalPolynomial, []float64{0.1, 0, 0, 0, 0, 0.01, 0, 0}, k, true, ""},
		{"unknown model without distortion", 640, 480, "equidistant", []float64{0, 0, 0, 0}, k, true, ""},
		{"zero focal length", 640, 480, PlumbBob, nil, [9]float64{0, 0, 320, 0, 500, 240, 0, 0, 1}, false, "focal lengths"},
		{"too many coefficients", 640, 480, PlumbBob, []float64{1, 2, 3, 4, 5, 6}, k, false, "at most 5"},
		{"NaN coefficient", 640, 480, PlumbBob, []float64{math.NaN()}, k, false, "is NaN"},
		{"empty image", 0, 480, PlumbBob, nil, k, false, "not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromCameraInfo(tt.w, tt.h, tt.model, tt.d, tt.k, identity3(), [12]float64{})
			if tt.wantOK && err != nil {
				t.Fatal(err)
			}
			if !tt.wantOK && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestUndistortInvertsDistort(t *testing.T) {
	cams := []Pinhole{
		{Model: PlumbBob, D: []float64{-0.28, 0.07, 0.001, -0.0005, -0.01}},
		{Model: RationalPolynomial, D: []float64{0.5, -0.1, 0.0008, 0.0003, 0.02, 0.85, 0.05, 0.01}},
	}
	for _, c := range cams {
		t.Run(c.Model, func(t *testing.T) {
			for _, x := range []float64{-0.5, -0.2, 0, 0.13, 0.45} {
				for _, y := range []float64{-0.4, 0, 0.3} {
					xd, yd := c.Distort(x, y)
					ux, uy := c.Undistort(xd, yd)
					if math.Abs(ux-x) > 1e-9 || math.Abs(uy-y) > 1e-9 {
						t.Errorf("Undistort(Distort(%g, %g)) = (%g, %g)", x, y, ux, uy)
					}
				}
			}
		})
	}
}

func TestProjectAndBackprojectAreInverse(t *testing.T) {
	c := Pinhole{Width: 640, Height: 480, K: [9]float64{525, 0, 319.5, 0, 530, 239.5, 0, 0, 1},
		Model: PlumbBob, D: []float64{-0.1, 0.02, 0.001, 0.001, 0}}
	p := c.Backproject(100, 400, 2.5)
	u, v, ok := c.Project(p)
	if !ok || math.Abs(u-100) > 1e-6 || math.Abs(v-400) > 1e-6 || p[2] != 2.5 {
		t.Fatalf("Project(Backproject(100, 400)) = %g, %g, %v", u, v, ok)
	}
	if _, _, ok := c.Project([3]float64{0, 0, -1}); ok {
		t.Fatal("a point behind the camera projected")
	}
}

func TestScaledKeepsRaysThroughPixelCentres(t *testing.T) {
	c := Pinhole{Width: 640, Height: 480, K: [9]float64{525, 0, 319.5, 0, 525, 239.5, 0, 0, 1}}
	s := c.Scaled(320, 240)
	// Pixel centre (1, 1) of the half-size image covers full-size pixels 2..3,
	// whose centre is at 2.5.
	x1, y1 := s.UndistortPixel(1, 1)
	x2, y2 := c.UndistortPixel(2.5, 2.5)
	if math.Abs(x1-x2) > 1e-12 || math.Abs(y1-y2) > 1e-12 {
		t.Fatalf("rays differ: (%g, %g) vs (%g, %g)", x1, y1, x2, y2)
	}
}

// scene is a wall at z = 2 m and a box face at z = 1.5 m, both in the RGB frame.
func sceneDepth(o, d [3]float64) float64 {
	best := math.Inf(1)
	// Box front face: x in [-0.3, 0.2], y in [-0.2, 0.25], z = 1.5.
	if d[2] > 0 {
		if t := (1.5 - o[2]) / d[2]; t > 0 {
			x, y := o[0]+t*d[0], o[1]+t*d[1]
			if x >= -0.3 && x <= 0.2 && y >= -0.2 && y <= 0.25 {
				best = t
			}
		}
		if t := (2 - o[2]) / d[2]; t > 0 && t < best {
			best = t
		}
	}
	return best
}

func rotY(deg float64) [9]float64 {
	s, c := math.Sincos(deg * math.Pi / 180)
	return [9]float64{c, 0, s, 0, 1, 0, -s, 0, c}
}

func TestRegisterPlaneAndBoxWithinOneMillimetre(t *testing.T) {
	depthCam := Pinhole{Width: 320, Height: 240, K: [9]float64{285, 0, 159.5, 0, 285, 119.5, 0, 0, 1}}
	for _, d := range [][]float64{nil, {0.05, -0.02, 0, 0, 0}} {
		rgbCam := Pinhole{Width: 640, Height: 480, K: [9]float64{525, 0, 319.5, 0, 525, 239.5, 0, 0, 1}, Model: PlumbBob, D: d}
		t.Run(fmt.Sprintf("rgb distortion %v", d), func(t *testing.T) { testRegisterScene(t, depthCam, identitySample, depthCam, rgbCam) })
	}
}

func identitySample(u, v int) (float64, float64) { return float64(u), float64(v) }

// TestRegisterReducedCameras registers the images of binned and cropped depth
// cameras, rendered by sampling the full-resolution camera where
// image_geometry says their pixels are.
func TestRegisterReducedCameras(t *testing.T) {
	full := Pinhole{Width: 640, Height: 480, K: [9]float64{570, 0, 319.5, 0, 570, 239.5, 0, 0, 1}, R: identity3(),
		P: [12]float64{570, 0, 319.5, 0, 0, 570, 239.5, 0, 0, 0, 1, 0}}
	rgbCam := Pinhole{Width: 320, Height: 240, K: [9]float64{262.5, 0, 159.5, 0, 262.5, 119.5, 0, 0, 1}}
	for _, tc := range []struct {
		name       string
		binX, binY int
		roi        ROI
		sample     func(u, v int) (float64, float64)
	}{
		// Binned pixel u covers full pixels 2u, 2u+1; image_geometry puts it at 2u.
		{"binning 2x2", 2, 2, ROI{}, func(u, v int) (float64, float64) { return float64(2 * u), float64(2 * v) }},
		{"roi 400x300 at (96, 64)", 1, 1, ROI{X: 96, Y: 64, Width: 400, Height: 300}, func(u, v int) (float64, float64) { return float64(u + 96), float64(v + 64) }},
		{"roi then binning 2x1", 2, 1, ROI{X: 40, Y: 30, Width: 560, Height: 420}, func(u, v int) (float64, float64) { return float64(40 + 2*u), float64(30 + v) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cam, err := full.Reduced(tc.binX, tc.binY, tc.roi)
			if err != nil {
				t.Fatal(err)
			}
			testRegisterScene(t, full, tc.sample, cam, rgbCam)
		})
	}
}

func TestReducedFollowsImageGeometry(t *testing.T) {
	full := Pinhole{Width: 1280, Height: 960, K: [9]float64{1000, 2, 640.5, 0, 1001, 480.25, 0, 0, 1}, Model: PlumbBob, D: []float64{0.1, 0, 0, 0, 0},
		R: identity3(), P: [12]float64{990, 0, 641, -59.4, 0, 991, 481, 12, 0, 0, 1, 0}}
	got, err := full.Reduced(2, 4, ROI{X: 100, Y: 40, Width: 800, Height: 600})
	if err != nil {
		t.Fatal(err)
	}
	// image_geometry: shift the principal point by the offset, then divide
	// row 0 of K and P by binning_x, row 1 by binning_y.
	wantK := [9]float64{500, 1, (640.5 - 100) / 2, 0, 1001.0 / 4, (480.25 - 40) / 4, 0, 0, 1}
	wantP := [12]float64{495, 0, (641 - 100) / 2.0, -29.7, 0, 991.0 / 4, (481 - 40) / 4.0, 3, 0, 0, 1, 0}
	if got.Width != 400 || got.Height != 150 || got.K != wantK || got.P != wantP || got.D[0] != 0.1 {
		t.Fatalf("Reduced = %dx%d K %v P %v, want 400x150 K %v P %v", got.Width, got.Height, got.K, got.P, wantK, wantP)
	}
	if o, of := got.Offset(), full.Offset(); math.Abs(o[0]-of[0]) > 1e-12 || math.Abs(o[1]-of[1]) > 1e-12 {
		t.Errorf("binning moved the camera's centre: %v, full resolution %v", o, of)
	}
	if same, err := full.Reduced(0, 1, ROI{}); err != nil || same.K != full.K || same.P != full.P || same.Width != full.Width {
		t.Errorf("no binning, no ROI: %+v, %v", same, err)
	}
	for _, tc := range []struct {
		bx, by int
		roi    ROI
		want   string
	}{
		{1, 1, ROI{X: 1000, Y: 0, Width: 400, Height: 100}, "is not inside the 1280x960 image"},
		{1, 1, ROI{X: -1, Y: 0, Width: 10, Height: 10}, "is not inside"},
		{2000, 1, ROI{}, "leaves no pixel"},
	} {
		if _, err := full.Reduced(tc.bx, tc.by, tc.roi); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Reduced(%d, %d, %+v): %v, want %q", tc.bx, tc.by, tc.roi, err, tc.want)
		}
	}
}

// TestRegisterWithProjectionOffsets registers the depth of the right camera of
// a stereo pair, whose camera_info names the left camera's frame and carries
// the baseline in P's Tx, into a colour camera that has an offset of its own.
func TestRegisterWithProjectionOffsets(t *testing.T) {
	const baseline = 0.06
	depthCam := Pinhole{Width: 320, Height: 240, K: [9]float64{285, 0, 159.5, 0, 285, 119.5, 0, 0, 1}, R: identity3(),
		P: [12]float64{285, 0, 159.5, -285 * baseline, 0, 285, 119.5, 0, 0, 0, 1, 0}}
	if o := depthCam.Offset(); math.Abs(o[0]-baseline) > 1e-12 || o[1] != 0 || o[2] != 0 {
		t.Fatalf("Offset() = %v, want (%g, 0, 0)", o, baseline)
	}
	rgbCam := Pinhole{Width: 640, Height: 480, K: [9]float64{525, 0, 319.5, 0, 525, 239.5, 0, 0, 1}, R: identity3(),
		P: [12]float64{525, 0, 319.5, 525 * 0.02, 0, 525, 239.5, -525 * 0.01, 0, 0, 1, 0}}
	t.Run("depth Tx", func(t *testing.T) {
		rgb := rgbCam
		rgb.P[3], rgb.P[7] = 0, 0
		testRegisterScene(t, depthCam, identitySample, depthCam, rgb)
	})
	t.Run("depth Tx, rgb Tx and Ty", func(t *testing.T) { testRegisterScene(t, depthCam, identitySample, depthCam, rgbCam) })
}

// testRegisterScene renders the box-and-wall scene for depthCam, pixel (u, v)
// seen along genCam's ray through sample(u, v) (genCam = depthCam, sampled at
// (u, v), for an ordinary camera), registers it into rgbCam and compares with
// the scene seen by rgbCam. Both cameras' centres sit at their Offset() in
// their frames.
func testRegisterScene(t *testing.T, genCam Pinhole, sample func(u, v int) (float64, float64), depthCam, rgbCam Pinhole) {
	ext := Extrinsic{R: rotY(2), T: [3]float64{0.05, 0.01, 0}}
	inv := ext.Inverse()
	od, or := depthCam.Offset(), rgbCam.Offset()
	// The depth camera's centre and rays, expressed in the RGB frame.
	origin := ext.Apply(od)
	depth := make([]float32, depthCam.Width*depthCam.Height)
	for v := 0; v < depthCam.Height; v++ {
		for u := 0; u < depthCam.Width; u++ {
			su, sv := sample(u, v)
			p := genCam.Backproject(su, sv, 1)
			q := ext.Apply([3]float64{p[0] + od[0], p[1] + od[1], p[2] + od[2]})
			dir := [3]float64{q[0] - origin[0], q[1] - origin[1], q[2] - origin[2]}
			tt := sceneDepth(origin, dir)
			// t scales the unit-z ray, so it is the depth along the depth camera's axis.
			depth[v*depthCam.Width+u] = float32(tt)
		}
	}
	for _, fill := range []bool{false, true} {
		got, err := Register(depth, depthCam, rgbCam, ext, fill)
		if err != nil {
			t.Fatal(err)
		}
		// Sparse splatting lets wall points the box hides from the RGB camera
		// through between box samples, up to the parallax between box and
		// wall from the outline (about 5 px for the 5 cm between the
		// cameras); footprint splatting does not.
		margin := 2.0
		if !fill {
			b := math.Hypot(origin[0]-or[0], origin[1]-or[1])
			margin += math.Ceil(rgbCam.Fx() * b * (1/1.5 - 1/2.0))
		}
		var compared, bad, holes int
		for v := 0; v < rgbCam.Height; v++ {
			for u := 0; u < rgbCam.Width; u++ {
				p := rgbCam.Backproject(float64(u), float64(v), 1)
				want := sceneDepth(or, p)
				edge := false
				for _, du := range []float64{-margin, margin} {
					for _, dv := range []float64{-margin, margin} {
						if sceneDepth(or, rgbCam.Backproject(float64(u)+du, float64(v)+dv, 1)) != want {
							edge = true
						}
					}
				}
				// Skip what the depth camera does not see: outside its view
				// (with a pixel of margin) or hidden behind the box.
				pt := [3]float64{or[0] + p[0]*want, or[1] + p[1]*want, or[2] + want}
				seen := sceneDepth(origin, [3]float64{pt[0] - origin[0], pt[1] - origin[1], pt[2] - origin[2]})
				pd := inv.Apply(pt)
				du, dv, _ := depthCam.Project([3]float64{pd[0] - od[0], pd[1] - od[1], pd[2] - od[2]})
				if edge || math.Abs(seen-1) > 1e-6 || du < 1 || dv < 1 || du > float64(depthCam.Width)-2 || dv > float64(depthCam.Height)-2 {
					continue
				}
				// Nor what lies within a depth pixel of a depth edge: a
				// sample there may be of the other surface.
				for _, dd := range [][2]int{{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}} {
					z := float64(depth[(int(dv+0.5)+dd[1])*depthCam.Width+int(du+0.5)+dd[0]])
					if math.Abs(z-pd[2]+od[2]) > 0.05 {
						edge = true
					}
				}
				if edge {
					continue
				}
				g := got[v*rgbCam.Width+u]
				// A footprint that crosses the image border is dropped (as
				// depth_image_proc drops it), so the outer two pixels may
				// stay empty.
				border := u < 2 || v < 2 || u >= rgbCam.Width-2 || v >= rgbCam.Height-2
				if g == 0 {
					if !fill || !border {
						holes++
					}
					continue
				}
				compared++
				if math.Abs(float64(g)-want) > 1e-3 {
					bad++
					if bad < 5 {
						t.Logf("fill=%v: pixel (%d, %d) has %g, want %g", fill, u, v, g, want)
					}
				}
			}
		}
		// The depth camera sees at least a quarter of the RGB image; where the
		// RGB camera has the finer pixels, each depth sample covers more
		// than one of them.
		upsampled := rgbCam.Fx() > 1.2*depthCam.Fx()
		minCompared := rgbCam.Width * rgbCam.Height / 4
		if !fill && upsampled {
			minCompared /= 4
		}
		if bad > 0 || compared < minCompared {
			t.Errorf("fill=%v: %d of %d pixels off by more than 1 mm (%d holes)", fill, bad, compared, holes)
		}
		if fill && holes > 0 {
			t.Errorf("fill=true left %d holes", holes)
		}
		if !fill && upsampled && holes == 0 {
			t.Errorf("fill=false left no holes when upsampling; the footprint test is vacuous")
		}
	}
}

func TestRegisterKeepsNearestDepth(t *testing.T) {
	// Two depth pixels that land on the same RGB pixel: a camera shifted along
	// its axis sees a near and a far point on the same ray only if the rays
	// converge, so build it directly with a 2x1 depth camera and a 1x1 RGB camera.
	depthCam := Pinhole{Width: 2, Height: 1, K: [9]float64{1, 0, 0.5, 0, 1, 0, 0, 0, 1}}
	rgbCam := Pinhole{Width: 1, Height: 1, K: [9]float64{0.01, 0, 0, 0, 0.01, 0, 0, 0, 1}}
	got, err := Register([]float32{3, 1.25}, depthCam, rgbCam, Identity(), false)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 1.25 {
		t.Fatalf("registered depth = %g, want the nearer 1.25", got[0])
	}
}

func TestRegisterBetweenCoincidentCamerasCopiesValidDepth(t *testing.T) {
	cam := Pinhole{Width: 3, Height: 1, K: [9]float64{3, 0, 1, 0, 3, 0, 0, 0, 1}}
	nan := float32(math.NaN())
	got, err := Register([]float32{1.5, nan, -2}, cam, cam, Identity(), false)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 1.5 || got[1] != 0 || got[2] != 0 {
		t.Fatalf("registered %v", got)
	}
}

func TestRegisterSurvivesExtremeDepths(t *testing.T) {
	depthCam := Pinhole{Width: 4, Height: 2, K: [9]float64{4, 0, 1.5, 0, 4, 0.5, 0, 0, 1}}
	rgbCam := Pinhole{Width: 8, Height: 4, K: [9]float64{8, 0, 3.5, 0, 8, 1.5, 0, 0, 1}}
	src := []float32{float32(math.NaN()), float32(math.Inf(1)), math.MaxFloat32, 1e-30, -1, 0.01, 3e38, 1}
	for _, ext := range []Extrinsic{Identity(), {R: rotY(90), T: [3]float64{0, 0, 0.01}}, {R: identity3(), T: [3]float64{0, 0, -0.0099}}} {
		for _, fill := range []bool{false, true} {
			got, err := Register(src, depthCam, rgbCam, ext, fill)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range got {
				if !(d >= 0) || d > math.MaxFloat32 {
					t.Fatalf("pixel %d = %g", i, d)
				}
			}
		}
	}
}

func TestRegisterRejectsWrongSizes(t *testing.T) {
	cam := Pinhole{Width: 4, Height: 3, K: [9]float64{4, 0, 2, 0, 4, 1.5, 0, 0, 1}}
	r, err := NewRegistration(cam, cam, Identity())
	if err != nil {
		t.Fatal(err)
	}
	err = r.Register(make([]float32, 12), make([]float32, 11), false)
	if err == nil || !strings.Contains(err.Error(), "depth image has 11 pixels, the depth camera 4x3 needs 12") {
		t.Fatalf("err = %v", err)
	}
	err = r.Register(make([]float32, 5), make([]float32, 12), false)
	if err == nil || !strings.Contains(err.Error(), "registered image has 5 pixels") {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewRegistration(Pinhole{}, cam, Identity()); err == nil || !strings.Contains(err.Error(), "depth camera") {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkRegister640x480(b *testing.B) {
	depthCam := Pinhole{Width: 640, Height: 480, K: [9]float64{570, 0, 319.5, 0, 570, 239.5, 0, 0, 1}}
	rgbCam := Pinhole{Width: 640, Height: 480, K: [9]float64{525, 0, 319.5, 0, 525, 239.5, 0, 0, 1}}
	r, err := NewRegistration(depthCam, rgbCam, Extrinsic{R: rotY(1), T: [3]float64{0.025, 0, 0}})
	if err != nil {
		b.Fatal(err)
	}
	src := make([]float32, 640*480)
	for i := range src {
		src[i] = 1 + float32(i%640)/640
	}
	dst := make([]float32, 640*480)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.Register(dst, src, false); err != nil {
			b.Fatal(err)
		}
	}
}

// TestQuaternionTransformsComposeAndInvert checks FromQuaternion against rotations written out by hand and
// that Then and Inverse agree with applying the transforms one after the other.
func TestQuaternionTransformsComposeAndInvert(t *testing.T) {
	// 90° about z: x → y.
	s := math.Sqrt(0.5)
	rz, err := FromQuaternion(0, 0, s, s, [3]float64{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if p := rz.Apply([3]float64{1, 0, 0}); math.Abs(p[0]-1) > 1e-12 || math.Abs(p[1]-3) > 1e-12 || math.Abs(p[2]-3) > 1e-12 {
		t.Fatalf("90° about z of (1,0,0) plus (1,2,3) = %v, want (1, 3, 3)", p)
	}
	// An unnormalised quaternion means the same rotation.
	rz2, _ := FromQuaternion(0, 0, 2, 2, [3]float64{1, 2, 3})
	for i := range rz.R {
		if math.Abs(rz2.R[i]-rz.R[i]) > 1e-12 {
			t.Fatalf("an unnormalised quaternion gives R %v, want %v", rz2.R, rz.R)
		}
	}
	rx, _ := FromQuaternion(math.Sin(0.3), 0, 0, math.Cos(0.3), [3]float64{-0.5, 0, 0.25})
	p := [3]float64{0.3, -0.7, 2}
	want := rx.Apply(rz.Apply(p))
	got := rz.Then(rx).Apply(p)
	back := rz.Then(rx).Inverse().Apply(got)
	for i := range p {
		if math.Abs(got[i]-want[i]) > 1e-12 || math.Abs(back[i]-p[i]) > 1e-12 {
			t.Fatalf("Then: %v vs %v; inverse gives %v for %v", got, want, back, p)
		}
	}
	if _, err := FromQuaternion(0, 0, 0, 0, [3]float64{}); err == nil {
		t.Fatal("a zero quaternion was accepted")
	}
	if _, err := FromQuaternion(math.NaN(), 0, 0, 1, [3]float64{}); err == nil {
		t.Fatal("a NaN quaternion was accepted")
	}
}
