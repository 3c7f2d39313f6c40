package preprocess

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cen-ros/cen/calibration"
	"gocv.io/x/gocv"
)

// roomDepth renders a floor 1.5 m below the camera and a wall 4 m ahead, in a
// world frame (x right, y down, z forward) seen by a camera rotated by rot
// (camera→world).
func roomDepth(cam calibration.Pinhole, rot [9]float64) DepthImage {
	d := DepthImage{cam.Width, cam.Height, make([]float32, cam.Width*cam.Height)}
	for v := 0; v < cam.Height; v++ {
		for u := 0; u < cam.Width; u++ {
			r := [3]float64{(float64(u) - cam.Cx()) / cam.Fx(), (float64(v) - cam.Cy()) / cam.Fy(), 1}
			w := [3]float64{
				rot[0]*r[0] + rot[1]*r[1] + rot[2]*r[2],
				rot[3]*r[0] + rot[4]*r[1] + rot[5]*r[2],
				rot[6]*r[0] + rot[7]*r[1] + rot[8]*r[2],
			}
			t := math.Inf(1)
			if w[1] > 0 {
				t = 1.5 / w[1]
			}
			if w[2] > 0 {
				t = min(t, 4/w[2])
			}
			d.Pix[v*cam.Width+u] = float32(t)
		}
	}
	return d
}

func rotX(deg float64) [9]float64 {
	s, c := math.Sincos(deg * math.Pi / 180)
	return [9]float64{1, 0, 0, 0, c, -s, 0, s, c}
}

func TestHHAOfFloorAndWallGivesExpectedChannels(t *testing.T) {
	cam := calibration.Pinhole{Width: 160, Height: 120, K: [9]float64{130, 0, 79.5, 0, 130, 59.5, 0, 0, 1}}
	rot := rotX(-20) // pitched down 20° so that the floor fills the lower half
	depth := roomDepth(cam, rot)
	// Up in the camera frame is Rᵀ·(0, -1, 0).
	upCam := [3]float64{-rot[3], -rot[4], -rot[5]}
	for _, given := range []bool{true, false} {
		up := upCam
		if !given {
			up = [3]float64{}
		}
		hha, used, err := EncodeHHA(depth, cam, up)
		if err != nil {
			t.Fatal(err)
		}
		// Noise-free planes leave only the windows straddling the crease to
		// bias the estimate.
		upErr := math.Acos(min(1, used[0]*upCam[0]+used[1]*upCam[1]+used[2]*upCam[2]))
		if upErr > 0.25*math.Pi/180 {
			t.Fatalf("given=%v: up %v is %.2f° from %v", given, used, upErr*180/math.Pi, upCam)
		}
		// An up off by upErr moves a point's height and the lowest point's
		// by at most their distance times upErr.
		heightTol := 1 + 100*2*5*upErr
		n := cam.Width * cam.Height
		var floors, walls int
		for v := 3; v < cam.Height-3; v++ {
			for u := 3; u < cam.Width-3; u++ {
				i := v*cam.Width + u
				z := float64(depth.Pix[i])
				// Skip the floor/wall crease, where the normals' windows
				// mix the two planes.
				crease := false
				r := DefaultHHAWindow / 2
				for _, j := range []int{i - r, i + r, i - r*cam.Width, i + r*cam.Width, i - r - r*cam.Width, i + r + r*cam.Width, i - r + r*cam.Width, i + r - r*cam.Width} {
					p := [3]float64{(float64(j%cam.Width) - cam.Cx()) / cam.Fx(), (float64(j/cam.Width) - cam.Cy()) / cam.Fy(), 1}
					zj := float64(depth.Pix[j])
					wy := zj * (rot[3]*p[0] + rot[4]*p[1] + rot[5]*p[2])
					pi := [3]float64{(float64(u) - cam.Cx()) / cam.Fx(), (float64(v) - cam.Cy()) / cam.Fy(), 1}
					wyi := z * (rot[3]*pi[0] + rot[4]*pi[1] + rot[5]*pi[2])
					if (math.Abs(wy-1.5) < 1e-6) != (math.Abs(wyi-1.5) < 1e-6) {
						crease = true
					}
				}
				if crease {
					continue
				}
				p := [3]float64{(float64(u) - cam.Cx()) / cam.Fx() * z, (float64(v) - cam.Cy()) / cam.Fy() * z, z}
				worldY := rot[3]*p[0] + rot[4]*p[1] + rot[5]*p[2]
				wantHeight := (1.5 - worldY) * 100
				wantAngle := 128.0 // wall: normal horizontal
				if math.Abs(worldY-1.5) < 1e-6 {
					wantAngle = 38 // floor: normal along up
					floors++
				} else {
					walls++
				}
				checks := []struct {
					name           string
					got, want, tol float64
				}{
					{"disparity", float64(hha[i]), math.Min(255, 310/math.Max(z, 1)), 1},
					{"height", float64(hha[n+i]), math.Min(255, wantHeight), heightTol},
					{"angle", float64(hha[2*n+i]), wantAngle, 1},
				}
				for _, c := range checks {
					if math.Abs(c.got-c.want) > c.tol {
						t.Fatalf("given=%v: pixel (%d, %d) %s = %g, want %g", given, u, v, c.name, c.got, c.want)
					}
				}
			}
		}
		if floors < 1000 || walls < 1000 {
			t.Fatalf("scene has %d floor and %d wall pixels", floors, walls)
		}
	}
}

