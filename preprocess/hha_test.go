package preprocess

import (
	"math"
	"testing"

	"github.com/cen-ros/cen/calibration"
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
		if dot := used[0]*upCam[0] + used[1]*upCam[1] + used[2]*upCam[2]; dot < math.Cos(math.Pi/180) {
			t.Fatalf("given=%v: up %v is more than 1° from %v", given, used, upCam)
		}
		n := cam.Width * cam.Height
		var floors, walls int
		for v := 2; v < cam.Height-2; v++ {
			for u := 2; u < cam.Width-2; u++ {
				i := v*cam.Width + u
				z := float64(depth.Pix[i])
				// Skip the floor/wall crease, where normals mix.
				crease := false
				for _, j := range []int{i - 2, i + 2, i - 2*cam.Width, i + 2*cam.Width} {
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
					name      string
					got, want float64
				}{
					{"disparity", float64(hha[i]), math.Min(255, 310/math.Max(z, 1))},
					{"height", float64(hha[n+i]), math.Min(255, wantHeight)},
					{"angle", float64(hha[2*n+i]), wantAngle},
				}
				for _, c := range checks {
					if math.Abs(c.got-c.want) > 1 {
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
		if got := float64(acosDeg(c)); math.Abs(got-want) > 0.01 {
			t.Fatalf("acosDeg(%g) = %g, want %g", c, got, want)
		}
	}
}
