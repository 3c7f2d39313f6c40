package cen

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cen-ros/cen/internal/atomicfile"
)

// The paper's checkpoint, as torch.save writes it by default since PyTorch 1.6 (torch 1.13 included) and as
// torch.load reads it back:
//
// The file is a zip archive whose entries are stored uncompressed, all inside one folder (the archive name;
// torch.save uses the file's base name without its last extension, "archive" for a stream). The reader takes
// the folder from the first entry's name and finds the others by name, so their order does not matter to it;
// it checks each entry's CRC-32. The entries, in the order written here:
//
//	<name>/data.pkl      the object, pickled with protocol 2
//	<name>/byteorder     "little": the byte order of the storages
//	<name>/data/<key>    one per storage: its values, raw, little-endian, nothing else (4 bytes per float32,
//	                     8 per int64); keys are "0", "1", ..., written sorted as strings as torch.save does
//	<name>/version       the serialisation format version, "3\n"
//
// torch 1.13 writes no byteorder record and its torch.load reads only the records it asks for, so the record
// changes nothing there. Newer torch (2.x) writes one and reads it; without it, current releases assume
// little-endian and earlier 2.x releases assumed the machine's own order, so it is written to make the order
// explicit.
// torch.save pads every entry's local header with an extra field (id "FB", filled with 'Z') so that the data
// starts on a multiple of 64 bytes; the 1.13 reader copies records out and does not need that, later readers
// can map storages in place when it holds, so the writer below aligns them the same way.
//
// The pickle holds the dict the official training script saves:
//
//	{'segmenter': OrderedDict(key -> tensor), 'epoch_start': int, 'best_val': float}
//
// The keys are those of a DataParallel-wrapped model (see OfficialKey), in state_dict order. A tensor is a call
// torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()) whose storage is a persistent
// id, the tuple ('storage', torch.FloatStorage or torch.LongStorage, key, 'cpu', number of values), which
// torch.load resolves to data/<key>. Every tensor has its own storage, contiguous, at offset 0; a batch norm's
// num_batches_tracked is a 0-dimensional int64 tensor (size () and stride ()).

// OfficialKey maps a cen parameter name to its key in the official checkpoint: the inverse of CanonicalName.
// The DataParallel prefix "module." comes first; a convolution's weight or bias also gets ModuleParallel's
// ".module." before its last part, while α and the batch norms (whose per-modality copies bn_0, bn_1, ... are
// plain submodules) keep their names: "layer1.0.conv1.weight" becomes "module.layer1.0.conv1.module.weight",
// "clf_conv.bias" becomes "module.clf_conv.module.bias", "layer1.0.bn2.bn_1.running_var" becomes
// "module.layer1.0.bn2.bn_1.running_var" and "alpha" becomes "module.alpha".
func OfficialKey(name string) string {
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 || isBNCopy(name[strings.LastIndexByte(name[:dot], '.')+1:dot]) {
		return "module." + name
	}
	return "module." + name[:dot] + ".module" + name[dot:]
}

// isBNCopy says whether a name part is a per-modality batch norm, "bn_" and a number.
func isBNCopy(part string) bool {
	digits, ok := strings.CutPrefix(part, "bn_")
	if !ok || digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// SaveTorch writes the network to path in the official CEN checkpoint format (see WriteTorch), atomically: an
// interrupted save leaves any previous file intact. As torch.save does, the archive inside is named after the
// file ("model.pth" for model.pth.tar).
func (m *Model) SaveTorch(path string, epoch int, bestVal float64) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		if err := m.writeTorch(w, torchArchiveName(path), epoch, bestVal); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return nil
	})
}

// WriteTorch writes the network to w as the official CEN code saves its checkpoints, a torch.save file of
// {'segmenter': state_dict of the DataParallel-wrapped model, 'epoch_start': epoch, 'best_val': bestVal},
// so that torch.load reads it and the official model loads the state dict with strict=True. Its tensors are the
// network's own values, bit for bit; ReadTorch and ImportTorch bring them back.
func (m *Model) WriteTorch(w io.Writer, epoch int, bestVal float64) error {
	return m.writeTorch(w, "archive", epoch, bestVal)
}

// torchArchiveName is the folder torch.save puts a file's entries in: its base name up to the last dot.
func torchArchiveName(path string) string {
	name := filepath.Base(path)
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[:i]
	}
	if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, "/\\") {
		return "archive"
	}
	return name
}

// torchEntry is one state_dict entry: a float32 tensor or an int64 counter.
type torchEntry struct {
	key   string
	shape []int
	f32   []float32
	i64   []int64
}

