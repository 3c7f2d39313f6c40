package cen

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/cen-ros/cen/internal/atomicfile"
)

// Checkpoint files are safetensors files (https://huggingface.co/docs/safetensors), readable outside Go with
// the safetensors library or twenty lines of any language:
//
//	8 bytes   little-endian uint64 N: length of the JSON header
//	N bytes   JSON: {"__metadata__": {string: string}, NAME: {"dtype": "F32"|"I64", "shape": [...],
//	          "data_offsets": [begin, end]}, ...}; offsets are relative to the end of the header
//	...       the tensors' little-endian bytes, in header order
//
// Every Param is stored under its name (weights, biases, batch-norm γ/β and running statistics), each
// num_batches_tracked as an I64 scalar, and extra state (optimiser momentum, ...) under "state.<name>".
// __metadata__ holds "format" = CheckpointFormat, "config" = the JSON Config, "state" = the caller's JSON
// training state (epoch, step, ...), the model's Recipe under the same keys the ONNX metadata uses
// (cen.class_names, cen.palette, cen.dataset and the preprocess.* keys) and cen.version, the cen that wrote it.

// CheckpointFormat names the layout version written into every checkpoint. Version 2 added the recipe;
// version 1 files (which lack it) are refused with an explanation.
const CheckpointFormat = "cen-checkpoint/2"

// maxHeader bounds the JSON header a reader accepts, so a corrupt length cannot make it allocate gigabytes.
const maxHeader = 64 << 20

// CheckpointInfo is what a checkpoint holds besides the network weights.
type CheckpointInfo struct {
	Config Config
	// Recipe is how to feed the network and read its output, with the version of cen that wrote the file.
	Recipe Recipe
	// State is the training state as the trainer wrote it (JSON), nil for a bare model.
	State json.RawMessage
	// Extra holds the "state.<name>" tensors (without the prefix), e.g. optimiser momentum.
	Extra map[string][]float32
}

type stEntry struct {
	Dtype   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// SaveCheckpoint writes the model, its configuration and recipe, the training state and extra tensors to path
// atomically: an interrupted save leaves the previous file intact. The model must have a recipe (SetRecipe).
func (m *Model) SaveCheckpoint(path string, state json.RawMessage, extra map[string][]float32) error {
	if err := m.recipe.Validate(m.cfg); err != nil {
		return fmt.Errorf("saving %s: %w (set one with SetRecipe)", path, err)
	}
	cfg, err := json.Marshal(m.cfg)
	if err != nil {
		return err
	}
	meta := m.recipe.metadata()
	meta["format"], meta["config"], meta[MetaVersion] = CheckpointFormat, string(cfg), Version
	if state != nil {
		meta["state"] = string(state)
	}
	type item struct {
		name  string
		dtype string
		shape []int
		f32   []float32
		i64   []int64
	}
	var items []item
	for _, p := range m.ps.list {
		items = append(items, item{name: p.Name, dtype: "F32", shape: p.Shape, f32: p.Data})
	}
	for _, c := range m.ps.counters {
		items = append(items, item{name: c.Name, dtype: "I64", shape: []int{}, i64: []int64{c.Value}})
	}
	names := make([]string, 0, len(extra))
	for k := range extra {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		items = append(items, item{name: "state." + k, dtype: "F32", shape: []int{len(extra[k])}, f32: extra[k]})
	}
	header := map[string]any{"__metadata__": meta}
	var off int64
	for _, it := range items {
		size := int64(4 * len(it.f32))
		if it.dtype == "I64" {
			size = int64(8 * len(it.i64))
		}
		header[it.name] = stEntry{Dtype: it.dtype, Shape: it.shape, Offsets: [2]int64{off, off + size}}
		off += size
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return err
	}
	// Pad the header with spaces so the data is 8-byte aligned, as safetensors recommends.
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(len(hb)))
		if _, err := w.Write(b[:]); err != nil {
			return err
		}
		if _, err := w.Write(hb); err != nil {
			return err
		}
		buf := make([]byte, 0, 1<<16)
		for _, it := range items {
			for _, v := range it.f32 {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				if len(buf) >= 1<<16 {
					if _, err := w.Write(buf); err != nil {
						return err
					}
					buf = buf[:0]
				}
			}
			for _, v := range it.i64 {
				buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
			}
		}
		_, err := w.Write(buf)
		return err
	})
}

// checkpointFile is a parsed checkpoint: the header and the raw tensor bytes.
type checkpointFile struct {
	meta    map[string]string
	entries map[string]stEntry
	order   []string
	data    []byte
}

