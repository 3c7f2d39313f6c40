package cen

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// maxTensorValues bounds the values of one tensor a model file may hold (2^31), so that a shape's product
// cannot overflow.
const maxTensorValues = 1 << 31

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
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tf, err := ParseTorch(data)
	if err != nil {
		return nil, fmt.Errorf("%s %w", path, err)
	}
	return tf, nil
}

// ParseTorch reads a torch.save file held in data (see ReadTorch). Its errors read as a predicate of the file
// ("is truncated ..."): the caller puts the file name first. Every storage size and tensor view is checked
// against the bytes present before anything is allocated for it, so a corrupt file gives an error, never a
// panic or an allocation beyond its own size.
func ParseTorch(data []byte) (tf *TorchFile, err error) {
	defer func() {
		// The pickle machine is a third-party interpreter of untrusted input: whatever it trips over is a
		// malformed file, reported as one.
		if r := recover(); r != nil {
			tf, err = nil, fmt.Errorf("is not a readable PyTorch checkpoint (malformed pickle: %v)", r)
		}
	}()
	var obj interface{}
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		obj, err = loadTorchZip(data)
	} else {
		obj, err = loadTorchLegacy(data)
	}
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "TorchScript") || strings.Contains(msg, "truncated"):
			return nil, err
		case strings.Contains(msg, "class not found: torch.nn") || strings.Contains(msg, "class not found: __main__") ||
			strings.Contains(msg, "class not found: models") || strings.Contains(msg, "class not found: torchvision"):
			return nil, fmt.Errorf("holds a pickled Python module (torch.save(model)), not a state dict: save model.state_dict() instead (%v)", err)
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			return nil, fmt.Errorf("is truncated or not a PyTorch checkpoint: %w", err)
		}
		return nil, fmt.Errorf("is not a readable PyTorch checkpoint: %w", err)
	}
	return stateDict(obj)
}

// torchClasses are the classes a state dict may reference; anything else (a pickled module) is refused.
func torchClass(module, name string) (interface{}, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return &pytorch.RebuildTensorV2{}, nil
	case "torch._utils._rebuild_parameter":
		// state_dict(keep_vars=True) stores nn.Parameter: keep the tensor, drop the wrapper.
		return rebuildParameter{}, nil
	case "collections.OrderedDict":
		return &types.OrderedDictClass{}, nil
	case "torch.FloatStorage":
		return &pytorch.FloatStorageClass{}, nil
	case "torch.HalfStorage":
		return &pytorch.HalfStorageClass{}, nil
	case "torch.BFloat16Storage":
		return &pytorch.BFloat16StorageClass{}, nil
	case "torch.DoubleStorage":
		return &pytorch.DoubleStorageClass{}, nil
	case "torch.LongStorage":
		return &pytorch.LongStorageClass{}, nil
	}
	return nil, fmt.Errorf("class not found: %s.%s", module, name)
}

// elemSize is the bytes per value of the storage classes torchClass knows.
func elemSize(c interface{}) (int, bool) {
	switch c.(type) {
	case *pytorch.FloatStorageClass:
		return 4, true
	case *pytorch.HalfStorageClass, *pytorch.BFloat16StorageClass:
		return 2, true
	case *pytorch.DoubleStorageClass, *pytorch.LongStorageClass:
		return 8, true
	}
	return 0, false
}

// storageRef decodes a persistent id ('storage', class, key, location, numel, ...).
func storageRef(pid interface{}, minLen int) (pytorch.StorageClassInterface, string, string, int, int, error) {
	t, ok := pid.(*types.Tuple)
	if !ok || t.Len() < minLen {
		return nil, "", "", 0, 0, fmt.Errorf("unexpected persistent id %v", pid)
	}
	if kind, _ := t.Get(0).(string); kind != "storage" {
		return nil, "", "", 0, 0, fmt.Errorf("persistent id of type %v, want storage", t.Get(0))
	}
	cls, ok1 := t.Get(1).(pytorch.StorageClassInterface)
	key, ok2 := t.Get(2).(string)
	loc, ok3 := t.Get(3).(string)
	numel, ok4 := t.Get(4).(int)
	size, known := elemSize(t.Get(1))
	if !ok1 || !ok2 || !ok3 || !ok4 || !known || numel < 0 {
		return nil, "", "", 0, 0, fmt.Errorf("unexpected storage record %v", pid)
	}
	return cls, key, loc, numel, size, nil
}

