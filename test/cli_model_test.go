package test

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/preprocess"
	"github.com/cen-ros/cen/test/rosenv"
)

var fixtures = filepath.Join(rosenv.RepoRoot(), "test", "fixtures")

// TestImportTorchThenInfoReportsTheNetwork converts an official-format checkpoint and reads it back with cen info,
// including the paper's per-stage diagnostic.
func TestImportTorchThenInfoReportsTheNetwork(t *testing.T) {
	ckpt := filepath.Join(t.TempDir(), "m.ckpt")
	out, code := runCen(t, os.Environ(), "import-torch", filepath.Join(fixtures, "r50_m2", "model.pth"), "--arch", "refinenet-r50", "--width", "0.03125", "--dataset", "test", "-o", ckpt)
	if code != 0 || !strings.Contains(out, "CEN refinenet-r50, 2 modalities [rgb depth], 7 classes") {
		t.Fatalf("import-torch (exit %d):\n%s", code, out)
	}
	out, code = runCen(t, os.Environ(), "info", ckpt)
	if code != 0 {
		t.Fatalf("info (exit %d):\n%s", code, out)
	}
	for _, re := range []string{
		`architecture\s+refinenet-r50 \(width 0\.03125\)`, `modalities\s+2: rgb, depth`, `classes\s+7`,
		`parameters\s+100951 total: encoder \d+, decoder \d+`,
		`(?m)^  layer1\s+\d+\.\d\d %`, `(?m)^  layer4\s+\d+\.\d\d %`, `(?m)^  all\s+\d+\.\d\d %`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("info output does not match %s:\n%s", re, out)
		}
	}
}

func TestModelCommandsNameWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "m.ckpt")
	if out, code := runCen(t, os.Environ(), "import-torch", filepath.Join(fixtures, "lite18_m2", "model.pth"), "--arch", "lite-r18", "--width", "0.125", "--dataset", "test", "--preprocess", "height=48,width=64", "-o", ckpt); code != 0 {
		t.Fatalf("import-torch: %s", out)
	}
	rgb := filepath.Join(dir, "rgb.png")
	f, _ := os.Create(rgb)
	png.Encode(f, image.NewNRGBA(image.Rect(0, 0, 64, 48)))
	f.Close()
	depth := filepath.Join(dir, "depth.png")
	writePNG(t, depth, image.NewGray16(image.Rect(0, 0, 64, 48)))
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"import-torch", filepath.Join(fixtures, "lite18_m2", "model.pth"), "--arch", "lite-r34", "--width", "0.125", "--dataset", "test", "-o", filepath.Join(dir, "x.ckpt")}, "checkpoint has no tensor for layer1.2.conv1.weight"},
		{[]string{"import-torch", filepath.Join(fixtures, "lite18_m2", "model.pth"), "--arch", "lite-r18", "--width", "0.125", "-o", filepath.Join(dir, "x.ckpt")}, "--dataset nyudv2 has 40 classes but the network has 7"},
		{[]string{"import-torch", filepath.Join(fixtures, "lite18_m2", "model.pth"), "--arch", "lite-r18", "--width", "0.125", "--dataset", "test", "--preprocess", "resize=crop", "-o", filepath.Join(dir, "x.ckpt")}, `preprocess.resize="crop": want one of stretch, letterbox`},
		{[]string{"import-torch", filepath.Join(fixtures, "lite18_m2", "model.pth"), "--arch", "lite-r18", "--width", "0.125", "--dataset", "test", "--preprocess", "colour=red", "-o", filepath.Join(dir, "x.ckpt")}, `unknown key "colour"`},
		{[]string{"export", "--random", "lite-r18", "--modalities", "-1", "-o", filepath.Join(dir, "x.onnx")}, "--modalities -1"},
		{[]string{"export", "--random", "lite-r18", "--dynamic", "--conv3x3", "winograd", "-o", filepath.Join(dir, "x.onnx")}, "--conv3x3 winograd needs a fixed-size model"},
		{[]string{"export", "--random", "lite-r18", "--conv3x3", "fast", "-o", filepath.Join(dir, "x.onnx")}, `3x3 convolutions "fast": use plain, winograd or winograd-all`},
		{[]string{"export", "--random", "lite-r18", "--int8", "-o", filepath.Join(dir, "x.onnx")}, "--int8 and --calibrate DIR go together"},
		{[]string{"export", "--random", "lite-r18", "--int8", "--calibrate", filepath.Join(dir, "nodata"), "-o", filepath.Join(dir, "x.onnx")}, "nodata"},
		{[]string{"export", filepath.Join(rosenv.RepoRoot(), "models", "synthetic-lite-r18.onnx"), "--int8", "-o", filepath.Join(dir, "x.onnx")}, "--int8 --calibrate DIR"},
		{[]string{"bench", "train", "--batch", "-1"}, "--batch -1"},
		{[]string{"bench", "infer", "--random", "lite-r18", "--iters", "0"}, "need at least one timed run"},
		{[]string{"info", filepath.Join(fixtures, "import", "tiny_zip.pth")}, "is a PyTorch file, not a cen model"},
		{[]string{"import-torch", filepath.Join(fixtures, "import", "torchscript.pt"), "--arch", "lite-r18", "-o", filepath.Join(dir, "x.ckpt")}, "is a TorchScript archive"},
		{[]string{"import-torch", filepath.Join(fixtures, "r50_m2", "model.pth"), "--arch", "resnet-9", "-o", filepath.Join(dir, "x.ckpt")}, `unknown architecture "resnet-9"`},
		{[]string{"info", filepath.Join(fixtures, "r50_m2", "config.json")}, "is neither a cen checkpoint nor an ONNX model"},
		{[]string{"predict", "--model", ckpt, "--rgb", rgb, "--depth", filepath.Join(dir, "nothere.png"), "-o", filepath.Join(dir, "l.png")}, "nothere.png"},
		{[]string{"predict", "--model", ckpt, "--rgb", rgb, "--depth", rgb, "--depth-unit", "feet", "-o", filepath.Join(dir, "l.png")}, `--depth-unit "feet"`},
		{[]string{"predict", "--model", ckpt, "--rgb", rgb, "--depth", rgb, "-o", filepath.Join(dir, "l.png")}, "want one 16-bit channel"},
		{[]string{"predict", "--model", filepath.Join(dir, "none.ckpt"), "--rgb", rgb, "--depth", depth, "-o", filepath.Join(dir, "l.png")}, "none.ckpt"},
	}
	for _, c := range cases {
		out, code := runCen(t, os.Environ(), c.args...)
		if code == 0 || !strings.Contains(out, c.want) {
			t.Errorf("cen %s: exit %d, output lacks %q:\n%s", strings.Join(c.args, " "), code, c.want, out)
		}
		if strings.Contains(out, "panic") || strings.Count(strings.TrimSpace(out), "\n") > 0 {
			t.Errorf("cen %s: expected one line of error, got:\n%s", c.args[0], out)
		}
	}
}

