package preprocess

import (
	"encoding/json"
	"flag"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/cen-ros/cen/calibration"
)

// The HHA reference fixtures (test/fixtures/hha, see its README): depth from
// the Kinect-like test rooms, encoded by the reference implementation.

var writeHHAInputs = flag.Bool("write-hha-inputs", false, "write the depth inputs of test/fixtures/hha (then run its gen_hha_fixtures.py)")

const hhaFixtures = "../test/fixtures/hha"

// hhaFixtureFrame is one entry of frames.json.
type hhaFixtureFrame struct {
	Name string `json:"name"`
	// Depth is the 16-bit PNG of millimetres, 0 where the sensor has none.
	Depth         string     `json:"depth"`
	Width, Height int        `json:"-"`
	K             [9]float64 `json:"K"` // 0-based pixel coordinates (ROS); the reference's are 1-based
	// TrueUp is the room's up in the camera frame.
	TrueUp [3]float64 `json:"true_up"`

	camHeight, pitch, roll float64
	seed                   uint64
}

func hhaFixtureFrames() []hhaFixtureFrame {
	vga := [9]float64{577.3, 0, 319.5, 0, 577.3, 239.5, 0, 0, 1}
	qvga := [9]float64{288.65, 0, 159.5, 0, 288.65, 119.5, 0, 0, 1}
	return []hhaFixtureFrame{
		{Name: "pitched", Depth: "pitched_depth.png", Width: 640, Height: 480, K: vga, camHeight: 1.3, pitch: -22, roll: -3, seed: 1},
		{Name: "rolled", Depth: "rolled_depth.png", Width: 640, Height: 480, K: vga, camHeight: 1.3, pitch: -10, roll: 6, seed: 2},
		// 75 cm above the floor: the reference's floor fallback applies.
		{Name: "low", Depth: "low_depth.png", Width: 320, Height: 240, K: qvga, camHeight: 0.75, pitch: -15, roll: 2, seed: 3},
	}
}

func (f hhaFixtureFrame) camera() calibration.Pinhole {
	return calibration.Pinhole{Width: f.Width, Height: f.Height, K: f.K}
}

