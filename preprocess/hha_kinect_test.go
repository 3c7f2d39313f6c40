package preprocess

import (
	"math"
	"testing"

	"github.com/cen-ros/cen/calibration"
)

type hhaErrors struct {
	gravity         float64 // degrees
	heightTruth     float64 // mean |levels| against the analytic heights
	heightGravity   float64 // mean |levels| against the same depth encoded with the true up
	angleTruth      float64 // mean |levels| against the analytic normals, surfaces' interiors
	angleAll        float64 // ... every valid pixel with a normal
	valid, interior int
}

func measureHHA(t *testing.T, ts *truthScene, cam calibration.Pinhole, conf HHAConf) hhaErrors {
	t.Helper()
	hha, up, err := conf.Encode(ts.depth, cam, [3]float64{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := conf.Encode(ts.depth, cam, ts.up)
	if err != nil {
		t.Fatal(err)
	}
	var e hhaErrors
	e.gravity = math.Acos(min(1, up[0]*ts.up[0]+up[1]*ts.up[1]+up[2]*ts.up[2])) * 180 / math.Pi
	n := ts.w * ts.h
	r := conf.window() / 2
	var sh, sg, sa, saa float64
	var na int
	for v := 0; v < ts.h; v++ {
		for u := 0; u < ts.w; u++ {
			i := v*ts.w + u
			if ts.depth.Pix[i] == 0 {
				continue
			}
			e.valid++
			sh += math.Abs(float64(hha[n+i]) - float64(saturate(float32(100*ts.height[i]))))
			sg += math.Abs(float64(hha[n+i]) - float64(ref[n+i]))
			if hha[2*n+i] == 0 {
				continue
			}
			nt := ts.normal[i]
			c := nt[0]*ts.up[0] + nt[1]*ts.up[1] + nt[2]*ts.up[2]
			want := float64(saturate(float32(math.Acos(max(-1, min(1, c)))*180/math.Pi + 38)))
			d := math.Abs(float64(hha[2*n+i]) - want)
			saa += d
			na++
			interior := true
			for dv := -r; dv <= r && interior; dv++ {
				for du := -r; du <= r; du++ {
					uu, vv := u+du, v+dv
					if uu >= 0 && vv >= 0 && uu < ts.w && vv < ts.h && ts.surface[vv*ts.w+uu] != ts.surface[i] {
						interior = false
						break
					}
				}
			}
			if interior {
				sa += d
				e.interior++
			}
		}
	}
	e.heightTruth, e.heightGravity = sh/float64(e.valid), sg/float64(e.valid)
	e.angleTruth, e.angleAll = sa/float64(e.interior), saa/float64(na)
	return e
}

// TestHHAOnKinectLikeDepthFromPitchedAndRolledCameras encodes the test rooms
// seen by pitched and rolled cameras, noise-free and through the Kinect-like
// sensor, and compares with the truth: the room's gravity, heights and
// normals.
//
// On sensor depth the angle is as far from the true normals as a 7×7 plane
// fit of such depth allows (the reference's fit, which ours equals to the
// pixel, see TestHHAMatchesTheReferenceEncoding): about 5 levels on surfaces
// 1–3 m away, 8–12 at 3–5 m, where the window spans only a few of the
// sensor's depth steps. Heights from the sensor's lowest point sit 2–3 levels
// above the true ones: the lowest reading lies a few centimetres below the
// floor, in the reference's definition as in ours. With hha_window=13 and
// hha_floor=robust the same depth meets the truth within 2.0–2.9 levels of
// angle and 0.2–0.5 of height.
func TestHHAOnKinectLikeDepthFromPitchedAndRolledCameras(t *testing.T) {
	cam := calibration.Pinhole{Width: 640, Height: 480, K: [9]float64{577.3, 0, 319.5, 0, 577.3, 239.5, 0, 0, 1}}
	for _, pose := range []struct{ pitch, roll float64 }{{-12, 4}, {-22, -3}, {-30, 6}, {-5, -2}} {
		for _, noisy := range []bool{false, true} {
			ts := testRoom(1.3, pose.pitch, pose.roll, noisy, 1, uint64(100*pose.pitch+pose.roll)).render(cam)
			e := measureHHA(t, ts, cam, HHAConf{})
			t.Logf("pitch %g° roll %g° noisy=%v: gravity %.2f° off; height %.2f levels from the truth, %.2f from the true gravity's; angle %.2f levels from the truth (%d px inside surfaces), %.2f over all %d valid px",
				pose.pitch, pose.roll, noisy, e.gravity, e.heightTruth, e.heightGravity, e.angleTruth, e.interior, e.angleAll, e.valid)
			limits := hhaErrors{gravity: 0.25, heightTruth: 0.6, heightGravity: 0.6, angleTruth: 0.5}
			if noisy {
				limits = hhaErrors{gravity: 1, heightTruth: 4, heightGravity: 2, angleTruth: 9}
			}
			if e.gravity > limits.gravity || e.heightTruth > limits.heightTruth || e.heightGravity > limits.heightGravity || e.angleTruth > limits.angleTruth {
				t.Errorf("pitch %g° roll %g° noisy=%v: errors %+v, limits %+v", pose.pitch, pose.roll, noisy, e, limits)
			}
			// The settings for a model trained on cen's own HHA: heights from the lowest surface instead of the
			// lowest reading (RobustFloor), normals over 13×13 windows, which span enough of the sensor's depth
			// steps. The limits: gravity within 1°, height within 2 levels, angle within 4.
			r := measureHHA(t, ts, cam, HHAConf{Window: 13, Floor: RobustFloor})
			t.Logf("  hha_window=13,hha_floor=robust: gravity %.2f° off; height %.2f levels from the truth; angle %.2f levels from the truth (%d px inside surfaces), %.2f over all valid px",
				r.gravity, r.heightTruth, r.angleTruth, r.interior, r.angleAll)
			// (The gravity estimate does not depend on these settings: it was checked above.)
			lim := hhaErrors{heightTruth: 0.3, angleTruth: 0.75}
			if noisy {
				lim = hhaErrors{heightTruth: 2, angleTruth: 4}
			}
			if r.heightTruth > lim.heightTruth || r.angleTruth > lim.angleTruth {
				t.Errorf("pitch %g° roll %g° noisy=%v, window 13, robust floor: errors %+v, limits %+v", pose.pitch, pose.roll, noisy, r, lim)
			}
		}
	}
}
