// Package modeltest builds the small networks, recipes, inputs and exported files that the tests of cen,
// cen/ort, infer and the commands share, so that each package tests the same kind of network the same way.
package modeltest

import (
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/cen/engine"
	"github.com/cen-ros/cen/preprocess"
)

// Modalities names m modalities: rgb, depth, then made-up ones.
func Modalities(m int) []string {
	names := []string{"rgb", "depth", "hha", "ir"}
	for len(names) < m {
		names = append(names, "mod"+string(rune('0'+len(names))))
	}
	return names[:m]
}

// Recipe is a recipe for a network of classes with generic class names and spec's preprocessing.
func Recipe(classes int, spec preprocess.Spec) cen.Recipe {
	cs := preprocess.GenericClasses("test", classes)
	return cen.Recipe{ClassNames: cs.Names, Palette: cs.Palette, Dataset: cs.Dataset, Preprocess: spec.Metadata()}
}

// SetRecipe gives m a generic recipe with spec's preprocessing.
func SetRecipe(t testing.TB, m *cen.Model, spec preprocess.Spec) {
	t.Helper()
	if err := m.SetRecipe(Recipe(m.Config().Classes, spec)); err != nil {
		t.Fatal(err)
	}
}

// Network builds a narrow network of arch with m modalities (7 classes) whose batch norms have random
// statistics and whose exchanging batch norms have about a third of their γ below the threshold, so that
// batch-norm folding and the exchange both change the result, with the classifier scaled so the logits spread
// over a few units (deep random networks give logits in the hundreds, where every pixel's confidence is 1 and
// arg-max ties never come near). It carries the default recipe.
func Network(t testing.TB, arch string, m int, seed uint64) *cen.Model {
	t.Helper()
	cfg := cen.DefaultConfig(arch)
	cfg.Modalities = Modalities(m)
	cfg.Classes = 7
	cfg.Width = 0.125
	if strings.HasPrefix(arch, "refinenet") {
		cfg.Width = 0.0625
	}
	model, err := cen.New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	for _, p := range model.Params() {
		isBN := strings.Contains(p.Name, ".bn_")
		switch {
		case isBN && strings.HasSuffix(p.Name, ".running_var"):
			for i := range p.Data {
				p.Data[i] = 0.5 + rng.Float32()
			}
		case isBN && strings.HasSuffix(p.Name, ".weight"):
			for i := range p.Data {
				p.Data[i] = 0.5 + rng.Float32()
			}
		case isBN || strings.HasSuffix(p.Name, ".bias"): // β, running mean, decoder biases
			for i := range p.Data {
				p.Data[i] = 0.2 * float32(rng.NormFloat64())
			}
		case p.Name == "alpha":
			for i := range p.Data {
				p.Data[i] = 0.4 * float32(i)
			}
		}
	}
	exchanged := 0
	for _, x := range model.ExchangeBNs() {
		for i := range x.Gamma {
			if rng.IntN(3) == 0 {
				x.Gamma[i] = (rng.Float32()*2 - 1) * cfg.Threshold * 0.9
				exchanged++
			}
		}
	}
	if exchanged == 0 && m > 1 {
		t.Fatal("no channel is exchanged")
	}
	ts, _ := Inputs(m, 1, 64, 64, seed)
	out, err := model.Forward(ts)
	if err != nil {
		t.Fatal(err)
	}
	var ss float64
	for _, v := range out.Ensemble.Data {
		ss += float64(v) * float64(v)
	}
	scale := float32(2 / math.Sqrt(ss/float64(len(out.Ensemble.Data))))
	for _, name := range []string{"clf_conv.weight", "clf_conv.bias"} {
		for i := range model.Param(name).Data {
			model.Param(name).Data[i] *= scale
		}
	}
	SetRecipe(t, model, preprocess.DefaultSpec())
	return model
}

// Inputs returns m standard-normal inputs [n, 3, h, w], as tensors and as their data.
func Inputs(m, n, h, w int, seed uint64) ([]*engine.Tensor, [][]float32) {
	rng := rand.New(rand.NewPCG(seed, 5))
	var ts []*engine.Tensor
	var raw [][]float32
	for i := 0; i < m; i++ {
		t := engine.NewTensor(n, 3, h, w)
		for j := range t.Data {
			t.Data[j] = float32(rng.NormFloat64())
		}
		ts = append(ts, t)
		raw = append(raw, t.Data)
	}
	return ts, raw
}

// RelErr is max|got−want| / max|want|.
func RelErr(got, want []float32) float64 {
	var d, r float64
	for i := range want {
		d = math.Max(d, math.Abs(float64(got[i]-want[i])))
		r = math.Max(r, math.Abs(float64(want[i])))
	}
	return d / r
}

// CheckONNX runs the ONNX checker (Debian's python3-onnx, full check) on path. A missing checker fails the
// test: `make setup` installs it.
func CheckONNX(t testing.TB, path string) {
	t.Helper()
	out, err := exec.Command("/usr/bin/python3", "-c",
		"import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ONNX checker rejects %s (python3-onnx is installed by `make setup`): %v\n%s", path, err, out)
	}
}

// Export writes m as model.onnx in a temporary folder, checks it with the ONNX checker and returns its path.
func Export(t testing.TB, m *cen.Model, opt cen.ExportOptions) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.onnx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ExportONNX(f, opt); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	CheckONNX(t, path)
	return path
}

// Checkpoint saves m into a temporary folder and returns the path.
func Checkpoint(t testing.TB, m *cen.Model) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.ckpt")
	if err := m.SaveCheckpoint(path, nil, nil); err != nil {
		t.Fatal(err)
	}
	return path
}