// torchEntries lists the network's tensors in the official state_dict order: a batch norm's
// num_batches_tracked follows its running_var, as PyTorch lists a module's buffers.
func (m *Model) torchEntries() ([]torchEntry, error) {
	counters := map[string]*Counter{}
	for _, c := range m.ps.counters {
		counters[c.Name] = c
	}
	var out []torchEntry
	for _, p := range m.ps.list {
		out = append(out, torchEntry{key: OfficialKey(p.Name), shape: p.Shape, f32: p.Data})
		if prefix, ok := strings.CutSuffix(p.Name, ".running_var"); ok {
			name := prefix + ".num_batches_tracked"
			c, ok := counters[name]
			if !ok {
				return nil, fmt.Errorf("the network has no counter %s for %s", name, p.Name)
			}
			out = append(out, torchEntry{key: OfficialKey(name), shape: []int{}, i64: []int64{c.Value}})
			delete(counters, name)
		}
	}
	if len(counters) > 0 {
		return nil, fmt.Errorf("the network has %d counter(s) without a batch norm", len(counters))
	}
	return out, nil
}

func (m *Model) writeTorch(w io.Writer, archive string, epoch int, bestVal float64) error {
	entries, err := m.torchEntries()
	if err != nil {
		return err
	}
	p := newPickler()
	p.op(opEmptyDict)
	p.op(opMark)
	p.str("segmenter")
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple, opReduce)
	// Python's pickler sets dict items in batches of 1000; the stack of one batch stays small.
	for lo := 0; lo < len(entries); lo += 1000 {
		p.op(opMark)
		for i, e := range entries[lo:min(lo+1000, len(entries))] {
			p.str(e.key)
			storage, numel := "FloatStorage", len(e.f32)
			if e.i64 != nil {
				storage, numel = "LongStorage", len(e.i64)
			}
			p.tensor(storage, strconv.Itoa(lo+i), numel, e.shape)
		}
		p.op(opSetItems)
	}
	p.str("epoch_start")
	p.int(int64(epoch))
	p.str("best_val")
	p.float(bestVal)
	p.op(opSetItems, opStop)

	zw := newTorchZip(w)
	if err := zw.add(archive+"/data.pkl", p.b); err != nil {
		return err
	}
	if err := zw.add(archive+"/byteorder", []byte("little")); err != nil {
		return err
	}
	// Storage keys in string order, as torch.save writes them ("0", "1", "10", "100", ...).
	keys := make([]string, len(entries))
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	sort.Strings(keys)
	var buf []byte
	for _, k := range keys {
		i, _ := strconv.Atoi(k)
		e := entries[i]
		buf = buf[:0]
		for _, v := range e.f32 {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		for _, v := range e.i64 {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
		}
		if err := zw.add(archive+"/data/"+k, buf); err != nil {
			return fmt.Errorf("tensor %s: %w", e.key, err)
		}
	}
	if err := zw.add(archive+"/version", []byte("3\n")); err != nil {
		return err
	}
	return zw.close()
}

// torchZip writes stored (uncompressed) zip entries whose data start on 64-byte boundaries, as torch.save does.
type torchZip struct {
	cw *countingWriter
	zw *zip.Writer
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

func newTorchZip(w io.Writer) *torchZip {
	cw := &countingWriter{w: w}
	return &torchZip{cw: cw, zw: zip.NewWriter(cw)}
}

// torchAlign is the boundary torch.save aligns every entry's data to.
const torchAlign = 64

func (z *torchZip) add(name string, data []byte) error {
	if uint64(len(data)) >= math.MaxUint32 {
		// A local header would need a zip64 field; no CEN tensor comes near 4 GiB.
		return fmt.Errorf("entry %s of %d bytes is too large for this writer", name, len(data))
	}
	// The zip writer buffers: flush it so that the count is the offset of the local header written next.
	if err := z.zw.Flush(); err != nil {
		return err
	}
	const localHeader, extraHeader = 30, 4
	start := z.cw.n + localHeader + int64(len(name)) + extraHeader
	pad := int((torchAlign - start%torchAlign) % torchAlign)
	extra := make([]byte, extraHeader+pad)
	extra[0], extra[1] = 'F', 'B'
	binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
	for i := extraHeader; i < len(extra); i++ {
		extra[i] = 'Z'
	}
	fw, err := z.zw.CreateRaw(&zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		Flags:              0x800, // names are UTF-8
		CreatorVersion:     20,
		ReaderVersion:      20,
		CRC32:              crc32.ChecksumIEEE(data),
		CompressedSize64:   uint64(len(data)),
		UncompressedSize64: uint64(len(data)),
		Extra:              extra,
	})
	if err != nil {
		return err
	}
	_, err = fw.Write(data)
	return err
}

// close writes the central directory.
func (z *torchZip) close() error { return z.zw.Close() }

