// Package npy reads and writes NumPy .npy arrays (format versions 1–3, little-endian, C order) and reads .npz
// archives of them: the exchange format of cen's PyTorch fixtures and of `cen predict --logits`.
package npy

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/cen-ros/cen/internal/atomicfile"
)

// Array is a decoded array. Exactly one of the data slices is set, by dtype.
type Array struct {
	Shape []int
	Dtype string // "<f4", "<f8", "|u1", "<i8", "<i4", "|b1"
	F32   []float32
	F64   []float64
	U8    []uint8
	I64   []int64
	I32   []int32
}

// Len is the number of elements the shape holds.
func (a *Array) Len() int {
	n := 1
	for _, s := range a.Shape {
		n *= s
	}
	return n
}

// Float32 returns the values converted to float32 (integers and float64 included).
func (a *Array) Float32() []float32 {
	switch {
	case a.F32 != nil:
		return a.F32
	case a.F64 != nil:
		return convert(a.F64)
	case a.U8 != nil:
		return convert(a.U8)
	case a.I64 != nil:
		return convert(a.I64)
	case a.I32 != nil:
		return convert(a.I32)
	}
	return nil
}

func convert[T float64 | uint8 | int64 | int32](v []T) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

var magic = []byte("\x93NUMPY")

var (
	reDescr   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	reFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	reShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// Read decodes one .npy array from r.
func Read(r io.Reader) (*Array, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("npy: short header: %w", unexpected(err))
	}
	if !bytes.Equal(pre[:6], magic) {
		return nil, errors.New("npy: not a .npy file (bad magic)")
	}
	var hlen int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: short header: %w", unexpected(err))
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: short header: %w", unexpected(err))
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d", pre[6])
	}
	if hlen > 1<<20 {
		return nil, fmt.Errorf("npy: header of %d bytes is implausible", hlen)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("npy: short header: %w", unexpected(err))
	}
	h := string(hdr)
	d := reDescr.FindStringSubmatch(h)
	f := reFortran.FindStringSubmatch(h)
	s := reShape.FindStringSubmatch(h)
	if d == nil || f == nil || s == nil {
		return nil, fmt.Errorf("npy: malformed header %q", strings.TrimSpace(h))
	}
	if f[1] == "True" {
		return nil, errors.New("npy: Fortran-order arrays are not supported")
	}
	a := &Array{Dtype: d[1]}
	for _, part := range strings.Split(s[1], ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		v, err := strconv.Atoi(part)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("npy: bad shape %q", s[1])
		}
		a.Shape = append(a.Shape, v)
	}
	n := a.Len()
	if n > 1<<31 {
		return nil, fmt.Errorf("npy: %d elements is too many", n)
	}
	var size int
	switch a.Dtype {
	case "<f4", "<i4":
		size = 4
	case "<f8", "<i8":
		size = 8
	case "|u1", "|b1":
		size = 1
	default:
		return nil, fmt.Errorf("npy: unsupported dtype %q", a.Dtype)
	}
	raw := make([]byte, n*size)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("npy: data shorter than shape %v: %w", a.Shape, unexpected(err))
	}
	switch a.Dtype {
	case "<f4":
		a.F32 = make([]float32, n)
		for i := range a.F32 {
			a.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case "<i4":
		a.I32 = make([]int32, n)
		for i := range a.I32 {
			a.I32[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case "<f8":
		a.F64 = make([]float64, n)
		for i := range a.F64 {
			a.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	case "<i8":
		a.I64 = make([]int64, n)
		for i := range a.I64 {
			a.I64[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	case "|u1", "|b1":
		a.U8 = raw
	}
	return a, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadFile reads a .npy file.
func ReadFile(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// ReadNPZ reads every array of a .npz archive, keyed by name without the .npy suffix.
func ReadNPZ(path string) (map[string]*Array, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer z.Close()
	out := map[string]*Array{}
	for _, f := range z.File {
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		a, err := Read(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		out[strings.TrimSuffix(f.Name, ".npy")] = a
	}
	return out, nil
}

// WriteFloat32 writes a float32 array of the given shape as .npy (format 1.0) to w.
func WriteFloat32(w io.Writer, shape []int, data []float32) error {
	n := 1
	for _, s := range shape {
		n *= s
	}
	if n != len(data) {
		return fmt.Errorf("npy: shape %v holds %d values, got %d", shape, n, len(data))
	}
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = strconv.Itoa(s)
	}
	shapeStr := strings.Join(dims, ", ")
	if len(shape) == 1 {
		shapeStr += ","
	}
	h := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shapeStr)
	// Pad so that the data starts on a 64-byte boundary, ending the header with a newline.
	total := len(magic) + 2 + 2 + len(h) + 1
	h += strings.Repeat(" ", (64-total%64)%64) + "\n"
	buf := bytes.NewBuffer(make([]byte, 0, 10+len(h)+4*n))
	buf.Write(magic)
	buf.Write([]byte{1, 0})
	binary.Write(buf, binary.LittleEndian, uint16(len(h)))
	buf.WriteString(h)
	var b [4]byte
	for _, v := range data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		buf.Write(b[:])
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteFloat32File writes a .npy file atomically (temporary file, then rename).
func WriteFloat32File(path string, shape []int, data []float32) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { return WriteFloat32(w, shape, data) })
}