func TestHHAMarksInvalidDepthZero(t *testing.T) {
	cam := calibration.Pinhole{Width: 4, Height: 4, K: [9]float64{4, 0, 1.5, 0, 4, 1.5, 0, 0, 1}}
	d := DepthImage{4, 4, make([]float32, 16)}
	for i := range d.Pix {
		d.Pix[i] = 2
	}
	d.Pix[5] = 0
	hha, _, err := EncodeHHA(d, cam, [3]float64{0, -1, 0})
	if err != nil {
		t.Fatal(err)
	}
	if hha[5] != 0 || hha[16+5] != 0 || hha[32+5] != 0 {
		t.Fatalf("invalid pixel encoded as %d %d %d", hha[5], hha[21], hha[37])
	}
	if _, _, err := EncodeHHA(DepthImage{4, 4, make([]float32, 16)}, cam, [3]float64{}); err == nil {
		t.Fatal("estimated gravity from an empty depth image")
	}
}

func TestLargestEigenvectorOfKnownMatrix(t *testing.T) {
	// Eigenvalues 5 (along (1,1,0)/√2), 1 and -2.
	s := 1 / math.Sqrt2
	q := [3][3]float64{{s, s, 0}, {-s, s, 0}, {0, 0, 1}}
	l := [3]float64{5, 1, -2}
	var m [9]float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				m[3*i+j] += q[k][i] * l[k] * q[k][j]
			}
		}
	}
	v := largestEigenvector(m)
	if math.Abs(math.Abs(v[0]*s+v[1]*s)-1) > 1e-9 {
		t.Fatalf("eigenvector %v", v)
	}
}

func TestAcosDegMatchesMathAcos(t *testing.T) {
	for i := 0; i <= 200000; i++ {
		c := float32(i)/100000 - 1
		want := math.Acos(float64(c)) * 180 / math.Pi
		if got := float64(acosDeg(c)); math.Abs(got-want) > 1e-4 {
			t.Fatalf("acosDeg(%g) = %g, want %g", c, got, want)
		}
	}
}