// TestWriteHHAFixtureInputs writes the fixtures' depth images and
// frames.json when run with -write-hha-inputs.
func TestWriteHHAFixtureInputs(t *testing.T) {
	if !*writeHHAInputs {
		t.Skip("run with -write-hha-inputs to write the fixtures' inputs")
	}
	frames := hhaFixtureFrames()
	for i, f := range frames {
		ts := testRoom(f.camHeight, f.pitch, f.roll, true, 1, f.seed).render(f.camera())
		frames[i].TrueUp = ts.up
		img := image.NewGray16(image.Rect(0, 0, f.Width, f.Height))
		for j, z := range ts.depth.Pix {
			mm := uint16(math.Round(float64(z) * 1000))
			img.Pix[2*j], img.Pix[2*j+1] = uint8(mm>>8), uint8(mm)
		}
		out, err := os.Create(filepath.Join(hhaFixtures, f.Depth))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(out, img); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	data, err := json.MarshalIndent(frames, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hhaFixtures, "frames.json"), append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// referenceOutput is an entry of reference.json, written by the reference.
type referenceOutput struct {
	Name string `json:"name"`
	// YDir is the reference's gravity estimate (down) in the camera frame.
	YDir [3]float64 `json:"ydir"`
	HHA  string     `json:"hha"`
}

func loadHHAFixtures(t *testing.T) ([]hhaFixtureFrame, map[string]referenceOutput) {
	t.Helper()
	var frames []hhaFixtureFrame
	var refs []referenceOutput
	for name, v := range map[string]any{"frames.json": &frames, "reference.json": &refs} {
		data, err := os.ReadFile(filepath.Join(hhaFixtures, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	byName := map[string]referenceOutput{}
	for _, r := range refs {
		byName[r.Name] = r
	}
	return frames, byName
}

// levelStats summarises |ours − reference| over the pixels of a channel that
// keep says.
type levelStats struct {
	n       int
	mean    float64
	within1 float64 // share within one level
	max     int
}

func compareLevels(ours, ref []uint8, keep func(i int) bool) levelStats {
	var s levelStats
	var sum, w1 float64
	for i := range ours {
		if !keep(i) {
			continue
		}
		d := int(ours[i]) - int(ref[i])
		if d < 0 {
			d = -d
		}
		s.n++
		sum += float64(d)
		if d <= 1 {
			w1++
		}
		s.max = max(s.max, d)
	}
	s.mean, s.within1 = sum/float64(s.n), w1/float64(s.n)
	return s
}

// TestHHAMatchesTheReferenceEncoding compares the reference conventions with
// the reference implementation's output on the same Kinect-like depth.
func TestHHAMatchesTheReferenceEncoding(t *testing.T) {
	frames, refs := loadHHAFixtures(t)
	conf := HHAConf{Floor: ReferenceFloor, Holes: ReferenceHoles}
	for _, f := range frames {
		t.Run(f.Name, func(t *testing.T) {
			ref, ok := refs[f.Name]
			if !ok {
				t.Fatalf("reference.json has no %s", f.Name)
			}
			depth, err := LoadDepthPNG(filepath.Join(hhaFixtures, f.Depth), 0.001)
			if err != nil {
				t.Fatal(err)
			}
			hhaImg, err := LoadRGB(filepath.Join(hhaFixtures, ref.HHA)) // the PNG's R, G, B are D, H, A
			if err != nil {
				t.Fatal(err)
			}
			n := depth.Width * depth.Height
			want := make([]uint8, 3*n)
			for i := 0; i < n; i++ {
				for c := 0; c < 3; c++ {
					want[c*n+i] = hhaImg.Pix[3*i+c]
				}
			}
			cam := calibration.Pinhole{Width: depth.Width, Height: depth.Height, K: f.K}
			refUp := [3]float64{-ref.YDir[0], -ref.YDir[1], -ref.YDir[2]}
			angle := func(a, b [3]float64) float64 {
				return math.Acos(min(1, (a[0]*b[0]+a[1]*b[1]+a[2]*b[2])/math.Sqrt((a[0]*a[0]+a[1]*a[1]+a[2]*a[2])*(b[0]*b[0]+b[1]*b[1]+b[2]*b[2])))) * 180 / math.Pi
			}
			got, up, err := conf.Encode(depth, cam, [3]float64{})
			if err != nil {
				t.Fatal(err)
			}
			g, r := angle(up, refUp), angle(refUp, f.TrueUp)
			t.Logf("gravity: ours %.3f° from the reference's, which is %.3f° from the truth (ours %.3f°)", g, r, angle(up, f.TrueUp))
			if g > 0.2 {
				t.Errorf("estimated up %v is %.2f° from the reference's %v", up, g, refUp)
			}
			// With the reference's gravity the encodings must agree but for
			// float rounding; with our own, heights far away move with the
			// small difference in gravity.
			same, _, err := conf.Encode(depth, cam, refUp)
			if err != nil {
				t.Fatal(err)
			}
			valid := func(i int) bool { return depth.Pix[i] > 0 }
			hole := func(i int) bool { return depth.Pix[i] == 0 }
			for _, c := range []struct {
				name          string
				hha           []uint8
				plane         int
				pixels        func(int) bool
				maxMean, min1 float64
				maxDiff       int
			}{
				// Ties of the rounding aside, the same numbers.
				{"disparity", got, 0, func(int) bool { return true }, 0.001, 1, 1},
				{"height, reference gravity", same, 1, func(int) bool { return true }, 0.001, 1, 1},
				{"angle, reference gravity, valid pixels", same, 2, valid, 0.001, 0.9999, 2},
				// Pixels without depth whose window holds a line of valid
				// pixels (next to the projector's shadow bands) have no
				// plane; the reference's arithmetic returns noise there.
				{"angle, reference gravity, holes", same, 2, hole, 6, 0.93, 255},
				// Our gravity is within hundredths of a degree of the
				// reference's: heights far away move by a level at most.
				{"height, own gravity", got, 1, func(int) bool { return true }, 0.1, 1, 1},
				{"angle, own gravity, valid pixels", got, 2, valid, 0.05, 0.9999, 2},
			} {
				st := compareLevels(c.hha[c.plane*n:(c.plane+1)*n], want[c.plane*n:(c.plane+1)*n], c.pixels)
				t.Logf("%s: %d px, mean |difference| %.4f levels, %.3f%% within one, max %d", c.name, st.n, st.mean, 100*st.within1, st.max)
				if st.mean > c.maxMean || st.within1 < c.min1 || st.max > c.maxDiff {
					t.Errorf("%s differs from the reference: mean %.4f (at most %g), %.3f%% within one level (at least %g%%), max %d (at most %d)",
						c.name, st.mean, c.maxMean, 100*st.within1, 100*c.min1, st.max, c.maxDiff)
				}
			}
		})
	}
}
