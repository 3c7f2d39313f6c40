package test

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/internal/modeltest"
	"github.com/cen-ros/cen/preprocess"
	"github.com/cen-ros/cen/synth"
	"github.com/cen-ros/cen/test/rosenv"
)

// synthModel exports an untrained lite-r18 (1/8 width) for the synthetic scenes' 12 classes at h×w.
func synthModel(t *testing.T, h, w int) string {
	t.Helper()
	cfg := cen.DefaultConfig("lite-r18")
	cfg.Width, cfg.Classes = 0.125, len(synth.ClassNames)
	m, err := cen.New(cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	spec := preprocess.DefaultSpec()
	spec.Height, spec.Width = h, w
	if err := m.SetRecipe(cen.Recipe{ClassNames: synth.ClassNames, Palette: synth.Palette, Dataset: "synthetic", Preprocess: spec.Metadata()}); err != nil {
		t.Fatal(err)
	}
	return modeltest.Export(t, m, cen.ExportOptions{Height: h, Width: w})
}

// TestEvalOfABagEqualsPredictFrameByFrame evaluates a synthetic bag offline and compares its confusion matrix
// with cen predict run on each frame's images and scored by NumPy (bincount of ground truth × prediction).
func TestEvalOfABagEqualsPredictFrameByFrame(t *testing.T) {
	dir := t.TempDir()
	const n, h, w = 6, 96, 128
	model := synthModel(t, h, w)
	bag := filepath.Join(dir, "s.bag")
	if out, code := runCen(t, os.Environ(), "synth", "--bag", bag, "--n", fmt.Sprint(n), "--size", fmt.Sprintf("%dx%d", h, w), "--seed", "2"); code != 0 {
		t.Fatalf("synth --bag: %s", out)
	}
	js := filepath.Join(dir, "r.json")
	out, code := runCen(t, os.Environ(), "eval", "--model", model, "--bag", bag, "--json", js, "--report", filepath.Join(dir, "report"))
	if code != 0 {
		t.Fatalf("eval (exit %d):\n%s", code, out)
	}
	var res struct {
		FramesScored int                   `json:"frames_scored"`
		Skipped      map[string]int        `json:"frames_skipped"`
		Confusion    []uint64              `json:"confusion"`
		MIoU         *float64              `json:"miou"`
		Latency      struct{ P50 float64 } `json:"latency_ms"`
	}
	b, _ := os.ReadFile(js)
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	// The approximate policy holds the last pair back (nothing later proves it optimal).
	if res.FramesScored != n-1 || res.Skipped["colour message still unpaired at the end of the bag"] != 1 || res.MIoU == nil || res.Latency.P50 <= 0 {
		t.Fatalf("result %+v", res)
	}
	// With a lower bound under the bag's 100 ms between frames (the node's ~inter_message_lower_bound), the
	// last pair is proven without a later frame.
	bounded := filepath.Join(dir, "bounded.json")
	if o, code := runCen(t, os.Environ(), "eval", "--model", model, "--bag", bag, "--json", bounded, "--inter-message-lower-bound", "50ms"); code != 0 {
		t.Fatalf("eval --inter-message-lower-bound (exit %d):\n%s", code, o)
	}
	var withBound struct {
		FramesScored int            `json:"frames_scored"`
		Skipped      map[string]int `json:"frames_skipped"`
	}
	if b, err := os.ReadFile(bounded); err != nil || json.Unmarshal(b, &withBound) != nil || withBound.FramesScored != n || len(withBound.Skipped) != 0 {
		t.Fatalf("eval with a 50 ms lower bound: %+v (%v), want all %d frames scored", withBound, err, n)
	}
	var gts, preds []string
	for i := 0; i < res.FramesScored; i++ {
		f, err := synth.Render(2, i, h, w)
		if err != nil {
			t.Fatal(err)
		}
		rgb := image.NewNRGBA(image.Rect(0, 0, w, h))
		depth := image.NewGray16(image.Rect(0, 0, w, h))
		gt := image.NewGray(image.Rect(0, 0, w, h))
		for j := 0; j < w*h; j++ {
			rgb.SetNRGBA(j%w, j/w, color.NRGBA{f.RGB.Pix[3*j], f.RGB.Pix[3*j+1], f.RGB.Pix[3*j+2], 255})
			depth.SetGray16(j%w, j/w, color.Gray16{Y: uint16(f.Depth.Pix[j]*1000 + 0.5)}) // the bag's millimetres
			gt.Pix[j] = f.Labels[j]
		}
		rp, dp := filepath.Join(dir, fmt.Sprintf("rgb%d.png", i)), filepath.Join(dir, fmt.Sprintf("depth%d.png", i))
		gp, lp := filepath.Join(dir, fmt.Sprintf("gt%d.png", i)), filepath.Join(dir, fmt.Sprintf("pred%d.png", i))
		writePNG(t, rp, rgb)
		writePNG(t, dp, depth)
		writePNG(t, gp, gt)
		if o, code := runCen(t, os.Environ(), "predict", "--model", model, "--rgb", rp, "--depth", dp, "--depth-unit", "mm", "-o", lp); code != 0 {
			t.Fatalf("predict frame %d: %s", i, o)
		}
		gts, preds = append(gts, gp), append(preds, lp)
	}
	py := `import json, sys, numpy as np, zlib, struct
def png8(path):
    data = open(path, 'rb').read()
    pos, chunks, w, h = 8, b'', 0, 0
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos+8]); body = data[pos+8:pos+8+n]; pos += 12 + n
        if kind == b'IHDR': w, h, depth, ctype = struct.unpack('>IIBB', body[:10]); assert depth == 8 and ctype == 0
        elif kind == b'IDAT': chunks += body
    raw, out, prev = zlib.decompress(chunks), np.zeros((h, w), np.int64), np.zeros(w, np.int64)
    for y in range(h):
        f, row = raw[y*(w+1)], np.frombuffer(raw[y*(w+1)+1:(y+1)*(w+1)], np.uint8).astype(np.int64)
        if f == 1:
            for x in range(1, w): row[x] = (row[x] + row[x-1]) % 256
        elif f == 2: row = (row + prev) % 256
        elif f == 3:
            for x in range(w): row[x] = (row[x] + ((row[x-1] if x else 0) + prev[x]) // 2) % 256
        elif f == 4:
            for x in range(w):
                a, b, c = (row[x-1] if x else 0), prev[x], (prev[x-1] if x else 0)
                p = a + b - c; pa, pb, pc = abs(p-a), abs(p-b), abs(p-c)
                row[x] = (row[x] + (a if pa <= pb and pa <= pc else (b if pb <= pc else c))) % 256
        out[y], prev = row, row
    return out
k = int(sys.argv[1]); n = (len(sys.argv) - 2) // 2
conf = np.zeros(k * k, np.int64)
for gp, pp in zip(sys.argv[2:2+n], sys.argv[2+n:]):
    g, p = png8(gp).ravel(), png8(pp).ravel()
    keep = g < k
    conf += np.bincount(k * g[keep] + p[keep], minlength=k * k)
print(json.dumps(conf.tolist()))`
	args := append([]string{"-c", py, fmt.Sprint(len(synth.ClassNames))}, append(gts, preds...)...)
	pyOut, err := exec.Command("/usr/bin/python3", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy scoring: %v\n%s", err, pyOut)
	}
	var want []uint64
	if err := json.Unmarshal(pyOut, &want); err != nil {
		t.Fatalf("%v: %s", err, pyOut)
	}
	if fmt.Sprint(want) != fmt.Sprint(res.Confusion) {
		t.Fatalf("eval's confusion matrix\n%v\nNumPy on cen predict's labels\n%v", res.Confusion, want)
	}
	for _, f := range []string{"index.html", "confusion.png", "samples.png", "latency.png", "report.json", "overlays"} {
		if _, err := os.Stat(filepath.Join(dir, "report", f)); err != nil {
			t.Errorf("report: %v", err)
		}
	}
	if !strings.Contains(out, "frames scored") {
		t.Errorf("eval output: %s", out)
	}
}

// TestEvalOfATruncatedBagScoresTheFramesBeforeTheDamage cuts a synthetic bag part-way through a chunk: cen
// eval names the file and the offset of the damage, exits non-zero, and still scores and reports the frames
// of the chunks before it, with the same confusion matrix as the intact bag gives over those frames.
func TestEvalOfATruncatedBagScoresTheFramesBeforeTheDamage(t *testing.T) {
	dir := t.TempDir()
	const n, h, w = 30, 96, 128
	model := synthModel(t, h, w)
	bag := filepath.Join(dir, "s.bag")
	if out, code := runCen(t, os.Environ(), "synth", "--bag", bag, "--n", fmt.Sprint(n), "--size", fmt.Sprintf("%dx%d", h, w), "--seed", "4"); code != 0 {
		t.Fatalf("synth --bag: %s", out)
	}
	data, err := os.ReadFile(bag)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.bag")
	if err := os.WriteFile(cut, data[:len(data)*7/10], 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		FramesScored int      `json:"frames_scored"`
		Confusion    []uint64 `json:"confusion"`
		Error        string   `json:"error"`
	}
	eval := func(path string, wantCode int) (result, string) {
		js := filepath.Join(dir, filepath.Base(path)+".json")
		out, code := runCen(t, os.Environ(), "eval", "--model", model, "--bag", path, "--json", js, "--report", filepath.Join(dir, filepath.Base(path)+".report"), "--samples", "2")
		if code != wantCode {
			t.Fatalf("eval %s: exit %d, want %d:\n%s", path, code, wantCode, out)
		}
		var r result
		b, err := os.ReadFile(js)
		if err != nil {
			t.Fatalf("eval %s wrote no JSON: %v\n%s", path, err, out)
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r, out
	}
	damaged, out := eval(cut, 1)
	if strings.Count(out, "panic") > 0 || !strings.Contains(out, cut) || !regexp.MustCompile(`(byte|offset) \d+`).MatchString(out) {
		t.Fatalf("eval of the truncated bag should name the file and the offset:\n%s", out)
	}
	if damaged.FramesScored < 5 || damaged.FramesScored >= n-1 || damaged.Error == "" || !strings.Contains(damaged.Error, cut) {
		t.Fatalf("truncated bag: %d frames scored (of %d), error %q", damaged.FramesScored, n, damaged.Error)
	}
	if _, err := os.Stat(filepath.Join(dir, "cut.bag.report", "index.html")); err != nil {
		t.Fatalf("no report for the frames read: %v", err)
	}
	// The intact bag, scored only over the frames the damaged one reached, gives the same matrix.
	js := filepath.Join(dir, "first.json")
	if o, code := runCen(t, os.Environ(), "eval", "--model", model, "--bag", bag, "--json", js, "--frames", fmt.Sprint(damaged.FramesScored)); code != 0 {
		t.Fatalf("eval --frames: %s", o)
	}
	var first result
	b, _ := os.ReadFile(js)
	if err := json.Unmarshal(b, &first); err != nil {
		t.Fatal(err)
	}
	if first.FramesScored != damaged.FramesScored || fmt.Sprint(first.Confusion) != fmt.Sprint(damaged.Confusion) {
		t.Fatalf("first %d frames of the intact bag: %v\ntruncated bag's %d frames: %v", first.FramesScored, first.Confusion, damaged.FramesScored, damaged.Confusion)
	}
}

// TestInt8CalibratedOnABagScoresLikeFloat makes the int8 version of the shipped model with activation scales
// measured on a synthetic bag's colour/depth pairs (`cen export --int8 --calibrate BAG`, the pairs read as the
// node reads them), then evaluates both versions on the bag: int8 must score within a point of fp32. A topic
// the bag does not have gives one error naming it.
func TestInt8CalibratedOnABagScoresLikeFloat(t *testing.T) {
	dir := t.TempDir()
	bag := filepath.Join(dir, "drive.bag")
	if out, code := runCen(t, os.Environ(), "synth", "--bag", bag, "--n", "12", "--size", "120x160", "--seed", "5"); code != 0 {
		t.Fatalf("synth --bag: %s", out)
	}
	shipped := filepath.Join(rosenv.RepoRoot(), "models", "synthetic-lite-r18.onnx")
	q := filepath.Join(dir, "int8.onnx")
	out, code := runCen(t, os.Environ(), "export", shipped, "--int8", "--calibrate", bag, "--calib-frames", "4", "-o", q)
	if code != 0 || !strings.Contains(out, "activation scales from 4 frames of "+bag) {
		t.Fatalf("export --int8 --calibrate %s: exit %d\n%s", bag, code, out)
	}
	miou := func(model string) (float64, int) {
		js := filepath.Join(dir, filepath.Base(model)+".json")
		if out, code := runCen(t, os.Environ(), "eval", "--model", model, "--bag", bag, "--json", js); code != 0 {
			t.Fatalf("eval %s: %s", model, out)
		}
		var r struct {
			MIoU   float64 `json:"miou"`
			Scored int     `json:"frames_scored"`
		}
		b, err := os.ReadFile(js)
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil {
			t.Fatal(err)
		}
		return r.MIoU, r.Scored
	}
	fm, fn := miou(shipped)
	qm, qn := miou(q)
	t.Logf("mIoU on the bag: fp32 %.2f, int8 %.2f (%d frames)", fm, qm, qn)
	if qn != fn || qn == 0 || math.Abs(qm-fm) > 1 {
		t.Errorf("int8 calibrated on the bag: mIoU %.2f on %d frames, fp32 %.2f on %d", qm, qn, fm, fn)
	}
	out, code = runCen(t, os.Environ(), "export", shipped, "--int8", "--calibrate", bag, "--rgb-topic", "/nope/image_raw", "-o", filepath.Join(dir, "x.onnx"))
	if code == 0 || !strings.Contains(out, "/nope/image_raw") || strings.Count(strings.TrimSpace(out), "\n") > 0 {
		t.Errorf("a missing colour topic: exit %d, want one line naming it:\n%s", code, out)
	}
}