// TestPlaneFitMatchesDirectLeastSquares checks the running-sum plane fit
// against the reference's formulation solved directly at every pixel: the n
// minimising Σ (n·(xr, yr, 1) − 1/z)² over the valid pixels of the window,
// that is (Σ a·aᵀ)⁻¹ Σ a/z with a = (xr, yr, 1).
func TestPlaneFitMatchesDirectLeastSquares(t *testing.T) {
	const w, h = 37, 29
	cam := calibration.Pinhole{Width: w, Height: h, K: [9]float64{40, 0, 17.2, 0, 42, 14.1, 0, 0, 1}}
	rng := rand.New(rand.NewPCG(1, 2))
	d := DepthImage{w, h, make([]float32, w*h)}
	for v := 0; v < h; v++ {
		for u := 0; u < w; u++ {
			z := 2 + 0.03*float64(u) - 0.02*float64(v) + 0.002*float64(u*v%7) + 0.01*rng.NormFloat64()
			if rng.Float64() < 0.15 || u > 20 && u < 24 && v > 5 { // scattered holes and a gap
				z = 0
			}
			d.Pix[v*w+u] = float32(z)
		}
	}
	rays := rayGrid{fx: cam.Fx(), fy: cam.Fy(), cx: cam.Cx(), cy: cam.Cy()}
	inv := make([]float32, w*h)
	for i, z := range d.Pix {
		if z > 0 {
			inv[i] = 1 / z
		}
	}
	for _, win := range []int{3, 7, 11} {
		r := win / 2
		var fit planeFitter
		fit.reset(inv, w, h, r)
		out := make([]float32, 3*w)
		var compared, missing int
		for v := 0; v < h; v++ {
			fit.normals(v, 1, rays, true, out)
			for u := 0; u < w; u++ {
				var m [3][4]float64
				var pu, pv, puu, puv, pvv float64 // pixel moments: are the points collinear?
				count := 0
				for vv := max(0, v-r); vv <= min(h-1, v+r); vv++ {
					for uu := max(0, u-r); uu <= min(w-1, u+r); uu++ {
						z := float64(d.Pix[vv*w+uu])
						if z == 0 {
							continue
						}
						count++
						fu, fv := float64(uu), float64(vv)
						pu, pv, puu, puv, pvv = pu+fu, pv+fv, puu+fu*fu, puv+fu*fv, pvv+fv*fv
						a := [3]float64{(float64(uu) - cam.Cx()) / cam.Fx(), (float64(vv) - cam.Cy()) / cam.Fy(), 1}
						for i := 0; i < 3; i++ {
							for j := 0; j < 3; j++ {
								m[i][j] += a[i] * a[j]
							}
							m[i][3] += a[i] / z
						}
					}
				}
				got := out[3*u : 3*u+3]
				c := float64(count)
				if count < 3 || (puu-pu*pu/c)*(pvv-pv*pv/c)-(puv-pu*pv/c)*(puv-pu*pv/c) < 1e-6 {
					if got[0] != 0 || got[1] != 0 || got[2] != 0 {
						t.Fatalf("window %d, pixel (%d, %d): a normal %v from %d pixels", win, u, v, got, count)
					}
					missing++
					continue
				}
				n := solve3(m)
				l := math.Sqrt(n[0]*n[0] + n[1]*n[1] + n[2]*n[2])
				// Towards the camera: against the centre's ray where the
				// pixel has depth, else against the optical axis.
				ray := [3]float64{(float64(u) - cam.Cx()) / cam.Fx(), (float64(v) - cam.Cy()) / cam.Fy(), 1}
				if d.Pix[v*w+u] == 0 {
					ray = [3]float64{0, 0, 1}
				}
				if n[0]*ray[0]+n[1]*ray[1]+n[2]*ray[2] > 0 {
					l = -l
				}
				for i := range n {
					if math.Abs(float64(got[i])-n[i]/l) > 2e-5 {
						t.Fatalf("window %d, pixel (%d, %d): normal %v, direct least squares %v", win, u, v, got, [3]float64{n[0] / l, n[1] / l, n[2] / l})
					}
				}
				compared++
			}
		}
		if compared < w*h*3/4 {
			t.Fatalf("window %d: compared %d pixels (%d without a normal)", win, compared, missing)
		}
	}
}

// solve3 solves the 3×3 system m[:, :3]·x = m[:, 3] by Gaussian elimination
// with partial pivoting.
func solve3(m [3][4]float64) [3]float64 {
	for c := 0; c < 3; c++ {
		p := c
		for r := c + 1; r < 3; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		m[c], m[p] = m[p], m[c]
		for r := c + 1; r < 3; r++ {
			f := m[r][c] / m[c][c]
			for k := c; k < 4; k++ {
				m[r][k] -= f * m[c][k]
			}
		}
	}
	var x [3]float64
	for c := 2; c >= 0; c-- {
		s := m[c][3]
		for k := c + 1; k < 3; k++ {
			s -= m[c][k] * x[k]
		}
		x[c] = s / m[c][c]
	}
	return x
}

