package train

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cen-ros/cen/calibration"
	"github.com/cen-ros/cen/preprocess"
	"github.com/cen-ros/cen/synth"
)

func TestNYUDv2ListsAreTheStandardSplit(t *testing.T) {
	line := regexp.MustCompile(`^rgb/(\d{6})\.png\tmasks/(\d{6})\.png\tdepth/(\d{6})\.png$`)
	seen := map[int]string{}
	for _, tc := range []struct {
		name        string
		n           int
		first, last []int
	}{
		{"train.txt", 795, []int{3, 4, 5, 6, 7, 8, 10}, []int{1440}},
		{"val.txt", 654, []int{1, 2, 9, 14, 15}, []int{1449}},
	} {
		data, err := nyuLists.ReadFile("lists/nyudv2/" + tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(string(data), "\n") {
			t.Errorf("%s ends with a newline; the official lists do not", tc.name)
		}
		lines := strings.Split(string(data), "\n")
		if len(lines) != tc.n {
			t.Fatalf("%s has %d frames, want %d", tc.name, len(lines), tc.n)
		}
		var frames []int
		for i, l := range lines {
			m := line.FindStringSubmatch(l)
			if m == nil || m[1] != m[2] || m[1] != m[3] {
				t.Fatalf("%s:%d: %q is not an official list line", tc.name, i+1, l)
			}
			f, _ := strconv.Atoi(m[1])
			if f < 1 || f > 1449 || i > 0 && f <= frames[i-1] {
				t.Fatalf("%s:%d: frame %d out of range or order", tc.name, i+1, f)
			}
			if other, ok := seen[f]; ok {
				t.Fatalf("frame %d is in both %s and %s", f, other, tc.name)
			}
			seen[f] = tc.name
			frames = append(frames, f)
		}
		for i, f := range tc.first {
			if frames[i] != f {
				t.Errorf("%s frame %d is %d, want %d", tc.name, i, frames[i], f)
			}
		}
		if got := frames[len(frames)-1]; got != tc.last[0] {
			t.Errorf("%s ends at frame %d, want %d", tc.name, got, tc.last[0])
		}
	}
	if len(seen) != 1449 {
		t.Errorf("the lists cover %d frames, want the 1449 labelled ones", len(seen))
	}
}

func fixture(layout string) string { return filepath.Join("testdata", layout) }

func openFixture(t *testing.T, conf DataConf) (Dataset, Dataset) {
	t.Helper()
	tr, va, err := OpenDataset(conf)
	if err != nil {
		t.Fatal(err)
	}
	return tr, va
}

func load(t *testing.T, d Dataset, i int) Sample {
	t.Helper()
	s, err := d.Load(i)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNYUDv2ReadsTheReleaseLayout(t *testing.T) {
	root := fixture("nyudv2")
	tr, va := openFixture(t, DataConf{Layout: LayoutNYUDv2, Root: root,
		TrainList: filepath.Join(root, "train.txt"), ValList: filepath.Join(root, "val.txt")})
	if tr.Len() != 1 || va.Len() != 2 {
		t.Fatalf("train %d, val %d frames; want 1 and 2", tr.Len(), va.Len())
	}
	cs := tr.Classes()
	if cs.Dataset != "nyudv2" || len(cs.Names) != 40 || cs.Names[0] != "wall" || cs.Names[39] != "otherprop" || tr.Ignore() != 255 {
		t.Fatalf("classes %s %d (%q..%q), ignore %d", cs.Dataset, len(cs.Names), cs.Names[0], cs.Names[len(cs.Names)-1], tr.Ignore())
	}
	for i, frame := range []int{1, 2} {
		s := load(t, va, i)
		if want := fmt.Sprintf("rgb/%06d.png", frame); s.Name != want {
			t.Errorf("name %q, want %q", s.Name, want)
		}
		checkRGB(t, s, frame, nyuW, nyuH, 0)
		for p, d := range s.Depth.Pix {
			if want := float32(nyuDepthCount(frame, p)) * float32(1.0/5000); d != want {
				t.Fatalf("frame %d depth pixel %d = %g m, want %g (PNG / 5000)", frame, p, d, want)
			}
		}
		if s.Depth.Pix[0] != 0 {
			t.Errorf("pixel without depth reads %g, want 0", s.Depth.Pix[0])
		}
		for p, l := range s.Labels {
			if want := uint16(nyuMask(frame, p%nyuW, p/nyuW)); l != want {
				t.Fatalf("frame %d label pixel %d = %d, want %d", frame, p, l, want)
			}
		}
		if s.Labels[1] != 255 {
			t.Errorf("void pixel reads %d, want 255", s.Labels[1])
		}
		if s.View == nil || s.View.Camera.Width != 640 || s.View.Camera.Fx() < 518 || s.View.Camera.Fx() > 519 {
			t.Errorf("view %+v, want the NYU Kinect colour camera", s.View)
		}
	}
}

// checkRGB compares a sample's colours with the fixture's, within tol (for JPEG).
func checkRGB(t *testing.T, s Sample, frame, w, h, tol int) {
	t.Helper()
	if s.RGB.Width != w || s.RGB.Height != h || s.Depth.Width != w || s.Depth.Height != h || len(s.Labels) != w*h {
		t.Fatalf("%s: rgb %dx%d, depth %dx%d, %d labels; want %dx%d", s.Name, s.RGB.Width, s.RGB.Height, s.Depth.Width, s.Depth.Height, len(s.Labels), w, h)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			want := fixRGB(frame, x, y)
			for c := 0; c < 3; c++ {
				if d := int(s.RGB.Pix[3*(y*w+x)+c]) - int(want[c]); d > tol || d < -tol {
					t.Fatalf("%s: pixel (%d, %d) channel %d = %d, want %d", s.Name, x, y, c, s.RGB.Pix[3*(y*w+x)+c], want[c])
				}
			}
		}
	}
}

func TestNYUDv2DefaultListsAreBuiltIn(t *testing.T) {
	// The fixture holds frames 1–3 only: the built-in training list's second frame is missing.
	_, _, err := OpenDataset(DataConf{Layout: LayoutNYUDv2, Root: fixture("nyudv2")})
	want := "train: the built-in nyudv2 train.txt:2: RGB file " + filepath.Join("testdata", "nyudv2", "rgb", "000004.png") + " does not exist"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestSUNRGBDReadsMillimetresAndTheToolboxFormat(t *testing.T) {
	root := fixture("sunrgbd")
	release := []Dataset{}
	tr, te := openFixture(t, DataConf{Layout: LayoutSUNRGBD, Root: root})
	release = append(release, tr, te)
	ttr, tte := openFixture(t, DataConf{Layout: LayoutSUNRGBD, Root: root, DepthBitShift: true, LabelOffset: -1,
		TrainList: filepath.Join(root, "train_toolbox.txt"), ValList: filepath.Join(root, "test_toolbox.txt")})
	toolbox := []Dataset{ttr, tte}
	if tr.Len() != 2 || te.Len() != 1 || ttr.Len() != 2 || tte.Len() != 1 {
		t.Fatalf("frames %d/%d and %d/%d, want 2/1", tr.Len(), te.Len(), ttr.Len(), tte.Len())
	}
	if cs := tr.Classes(); cs.Dataset != "sunrgbd" || len(cs.Names) != 37 || tr.Ignore() != 255 {
		t.Fatalf("classes %s %d, ignore %d", cs.Dataset, len(cs.Names), tr.Ignore())
	}
	frame := 1
	for k := range release {
		for i := 0; i < release[k].Len(); i++ {
			a, b := load(t, release[k], i), load(t, toolbox[k], i)
			checkRGB(t, a, frame, sunW, sunH, 32) // JPEG: 4:2:0 chroma over a steep ramp
			for p := range a.Depth.Pix {
				want := float32(sunMM(frame, p)) * float32(1.0/1000)
				if a.Depth.Pix[p] != want || b.Depth.Pix[p] != want {
					t.Fatalf("frame %d depth pixel %d = %g m (release) and %g m (toolbox), want %g", frame, p, a.Depth.Pix[p], b.Depth.Pix[p], want)
				}
				want16 := uint16(255)
				if l := sunLabel(frame, p%sunW, p/sunW); l >= 0 {
					want16 = uint16(l)
				}
				if a.Labels[p] != want16 || b.Labels[p] != want16 {
					t.Fatalf("frame %d label pixel %d = %d (release) and %d (toolbox), want %d", frame, p, a.Labels[p], b.Labels[p], want16)
				}
			}
			if a.Depth.Pix[len(a.Depth.Pix)-1] < 8.192 {
				t.Fatalf("the fixture should reach past 8.192 m, where the bit rotation matters")
			}
			if a.View != nil {
				t.Errorf("sunrgbd has no built-in camera, got %+v", a.View)
			}
			frame++
		}
	}
}

func TestFolderReadsSixteenBitLabelsInAnyColumnOrder(t *testing.T) {
	tr, va := openFixture(t, DataConf{Layout: LayoutFolder, Root: fixture("folder"), Classes: folderClasses,
		Columns: Columns{Labels: 0, RGB: 1, Depth: 2}, DepthScale: 0.001})
	if tr.Len() != 1 || va.Len() != 1 {
		t.Fatalf("frames %d/%d, want 1/1", tr.Len(), va.Len())
	}
	cs := tr.Classes()
	if cs.Dataset != "folder" || len(cs.Names) != folderClasses || cs.Names[299] != "class_299" || len(cs.Palette) != folderClasses || tr.Ignore() != 65535 {
		t.Fatalf("classes %q %d, ignore %d", cs.Dataset, len(cs.Names), tr.Ignore())
	}
	for frame, d := range map[int]Dataset{1: tr, 2: va} {
		s := load(t, d, 0)
		if want := fmt.Sprintf("frames/f%d_rgb.png", frame); s.Name != want {
			t.Errorf("name %q, want %q", s.Name, want)
		}
		checkRGB(t, s, frame, folderW, folderH, 0)
		for p := range s.Labels {
			if s.Labels[p] != folderLabel(frame, p) {
				t.Fatalf("frame %d label pixel %d = %d, want %d", frame, p, s.Labels[p], folderLabel(frame, p))
			}
			if want := float32(folderMM(frame, p)) * 0.001; s.Depth.Pix[p] != want {
				t.Fatalf("frame %d depth pixel %d = %g, want %g", frame, p, s.Depth.Pix[p], want)
			}
		}
	}
}

func TestFolderTakesNamesFromAPaletteFile(t *testing.T) {
	dir := t.TempDir()
	pal := filepath.Join(dir, "palette.txt")
	lines := []string{"# r g b name"}
	for k := 0; k < folderClasses; k++ {
		name := ""
		if k == 7 {
			name = "seven"
		}
		lines = append(lines, fmt.Sprintf("%d %d %d %s", k%256, 1, 2, name))
	}
	if err := os.WriteFile(pal, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, _ := openFixture(t, DataConf{Layout: LayoutFolder, Root: fixture("folder"), Palette: pal, Name: "mine",
		Columns: Columns{Labels: 0, RGB: 1, Depth: 2}})
	cs := tr.Classes()
	if cs.Dataset != "mine" || len(cs.Names) != folderClasses || cs.Names[7] != "seven" || cs.Names[8] != "class_8" || cs.Palette[258] != [3]uint8{2, 1, 2} {
		t.Fatalf("classes %q: %d names, %q %q, colour %v", cs.Dataset, len(cs.Names), cs.Names[7], cs.Names[8], cs.Palette[258])
	}
	// The default depth scale is the NYUDv2 release's, 1/5000.
	if d := load(t, tr, 0).Depth.Pix[0]; d != float32(folderMM(1, 0))*float32(1.0/5000) {
		t.Errorf("depth %g, want PNG/5000 by default", d)
	}
	_, _, err := OpenDataset(DataConf{Layout: LayoutFolder, Root: fixture("folder"), Palette: pal, Classes: 12})
	if err == nil || !strings.Contains(err.Error(), "palette "+pal+" has 300 colours for 12 classes") {
		t.Errorf("err = %v", err)
	}
}

// TestSyntheticReadsWhatCenSynthWrites compares the fixture (synth.WriteDataset) with the frames rendered
// again: labels exactly, depth to the PNG's 1/5000 m step.
func TestSyntheticReadsWhatCenSynthWrites(t *testing.T) {
	tr, va := openFixture(t, DataConf{Layout: LayoutSynthetic, Root: fixture("synthetic")})
	if tr.Len() != 3 || va.Len() != 1 {
		t.Fatalf("frames %d/%d, want 3/1", tr.Len(), va.Len())
	}
	cs := tr.Classes()
	if cs.Dataset != "synthetic" || strings.Join(cs.Names, ",") != strings.Join(synth.ClassNames, ",") || fmt.Sprint(cs.Palette) != fmt.Sprint(synth.Palette) || tr.Ignore() != 255 {
		t.Fatalf("classes %q %v %v, ignore %d", cs.Dataset, cs.Names, cs.Palette, tr.Ignore())
	}
	for i, d := range []struct {
		ds    Dataset
		i     int
		frame int
	}{{tr, 0, 0}, {tr, 2, 2}, {va, 0, 3}} {
		s := load(t, d.ds, d.i)
		f, err := synth.Render(0, d.frame, synthH, synthW)
		if err != nil {
			t.Fatal(err)
		}
		if string(s.RGB.Pix) != string(f.RGB.Pix) {
			t.Errorf("case %d: RGB differs from the rendered frame", i)
		}
		for p := range s.Labels {
			if s.Labels[p] != uint16(f.Labels[p]) {
				t.Fatalf("case %d: label %d = %d, rendered %d", i, p, s.Labels[p], f.Labels[p])
			}
			if diff := s.Depth.Pix[p] - f.Depth.Pix[p]; diff > 1.0/10000+1e-6 || diff < -1.0/10000-1e-6 {
				t.Fatalf("case %d: depth %d = %g, rendered %g", i, p, s.Depth.Pix[p], f.Depth.Pix[p])
			}
		}
		want := synth.Camera(synthH, synthW)
		if s.View == nil || s.View.Camera.K != want.K || s.View.Camera.Width != synthW {
			t.Errorf("case %d: view %+v, want the camera of camera.yaml %v", i, s.View, want.K)
		}
	}
}

func TestLoadIsSafeForConcurrentUse(t *testing.T) {
	tr, _ := openFixture(t, DataConf{Layout: LayoutSynthetic, Root: fixture("synthetic")})
	want := make([]Sample, tr.Len())
	for i := range want {
		want[i] = load(t, tr, i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 6; k++ {
				i := (g + k) % tr.Len()
				s, err := tr.Load(i)
				if err == nil && (string(s.RGB.Pix) != string(want[i].RGB.Pix) || fmt.Sprint(s.Labels) != fmt.Sprint(want[i].Labels)) {
					err = fmt.Errorf("frame %d read differently", i)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// copyFixture copies the nyudv2 fixture into a temporary folder that a test may damage.
func copyFixture(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(fixture("nyudv2"), func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(fixture("nyudv2"), p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestDatasetErrorsNameTheFileAtFault(t *testing.T) {
	tests := []struct {
		name   string
		damage func(root string) error
		conf   func(root string) DataConf
		// open is the error of OpenDataset; load that of loading the training frame.
		open, load string
	}{
		{name: "missing file", damage: func(root string) error { return os.Remove(filepath.Join(root, "masks", "000003.png")) },
			open: "train: {root}/train.txt:1: label file {root}/masks/000003.png does not exist"},
		{name: "missing list", damage: func(root string) error { return os.Remove(filepath.Join(root, "val.txt")) },
			open: "train: cannot read the list file {root}/val.txt: no such file or directory"},
		{name: "malformed line", damage: func(root string) error {
			return os.WriteFile(filepath.Join(root, "train.txt"), []byte("rgb/000003.png\tmasks/000003.png\n"), 0o644)
		}, open: `train: {root}/train.txt:1: want 3 tab-separated paths (rgb in column 1, depth in 3, labels in 2), got 2 in "rgb/000003.png\tmasks/000003.png"`},
		{name: "size mismatch", damage: func(root string) error {
			return writeGray16(filepath.Join(root, "depth", "000003.png"), 4, 4, func(int) uint16 { return 1 })
		}, load: "train: {root}/train.txt:1: depth {root}/depth/000003.png is 4x4 but the RGB image {root}/rgb/000003.png is 8x6"},
		{name: "mask size mismatch", damage: func(root string) error {
			return writeGray8(filepath.Join(root, "masks", "000003.png"), 8, 5, func(int, int) uint8 { return 1 })
		}, load: "train: {root}/train.txt:1: labels {root}/masks/000003.png are 8x5 but the RGB image {root}/rgb/000003.png is 8x6"},
		{name: "label out of range", damage: func(root string) error {
			return writeGray8(filepath.Join(root, "masks", "000003.png"), nyuW, nyuH, func(x, y int) uint8 {
				if x == 5 && y == 2 {
					return 40
				}
				return 0
			})
		}, load: "train: {root}/train.txt:1: label 40 at pixel (5, 2) of {root}/masks/000003.png is neither a class (0..39) nor void (255)"},
		{name: "unreadable RGB", damage: func(root string) error {
			return os.WriteFile(filepath.Join(root, "rgb", "000003.png"), []byte("\x89PNG\r\n\x1a\ntruncated"), 0o644)
		}, load: "train: {root}/train.txt:1: preprocess: {root}/rgb/000003.png: "},
		{name: "unreadable mask", damage: func(root string) error {
			return os.WriteFile(filepath.Join(root, "masks", "000003.png"), []byte("GIF89a: a GIF header, not a PNG"), 0o644)
		}, load: "train: {root}/train.txt:1: labels {root}/masks/000003.png are not a readable PNG: png: invalid format: not a PNG file"},
		{name: "colour mask", damage: func(root string) error {
			return writePNG(filepath.Join(root, "masks", "000003.png"), image.NewRGBA(image.Rect(0, 0, nyuW, nyuH)))
		}, load: "train: {root}/train.txt:1: labels {root}/masks/000003.png are a colour PNG; want one channel of class ids (8- or 16-bit grey, or palette indices)"},
		{name: "8-bit depth", damage: func(root string) error {
			return writeGray8(filepath.Join(root, "depth", "000003.png"), nyuW, nyuH, func(int, int) uint8 { return 9 })
		}, load: "train: {root}/train.txt:1: preprocess: {root}/depth/000003.png: PNG holds 1 channel(s) of 8-bit samples, want one 16-bit channel"},
		{name: "offset label out of range", conf: func(root string) DataConf {
			return DataConf{Layout: LayoutFolder, Root: root, Classes: 20, LabelOffset: -1}
		}, load: "train: {root}/train.txt:1: label 21 at pixel (6, 4) of {root}/masks/000003.png is class 20 after the offset -1: neither a class (0..19) nor void (255)"},
		{name: "unknown layout", conf: func(root string) DataConf { return DataConf{Layout: "nyu", Root: root} },
			open: `train: unknown data set layout "nyu" (want nyudv2, sunrgbd, folder or synthetic)`},
		{name: "no root", conf: func(string) DataConf { return DataConf{Layout: LayoutFolder} },
			open: "train: the folder data set needs its folder (DataConf.Root)"},
		{name: "folder without classes", conf: func(root string) DataConf { return DataConf{Layout: LayoutFolder, Root: root} },
			open: "train: the folder layout needs the number of classes (DataConf.Classes) or a palette file, got 0 classes"},
		{name: "nyudv2 with a depth scale", conf: func(root string) DataConf {
			return DataConf{Layout: LayoutNYUDv2, Root: root, DepthScale: 0.001}
		}, open: "train: the nyudv2 layout fixes columns, classes, depth scale and labels; describe other data with the folder layout"},
		{name: "duplicate columns", conf: func(root string) DataConf {
			return DataConf{Layout: LayoutFolder, Root: root, Classes: 40, Columns: Columns{RGB: 1, Depth: 1, Labels: 0}}
		}, open: "train: columns rgb 1, depth 1, labels 0 must be distinct and not negative"},
		{name: "bad camera", conf: func(root string) DataConf {
			return DataConf{Layout: LayoutNYUDv2, Root: root, Camera: filepath.Join(root, "none.yaml"),
				TrainList: filepath.Join(root, "train.txt"), ValList: filepath.Join(root, "val.txt")}
		}, open: "train: camera of the data set: calibration: open {root}/none.yaml: no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := copyFixture(t)
			if tc.damage != nil {
				if err := tc.damage(root); err != nil {
					t.Fatal(err)
				}
			}
			conf := DataConf{Layout: LayoutNYUDv2, Root: root, TrainList: filepath.Join(root, "train.txt"), ValList: filepath.Join(root, "val.txt")}
			if tc.conf != nil {
				conf = tc.conf(root)
			}
			expand := func(s string) string { return strings.ReplaceAll(s, "{root}", root) }
			tr, _, err := OpenDataset(conf)
			if tc.open != "" {
				if err == nil || err.Error() != expand(tc.open) {
					t.Fatalf("OpenDataset error:\n got %v\nwant %s", err, expand(tc.open))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = tr.Load(0)
			if err == nil || !strings.HasPrefix(err.Error(), expand(tc.load)) {
				t.Fatalf("Load error:\n got %v\nwant %s", err, expand(tc.load))
			}
		})
	}
}

func TestLabelsMayBePaletteIndices(t *testing.T) {
	root := copyFixture(t)
	pal := color.Palette{}
	for k := 0; k < 256; k++ {
		pal = append(pal, color.RGBA{uint8(k), uint8(255 - k), 0, 255})
	}
	img := image.NewPaletted(image.Rect(0, 0, nyuW, nyuH), pal)
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 40)
	}
	img.Pix[4] = 255
	if err := writePNG(filepath.Join(root, "masks", "000003.png"), img); err != nil {
		t.Fatal(err)
	}
	tr, _ := openFixture(t, DataConf{Layout: LayoutNYUDv2, Root: root, TrainList: filepath.Join(root, "train.txt"), ValList: filepath.Join(root, "val.txt")})
	s := load(t, tr, 0)
	for i, l := range s.Labels {
		want := uint16(i % 40)
		if i == 4 {
			want = 255
		}
		if l != want {
			t.Fatalf("pixel %d = %d, want the palette index %d", i, l, want)
		}
	}
}

func TestDataConfCameraGivesEveryFrameTheView(t *testing.T) {
	cam := synth.Camera(48, 64)
	path := filepath.Join(t.TempDir(), "cam.yaml")
	if err := writeCameraYAML(path, cam); err != nil {
		t.Fatal(err)
	}
	tr, _ := openFixture(t, DataConf{Layout: LayoutFolder, Root: fixture("folder"), Classes: folderClasses,
		Columns: Columns{Labels: 0, RGB: 1, Depth: 2}, Camera: path, Up: [3]float64{0, -1, 0}})
	s := load(t, tr, 0)
	if s.View == nil || s.View.Camera.K != cam.K || s.View.Up != [3]float64{0, -1, 0} {
		t.Fatalf("view %+v", s.View)
	}
}

func writeCameraYAML(path string, cam calibration.Pinhole) error {
	k := cam.K
	y := fmt.Sprintf("image_width: %d\nimage_height: %d\ncamera_matrix:\n  rows: 3\n  cols: 3\n  data: [%g, %g, %g, %g, %g, %g, %g, %g, %g]\n",
		cam.Width, cam.Height, k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8])
	return os.WriteFile(path, []byte(y), 0o644)
}

// The data sets OpenDataset returns are Datasets.
var _ Dataset = (*listDataset)(nil)

// The fixture data sets under testdata/ are made by writeFixtures (go test ./train -run TestWriteFixtures
// -update) from the formulas below, which the tests use again to check what the data sets read.
var update = flag.Bool("update", false, "rewrite the fixture data sets under testdata/")

// Fixture sizes: small, and odd where the layout allows, so that rows and columns cannot be confused.
const (
	nyuW, nyuH       = 8, 6
	sunW, sunH       = 8, 6
	folderW, folderH = 7, 5
	folderClasses    = 300 // more than a byte: 16-bit labels, ignore 65535
	synthH, synthW   = 32, 40
)

// nyuFrames are the frame numbers of the nyudv2 fixture: 3 is a training frame, 1 and 2 are test frames.
var nyuFrames = []int{1, 2, 3}

func fixRGB(frame, x, y int) [3]uint8 {
	return [3]uint8{uint8(30*x + frame), uint8(40 * y), uint8(200 - 10*frame)}
}

// nyuDepthCount is the depth PNG value (metres × 5000) of pixel i; pixel 0 has no depth.
func nyuDepthCount(frame, i int) uint16 {
	if i == 0 {
		return 0
	}
	return uint16(500*(i+1) + frame)
}

// nyuMask is the mask value of pixel i: class ids 0..39, 255 (void) at pixel 1.
func nyuMask(frame, x, y int) uint8 {
	if y*nyuW+x == 1 {
		return 255
	}
	return uint8((x + 3*y + frame) % 40)
}

// sunMM is the depth of pixel i in millimetres: past 8191 mm for the last pixels, where the toolbox's bit
// rotation moves high bits to the bottom.
func sunMM(frame, i int) uint16 {
	if i == 5 {
		return 0
	}
	return uint16(1000 + 300*i + frame)
}

// sunLabel is the class (0..36) of pixel i, or −1 for void (pixel 2).
func sunLabel(frame, x, y int) int {
	if y*sunW+x == 2 {
		return -1
	}
	return (x + 2*y + frame) % 37
}

func folderLabel(frame, i int) uint16 {
	if i == 3 {
		return 65535
	}
	return uint16((37*i + 11*frame) % folderClasses)
}

func folderMM(frame, i int) uint16 { return uint16(800 + 10*i + frame) }

func TestWriteFixtures(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/")
	}
	if err := writeFixtures("testdata"); err != nil {
		t.Fatal(err)
	}
}

func writeFixtures(root string) error {
	for _, d := range []string{"nyudv2", "sunrgbd", "folder", "synthetic"} {
		if err := os.RemoveAll(filepath.Join(root, d)); err != nil {
			return err
		}
	}
	if err := writeNYUFixture(filepath.Join(root, "nyudv2")); err != nil {
		return err
	}
	if err := writeSUNFixture(filepath.Join(root, "sunrgbd")); err != nil {
		return err
	}
	if err := writeFolderFixture(filepath.Join(root, "folder")); err != nil {
		return err
	}
	return synth.WriteDataset(filepath.Join(root, "synthetic"), synth.Conf{N: 4, Height: synthH, Width: synthW, Val: 1, Workers: 1}, nil)
}

func fixRGBImage(frame, w, h int) preprocess.RGBImage {
	img := preprocess.NewRGBImage(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := fixRGB(frame, x, y)
			copy(img.Pix[3*(y*w+x):], c[:])
		}
	}
	return img
}

func writeGray16(path string, w, h int, v func(i int) uint16) error {
	img := image.NewGray16(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		img.SetGray16(i%w, i/w, color.Gray16{Y: v(i)})
	}
	return writePNG(path, img)
}

func writeGray8(path string, w, h int, v func(x, y int) uint8) error {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Pix[y*img.Stride+x] = v(x, y)
		}
	}
	return writePNG(path, img)
}

func writePNG(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeNYUFixture(dir string) error {
	var train, val []string
	for _, fr := range nyuFrames {
		n := fmt.Sprintf("%06d.png", fr)
		if err := os.MkdirAll(filepath.Join(dir, "rgb"), 0o755); err != nil {
			return err
		}
		if err := preprocess.WriteRGBPNG(filepath.Join(dir, "rgb", n), fixRGBImage(fr, nyuW, nyuH)); err != nil {
			return err
		}
		if err := writeGray16(filepath.Join(dir, "depth", n), nyuW, nyuH, func(i int) uint16 { return nyuDepthCount(fr, i) }); err != nil {
			return err
		}
		if err := writeGray8(filepath.Join(dir, "masks", n), nyuW, nyuH, func(x, y int) uint8 { return nyuMask(fr, x, y) }); err != nil {
			return err
		}
		line := "rgb/" + n + "\tmasks/" + n + "\tdepth/" + n
		if fr == 3 {
			train = append(train, line)
		} else {
			val = append(val, line)
		}
	}
	return writeLists(dir, "train.txt", train, "val.txt", val)
}

func writeLists(dir, trainName string, train []string, valName string, val []string) error {
	if err := os.WriteFile(filepath.Join(dir, trainName), []byte(strings.Join(train, "\n")), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, valName), []byte(strings.Join(val, "\n")+"\n"), 0o644)
}

// writeSUNFixture writes three frames twice: as the common release (labels 0..36 with 255 void, depth in
// millimetres: train.txt, test.txt) and as the toolbox writes them (labels 1..37 with 0 void, bit-rotated
// depth: train_toolbox.txt, test_toolbox.txt). RGB is JPEG, as in SUN RGB-D.
func writeSUNFixture(dir string) error {
	var train, test, trainRaw, testRaw []string
	for fr := 1; fr <= 3; fr++ {
		n := fmt.Sprintf("%06d", fr)
		rgb := fixRGBImage(fr, sunW, sunH)
		img := image.NewRGBA(image.Rect(0, 0, sunW, sunH))
		for i := 0; i < sunW*sunH; i++ {
			img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = rgb.Pix[3*i], rgb.Pix[3*i+1], rgb.Pix[3*i+2], 255
		}
		if err := os.MkdirAll(filepath.Join(dir, "image"), 0o755); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(dir, "image", n+".jpg"))
		if err != nil {
			return err
		}
		if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 100}); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := writeGray16(filepath.Join(dir, "depth", n+".png"), sunW, sunH, func(i int) uint16 { return sunMM(fr, i) }); err != nil {
			return err
		}
		if err := writeGray16(filepath.Join(dir, "depth_bfx", n+".png"), sunW, sunH, func(i int) uint16 {
			mm := sunMM(fr, i)
			return mm<<3 | mm>>13
		}); err != nil {
			return err
		}
		if err := writeGray8(filepath.Join(dir, "label", n+".png"), sunW, sunH, func(x, y int) uint8 {
			if l := sunLabel(fr, x, y); l >= 0 {
				return uint8(l)
			}
			return 255
		}); err != nil {
			return err
		}
		if err := writeGray8(filepath.Join(dir, "label37", n+".png"), sunW, sunH, func(x, y int) uint8 { return uint8(sunLabel(fr, x, y) + 1) }); err != nil {
			return err
		}
		line := "image/" + n + ".jpg\tdepth/" + n + ".png\tlabel/" + n + ".png"
		raw := "image/" + n + ".jpg depth_bfx/" + n + ".png label37/" + n + ".png"
		if fr < 3 {
			train, trainRaw = append(train, line), append(trainRaw, raw)
		} else {
			test, testRaw = append(test, line), append(testRaw, raw)
		}
	}
	if err := writeLists(dir, "train.txt", train, "test.txt", test); err != nil {
		return err
	}
	return writeLists(dir, "train_toolbox.txt", trainRaw, "test_toolbox.txt", testRaw)
}

// writeFolderFixture writes two frames of a 300-class data set whose lists put labels first, then RGB, then
// depth (millimetres), separated by spaces.
func writeFolderFixture(dir string) error {
	var lines []string
	for fr := 1; fr <= 2; fr++ {
		p := fmt.Sprintf("frames/f%d_", fr)
		if err := os.MkdirAll(filepath.Join(dir, "frames"), 0o755); err != nil {
			return err
		}
		if err := preprocess.WriteRGBPNG(filepath.Join(dir, p+"rgb.png"), fixRGBImage(fr, folderW, folderH)); err != nil {
			return err
		}
		if err := writeGray16(filepath.Join(dir, p+"depth.png"), folderW, folderH, func(i int) uint16 { return folderMM(fr, i) }); err != nil {
			return err
		}
		if err := writeGray16(filepath.Join(dir, p+"labels.png"), folderW, folderH, func(i int) uint16 { return folderLabel(fr, i) }); err != nil {
			return err
		}
		lines = append(lines, p+"labels.png "+p+"rgb.png "+p+"depth.png")
	}
	return writeLists(dir, "train.txt", lines[:1], "val.txt", lines[1:])
}