// TestPredictWritesLabelsColourAndOverlayAtCameraSize runs a small model on a frame whose size is not a multiple
// of the output stride and checks the files come back at the RGB image's size.
func TestPredictWritesLabelsColourAndOverlayAtCameraSize(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "m.ckpt")
	if out, code := runCen(t, os.Environ(), "import-torch", filepath.Join(fixtures, "lite18_m2", "model.pth"), "--arch", "lite-r18", "--width", "0.125", "--dataset", "test", "--preprocess", "height=48,width=64", "-o", ckpt); code != 0 {
		t.Fatalf("import-torch: %s", out)
	}
	const w, h = 90, 70
	rgb := image.NewNRGBA(image.Rect(0, 0, w, h))
	depth := image.NewGray16(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			rgb.SetNRGBA(x, y, color.NRGBA{uint8(3 * x), uint8(3 * y), 90, 255})
			depth.SetGray16(x, y, color.Gray16{Y: uint16(1000 + 30*x)})
		}
	}
	writePNG(t, filepath.Join(dir, "rgb.png"), rgb)
	writePNG(t, filepath.Join(dir, "depth.png"), depth)
	args := []string{"predict", "--model", ckpt, "--rgb", filepath.Join(dir, "rgb.png"), "--depth", filepath.Join(dir, "depth.png"),
		"-o", filepath.Join(dir, "labels.png"), "--color", filepath.Join(dir, "color.png"), "--overlay", filepath.Join(dir, "overlay.png")}
	out, code := runCen(t, os.Environ(), args...)
	if code != 0 || !strings.Contains(out, "most frequent:") {
		t.Fatalf("predict (exit %d):\n%s", code, out)
	}
	for _, name := range []string{"labels.png", "color.png", "overlay.png"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() != w || img.Bounds().Dy() != h {
			t.Fatalf("%s: %v, bounds %v, want %dx%d", name, err, img.Bounds(), w, h)
		}
		if name == "labels.png" {
			g, ok := img.(*image.Gray)
			if !ok {
				t.Fatalf("labels.png is %T, want 8-bit grey", img)
			}
			// The written labels are the engine's: the same files through the inference library in this process.
			want := engineLabels(t, ckpt, filepath.Join(dir, "rgb.png"), filepath.Join(dir, "depth.png"))
			distinct := map[uint16]bool{}
			for i, v := range g.Pix {
				if uint16(v) != want[i] {
					t.Fatalf("labels.png pixel %d is %d, the engine says %d", i, v, want[i])
				}
				distinct[want[i]] = true
			}
			if len(distinct) < 2 {
				t.Fatalf("the frame gives a single class %v: the comparison shows nothing", distinct)
			}
		}
	}
}

