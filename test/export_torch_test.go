package test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cen-ros/cen/cen"
)

// TestExportTorchThenImportTorchGivesTheSameModel takes official-format fixtures through import-torch,
// export-torch and import-torch again: the exported file has the keys PyTorch wrote, and the second checkpoint
// describes the same network with the same weights, bit for bit.
func TestExportTorchThenImportTorchGivesTheSameModel(t *testing.T) {
	for _, c := range []struct{ fixture, arch, width, entries string }{
		{"r50_m2", "refinenet-r50", "0.03125", "672 state_dict entries"},
		{"lite18_m2", "lite-r18", "0.125", "state_dict entries"},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(fixtures, c.fixture, "model.pth")
			first, second, pth := filepath.Join(dir, "a.ckpt"), filepath.Join(dir, "b.ckpt"), filepath.Join(dir, "run.pth.tar")
			if out, code := runCen(t, os.Environ(), "import-torch", src, "--arch", c.arch, "--width", c.width, "--dataset", "test", "-o", first); code != 0 {
				t.Fatalf("import-torch (exit %d):\n%s", code, out)
			}
			out, code := runCen(t, os.Environ(), "export-torch", first, "-o", pth, "--epoch", "12", "--best-val", "47.5")
			if code != 0 || !strings.Contains(out, "wrote "+pth+": official CEN checkpoint of "+c.arch+" (width "+c.width+"), 2 modalities [rgb depth], 7 classes, ") ||
				!strings.Contains(out, c.entries+"; epoch_start 12, best_val 47.5") {
				t.Fatalf("export-torch (exit %d):\n%s", code, out)
			}
			// The width is not the paper's: the command says the official code cannot build this network.
			if !strings.Contains(out, "note: the official code builds only refinenet-r50/101/152 at width 1") {
				t.Errorf("export-torch does not say the official code cannot build a narrow network:\n%s", out)
			}
			exported, err := cen.ReadTorch(pth)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := cen.ReadTorch(src)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(exported.Keys, ",") != strings.Join(ref.Keys, ",") || exported.Wrapper != "segmenter" ||
				exported.Extra["epoch_start"] != "12" || exported.Extra["best_val"] != "47.5" {
				t.Errorf("exported file: %d keys (PyTorch's file %d), wrapper %q, extra %v", len(exported.Keys), len(ref.Keys), exported.Wrapper, exported.Extra)
			}
			if out, code := runCen(t, os.Environ(), "import-torch", pth, "--arch", c.arch, "--width", c.width, "--dataset", "test", "-o", second); code != 0 {
				t.Fatalf("import-torch of the exported file (exit %d):\n%s", code, out)
			}
			var infos [2]string
			for i, ckpt := range []string{first, second} {
				out, code := runCen(t, os.Environ(), "info", ckpt)
				if code != 0 {
					t.Fatalf("info %s (exit %d):\n%s", ckpt, code, out)
				}
				infos[i] = out[strings.Index(out, "\n")+1:] // all but the line naming the file
			}
			if infos[0] != infos[1] {
				t.Errorf("cen info differs after the round trip:\n%s\nvs\n%s", infos[0], infos[1])
			}
			sameWeights(t, first, second)
		})
	}
}

// sameWeights requires two checkpoints to hold bit-equal tensors and equal counters.
func sameWeights(t *testing.T, a, b string) {
	t.Helper()
	ma, _, err := cen.LoadCheckpoint(a)
	if err != nil {
		t.Fatal(err)
	}
	mb, _, err := cen.LoadCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ma.Params()) != len(mb.Params()) || len(ma.Counters()) != len(mb.Counters()) {
		t.Fatalf("%d tensors and %d counters, then %d and %d", len(ma.Params()), len(ma.Counters()), len(mb.Params()), len(mb.Counters()))
	}
	for i, p := range ma.Params() {
		q := mb.Params()[i]
		if q.Name != p.Name || len(q.Data) != len(p.Data) {
			t.Fatalf("tensor %d: %s then %s", i, p.Name, q.Name)
		}
		for j := range p.Data {
			if math.Float32bits(p.Data[j]) != math.Float32bits(q.Data[j]) {
				t.Fatalf("%s[%d]: %g then %g", p.Name, j, p.Data[j], q.Data[j])
			}
		}
	}
	for i, c := range ma.Counters() {
		if d := mb.Counters()[i]; d.Name != c.Name || d.Value != c.Value {
			t.Fatalf("counter %s = %d then %s = %d", c.Name, c.Value, d.Name, d.Value)
		}
	}
}

