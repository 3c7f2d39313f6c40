package synth

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cen-ros/cen/calibration"
	"github.com/cen-ros/cen/preprocess"
)

func mustRender(t testing.TB, seed uint64, index, h, w int) *Frame {
	t.Helper()
	f, err := Render(seed, index, h, w)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func sameFrame(a, b *Frame) bool {
	return bytes.Equal(a.RGB.Pix, b.RGB.Pix) && reflect.DeepEqual(a.Depth.Pix, b.Depth.Pix) && bytes.Equal(a.Labels, b.Labels)
}

func TestRenderIsDeterministicAndSeedsDiffer(t *testing.T) {
	ref := mustRender(t, 3, 5, 60, 80)
	for _, tc := range []struct {
		name        string
		seed        uint64
		index       int
		wantSameAsA bool
	}{
		{"same seed and index", 3, 5, true},
		{"other seed", 4, 5, false},
		{"other index", 3, 6, false},
		{"seed 0", 0, 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mustRender(t, tc.seed, tc.index, 60, 80)
			if got := sameFrame(ref, f); got != tc.wantSameAsA {
				t.Errorf("frame equals the reference: %v, want %v", got, tc.wantSameAsA)
			}
		})
	}
}

func TestRenderShowsOneSceneAtEverySize(t *testing.T) {
	small, large := mustRender(t, 11, 2, 64, 80), mustRender(t, 11, 2, 480, 640)
	if small.Pose != large.Pose || small.Up != large.Up {
		t.Fatalf("pose differs between sizes: %+v vs %+v", small.Pose, large.Pose)
	}
	// The label at a pixel centre of the small image is the label at the
	// same ray in the large one for most pixels (edges may differ).
	agree, n := 0, 0
	for v := 4; v < 60; v += 3 {
		for u := 4; u < 76; u += 3 {
			uu := int(math.Round((float64(u)+0.5)*8 - 0.5))
			vv := int(math.Round((float64(v)+0.5)*7.5 - 0.5))
			n++
			if small.Labels[v*80+u] == large.Labels[vv*640+uu] {
				agree++
			}
		}
	}
	if float64(agree) < 0.9*float64(n) {
		t.Errorf("labels agree at %d of %d rays, want ≥ 90 %%", agree, n)
	}
}