// Pickle opcodes (protocol 2) the checkpoint needs.
const (
	opProto      = 0x80
	opStop       = '.'
	opMark       = '('
	opEmptyDict  = '}'
	opEmptyTuple = ')'
	opTuple      = 't'
	opTuple1     = 0x85
	opTuple2     = 0x86
	opTuple3     = 0x87
	opGlobal     = 'c'
	opReduce     = 'R'
	opBinPersID  = 'Q'
	opSetItems   = 'u'
	opBinPut     = 'q'
	opLongBinPut = 'r'
	opBinGet     = 'h'
	opLongBinGet = 'j'
	opBinUnicode = 'X'
	opBinInt1    = 'K'
	opBinInt2    = 'M'
	opBinInt     = 'J'
	opLong1      = 0x8a
	opBinFloat   = 'G'
	opNewFalse   = 0x89
)

// pickler encodes the few Python values a checkpoint holds. Globals and the strings every tensor repeats are
// pushed once and fetched from the memo afterwards, as Python's pickler does.
type pickler struct {
	b    []byte
	memo map[string]int
}

func newPickler() *pickler {
	return &pickler{b: []byte{opProto, 2}, memo: map[string]int{}}
}

func (p *pickler) op(ops ...byte) { p.b = append(p.b, ops...) }

// memoized pushes the value called key with push the first time and fetches it from the memo afterwards.
func (p *pickler) memoized(key string, push func()) {
	if i, ok := p.memo[key]; ok {
		if i < 256 {
			p.b = append(p.b, opBinGet, byte(i))
		} else {
			p.b = binary.LittleEndian.AppendUint32(append(p.b, opLongBinGet), uint32(i))
		}
		return
	}
	push()
	i := len(p.memo)
	p.memo[key] = i
	if i < 256 {
		p.b = append(p.b, opBinPut, byte(i))
	} else {
		p.b = binary.LittleEndian.AppendUint32(append(p.b, opLongBinPut), uint32(i))
	}
}

// global pushes module.name (a class or function the unpickler imports).
func (p *pickler) global(module, name string) {
	p.memoized("global "+module+"."+name, func() {
		p.b = append(p.b, opGlobal)
		p.b = append(append(append(append(p.b, module...), '\n'), name...), '\n')
	})
}

// str pushes a Python str.
func (p *pickler) str(s string) {
	p.b = binary.LittleEndian.AppendUint32(append(p.b, opBinUnicode), uint32(len(s)))
	p.b = append(p.b, s...)
}

// memoStr pushes a str that recurs, through the memo.
func (p *pickler) memoStr(s string) { p.memoized("str "+s, func() { p.str(s) }) }

// int pushes a Python int in the shortest form Python's pickler uses.
func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v < 1<<8:
		p.b = append(p.b, opBinInt1, byte(v))
	case v >= 0 && v < 1<<16:
		p.b = binary.LittleEndian.AppendUint16(append(p.b, opBinInt2), uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.b = binary.LittleEndian.AppendUint32(append(p.b, opBinInt), uint32(int32(v)))
	default:
		// LONG1: a length byte, then the value in two's complement, little-endian, without the redundant
		// sign-extension bytes at the top.
		le := binary.LittleEndian.AppendUint64(nil, uint64(v))
		for len(le) > 1 {
			top, next := le[len(le)-1], le[len(le)-2]
			if top == 0 && next&0x80 == 0 || top == 0xff && next&0x80 != 0 {
				le = le[:len(le)-1]
				continue
			}
			break
		}
		p.b = append(append(p.b, opLong1, byte(len(le))), le...)
	}
}

// float pushes a Python float (BINFLOAT: 8 bytes, big-endian IEEE 754).
func (p *pickler) float(v float64) {
	p.b = binary.BigEndian.AppendUint64(append(p.b, opBinFloat), math.Float64bits(v))
}

// tuple pushes a tuple of ints.
func (p *pickler) tuple(vs []int) {
	if len(vs) > 3 {
		p.op(opMark)
	}
	for _, v := range vs {
		p.int(int64(v))
	}
	switch len(vs) {
	case 0:
		p.op(opEmptyTuple)
	case 1:
		p.op(opTuple1)
	case 2:
		p.op(opTuple2)
	case 3:
		p.op(opTuple3)
	default:
		p.op(opTuple)
	}
}

// tensor pushes a contiguous CPU tensor of the given shape over all of storage key, of numel values.
func (p *pickler) tensor(storage, key string, numel int, shape []int) {
	stride := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		stride[i] = s
		s *= shape[i]
	}
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op(opMark)
	p.op(opMark)
	p.memoStr("storage")
	p.global("torch", storage)
	p.str(key)
	p.memoStr("cpu")
	p.int(int64(numel))
	p.op(opTuple, opBinPersID)
	p.int(0) // storage offset
	p.tuple(shape)
	p.tuple(stride)
	p.op(opNewFalse) // requires_grad
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple, opReduce) // backward hooks: none
	p.op(opTuple, opReduce)
}
