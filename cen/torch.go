package cen

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// TorchTensor is one tensor of a PyTorch checkpoint, materialised in C order.
type TorchTensor struct {
	Shape []int
	F32   []float32 // floating-point tensors (fp16/bf16/fp64 converted)
	I64   []int64   // integer tensors (num_batches_tracked)
}

// TorchFile is the state dict of a PyTorch checkpoint file with its keys as stored.
type TorchFile struct {
	Tensors map[string]TorchTensor
	Keys    []string // in file order
	// Wrapper names the dict entry the state dict was found in ("segmenter" for the official CEN checkpoints,
	// "" for a bare state dict).
	Wrapper string
	// Extra holds the wrapper's other scalar entries (epoch_start, best_val, ...).
	Extra map[string]string
}

// ReadTorch reads a checkpoint written by torch.save: the official CEN `.pth.tar` (a dict whose "segmenter" entry
// is the state dict), a bare state dict, or a dict with "state_dict"/"model_state_dict"/"model". Both the zip
// format (PyTorch ≥ 1.6) and the legacy format are read. TorchScript archives and pickled modules are refused
// with an explanation.
func ReadTorch(path string) (*TorchFile, error) {
	head := make([]byte, 4)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	n, _ := io.ReadFull(f, head)
	f.Close()
	z, zerr := zip.OpenReader(path)
	if n == 4 && string(head) == "PK\x03\x04" && zerr != nil {
		// A zip-format checkpoint whose central directory (at the end) is missing: cut short.
		return nil, fmt.Errorf("%s is truncated (its zip directory is missing): %w", path, io.ErrUnexpectedEOF)
	}
	if zerr == nil {
		for _, f := range z.File {
			if strings.HasSuffix(f.Name, "/constants.pkl") || f.Name == "constants.pkl" {
				z.Close()
				return nil, fmt.Errorf("%s is a TorchScript archive (torch.jit.save); cen reads state dicts: save one with torch.save(model.state_dict(), path)", path)
			}
		}
		z.Close()
	}
	obj, err := pytorch.LoadWithUnpickler(path, func(r io.Reader) pickle.Unpickler {
		u := pickle.NewUnpickler(r)
		u.FindClass = func(module, name string) (interface{}, error) {
			switch module + "." + name {
			case "torch._utils._rebuild_parameter":
				// state_dict(keep_vars=True) stores nn.Parameter: keep the tensor, drop the wrapper.
				return rebuildParameter{}, nil
			case "collections.OrderedDict":
				return &types.OrderedDictClass{}, nil
			}
			return nil, fmt.Errorf("class not found: %s.%s", module, name)
		}
		return u
	})
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "class not found: torch.nn") || strings.Contains(msg, "class not found: __main__") ||
			strings.Contains(msg, "class not found: models") || strings.Contains(msg, "class not found: torchvision"):
			return nil, fmt.Errorf("%s holds a pickled Python module (torch.save(model)), not a state dict: save model.state_dict() instead (%v)", path, err)
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(msg, "zip: not a valid zip file") || strings.Contains(msg, "EOF"):
			return nil, fmt.Errorf("%s is truncated or not a PyTorch checkpoint: %w", path, err)
		}
		return nil, fmt.Errorf("%s is not a readable PyTorch checkpoint: %w", path, err)
	}
	tf := &TorchFile{Tensors: map[string]TorchTensor{}, Extra: map[string]string{}}
	sd := obj
	if entries, ok := dictEntries(obj); ok {
		for _, w := range []string{"segmenter", "state_dict", "model_state_dict", "model"} {
			for _, e := range entries {
				if k, _ := e.key.(string); k == w {
					if _, isDict := dictEntries(e.value); isDict {
						sd, tf.Wrapper = e.value, w
					}
				}
			}
			if tf.Wrapper != "" {
				break
			}
		}
		if tf.Wrapper != "" {
			for _, e := range entries {
				k, _ := e.key.(string)
				switch v := e.value.(type) {
				case int, int64, float64, string, bool:
					tf.Extra[k] = fmt.Sprint(v)
				}
			}
		}
	}
	entries, ok := dictEntries(sd)
	if !ok {
		return nil, fmt.Errorf("%s does not hold a state dict (found %T)", path, sd)
	}
	for _, e := range entries {
		k, ok := e.key.(string)
		if !ok {
			return nil, fmt.Errorf("%s: state dict key %v is not a string", path, e.key)
		}
		t, ok := e.value.(*pytorch.Tensor)
		if !ok {
			return nil, fmt.Errorf("%s: entry %q is %T, not a tensor", path, k, e.value)
		}
		tt, err := materialise(t)
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", path, k, err)
		}
		tf.Tensors[k] = tt
		tf.Keys = append(tf.Keys, k)
	}
	return tf, nil
}