func readCheckpointFile(path string) (*checkpointFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cf, err := parseCheckpoint(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %w", path, err)
	}
	return cf, nil
}

// parseCheckpoint checks the header of a checkpoint held in raw and every tensor's extent against the data.
// Its errors read as a predicate of the file ("is truncated: ..."); the caller puts the file name first.
func parseCheckpoint(raw []byte) (*checkpointFile, error) {
	if len(raw) < 8 {
		return nil, fmt.Errorf("is not a cen checkpoint: %d bytes", len(raw))
	}
	n := binary.LittleEndian.Uint64(raw[:8])
	if n == 0 || n > maxHeader {
		return nil, fmt.Errorf("is not a cen checkpoint (header length %d)", n)
	}
	if uint64(len(raw)-8) < n {
		return nil, fmt.Errorf("is truncated: header of %d bytes, file of %d: %w", n, len(raw), io.ErrUnexpectedEOF)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		return nil, fmt.Errorf("is not a cen checkpoint (bad header: %v)", err)
	}
	cf := &checkpointFile{entries: map[string]stEntry{}, data: raw[8+n:]}
	if mr, ok := header["__metadata__"]; ok {
		if err := json.Unmarshal(mr, &cf.meta); err != nil {
			return nil, fmt.Errorf("has bad metadata: %v", err)
		}
	}
	switch f := cf.meta["format"]; f {
	case CheckpointFormat:
	case "cen-checkpoint/1":
		return nil, fmt.Errorf("was written by an earlier cen (%s) and does not record its recipe (class names, palette, preprocessing): make it again with `cen import-torch` or `cen train`", f)
	default:
		return nil, fmt.Errorf("is not a cen checkpoint (format %q, want %q); PyTorch files go through `cen import-torch`", f, CheckpointFormat)
	}
	for k, v := range header {
		if k == "__metadata__" {
			continue
		}
		var e stEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("has a bad entry %s: %v", k, err)
		}
		count := int64(1)
		for _, s := range e.Shape {
			if s < 0 {
				return nil, fmt.Errorf("has tensor %s with a negative dimension", k)
			}
			if s > 0 && count > maxTensorValues/int64(s) {
				return nil, fmt.Errorf("has tensor %s of shape %v: more than %d values", k, e.Shape, int64(maxTensorValues))
			}
			count *= int64(s)
		}
		size := int64(4)
		switch e.Dtype {
		case "F32":
		case "I64":
			size = 8
		default:
			return nil, fmt.Errorf("has tensor %s of unsupported dtype %s", k, e.Dtype)
		}
		if e.Offsets[0] < 0 || e.Offsets[1]-e.Offsets[0] != count*size {
			return nil, fmt.Errorf("has tensor %s whose offsets %v do not match its shape %v", k, e.Offsets, e.Shape)
		}
		if e.Offsets[1] > int64(len(cf.data)) {
			return nil, fmt.Errorf("is truncated: tensor %s ends at byte %d of %d: %w", k, e.Offsets[1], len(cf.data), io.ErrUnexpectedEOF)
		}
		cf.entries[k] = e
		cf.order = append(cf.order, k)
	}
	sort.Slice(cf.order, func(i, j int) bool { return cf.entries[cf.order[i]].Offsets[0] < cf.entries[cf.order[j]].Offsets[0] })
	return cf, nil
}