// engineLabels segments the PNG frame with the checkpoint through the inference library.
func engineLabels(t *testing.T, ckpt, rgbPath, depthPath string) []uint16 {
	t.Helper()
	rgb, err := preprocess.LoadRGB(rgbPath)
	if err != nil {
		t.Fatal(err)
	}
	depth, err := preprocess.LoadDepthPNG(depthPath, 1.0/5000)
	if err != nil {
		t.Fatal(err)
	}
	m, err := infer.Open(ckpt, infer.Conf{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var res infer.Result
	if err := m.Segment(infer.Frame{RGB: rgb, Depth: depth}, &res); err != nil {
		t.Fatal(err)
	}
	return res.Labels
}

// TestPredictWithExportedModelMatchesCheckpoint runs the same frame through the Go engine (checkpoint) and
// through ONNX Runtime (the exported model with its preprocessing taken from the metadata).
func TestPredictWithExportedModelMatchesCheckpoint(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "m.ckpt")
	if out, code := runCen(t, os.Environ(), "import-torch", filepath.Join(fixtures, "lite18_m2", "model.pth"), "--arch", "lite-r18", "--width", "0.125", "--dataset", "test", "--preprocess", "height=48,width=64", "-o", ckpt); code != 0 {
		t.Fatalf("import-torch: %s", out)
	}
	const w, h = 96, 72
	model := filepath.Join(dir, "m.onnx")
	if out, code := runCen(t, os.Environ(), "export", ckpt, "-o", model, "--height", "72", "--width", "96"); code != 0 {
		t.Fatalf("export: %s", out)
	}
	if out, code := runCen(t, os.Environ(), "info", model); code != 0 || !strings.Contains(out, "preprocess.rgb_mean") || !strings.Contains(out, "input         96x72") ||
		!strings.Contains(out, "kernels       3x3 convolutions plain; float32") {
		t.Fatalf("info of the ONNX model (exit %d):\n%s", code, out)
	}
	// The same network with every 3×3 stride-1 convolution as Winograd F(4×4, 3×3). Export reports what the
	// file holds: with --conv3x3 winograd, none of this narrow network's layers qualifies, and it says so.
	wino := filepath.Join(dir, "m2.onnx")
	if out, code := runCen(t, os.Environ(), "export", ckpt, "-o", wino, "--height", "72", "--width", "96", "--conv3x3", "winograd"); code != 0 || !strings.Contains(out, "3x3 convolutions plain (no layer has") {
		t.Fatalf("export --conv3x3 winograd of a narrow network: %s", out)
	}
	if out, code := runCen(t, os.Environ(), "export", ckpt, "-o", wino, "--height", "72", "--width", "96", "--conv3x3", "winograd-all"); code != 0 || !strings.Contains(out, "3x3 convolutions winograd\n") {
		t.Fatalf("export --conv3x3 winograd-all: %s", out)
	}
	if out, code := runCen(t, os.Environ(), "info", wino); code != 0 || !strings.Contains(out, "kernels       3x3 convolutions winograd; float32") {
		t.Fatalf("info of the Winograd model does not say so (exit %d):\n%s", code, out)
	}
	// A logits-only export (benchmarks) is written, and cen's inference refuses it, saying what it is.
	logits := filepath.Join(dir, "m3.onnx")
	if out, code := runCen(t, os.Environ(), "export", ckpt, "-o", logits, "--height", "72", "--width", "96", "--logits-only"); code != 0 || !strings.Contains(out, "3x3 convolutions plain\n") {
		t.Fatalf("export --logits-only (exit %d): %s", code, out)
	}
	if out, code := runCen(t, os.Environ(), "info", logits); code == 0 || !strings.Contains(out, "a logits-only export (cen export --logits-only)") {
		t.Fatalf("info of a logits-only model (exit %d):\n%s", code, out)
	}
	rgb := image.NewNRGBA(image.Rect(0, 0, w, h))
	depth := image.NewGray16(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			rgb.SetNRGBA(x, y, color.NRGBA{uint8(5 * x), uint8(7*y + x), uint8(x * y), 255})
			depth.SetGray16(x, y, color.Gray16{Y: uint16(3000 + 50*y)})
		}
	}
	writePNG(t, filepath.Join(dir, "rgb.png"), rgb)
	writePNG(t, filepath.Join(dir, "depth.png"), depth)
	var labels [3]*image.Gray
	for i, m := range []string{ckpt, model, wino} {
		out := filepath.Join(dir, "labels"+strconv.Itoa(i)+".png")
		// The checkpoint's recipe is 64x48: run it at the export's size.
		if o, code := runCen(t, os.Environ(), "predict", "--model", m, "--rgb", filepath.Join(dir, "rgb.png"), "--depth", filepath.Join(dir, "depth.png"), "-o", out, "--height", "72", "--width", "96"); code != 0 {
			t.Fatalf("predict with %s: %s", m, o)
		}
		f, _ := os.Open(out)
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		labels[i] = img.(*image.Gray)
	}
	for k, name := range []string{"ONNX Runtime", "ONNX Runtime on the Winograd export"} {
		for i := range labels[0].Pix {
			if labels[0].Pix[i] != labels[k+1].Pix[i] {
				t.Fatalf("Go engine and %s disagree at pixel %d: %d vs %d", name, i, labels[0].Pix[i], labels[k+1].Pix[i])
			}
		}
	}
}

