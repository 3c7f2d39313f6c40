package cen

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// officialCases are the fixtures written by torch.save of official-format state dicts (test/fixtures/README.md).
var officialCases = []string{"r50_m1", "r50_m2", "r50_m3", "lite18_m2", "lite34_m3"}

// TestOfficialKeyInvertsCanonicalNameOnEveryFixtureKey holds the name map to every key of files PyTorch wrote.
func TestOfficialKeyInvertsCanonicalNameOnEveryFixtureKey(t *testing.T) {
	for _, name := range officialCases {
		tf, err := ReadTorch(filepath.Join(fixtures, name, "model.pth"))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range tf.Keys {
			if got := OfficialKey(CanonicalName(k)); got != k {
				t.Errorf("%s: OfficialKey(%q) = %q, want %q", name, CanonicalName(k), got, k)
			}
		}
	}
	for name, want := range map[string]string{
		"layer1.0.conv1.weight":                       "module.layer1.0.conv1.module.weight",
		"clf_conv.bias":                               "module.clf_conv.module.bias",
		"layer1.0.bn2.bn_1.weight":                    "module.layer1.0.bn2.bn_1.weight",
		"layer4.0.downsample.1.bn_12.bias":            "module.layer4.0.downsample.1.bn_12.bias",
		"layer4.0.downsample.0.weight":                "module.layer4.0.downsample.0.module.weight",
		"bn1.bn_0.num_batches_tracked":                "module.bn1.bn_0.num_batches_tracked",
		"adapt_stage1_b.0.1_conv.bias":                "module.adapt_stage1_b.0.1_conv.module.bias",
		"mflow_conv_g1_pool.0.4_outvar_dimred.weight": "module.mflow_conv_g1_pool.0.4_outvar_dimred.module.weight",
		"alpha": "module.alpha",
	} {
		if got := OfficialKey(name); got != want {
			t.Errorf("OfficialKey(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestWriteTorchHasTheKeysOrderAndShapesOfPyTorchsFiles writes each fixture's network and compares the state
// dict with the one torch.save wrote for the same network: the same keys in the same order, the same shapes and
// the same element types.
func TestWriteTorchHasTheKeysOrderAndShapesOfPyTorchsFiles(t *testing.T) {
	for _, name := range officialCases {
		t.Run(name, func(t *testing.T) {
			ref, err := ReadTorch(filepath.Join(fixtures, name, "model.pth"))
			if err != nil {
				t.Fatal(err)
			}
			m, _ := loadFixture(t, filepath.Join(fixtures, name))
			var buf bytes.Buffer
			if err := m.WriteTorch(&buf, 0, 0); err != nil {
				t.Fatal(err)
			}
			got, err := ParseTorch(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if got.Wrapper != "segmenter" || got.Extra["epoch_start"] != "0" || got.Extra["best_val"] != "0" {
				t.Errorf("wrapper %q, extra %v", got.Wrapper, got.Extra)
			}
			if strings.Join(got.Keys, "\n") != strings.Join(ref.Keys, "\n") {
				t.Fatalf("keys differ from PyTorch's: %d written, %d in the fixture", len(got.Keys), len(ref.Keys))
			}
			for _, k := range ref.Keys {
				g, r := got.Tensors[k], ref.Tensors[k]
				if !sameShape(g.Shape, r.Shape) || (g.I64 == nil) != (r.I64 == nil) {
					t.Errorf("%s: shape %v (integer %v), PyTorch %v (integer %v)", k, g.Shape, g.I64 != nil, r.Shape, r.I64 != nil)
				}
				for i := range r.F32 {
					if math.Float32bits(g.F32[i]) != math.Float32bits(r.F32[i]) {
						t.Fatalf("%s[%d] = %g, PyTorch's file has %g", k, i, g.F32[i], r.F32[i])
					}
				}
			}
		})
	}
}

// scramble gives every tensor of m values unlike any other model's (with a negative zero, a subnormal and large
// magnitudes among them) and every counter its own value, some beyond 32 bits.
func scramble(m *Model) {
	for i, p := range m.Params() {
		for j := range p.Data {
			p.Data[j] = float32(math.Sin(float64(7*i+j+1))) * float32(1+i%5)
		}
	}
	m.Params()[1].Data[0] = float32(math.Copysign(0, -1))
	m.Params()[2].Data[0] = math.Float32frombits(1) // the smallest subnormal
	m.Params()[3].Data[0] = 3e38
	for i, c := range m.Counters() {
		c.Value = int64(i)*977 + 1
		if i%3 == 1 {
			c.Value += 1 << 33
		}
	}
}

// TestSaveTorchRoundTripsEveryBit saves networks of several architectures and modality counts, reads the file
// back with ReadTorch and ImportTorch into a fresh network, and requires every value and counter bit-equal.
func TestSaveTorchRoundTripsEveryBit(t *testing.T) {
	for _, c := range []struct {
		arch  string
		m     int
		width float64
	}{
		{"refinenet-r50", 2, 1.0 / 32},
		{"refinenet-r50", 3, 1.0 / 32},
		{"lite-r18", 2, 1.0 / 8},
	} {
		t.Run(fmt.Sprintf("%s_m%d", c.arch, c.m), func(t *testing.T) {
			m := smallModel(t, c.arch, c.m, 7, c.width)
			scramble(m)
			path := filepath.Join(t.TempDir(), "model.pth.tar")
			if err := m.SaveTorch(path, 123, 45.6); err != nil {
				t.Fatal(err)
			}
			tf, err := ReadTorch(path)
			if err != nil {
				t.Fatal(err)
			}
			if tf.Wrapper != "segmenter" || tf.Extra["epoch_start"] != "123" || tf.Extra["best_val"] != "45.6" {
				t.Errorf("wrapper %q, extra %v", tf.Wrapper, tf.Extra)
			}
			back := smallModel(t, c.arch, c.m, 7, c.width)
			rep, err := ImportTorch(back, tf)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Kind != "cen" || rep.Loaded != len(m.Params()) {
				t.Fatalf("report %+v", rep)
			}
			for _, p := range m.Params() {
				q := back.Param(p.Name)
				for i := range p.Data {
					if math.Float32bits(q.Data[i]) != math.Float32bits(p.Data[i]) {
						t.Fatalf("%s[%d]: %g came back as %g", p.Name, i, p.Data[i], q.Data[i])
					}
				}
			}
			for i, cnt := range m.Counters() {
				if got := back.Counters()[i]; got.Name != cnt.Name || got.Value != cnt.Value {
					t.Fatalf("counter %s = %d came back as %s = %d", cnt.Name, cnt.Value, got.Name, got.Value)
				}
			}
			checkTorchZipLayout(t, path, "model.pth")
		})
	}
}

// checkTorchZipLayout checks the archive as torch.save lays it out: every entry stored, in the folder named
// after the file, data.pkl first, version "3\n", and every entry's data on a 64-byte boundary.
func checkTorchZipLayout(t *testing.T, path, folder string) {
	t.Helper()
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if len(z.File) < 4 || z.File[0].Name != folder+"/data.pkl" {
		t.Fatalf("first entry %q of %d, want %s/data.pkl", z.File[0].Name, len(z.File), folder)
	}
	for _, f := range z.File {
		if !strings.HasPrefix(f.Name, folder+"/") || f.Method != zip.Store {
			t.Errorf("entry %s: method %d", f.Name, f.Method)
		}
		off, err := f.DataOffset()
		if err != nil || off%64 != 0 {
			t.Errorf("entry %s: data at %d (%v), want a multiple of 64", f.Name, off, err)
		}
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r) // checks the CRC
		r.Close()
		if err != nil {
			t.Errorf("entry %s: %v", f.Name, err)
		}
		if f.Name == folder+"/version" && string(b) != "3\n" {
			t.Errorf("version %q", b)
		}
		if f.Name == folder+"/byteorder" && string(b) != "little" {
			t.Errorf("byteorder %q", b)
		}
	}
}

// pickleEdgeInts and pickleEdgeFloats are the values whose encodings differ (BININT1, BININT2, BININT, LONG1 of each
// length and sign; BINFLOAT of special values).
var pickleEdgeInts = []int64{0, 1, 255, 256, 65535, 65536, -1, -128, -129, -256, math.MaxInt32, math.MinInt32,
	math.MaxInt32 + 1, math.MinInt32 - 1, 1 << 39, -(1 << 39), 5_000_000_000, math.MaxInt64, math.MinInt64,
	0x7f_ffff_ffff, 0x80_0000_0000, -0x80_0000_0000, -0x80_0000_0001}
var pickleEdgeFloats = []float64{0, math.Copysign(0, -1), 51.58, -1e-310, math.Inf(1), math.Inf(-1), math.NaN(), math.MaxFloat64}

// edgePickle is a pickled tuple of pickleEdgeInts then pickleEdgeFloats.
func edgePickle() []byte {
	p := newPickler()
	p.op(opMark)
	for _, v := range pickleEdgeInts {
		p.int(v)
	}
	for _, v := range pickleEdgeFloats {
		p.float(v)
	}
	p.op(opTuple, opStop)
	return p.b
}

func TestPicklerIntsAndFloatsDecode(t *testing.T) {
	u := pickle.NewUnpickler(bytes.NewReader(edgePickle()))
	v, err := u.Load()
	if err != nil {
		t.Fatal(err)
	}
	tup := v.(*types.Tuple)
	for i, want := range pickleEdgeInts {
		var got int64
		switch x := tup.Get(i).(type) {
		case int:
			got = int64(x)
		case int64:
			got = x
		default:
			// gopickle decodes LONG1 of more than 8 bytes as a big.Int; ours never needs more than 8.
			t.Fatalf("value %d (%d) decodes as %T", i, want, x)
		}
		if got != want {
			t.Errorf("int %d decodes as %d", want, got)
		}
	}
	for i, want := range pickleEdgeFloats {
		got := tup.Get(len(pickleEdgeInts) + i).(float64)
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("float %g decodes as %g", want, got)
		}
	}
}

func TestSaveTorchNamesTheFileItCannotWrite(t *testing.T) {
	m := smallModel(t, "lite-r18", 2, 7, 1.0/8)
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "m.pth.tar")
	if err := m.SaveTorch(path, 0, 0); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("SaveTorch into a missing folder: %v", err)
	}
	if err := m.WriteTorch(failingWriter{}, 0, 0); !errors.Is(err, errDiskFull) {
		t.Errorf("WriteTorch to a failing writer: %v", err)
	}
}

var errDiskFull = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

// torchCheckScript is the PyTorch side of TestPyTorchLoadsSaveTorchFilesAndComputesTheSameLogits, run by
// Debian's Python (torch 1.13). For each case it loads the file with torch.load, checks the dict, its types and
// every tensor, builds our PyTorch re-statement of the network (scripts/cen_torch.py), loads the state dict
// strictly both with 'module.' stripped and into the DataParallel-wrapped model as the official code does, and
// writes its logits for the given inputs. It saves the loaded dict again with torch.save and requires the same
// records holding the same bytes (ours has byteorder besides). It also decodes the Go pickle of edge-case numbers.
const torchCheckScript = `
import collections, json, os, pickle, struct, sys, zipfile
import numpy as np
import torch
job = json.load(open(sys.argv[1]))
sys.path.insert(0, job['scripts'])
import cen_torch as cen
torch.set_num_threads(1)

def fbits(v):
    assert type(v) is float, type(v)
    return struct.pack('>d', v).hex()

res = {}
with open(job['pickle'], 'rb') as f:
    vals = pickle.load(f)
res['pickle'] = [str(v) if type(v) is int else fbits(v) for v in vals]
for c in job['cases']:
    ck = torch.load(c['file'], map_location='cpu')
    assert type(ck) is dict and list(ck) == ['segmenter', 'epoch_start', 'best_val'], list(ck)
    sd = ck['segmenter']
    assert type(sd) is collections.OrderedDict, type(sd)
    assert type(ck['epoch_start']) is int, type(ck['epoch_start'])
    model = cen.CEN(c['arch'], num_classes=c['classes'], num_parallel=c['M'], width=c['width'], dropout=0.0)
    want = ['module.' + k for k in model.state_dict()]
    assert list(sd) == want, 'keys differ from the state_dict of the wrapped model'
    counters = {}
    for k, v in sd.items():
        assert type(v) is torch.Tensor and v.is_contiguous() and v.device.type == 'cpu' and not v.requires_grad, k
        if k.endswith('.num_batches_tracked'):
            assert v.dtype == torch.int64 and v.dim() == 0, (k, v.dtype, v.shape)
            counters[k] = str(v.item())
        else:
            assert v.dtype == torch.float32, (k, v.dtype)
    model.load_state_dict(collections.OrderedDict((k[len('module.'):], v) for k, v in sd.items()), strict=True)
    wrapped = torch.nn.DataParallel(model)
    wrapped.load_state_dict(sd, strict=True)
    wrapped.eval()
    xs = [torch.from_numpy(np.load(p)) for p in c['inputs']]
    with torch.no_grad():
        outs = wrapped(xs)
    for i, o in enumerate(outs):
        np.save(os.path.join(job['out'], '%s_%d.npy' % (c['name'], i)), o.numpy())
    # torch.save of the loaded dict, under the same archive name, must give the same records with the same bytes
    # (ours adds byteorder, as torch >= 2.1 does).
    again = os.path.join(job['out'], 'resaved', os.path.basename(c['file']))
    os.makedirs(os.path.dirname(again), exist_ok=True)
    torch.save(ck, again)
    ours, theirs = zipfile.ZipFile(c['file']), zipfile.ZipFile(again)
    names = set(i.filename for i in theirs.infolist())
    folder = theirs.infolist()[0].filename.split('/')[0]
    assert set(i.filename for i in ours.infolist()) == names | {folder + '/byteorder'}, 'records differ'
    for i in theirs.infolist():
        if '/data/' in i.filename or i.filename.endswith('/version'):
            assert ours.read(i.filename) == theirs.read(i.filename), i.filename
    res[c['name']] = {'epoch_start': str(ck['epoch_start']), 'best_val': fbits(ck['best_val']), 'counters': counters}
with open(job['result'], 'w') as f:
    json.dump(res, f)
`

// TestPyTorchLoadsSaveTorchFilesAndComputesTheSameLogits is the check against the real counterpart: PyTorch
// loads the files SaveTorch writes into our PyTorch re-statement of the network (strict, as the official code
// loads its checkpoints) and its logits on the fixture inputs must match the Go engine's for the same weights.
// The weights are the fixtures' (which exchange channels) changed by a few per cent, so nothing PyTorch
// computes can come from the fixture files.
func TestPyTorchLoadsSaveTorchFilesAndComputesTheSameLogits(t *testing.T) {
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s not found: Debian's Python with python3-torch is needed (make setup)", python)
	}
	dir := t.TempDir()
	type pyCase struct {
		Name    string   `json:"name"`
		File    string   `json:"file"`
		Arch    string   `json:"arch"`
		Width   float64  `json:"width"`
		M       int      `json:"M"`
		Classes int      `json:"classes"`
		Inputs  []string `json:"inputs"`
	}
	type goSide struct {
		m       *Model
		out     *Output
		epoch   int
		bestVal float64
	}
	var cases []pyCase
	sides := map[string]goSide{}
	for i, name := range []string{"r50_m2", "r50_m3", "lite18_m2"} {
		fdir := filepath.Join(fixtures, name)
		m, fc := loadFixture(t, fdir)
		for k, p := range m.Params() {
			for j := range p.Data {
				p.Data[j] *= float32(1 + 0.04*math.Sin(float64(3*k+j)))
			}
		}
		for k, c := range m.Counters() {
			c.Value = int64(100*k + i)
		}
		epoch := []int{7, 300, 5_000_000_000}[i]
		bestVal := []float64{51.58, 0, -0.25}[i]
		file := filepath.Join(dir, name+".pth.tar")
		if err := m.SaveTorch(file, epoch, bestVal); err != nil {
			t.Fatal(err)
		}
		in := fixtureInputs(t, fdir, fc.Modalities)
		out, err := m.Forward(in)
		if err != nil {
			t.Fatal(err)
		}
		pc := pyCase{Name: name, File: file, Arch: fc.Arch, Width: fc.Width, M: fc.Modalities, Classes: fc.Classes}
		for k := 0; k < fc.Modalities; k++ {
			abs, err := filepath.Abs(filepath.Join(fdir, fmt.Sprintf("in_%d.npy", k)))
			if err != nil {
				t.Fatal(err)
			}
			pc.Inputs = append(pc.Inputs, abs)
		}
		cases = append(cases, pc)
		sides[name] = goSide{m, out, epoch, bestVal}
	}
	scripts, err := filepath.Abs(filepath.Join("..", "scripts"))
	if err != nil {
		t.Fatal(err)
	}
	job := map[string]any{"scripts": scripts, "out": dir, "result": filepath.Join(dir, "result.json"),
		"pickle": filepath.Join(dir, "edge.pkl"), "cases": cases}
	if err := os.WriteFile(filepath.Join(dir, "edge.pkl"), edgePickle(), 0o644); err != nil {
		t.Fatal(err)
	}
	jb, _ := json.Marshal(job)
	if err := os.WriteFile(filepath.Join(dir, "job.json"), jb, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", torchCheckScript, filepath.Join(dir, "job.json"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("PyTorch (Debian python3-torch) could not load the files: %v\n%s", err, out)
	}
	var res map[string]json.RawMessage
	readJSON(t, filepath.Join(dir, "result.json"), &res)

	var edge []string
	if err := json.Unmarshal(res["pickle"], &edge); err != nil {
		t.Fatal(err)
	}
	for i, v := range pickleEdgeInts {
		if edge[i] != strconv.FormatInt(v, 10) {
			t.Errorf("Python decodes the int %d as %s", v, edge[i])
		}
	}
	for i, v := range pickleEdgeFloats {
		if want := floatBitsHex(v); edge[len(pickleEdgeInts)+i] != want {
			t.Errorf("Python decodes the float %g as bits %s, want %s", v, edge[len(pickleEdgeInts)+i], want)
		}
	}

	for _, c := range cases {
		g := sides[c.Name]
		var r struct {
			Epoch    string            `json:"epoch_start"`
			BestVal  string            `json:"best_val"`
			Counters map[string]string `json:"counters"`
		}
		if err := json.Unmarshal(res[c.Name], &r); err != nil {
			t.Fatal(err)
		}
		if r.Epoch != strconv.Itoa(g.epoch) || r.BestVal != floatBitsHex(g.bestVal) {
			t.Errorf("%s: PyTorch reads epoch_start %s, best_val bits %s; wrote %d, %g", c.Name, r.Epoch, r.BestVal, g.epoch, g.bestVal)
		}
		if len(r.Counters) != len(g.m.Counters()) {
			t.Errorf("%s: PyTorch finds %d counters, the network has %d", c.Name, len(r.Counters), len(g.m.Counters()))
		}
		for _, cnt := range g.m.Counters() {
			if v := r.Counters[OfficialKey(cnt.Name)]; v != strconv.FormatInt(cnt.Value, 10) {
				t.Errorf("%s: PyTorch reads %s = %s, wrote %d", c.Name, cnt.Name, v, cnt.Value)
			}
		}
		for i := 0; i <= c.M; i++ {
			want := readTensor(t, filepath.Join(dir, fmt.Sprintf("%s_%d.npy", c.Name, i)))
			got := g.out.Ensemble
			if i < c.M {
				got = g.out.Logits[i]
			}
			if !got.SameShape(want) {
				t.Fatalf("%s output %d: shape %v, PyTorch %v", c.Name, i, got, want)
			}
			e := relErr(got.Data, want.Data)
			if e > 1e-4 {
				t.Errorf("%s output %d differs from PyTorch by %.2e (relative)", c.Name, i, e)
			}
			t.Logf("%s output %d: relative difference %.2e", c.Name, i, e)
		}
	}
}

func floatBitsHex(v float64) string {
	return fmt.Sprintf("%016x", math.Float64bits(v))
}