func (cf *checkpointFile) f32(name string) []float32 {
	e := cf.entries[name]
	b := cf.data[e.Offsets[0]:e.Offsets[1]]
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// LoadCheckpoint reads a checkpoint and builds the network it describes.
func LoadCheckpoint(path string) (*Model, *CheckpointInfo, error) {
	cf, err := readCheckpointFile(path)
	if err != nil {
		return nil, nil, err
	}
	var cfg Config
	if err := json.Unmarshal([]byte(cf.meta["config"]), &cfg); err != nil {
		return nil, nil, fmt.Errorf("%s: bad config in metadata: %v", path, err)
	}
	m, err := newModel(cfg, false)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	info, err := m.load(cf, path)
	if err != nil {
		return nil, nil, err
	}
	m.recipe = info.Recipe.Clone()
	return m, info, nil
}

// ReadCheckpointInfo reads what a checkpoint holds besides its weights (configuration, recipe, training state
// and extra tensors) without building its network.
func ReadCheckpointInfo(path string) (*CheckpointInfo, error) {
	cf, err := readCheckpointFile(path)
	if err != nil {
		return nil, err
	}
	info := &CheckpointInfo{Extra: map[string][]float32{}}
	if err := json.Unmarshal([]byte(cf.meta["config"]), &info.Config); err != nil {
		return nil, fmt.Errorf("%s: bad config in metadata: %v", path, err)
	}
	if info.Recipe, err = recipeFromMetadata(cf.meta, info.Config.Classes); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	info.Recipe.Version = cf.meta[MetaVersion]
	if s, ok := cf.meta["state"]; ok {
		info.State = json.RawMessage(s)
	}
	for _, k := range cf.order {
		if name, ok := strings.CutPrefix(k, "state."); ok && cf.entries[k].Dtype == "F32" {
			info.Extra[name] = cf.f32(k)
		}
	}
	return info, nil
}

// LoadWeightsExcept is LoadWeights for a checkpoint of the same architecture whose tensors under prefix may
// have other shapes (a classifier of another class count: "clf_conv."): those keep m's values, and their
// number is returned. Every other tensor must match, as for LoadWeights.
func (m *Model) LoadWeightsExcept(path, prefix string) (int, error) {
	cf, err := readCheckpointFile(path)
	if err != nil {
		return 0, err
	}
	skip := map[string]bool{}
	for _, p := range m.ps.list {
		if e, ok := cf.entries[p.Name]; ok && strings.HasPrefix(p.Name, prefix) && !sameShape(e.Shape, p.Shape) {
			skip[p.Name] = true
		}
	}
	_, err = m.loadSkipping(cf, path, skip)
	return len(skip), err
}

// LoadWeights reads a checkpoint into m, whose architecture must match it exactly: the first tensor that is
// missing, extra or of another shape is named in the error, and m is left unchanged. m keeps its own recipe
// (the file's is in the returned info): a run initialised from another model's weights feeds its own data.
func (m *Model) LoadWeights(path string) (*CheckpointInfo, error) {
	cf, err := readCheckpointFile(path)
	if err != nil {
		return nil, err
	}
	return m.load(cf, path)
}

func (m *Model) load(cf *checkpointFile, path string) (*CheckpointInfo, error) {
	return m.loadSkipping(cf, path, nil)
}

// loadSkipping is load where the tensors named in skip are not read from the file (m keeps them).
func (m *Model) loadSkipping(cf *checkpointFile, path string, skip map[string]bool) (*CheckpointInfo, error) {
	// Check everything before copying anything.
	info := &CheckpointInfo{Extra: map[string][]float32{}}
	if err := json.Unmarshal([]byte(cf.meta["config"]), &info.Config); err != nil {
		return nil, fmt.Errorf("%s: bad config in metadata: %v", path, err)
	}
	recipe, err := recipeFromMetadata(cf.meta, info.Config.Classes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	recipe.Version = cf.meta[MetaVersion]
	info.Recipe = recipe
	want := map[string]bool{}
	for _, p := range m.ps.list {
		want[p.Name] = true
		if skip[p.Name] {
			continue
		}
		e, ok := cf.entries[p.Name]
		if !ok {
			return nil, fmt.Errorf("%s does not fit the %s network: it has no tensor %s %s", path, m.cfg.Arch, p.Name, shapeString(p.Shape))
		}
		if e.Dtype != "F32" || !sameShape(e.Shape, p.Shape) {
			return nil, fmt.Errorf("%s does not fit the %s network: tensor %s is %s %s in the file, %s in the network", path, m.cfg.Arch, p.Name, e.Dtype, shapeString(e.Shape), shapeString(p.Shape))
		}
	}
	for _, c := range m.ps.counters {
		want[c.Name] = true
	}
	for _, k := range cf.order {
		e := cf.entries[k]
		if strings.HasPrefix(k, "state.") {
			if e.Dtype != "F32" {
				return nil, fmt.Errorf("%s: state tensor %s is %s, want F32", path, k, e.Dtype)
			}
			continue
		}
		if !want[k] {
			return nil, fmt.Errorf("%s does not fit the %s network: it has a tensor %s %s the network lacks", path, m.cfg.Arch, k, shapeString(e.Shape))
		}
	}
	for _, p := range m.ps.list {
		if !skip[p.Name] {
			copy(p.Data, cf.f32(p.Name))
		}
	}
	for _, c := range m.ps.counters {
		if e, ok := cf.entries[c.Name]; ok && e.Dtype == "I64" && e.Offsets[1]-e.Offsets[0] == 8 {
			c.Value = int64(binary.LittleEndian.Uint64(cf.data[e.Offsets[0]:]))
		}
	}
	if s, ok := cf.meta["state"]; ok {
		info.State = json.RawMessage(s)
	}
	for _, k := range cf.order {
		if name, ok := strings.CutPrefix(k, "state."); ok {
			info.Extra[name] = cf.f32(k)
		}
	}
	return info, nil
}
