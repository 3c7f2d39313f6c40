package cen

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/gopickle/pytorch"
)

// TestImportTorchAcceptsEveryStateDictForm loads the same weights saved in the forms PyTorch users produce and
// checks that each gives the network of the official checkpoint.
func TestImportTorchAcceptsEveryStateDictForm(t *testing.T) {
	ref, _ := loadFixture(t, filepath.Join(fixtures, "r50_m2"))
	for _, c := range []struct {
		file    string
		tol     float64
		wrapper string
	}{
		{"plain.pth", 0, ""},
		{"legacy.pth", 0, "segmenter"},
		{"keepvars.pth", 0, ""},
		{"fp16.pth", 1e-3, ""}, // float16 keeps 11 significant bits
	} {
		t.Run(c.file, func(t *testing.T) {
			tf, err := ReadTorch(filepath.Join(fixtures, "import", c.file))
			if err != nil {
				t.Fatal(err)
			}
			if tf.Wrapper != c.wrapper {
				t.Errorf("wrapper %q, want %q", tf.Wrapper, c.wrapper)
			}
			if c.file == "legacy.pth" && tf.Extra["epoch_start"] != "7" {
				t.Errorf("epoch_start %q, want 7", tf.Extra["epoch_start"])
			}
			m := smallModel(t, "refinenet-r50", 2, 7, 1.0/32)
			rep, err := ImportTorch(m, tf)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Kind != "cen" || rep.Loaded != len(m.Params()) {
				t.Fatalf("report %+v", rep)
			}
			for _, p := range ref.Params() {
				if e := relErr(m.Param(p.Name).Data, p.Data); e > c.tol {
					t.Fatalf("%s differs by %.2e", p.Name, e)
				}
			}
		})
	}
}

// TestImportTorchvisionInitialisesEveryModalityFromImageNetBN: as the official code, the shared convolutions come
// from the ImageNet ResNet and every modality's batch norm from its one batch norm; the decoder keeps its
// initialisation.
func TestImportTorchvisionInitialisesEveryModalityFromImageNetBN(t *testing.T) {
	tf, err := ReadTorch(filepath.Join(fixtures, "import", "torchvision.pth"))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := loadFixture(t, filepath.Join(fixtures, "r50_m2"))
	m := smallModel(t, "refinenet-r50", 3, 7, 1.0/32)
	dec := append([]float32(nil), m.Param("clf_conv.weight").Data...)
	rep, err := ImportTorch(m, tf)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != "torchvision" || len(rep.Skipped) != 2 || rep.Initialised == 0 {
		t.Fatalf("report %+v", rep)
	}
	for _, name := range []string{"conv1.weight", "layer2.0.downsample.0.weight", "layer4.2.conv3.weight"} {
		if relErr(m.Param(name).Data, ref.Param(name).Data) != 0 {
			t.Errorf("%s was not copied from the ImageNet weights", name)
		}
	}
	for _, bn := range []string{"bn1", "layer1.0.bn2", "layer3.5.bn3"} {
		for _, field := range []string{"weight", "bias", "running_mean", "running_var"} {
			want := ref.Param(bn + ".bn_0." + field).Data
			for mod := 0; mod < 3; mod++ {
				if relErr(m.Param(bn+".bn_"+itoa(mod)+"."+field).Data, want) != 0 {
					t.Errorf("%s.bn_%d.%s is not the ImageNet batch norm", bn, mod, field)
				}
			}
		}
	}
	if relErr(m.Param("clf_conv.weight").Data, dec) != 0 {
		t.Error("the decoder was overwritten")
	}
}