func TestRenderRejectsBadArguments(t *testing.T) {
	for _, tc := range []struct {
		name          string
		index, height int
		width         int
		want          string
	}{
		{"too small", 0, 16, 80, "image size 16x80"},
		{"too large", 0, 240, 5000, "image size 240x5000"},
		{"negative index", -1, 64, 80, "frame index -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(1, tc.index, tc.height, tc.width)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestRenderWorksOverTheSupportedSizes(t *testing.T) {
	for _, sz := range [][2]int{{64, 80}, {240, 320}, {480, 640}, {33, 100}} {
		f := mustRender(t, 1, 0, sz[0], sz[1])
		if f.RGB.Height != sz[0] || f.RGB.Width != sz[1] || len(f.Labels) != sz[0]*sz[1] || len(f.Depth.Pix) != sz[0]*sz[1] {
			t.Errorf("%dx%d: got RGB %dx%d, %d labels, %d depths", sz[0], sz[1], f.RGB.Height, f.RGB.Width, len(f.Labels), len(f.Depth.Pix))
		}
		if f.Camera.Width != sz[1] || f.Camera.Height != sz[0] {
			t.Errorf("%dx%d: camera is for %dx%d", sz[0], sz[1], f.Camera.Height, f.Camera.Width)
		}
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestWriteDatasetBytesDoNotDependOnWorkers(t *testing.T) {
	conf := Conf{N: 5, Height: 48, Width: 64, Seed: 9}
	var trees []map[string][]byte
	for _, workers := range []int{1, 3} {
		dir := t.TempDir()
		conf.Workers = workers
		if err := WriteDataset(dir, conf, nil); err != nil {
			t.Fatal(err)
		}
		trees = append(trees, readTree(t, dir))
	}
	if len(trees[0]) != 3*5+4 {
		t.Fatalf("wrote %d files, want 19", len(trees[0]))
	}
	if !reflect.DeepEqual(trees[0], trees[1]) {
		t.Error("1 and 3 workers wrote different files")
	}
	dir := t.TempDir()
	conf.Seed = 10
	if err := WriteDataset(dir, conf, nil); err != nil {
		t.Fatal(err)
	}
	other := readTree(t, dir)
	if bytes.Equal(other["rgb/000000.png"], trees[0]["rgb/000000.png"]) {
		t.Error("seeds 9 and 10 wrote the same first frame")
	}
}

func TestWrittenDatasetLoadsBack(t *testing.T) {
	dir := t.TempDir()
	const n, h, w = 5, 48, 64
	var calls []int
	if err := WriteDataset(dir, Conf{N: n, Height: h, Width: w, Seed: 2, Val: 2}, func(done, total int) {
		if total != n {
			t.Errorf("progress total %d, want %d", total, n)
		}
		calls = append(calls, done)
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(calls, []int{1, 2, 3, 4, 5}) {
		t.Errorf("progress calls %v, want 1..5", calls)
	}

	t.Run("list files", func(t *testing.T) {
		want := map[string]string{
			"train.txt": "rgb/000000.png\tmasks/000000.png\tdepth/000000.png\n" +
				"rgb/000001.png\tmasks/000001.png\tdepth/000001.png\n" +
				"rgb/000002.png\tmasks/000002.png\tdepth/000002.png",
			"val.txt": "rgb/000003.png\tmasks/000003.png\tdepth/000003.png\n" +
				"rgb/000004.png\tmasks/000004.png\tdepth/000004.png",
		}
		for name, text := range want {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != text {
				t.Errorf("%s is\n%q\nwant\n%q", name, b, text)
			}
		}
	})

	t.Run("frames", func(t *testing.T) {
		for i := 0; i < n; i++ {
			f := mustRender(t, 2, i, h, w)
			name := frameName(i)
			rgb := decodePNG(t, filepath.Join(dir, "rgb", name))
			if m, ok := rgb.(*image.RGBA); !ok || m.Rect.Dx() != w || m.Rect.Dy() != h {
				t.Fatalf("rgb/%s is %T %v, want 8-bit RGB %dx%d", name, rgb, rgb.Bounds(), w, h)
			}
			for k := 0; k < w*h; k++ {
				c := rgb.(*image.RGBA).Pix[4*k : 4*k+3]
				if !bytes.Equal(c, f.RGB.Pix[3*k:3*k+3]) {
					t.Fatalf("rgb/%s pixel %d is %v, Render gives %v", name, k, c, f.RGB.Pix[3*k:3*k+3])
				}
			}
			if _, ok := decodePNG(t, filepath.Join(dir, "depth", name)).(*image.Gray16); !ok {
				t.Fatalf("depth/%s is not a 16-bit grey PNG", name)
			}
			depth, err := preprocess.LoadDepthPNG(filepath.Join(dir, "depth", name), 1.0/DepthScale)
			if err != nil {
				t.Fatal(err)
			}
			for k, d := range depth.Pix {
				if math.Abs(float64(d-f.Depth.Pix[k])) > 1e-6 {
					t.Fatalf("depth/%s pixel %d is %g m, Render gives %g m", name, k, d, f.Depth.Pix[k])
				}
			}
			mask, ok := decodePNG(t, filepath.Join(dir, "masks", name)).(*image.Gray)
			if !ok {
				t.Fatalf("masks/%s is not an 8-bit grey PNG", name)
			}
			for k, l := range mask.Pix {
				if l != f.Labels[k] || l >= numClasses && l != Void {
					t.Fatalf("masks/%s pixel %d is %d, Render gives %d (classes 0..%d, void %d)", name, k, l, f.Labels[k], numClasses-1, Void)
				}
			}
		}
	})

	t.Run("palette", func(t *testing.T) {
		pal, names, err := preprocess.LoadPalette(filepath.Join(dir, PaletteFile))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(pal, Palette) || !reflect.DeepEqual(names, ClassNames) {
			t.Errorf("palette file gives %v %v, want %v %v", pal, names, Palette, ClassNames)
		}
	})

	t.Run("camera", func(t *testing.T) {
		cam, err := calibration.LoadYAML(filepath.Join(dir, CameraFile))
		if err != nil {
			t.Fatal(err)
		}
		want := Camera(h, w)
		if cam.Width != w || cam.Height != h || cam.K != want.K || cam.P != want.P || cam.Model != calibration.PlumbBob ||
			!reflect.DeepEqual(cam.D, []float64{0, 0, 0, 0, 0}) {
			t.Errorf("camera file gives %+v, want %+v", cam, want)
		}
	})
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func TestNoValListsEveryFrameForTraining(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDataset(dir, Conf{N: 2, Height: 32, Width: 32, Val: NoVal}, nil); err != nil {
		t.Fatal(err)
	}
	train, err1 := os.ReadFile(filepath.Join(dir, "train.txt"))
	val, err2 := os.ReadFile(filepath.Join(dir, "val.txt"))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if strings.Count(string(train), "\n") != 1 || len(val) != 0 {
		t.Errorf("train.txt %q and val.txt %q, want two lines and an empty file", train, val)
	}
}

func TestWriteDatasetNamesTheBadValue(t *testing.T) {
	blocked := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		dir  string
		conf Conf
		want string
	}{
		{"negative N", "", Conf{N: -1}, "N=-1"},
		{"too many frames", "", Conf{N: MaxFrames + 1}, "N=1000001"},
		{"bad size", "", Conf{N: 2, Height: 10, Width: 320}, "image size 10x320"},
		{"height without width", "", Conf{N: 2, Height: 240}, "image size 240x0"},
		{"val not below N", "", Conf{N: 3, Val: 3}, "Val=3"},
		{"negative val", "", Conf{N: 3, Val: -2}, "Val=-2"},
		{"unwritable folder", filepath.Join(blocked, "set"), Conf{N: 1, Height: 32, Width: 32}, blocked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir
			if dir == "" {
				dir = t.TempDir()
			}
			err := WriteDataset(dir, tc.conf, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestPaletteAndNamesCoverEveryClass(t *testing.T) {
	if len(ClassNames) != int(numClasses) || len(Palette) != int(numClasses) {
		t.Fatalf("%d names and %d colours for %d classes", len(ClassNames), len(Palette), numClasses)
	}
	seen := map[[3]uint8]bool{}
	for _, c := range Palette {
		if seen[c] {
			t.Errorf("colour %v is used twice", c)
		}
		seen[c] = true
	}
}