// TestNonDefaultRecipeSurvivesImportExportOpen gives import-torch a recipe unlike the official one (letterbox,
// HHA, another size, its own classes) and checks that the checkpoint, its ONNX export and both opened through
// the inference library all carry it.
func TestNonDefaultRecipeSurvivesImportExportOpen(t *testing.T) {
	dir := t.TempDir()
	names := filepath.Join(dir, "names.txt")
	if err := os.WriteFile(names, []byte("a\nb\nc\nd\ne\nf\ng\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "m.ckpt")
	out, code := runCen(t, os.Environ(), "import-torch", filepath.Join(fixtures, "lite18_m2", "model.pth"), "--arch", "lite-r18", "--width", "0.125",
		"--modalities", "rgb,hha", "--dataset", "mine", "--class-names", names,
		"--preprocess", "resize=letterbox,depth_encoding=hha,height=56,width=72,depth_max=8", "-o", ckpt)
	if code != 0 || !strings.Contains(out, "preprocessing 72x56 letterbox, depth hha") {
		t.Fatalf("import-torch (exit %d):\n%s", code, out)
	}
	onnx := filepath.Join(dir, "m.onnx")
	if out, code := runCen(t, os.Environ(), "export", ckpt, "-o", onnx); code != 0 || !strings.Contains(out, "72x56") {
		t.Fatalf("export (exit %d):\n%s", code, out)
	}
	want := preprocess.DefaultSpec()
	want.Resize, want.DepthEncoding, want.Height, want.Width, want.DepthMax = preprocess.Letterbox, preprocess.HHA, 56, 72, 8
	for _, path := range []string{ckpt, onnx} {
		m, err := infer.Open(path, infer.Conf{Device: "cpu"})
		if err != nil {
			t.Fatal(err)
		}
		info := m.Info()
		m.Close()
		if info.Spec != want || info.Dataset != "mine" || strings.Join(info.ClassNames, "") != "abcdefg" || info.Version == "" ||
			strings.Join(info.Modalities, ",") != "rgb,hha" {
			t.Errorf("%s opens with %+v, want spec %+v, data set mine, classes a..g", filepath.Base(path), info, want)
		}
		out, code := runCen(t, os.Environ(), "info", path)
		if code != 0 || !strings.Contains(out, "preprocess.resize") || !strings.Contains(out, "letterbox") || !strings.Contains(out, "classes of    mine: a, b, c") {
			t.Errorf("cen info %s (exit %d):\n%s", filepath.Base(path), code, out)
		}
	}
}