// TestInputAppliesHHAConventions feeds one frame with each convention and
// checks the tensor against EncodeHHA's planes.
func TestInputAppliesHHAConventions(t *testing.T) {
	checkMats(t)
	cam := calibration.Pinhole{Width: 64, Height: 48, K: [9]float64{52, 0, 31.5, 0, 52, 23.5, 0, 0, 1}}
	depth := roomDepth(cam, rotXYZ(-20, 3))
	depth.Pix[10*64+20], depth.Pix[30*64+40] = 0, 0 // two holes
	rgb := testImage(64, 48)
	up := applyT(rotXYZ(-20, 3), [3]float64{0, -1, 0})
	view := &View{Camera: cam, Up: up}
	input := func(conf HHAConf, h, w int) *Input {
		t.Helper()
		s := DefaultSpec()
		s.Height, s.Width, s.DepthEncoding, s.HHA, s.InvalidDepth = h, w, HHA, conf, -3
		in, err := s.Input(rgb, depth, view)
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	plane := func(in *Input, c int) []float32 { n := len(in.Depth) / 3; return in.Depth[c*n : (c+1)*n] }
	base := input(HHAConf{}, 48, 64)
	planes, _, err := EncodeHHA(depth, cam, up)
	if err != nil {
		t.Fatal(err)
	}
	n := 64 * 48
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			want := float32(planes[c*n+i]) / 255
			if depth.Pix[i] == 0 {
				want = -3
			}
			if got := plane(base, c)[i]; got != want {
				t.Fatalf("channel %d pixel %d: %g, want %g", c, i, got, want)
			}
		}
	}
	t.Run("order ahd", func(t *testing.T) {
		in := input(HHAConf{Order: OrderAHD}, 48, 64)
		for c := 0; c < 3; c++ {
			if !slices.Equal(plane(in, c), plane(base, 2-c)) {
				t.Fatalf("channel %d is not channel %d of dha", c, 2-c)
			}
		}
	})
	t.Run("reference holes", func(t *testing.T) {
		in := input(HHAConf{Holes: ReferenceHoles}, 48, 64)
		ref, _, err := HHAConf{Holes: ReferenceHoles}.Encode(depth, cam, up)
		if err != nil {
			t.Fatal(err)
		}
		i := 10*64 + 20
		if d := plane(in, 0)[i]; d != 1 {
			t.Fatalf("a hole's disparity is %g, want 255/255", d)
		}
		if h, want := plane(in, 1)[i], float32(ref[n+i])/255; h != want || ref[n+i] != saturate(float32(-100*lowestOf(depth, cam, up))) {
			t.Fatalf("a hole's height is %g (byte %d), want the camera's height above the lowest point", h, ref[n+i])
		}
		if a, b := int(ref[2*n+i]), int(ref[2*n+i+1]); a < b-1 || a > b+1 {
			t.Fatalf("a hole in a wall has angle %d, want its neighbours' %d", a, b)
		}
	})
	t.Run("sensor resolution", func(t *testing.T) {
		in := input(HHAConf{Resolution: SensorResolution}, 24, 32)
		for c := 0; c < 3; c++ {
			small := make([]uint8, 32*24)
			if err := resizePlane(small, 32, 24, planes[c*n:(c+1)*n], 64, 48, gocv.InterpolationCubic); err != nil {
				t.Fatal(err)
			}
			for i, v := range small {
				want := float32(v) / 255
				if d := in.depth[i]; d == 0 {
					want = -3
				}
				if got := plane(in, c)[i]; got != want {
					t.Fatalf("channel %d pixel %d: %g, want %g (the full-size HHA resized)", c, i, got, want)
				}
			}
		}
		if net := input(HHAConf{}, 24, 32); slices.Equal(plane(net, 2), plane(in, 2)) {
			t.Fatal("HHA at the network's resolution gives the same angles: the test cannot tell them apart")
		}
		// At the sensor's size both are the same computation.
		if same := input(HHAConf{Resolution: SensorResolution}, 48, 64); !slices.Equal(same.Depth, base.Depth) {
			t.Fatal("sensor resolution at the sensor's size differs from network resolution")
		}
	})
}

// lowestOf is the height of the lowest valid point along up.
func lowestOf(d DepthImage, cam calibration.Pinhole, up [3]float64) float64 {
	lowest := math.Inf(1)
	for i, z := range d.Pix {
		if z > 0 {
			u, v := float64(i%d.Width), float64(i/d.Width)
			p := [3]float64{(u - cam.Cx()) / cam.Fx() * float64(z), (v - cam.Cy()) / cam.Fy() * float64(z), float64(z)}
			lowest = min(lowest, p[0]*up[0]+p[1]*up[1]+p[2]*up[2])
		}
	}
	return lowest
}

func TestHHAReferenceFloorWhenTheLowestPointIsHigh(t *testing.T) {
	// A camera 60 cm above the floor: the lowest point is less than 90 cm
	// below it, so the reference assumes the floor 130 cm below.
	cam := calibration.Pinhole{Width: 40, Height: 30, K: [9]float64{32, 0, 19.5, 0, 32, 14.5, 0, 0, 1}}
	rot := rotX(-30)
	d := DepthImage{40, 30, make([]float32, 1200)}
	for i := range d.Pix {
		r := apply(rot, [3]float64{(float64(i%40) - 19.5) / 32, (float64(i/40) - 14.5) / 32, 1})
		d.Pix[i] = float32(0.6 / r[1]) // every ray hits the floor
	}
	up := applyT(rot, [3]float64{0, -1, 0})
	for _, tc := range []struct {
		floor HHAFloor
		want  uint8
	}{{LowestFloor, 0}, {ReferenceFloor, 70}} {
		hha, _, err := HHAConf{Floor: tc.floor}.Encode(d, cam, up)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 1200; i++ {
			if h := hha[1200+i]; h != tc.want {
				t.Fatalf("%s floor: pixel %d has height %d, want %d", tc.floor, i, h, tc.want)
			}
		}
	}
}