// TestExportTorchTakesEpochAndBestValFromTheTrainingState: without flags the training state's epoch and
// best_miou go into the file; a flag overrides its field.
func TestExportTorchTakesEpochAndBestValFromTheTrainingState(t *testing.T) {
	dir := t.TempDir()
	ckpt := trainedCheckpoint(t, dir, `{"epoch": 34, "best_miou": 41.25, "step": 4488}`)
	for _, c := range []struct {
		flags       []string
		epoch, best string
	}{
		{nil, "34", "41.25"},
		{[]string{"--epoch", "5"}, "5", "41.25"},
		{[]string{"--best-val", "0"}, "34", "0"},
	} {
		pth := filepath.Join(dir, "run.pth.tar")
		out, code := runCen(t, os.Environ(), append([]string{"export-torch", ckpt, "-o", pth}, c.flags...)...)
		if code != 0 || !strings.Contains(out, "epoch_start "+c.epoch+", best_val "+c.best) {
			t.Fatalf("export-torch %v (exit %d):\n%s", c.flags, code, out)
		}
		tf, err := cen.ReadTorch(pth)
		if err != nil {
			t.Fatal(err)
		}
		if tf.Extra["epoch_start"] != c.epoch || tf.Extra["best_val"] != c.best {
			t.Errorf("export-torch %v wrote %v, want epoch_start %s, best_val %s", c.flags, tf.Extra, c.epoch, c.best)
		}
	}
}

// trainedCheckpoint writes the lite18_m2 fixture as a checkpoint with the given training state.
func trainedCheckpoint(t *testing.T, dir, state string) string {
	t.Helper()
	imported := filepath.Join(dir, "imported.ckpt")
	if out, code := runCen(t, os.Environ(), "import-torch", filepath.Join(fixtures, "lite18_m2", "model.pth"), "--arch", "lite-r18", "--width", "0.125", "--dataset", "test", "-o", imported); code != 0 {
		t.Fatalf("import-torch (exit %d):\n%s", code, out)
	}
	m, _, err := cen.LoadCheckpoint(imported)
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "trained.ckpt")
	if err := m.SaveCheckpoint(ckpt, json.RawMessage(state), nil); err != nil {
		t.Fatal(err)
	}
	return ckpt
}

func TestExportTorchNamesWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.ckpt")
	if err := os.WriteFile(junk, []byte("this is not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	halfEpoch := trainedCheckpoint(t, dir, `{"epoch": 3.5}`)
	good := filepath.Join(dir, "imported.ckpt")
	out := filepath.Join(dir, "out.pth.tar")
	pyTorchFile := filepath.Join(fixtures, "r50_m2", "model.pth")
	onnx := filepath.Join(dir, "m.onnx")
	if got, code := runCen(t, os.Environ(), "export", good, "-o", onnx); code != 0 {
		t.Fatalf("export (exit %d):\n%s", code, got)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"export-torch", filepath.Join(dir, "none.ckpt"), "-o", out}, "none.ckpt"},
		{[]string{"export-torch", junk, "-o", out}, junk + " is neither a cen checkpoint nor an ONNX model"},
		{[]string{"export-torch", pyTorchFile, "-o", out}, pyTorchFile + " is a PyTorch file"},
		{[]string{"export-torch", onnx, "-o", out}, onnx + " is an ONNX model, not a cen checkpoint"},
		{[]string{"export-torch", good}, "missing -o OUT.pth.tar"},
		{[]string{"export-torch", "-o", out}, "missing file argument"},
		{[]string{"export-torch", good, "-o", filepath.Join(dir, "no", "such", "dir", "x.pth.tar")}, filepath.Join(dir, "no", "such", "dir", "x.pth.tar")},
		{[]string{"export-torch", good, "-o", out, "--epoch", "-1"}, "--epoch -1"},
		{[]string{"export-torch", halfEpoch, "-o", out}, halfEpoch + ": its training state has epoch 3.5, not a whole number"},
	}
	for _, c := range cases {
		got, code := runCen(t, os.Environ(), c.args...)
		if code == 0 || !strings.Contains(got, c.want) {
			t.Errorf("cen %s: exit %d, output lacks %q:\n%s", strings.Join(c.args, " "), code, c.want, got)
		}
		if strings.Contains(got, "panic") || strings.Count(strings.TrimSpace(got), "\n") > 0 {
			t.Errorf("cen %s: expected one line of error, got:\n%s", strings.Join(c.args, " "), got)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed export left %s behind (%v)", out, err)
	}
}