func TestImportTorchRefusesWhatIsNotAStateDict(t *testing.T) {
	dir := t.TempDir()
	trunc := filepath.Join(dir, "trunc.pth")
	raw, _ := os.ReadFile(filepath.Join(fixtures, "import", "plain.pth"))
	os.WriteFile(trunc, raw[:len(raw)/2], 0o644)
	junk := filepath.Join(dir, "junk.pth")
	os.WriteFile(junk, []byte("not a pickle"), 0o644)
	cases := []struct{ path, want string }{
		{filepath.Join(fixtures, "import", "torchscript.pt"), "is a TorchScript archive"},
		{filepath.Join(fixtures, "import", "module.pt"), "holds a pickled Python module"},
		{trunc, "is truncated"},
		{junk, "trunc"},
		{filepath.Join(dir, "missing.pth"), "no such file"},
	}
	cases[3].want = "junk.pth"
	for _, c := range cases {
		_, err := ReadTorch(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", filepath.Base(c.path), err, c.want)
		}
	}
}

func TestImportTorchIntoWrongArchitectureNamesTheTensor(t *testing.T) {
	tf, err := ReadTorch(filepath.Join(fixtures, "r50_m2", "model.pth"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ImportTorch(smallModel(t, "refinenet-r101", 2, 7, 1.0/32), tf)
	if err == nil || !strings.Contains(err.Error(), "no tensor for layer3.6.conv1.weight") {
		t.Errorf("r50 checkpoint into r101: %v", err)
	}
	_, err = ImportTorch(smallModel(t, "refinenet-r50", 2, 40, 1.0/32), tf)
	if err == nil || !strings.Contains(err.Error(), "module.clf_conv.module.weight is [7 8 3 3] in the checkpoint but clf_conv.weight is [40 8 3 3]") {
		t.Errorf("7-class checkpoint into 40 classes: %v", err)
	}
}

// TestParseTorchReadsTinyFilesInBothFormats reads the same small state dict from a zip-format and a
// legacy-format file (test/fixtures/gen_torch_seeds.py): float32, float16, an int64 counter and a transposed
// view, in file order.
func TestParseTorchReadsTinyFilesInBothFormats(t *testing.T) {
	var first *TorchFile
	for _, name := range []string{"tiny_zip.pth", "tiny_legacy.pth"} {
		tf, err := ReadTorch(filepath.Join(fixtures, "import", name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Join(tf.Keys, " ") != "a.weight a.bias a.num_batches_tracked b.weight" {
			t.Fatalf("%s: keys %v", name, tf.Keys)
		}
		if n := tf.Tensors["a.num_batches_tracked"].I64; len(n) != 1 || n[0] != 5 {
			t.Fatalf("%s: counter %v", name, n)
		}
		if s := tf.Tensors["b.weight"].Shape; len(s) != 2 || s[0] != 2 || s[1] != 3 {
			t.Fatalf("%s: transposed view has shape %v", name, s)
		}
		if first == nil {
			first = tf
			continue
		}
		for _, k := range tf.Keys {
			if relErr(tf.Tensors[k].F32, first.Tensors[k].F32) != 0 && tf.Tensors[k].F32 != nil {
				t.Errorf("%s differs between the formats", k)
			}
		}
	}
	// b.weight is the transpose of a 3×2 tensor: element (i, j) of the view is element (j, i) of the storage.
	b := first.Tensors["b.weight"].F32
	if len(b) != 6 {
		t.Fatalf("b.weight has %d values", len(b))
	}
}

// TestMaterialiseRefusesViewsThatAreNotStoredTensors holds the stride checks that keep a corrupt pickle from
// panicking: a zero (broadcast) stride, a stride whose extent overflows, a negative offset, a view past its
// storage, and a size whose product overflows.
func TestMaterialiseRefusesViewsThatAreNotStoredTensors(t *testing.T) {
	st := &pytorch.FloatStorage{Data: make([]float32, 8)}
	for _, tc := range []struct {
		name         string
		size, stride []int
		offset       int
		want         string
	}{
		{"zero stride", []int{4, 2}, []int{0, 1}, 0, "is not a stored tensor"},
		{"negative stride", []int{2}, []int{-1}, 1, "is not a stored tensor"},
		{"overflowing stride", []int{3}, []int{math.MaxInt / 2}, 0, "runs past its storage"},
		{"negative offset", []int{2}, []int{1}, -3, "negative storage offset"},
		{"past the storage", []int{3, 3}, []int{3, 1}, 0, "runs past its storage"},
		{"overflowing size", []int{1 << 40, 1 << 40}, []int{1, 1}, 0, "more than"},
		{"rank mismatch", []int{2, 2}, []int{1}, 0, "does not match size"},
	} {
		_, err := materialise(&pytorch.Tensor{Source: st, Size: tc.size, Stride: tc.stride, StorageOffset: tc.offset})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := ReadTorch(filepath.Join(fixtures, "import", "broadcast.pth")); err == nil || !strings.Contains(err.Error(), "stride [0 1] is not a stored tensor") {
		t.Errorf("a tensor saved from expand(): %v", err)
	}
}

// hugeLengthPickles are pickles whose declared lengths run far past their bytes, each opcode that carries
// a length: 8-byte string lengths of a terabyte (gopickle would allocate them before reading), a frame of a
// terabyte, a 4-byte string length, a 1-byte one, and a GLOBAL without its end of line.
func hugeLengthPickles() map[string][]byte {
	tb := []byte{0, 0, 0, 0, 0, 1, 0, 0} // 2^40, little-endian
	return map[string][]byte{
		"BINBYTES8":        append(append([]byte{0x80, 0x04, 0x8e}, tb...), "abc."...),
		"BINUNICODE8":      append(append([]byte{0x80, 0x04, 0x8d}, tb...), "abc."...),
		"FRAME":            append(append([]byte{0x80, 0x04, 0x95}, tb...), "K\x01."...),
		"BINUNICODE":       []byte("\x80\x02X\xff\xff\xff\x7fabc."),
		"SHORT_BINUNICODE": []byte("\x80\x02\x8c\x09abc"),
		"GLOBAL":           []byte("\x80\x02ctorch"),
	}
}

// TestCorruptPickleLengthsGiveAnError feeds those pickles to checkPickle, then as legacy and zip checkpoints
// to ParseTorch: each must be refused as truncated. (Before checkPickle, the first three ended the whole
// process: "fatal error: runtime: out of memory", which no recover catches.)
func TestCorruptPickleLengthsGiveAnError(t *testing.T) {
	if err := checkPickle([]byte("\x80\x02}q\x00X\x01\x00\x00\x00aK\x05s.")); err != nil {
		t.Fatalf("a valid pickle: %v", err)
	}
	zipped := func(pkl []byte) []byte {
		var b bytes.Buffer
		z := zip.NewWriter(&b)
		w, _ := z.CreateHeader(&zip.FileHeader{Name: "archive/data.pkl", Method: zip.Store})
		w.Write(pkl)
		z.Close()
		return b.Bytes()
	}
	for name, pkl := range hugeLengthPickles() {
		if err := checkPickle(pkl); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: checkPickle gave %v, want a truncation", name, err)
		}
		for format, file := range map[string][]byte{"legacy": append(append([]byte(nil), legacyMagic...), pkl...), "zip": zipped(pkl)} {
			if _, err := ParseTorch(file); err == nil || !strings.Contains(err.Error(), "truncated") {
				t.Errorf("%s in a %s checkpoint: %v, want it called truncated", name, format, err)
			}
		}
	}
}

// FuzzParseTorch feeds arbitrary bytes, seeded with tiny files of both torch.save formats, to the PyTorch
// reader: it must return a state dict or an error, never panic or allocate beyond the input's size.
func FuzzParseTorch(f *testing.F) {
	for _, name := range []string{"tiny_zip.pth", "tiny_legacy.pth", "broadcast.pth", "module.pt"} {
		b, err := os.ReadFile(filepath.Join(fixtures, "import", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, pkl := range hugeLengthPickles() {
		f.Add(append(append([]byte(nil), legacyMagic...), pkl...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tf, err := ParseTorch(data)
		if err != nil {
			return
		}
		for _, k := range tf.Keys {
			if len(tf.Tensors[k].F32)+len(tf.Tensors[k].I64) > 64*len(data)+64 {
				t.Fatalf("tensor %s has %d values from %d bytes", k, len(tf.Tensors[k].F32), len(data))
			}
		}
	})
}