// loadTorchZip reads the zip format of torch.save (PyTorch ≥ 1.6): <archive>/data.pkl references storages
// stored raw as <archive>/data/<key>.
func loadTorchZip(data []byte) (interface{}, error) {
	z, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		// A zip-format checkpoint whose central directory (at the end) is missing: cut short.
		return nil, fmt.Errorf("is truncated (its zip directory is missing or damaged: %v): %w", err, io.ErrUnexpectedEOF)
	}
	records := map[string]*zip.File{}
	var pkl *zip.File
	for _, f := range z.File {
		_, name := path.Split(f.Name)
		if name == "constants.pkl" {
			return nil, fmt.Errorf("is a TorchScript archive (torch.jit.save); cen reads state dicts: save one with torch.save(model.state_dict(), path)")
		}
		if name == "data.pkl" && pkl == nil {
			pkl = f
		}
		records[f.Name] = f
	}
	if pkl == nil {
		return nil, fmt.Errorf("is a zip file without data.pkl: not a PyTorch checkpoint")
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	r, err := pkl.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	pk, err := io.ReadAll(io.LimitReader(r, int64(len(data))*64))
	if err != nil {
		return nil, fmt.Errorf("has a damaged %s: %w", pkl.Name, err)
	}
	if err := checkPickle(pk); err != nil {
		return nil, err
	}
	loaded := map[string]pytorch.StorageInterface{}
	u := pickle.NewUnpickler(bytes.NewReader(pk))
	u.FindClass = torchClass
	u.PersistentLoad = func(pid interface{}) (interface{}, error) {
		cls, key, loc, numel, size, err := storageRef(pid, 5)
		if err != nil {
			return nil, err
		}
		if st, ok := loaded[key]; ok {
			return st, nil
		}
		rec, ok := records[prefix+"data/"+key]
		if !ok {
			return nil, fmt.Errorf("has no storage record data/%s", key)
		}
		if uint64(numel) > rec.UncompressedSize64/uint64(size) || rec.UncompressedSize64 > uint64(len(data))*64 { // a division: numel·size may overflow
			return nil, fmt.Errorf("is truncated: storage %s of %d values has %d bytes: %w", key, numel, rec.UncompressedSize64, io.ErrUnexpectedEOF)
		}
		f, err := rec.Open()
		if err != nil {
			return nil, err
		}
		defer f.Close()
		st := cls.New(numel, loc)
		if err := st.SetFromFileWithSize(f, numel); err != nil {
			return nil, fmt.Errorf("storage %s: %w", key, err)
		}
		loaded[key] = st
		return st, nil
	}
	return u.Load()
}

// legacyMagic is the pickled number that starts a legacy torch.save file.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e}

// loadTorchLegacy reads the legacy format (PyTorch < 1.6): a magic number, the protocol version and system
// information, the pickled object whose tensors reference storages, the list of storage keys, then each
// storage as an 8-byte count and its raw values.
func loadTorchLegacy(data []byte) (interface{}, error) {
	if !bytes.HasPrefix(data, legacyMagic) {
		return nil, fmt.Errorf("is neither a zip nor a legacy torch.save file")
	}
	r := bytes.NewReader(data[len(legacyMagic):])
	// checked returns an unpickler of the pickle that starts at r's position, once checkPickle passed it.
	checked := func() (*pickle.Unpickler, error) {
		if err := checkPickle(data[len(data)-r.Len():]); err != nil {
			return nil, err
		}
		u := pickle.NewUnpickler(r)
		return &u, nil
	}
	unpickle := func() (interface{}, error) {
		u, err := checked()
		if err != nil {
			return nil, err
		}
		u.FindClass = torchClass
		return u.Load()
	}
	if v, err := unpickle(); err != nil {
		return nil, err
	} else if proto, _ := v.(int); proto != 1001 {
		return nil, fmt.Errorf("has legacy protocol version %v, want 1001", v)
	}
	if _, err := unpickle(); err != nil { // system information
		return nil, err
	}
	type pending struct {
		st   pytorch.StorageInterface
		n    int
		size int
	}
	storages := map[string]*pending{}
	u, err := checked()
	if err != nil {
		return nil, err
	}
	u.FindClass = torchClass
	u.PersistentLoad = func(pid interface{}) (interface{}, error) {
		cls, key, loc, numel, size, err := storageRef(pid, 6)
		if err != nil {
			return nil, err
		}
		if view := pid.(*types.Tuple).Get(5); view != nil {
			return nil, fmt.Errorf("uses storage views (%v), which cen does not read: save it again with a current PyTorch", view)
		}
		if p, ok := storages[key]; ok {
			return p.st, nil
		}
		if int64(numel) > int64(len(data))/int64(size) { // a division: numel·size may overflow
			return nil, fmt.Errorf("is truncated: storage %s of %d values is larger than the file: %w", key, numel, io.ErrUnexpectedEOF)
		}
		p := &pending{st: cls.New(numel, loc), n: numel, size: size}
		storages[key] = p
		return p.st, nil
	}
	obj, err := u.Load()
	if err != nil {
		return nil, err
	}
	v, err := unpickle()
	if err != nil {
		return nil, err
	}
	keys, ok := v.(*types.List)
	if !ok {
		return nil, fmt.Errorf("has no storage key list (found %T)", v)
	}
	for i := 0; i < keys.Len(); i++ {
		key, _ := keys.Get(i).(string)
		p, ok := storages[key]
		if !ok {
			return nil, fmt.Errorf("lists storage %q that no tensor references", keys.Get(i))
		}
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, fmt.Errorf("is truncated in storage %s: %w", key, io.ErrUnexpectedEOF)
		}
		if n := binary.LittleEndian.Uint64(hdr[:]); n != uint64(p.n) {
			return nil, fmt.Errorf("stores %d values for storage %s, its tensors say %d", n, key, p.n)
		}
		if int64(p.n)*int64(p.size) > int64(r.Len()) {
			return nil, fmt.Errorf("is truncated in storage %s: %w", key, io.ErrUnexpectedEOF)
		}
		if err := p.st.SetFromFileWithSize(r, p.n); err != nil {
			return nil, fmt.Errorf("storage %s: %w", key, err)
		}
	}
	return obj, nil
}

