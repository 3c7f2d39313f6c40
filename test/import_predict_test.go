package test

import (
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cen-ros/cen/internal/npy"
	"github.com/cen-ros/cen/test/rosenv"
)

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// npyRaw writes a uint8 or uint16 array as .npy for the Python side.
func npyRaw(t *testing.T, path, descr string, shape string, data []byte) {
	h := "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + shape + "), }"
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	b = append(b, h...)
	b = append(b, data...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestImportedR50ReproducesPyTorchRestatementLogits checks import and prediction at full width: our own PyTorch
// re-statement of the model (scripts/cen_torch.py, not the paper's code) writes a full-width refinenet-r50 in
// the official checkpoint format and its logits for one frame; `cen import-torch` converts the checkpoint and
// `cen predict --logits` on the same PNG files, at the frame's own size, must reproduce the logits.
func TestImportedR50ReproducesPyTorchRestatementLogits(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 400 MB checkpoint")
	}
	bin := rosenv.Binary(t)
	dir := t.TempDir()
	const w, h = 128, 96
	rgb := image.NewNRGBA(image.Rect(0, 0, w, h))
	depth := image.NewGray16(image.Rect(0, 0, w, h))
	rgbRaw := make([]byte, 0, 3*w*h)
	depthRaw := make([]byte, 0, 2*w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, b := uint8(x*2), uint8(y*2+x), uint8(255-x-y)
			rgb.SetNRGBA(x, y, color.NRGBA{r, g, b, 255})
			rgbRaw = append(rgbRaw, r, g, b)
			d := uint16(2000 + 40*x + 25*y) // 0.4 m .. 1.5 m as metres × 5000
			if (x/16+y/16)%5 == 0 {
				d = 0 // holes stay 0, as in the data set
			}
			depth.SetGray16(x, y, color.Gray16{Y: d})
			depthRaw = binary.LittleEndian.AppendUint16(depthRaw, d)
		}
	}
	writePNG(t, filepath.Join(dir, "rgb.png"), rgb)
	writePNG(t, filepath.Join(dir, "depth.png"), depth)
	npyRaw(t, filepath.Join(dir, "rgb.npy"), "|u1", "96, 128, 3", rgbRaw)
	npyRaw(t, filepath.Join(dir, "depth.npy"), "<u2", "96, 128", depthRaw)

	py := exec.Command("/usr/bin/python3", filepath.Join(rosenv.RepoRoot(), "test", "fixtures", "full_r50_reference.py"), dir)
	if out, err := py.CombinedOutput(); err != nil {
		t.Fatalf("PyTorch reference (Debian python3-torch, installed by make setup): %v\n%s", err, out)
	}
	ckpt := filepath.Join(dir, "r50.ckpt")
	out, err := exec.Command(bin, "import-torch", filepath.Join(dir, "r50.pth.tar"), "--arch", "refinenet-r50", "-o", ckpt).CombinedOutput()
	if err != nil {
		t.Fatalf("cen import-torch: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "CEN refinenet-r50, 2 modalities [rgb depth], 40 classes") {
		t.Errorf("import-torch output: %s", out)
	}
	logits := filepath.Join(dir, "logits_go.npy")
	labels := filepath.Join(dir, "labels.png")
	out, err = exec.Command(bin, "predict", "--model", ckpt, "--rgb", filepath.Join(dir, "rgb.png"), "--depth", filepath.Join(dir, "depth.png"),
		"--logits", logits, "-o", labels, "--height", "96", "--width", "128").CombinedOutput()
	if err != nil {
		t.Fatalf("cen predict: %v\n%s", err, out)
	}
	got, err := npy.ReadFile(logits)
	if err != nil {
		t.Fatal(err)
	}
	want, err := npy.ReadFile(filepath.Join(dir, "logits.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Shape) != "[40 24 32]" || fmt.Sprint(want.Shape) != "[40 24 32]" {
		t.Fatalf("logits shape %v, PyTorch %v", got.Shape, want.Shape)
	}
	var maxDiff, maxRef float64
	for i, v := range want.F32 {
		maxDiff = math.Max(maxDiff, math.Abs(float64(got.F32[i]-v)))
		maxRef = math.Max(maxRef, math.Abs(float64(v)))
	}
	if maxDiff > 1e-4*maxRef {
		t.Fatalf("logits differ from PyTorch by %.3g (max |logit| %.3g): relative %.2e > 1e-4", maxDiff, maxRef, maxDiff/maxRef)
	}
	t.Logf("full-size refinenet-r50: relative logit difference %.2e", maxDiff/maxRef)
	f, err := os.Open(labels)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() != w || img.Bounds().Dy() != h {
		t.Fatalf("label PNG: %v %v", err, img.Bounds())
	}
}