type rebuildParameter struct{}

func (rebuildParameter) Call(args ...interface{}) (interface{}, error) {
	if len(args) == 0 {
		return nil, errors.New("_rebuild_parameter without arguments")
	}
	return args[0], nil
}

type entry struct{ key, value interface{} }

func dictEntries(obj interface{}) ([]entry, bool) {
	switch d := obj.(type) {
	case *types.OrderedDict:
		var out []entry
		for el := d.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			out = append(out, entry{e.Key, e.Value})
		}
		return out, true
	case *types.Dict:
		var out []entry
		for _, e := range *d {
			out = append(out, entry{e.Key, e.Value})
		}
		return out, true
	}
	return nil, false
}

// materialise copies a (possibly strided or offset) tensor view into a C-order slice.
func materialise(t *pytorch.Tensor) (TorchTensor, error) {
	n := 1
	for _, s := range t.Size {
		n *= s
	}
	if len(t.Stride) != len(t.Size) {
		return TorchTensor{}, fmt.Errorf("stride %v does not match size %v", t.Stride, t.Size)
	}
	var f32 []float32
	var f64 []float64
	var i64 []int64
	var length int
	switch s := t.Source.(type) {
	case *pytorch.FloatStorage:
		f32, length = s.Data, len(s.Data)
	case *pytorch.HalfStorage:
		f32, length = s.Data, len(s.Data)
	case *pytorch.BFloat16Storage:
		f32, length = s.Data, len(s.Data)
	case *pytorch.DoubleStorage:
		f64, length = s.Data, len(s.Data)
	case *pytorch.LongStorage:
		i64, length = s.Data, len(s.Data)
	default:
		return TorchTensor{}, fmt.Errorf("unsupported storage type %T", t.Source)
	}
	// Check the highest index the view touches before reading.
	last := t.StorageOffset
	for i, s := range t.Size {
		if s == 0 {
			last = -1
			break
		}
		last += (s - 1) * t.Stride[i]
	}
	if n > 0 && (t.StorageOffset < 0 || last >= length) {
		return TorchTensor{}, fmt.Errorf("view of size %v at offset %d runs past its storage of %d values", t.Size, t.StorageOffset, length)
	}
	out := TorchTensor{Shape: append([]int(nil), t.Size...)}
	if i64 != nil {
		out.I64 = make([]int64, n)
	} else {
		out.F32 = make([]float32, n)
	}
	idx := make([]int, len(t.Size))
	for k := 0; k < n; k++ {
		off := t.StorageOffset
		for d := range idx {
			off += idx[d] * t.Stride[d]
		}
		switch {
		case f32 != nil:
			out.F32[k] = f32[off]
		case f64 != nil:
			out.F32[k] = float32(f64[off])
		default:
			out.I64[k] = i64[off]
		}
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < t.Size[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}

// CanonicalName maps an official CEN checkpoint key to cen's parameter name: the DataParallel prefix
// "module." and every ModuleParallel infix ".module." are removed. "module.layer1.0.conv1.module.weight"
// becomes "layer1.0.conv1.weight"; "module.layer1.0.bn2.bn_1.weight" becomes "layer1.0.bn2.bn_1.weight"
// (bn_0 is the first modality, RGB; bn_1 the second, depth).
func CanonicalName(key string) string {
	key = strings.TrimPrefix(key, "module.")
	return strings.ReplaceAll(key, ".module.", ".")
}

// torchvisionName maps a cen encoder parameter name to its torchvision ResNet key: every modality's batch norm
// comes from the one ImageNet batch norm ("layer1.0.bn2.bn_1.weight" -> "layer1.0.bn2.weight").
func torchvisionName(name string) string {
	for i := 0; i < 16; i++ {
		name = strings.Replace(name, ".bn_"+itoa(i)+".", ".", 1)
	}
	return name
}

// ImportReport says what ImportTorch did.
type ImportReport struct {
	Kind    string // "cen" (a CEN checkpoint) or "torchvision" (ImageNet ResNet encoder initialisation)
	Loaded  int    // tensors copied into the model
	Skipped []string
	// Initialised lists what kept its fresh initialisation (the decoder, for a torchvision import).
	Initialised int
}

// ImportTorch loads a PyTorch checkpoint into m. A CEN checkpoint (official or plain state dict) must match
// the architecture exactly: every parameter present with its shape, nothing left over. A torchvision ResNet
// state dict (keys "conv1.weight", "layer1.0.bn1.weight", "fc.weight") initialises the encoder as the official
// code does: the shared convolutions from ImageNet, and every modality's batch norm from the same ImageNet
// batch norm; the decoder keeps its initialisation and fc is dropped.
func ImportTorch(m *Model, tf *TorchFile) (*ImportReport, error) {
	canon := map[string]TorchTensor{}
	orig := map[string]string{}
	for _, k := range tf.Keys {
		c := CanonicalName(k)
		canon[c] = tf.Tensors[k]
		orig[c] = k
	}
	_, hasFC := canon["fc.weight"]
	_, hasAlpha := canon["alpha"]
	if hasFC && !hasAlpha {
		return importTorchvision(m, canon)
	}
	rep := &ImportReport{Kind: "cen"}
	used := map[string]bool{}
	for _, p := range m.ps.list {
		t, ok := canon[p.Name]
		if !ok {
			return nil, fmt.Errorf("checkpoint has no tensor for %s %s of %s: it was saved from a different architecture or modality count", p.Name, shapeString(p.Shape), m.cfg.Arch)
		}
		if err := copyTensor(p, t, orig[p.Name]); err != nil {
			return nil, err
		}
		used[p.Name] = true
		rep.Loaded++
	}
	for _, c := range m.ps.counters {
		if t, ok := canon[c.Name]; ok {
			if len(t.I64) == 1 {
				c.Value = t.I64[0]
			}
			used[c.Name] = true
		}
	}
	var extra []string
	for c := range canon {
		if !used[c] {
			extra = append(extra, orig[c])
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, fmt.Errorf("checkpoint has %d tensor(s) the %s network does not, first %s %s: it was saved from a different architecture or modality count",
			len(extra), m.cfg.Arch, extra[0], shapeString(canon[CanonicalName(extra[0])].Shape))
	}
	return rep, nil
}

func importTorchvision(m *Model, tv map[string]TorchTensor) (*ImportReport, error) {
	rep := &ImportReport{Kind: "torchvision"}
	for _, p := range m.ps.list {
		if !p.Encoder {
			rep.Initialised++
			continue
		}
		key := torchvisionName(p.Name)
		t, ok := tv[key]
		if !ok {
			return nil, fmt.Errorf("torchvision checkpoint has no %s for %s: is it a ResNet of the depth %s uses?", key, p.Name, m.cfg.Arch)
		}
		if err := copyTensor(p, t, key); err != nil {
			return nil, err
		}
		rep.Loaded++
	}
	for k := range tv {
		if strings.HasPrefix(k, "fc.") {
			rep.Skipped = append(rep.Skipped, k)
		}
	}
	sort.Strings(rep.Skipped)
	return rep, nil
}

func copyTensor(p *Param, t TorchTensor, key string) error {
	if !sameShape(p.Shape, t.Shape) {
		return fmt.Errorf("tensor %s is %s in the checkpoint but %s is %s in the network", key, shapeString(t.Shape), p.Name, shapeString(p.Shape))
	}
	if t.F32 == nil {
		return fmt.Errorf("tensor %s is an integer tensor, %s needs floating point", key, p.Name)
	}
	copy(p.Data, t.F32)
	return nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