// stateDict finds the state dict in a loaded checkpoint object and materialises its tensors.
func stateDict(obj interface{}) (*TorchFile, error) {
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
		return nil, fmt.Errorf("does not hold a state dict (found %T)", sd)
	}
	for _, e := range entries {
		k, ok := e.key.(string)
		if !ok {
			return nil, fmt.Errorf("has a state dict key %v that is not a string", e.key)
		}
		t, ok := e.value.(*pytorch.Tensor)
		if !ok {
			return nil, fmt.Errorf("has an entry %q that is %T, not a tensor", k, e.value)
		}
		tt, err := materialise(t)
		if err != nil {
			return nil, fmt.Errorf("has a bad tensor %q: %w", k, err)
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
	if len(t.Stride) != len(t.Size) {
		return TorchTensor{}, fmt.Errorf("stride %v does not match size %v", t.Stride, t.Size)
	}
	// Every count and index is bounded before it is used: a view of n values with strides reaches index
	// offset + Σ (size_i − 1)·stride_i, and that must lie in the storage. A saved parameter never has a zero
	// (broadcast) or negative stride along a dimension of more than one value.
	n := 1
	for i, s := range t.Size {
		if s < 0 || t.Stride[i] < 0 || s > 1 && t.Stride[i] == 0 {
			return TorchTensor{}, fmt.Errorf("size %v with stride %v is not a stored tensor", t.Size, t.Stride)
		}
		if s > 0 && n > maxTensorValues/s {
			return TorchTensor{}, fmt.Errorf("size %v has more than %d values", t.Size, int64(maxTensorValues))
		}
		n *= s
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
	if t.StorageOffset < 0 {
		return TorchTensor{}, fmt.Errorf("view at negative storage offset %d", t.StorageOffset)
	}
	last := t.StorageOffset
	overflow := false
	for i, s := range t.Size {
		if s == 0 {
			last = -1
			break
		}
		if t.Stride[i] > 0 && s-1 > (math.MaxInt-last)/t.Stride[i] {
			overflow = true
			break
		}
		last += (s - 1) * t.Stride[i]
	}
	if n > 0 && (t.StorageOffset < 0 || overflow || last >= length) {
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
	// Every tensor is checked before any is copied: a checkpoint that does not fit leaves m as it was.
	rep := &ImportReport{Kind: "cen"}
	used := map[string]bool{}
	var copies []func()
	for _, p := range m.ps.list {
		t, ok := canon[p.Name]
		if !ok {
			return nil, fmt.Errorf("checkpoint has no tensor for %s %s of %s: it was saved from a different architecture or modality count", p.Name, shapeString(p.Shape), m.cfg.Arch)
		}
		if err := checkTensor(p, t, orig[p.Name]); err != nil {
			return nil, err
		}
		p, t := p, t
		copies = append(copies, func() { copy(p.Data, t.F32) })
		used[p.Name] = true
		rep.Loaded++
	}
	for _, c := range m.ps.counters {
		if t, ok := canon[c.Name]; ok {
			if len(t.I64) == 1 {
				c, v := c, t.I64[0]
				copies = append(copies, func() { c.Value = v })
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
	for _, c := range copies {
		c()
	}
	return rep, nil
}

func importTorchvision(m *Model, tv map[string]TorchTensor) (*ImportReport, error) {
	rep := &ImportReport{Kind: "torchvision"}
	var copies []func()
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
		if err := checkTensor(p, t, key); err != nil {
			return nil, err
		}
		p, t := p, t
		copies = append(copies, func() { copy(p.Data, t.F32) })
		rep.Loaded++
	}
	for _, c := range copies {
		c()
	}
	for k := range tv {
		if strings.HasPrefix(k, "fc.") {
			rep.Skipped = append(rep.Skipped, k)
		}
	}
	sort.Strings(rep.Skipped)
	return rep, nil
}

// checkTensor says whether t can be copied into p.
func checkTensor(p *Param, t TorchTensor, key string) error {
	if !sameShape(p.Shape, t.Shape) {
		return fmt.Errorf("tensor %s is %s in the checkpoint but %s is %s in the network", key, shapeString(t.Shape), p.Name, shapeString(p.Shape))
	}
	if t.F32 == nil {
		return fmt.Errorf("tensor %s is an integer tensor, %s needs floating point", key, p.Name)
	}
	if len(t.F32) != len(p.Data) {
		return fmt.Errorf("tensor %s holds %d values for shape %s", key, len(t.F32), shapeString(t.Shape))
	}
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
