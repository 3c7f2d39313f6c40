package npy

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteThenReadRoundTrips(t *testing.T) {
	var buf bytes.Buffer
	data := []float32{1, -2.5, 3e-8, 4e8, 0, 6}
	if err := WriteFloat32(&buf, []int{2, 3}, data); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%64 != 24 { // header padded to 64 bytes, then 6 float32
		t.Fatalf("file of %d bytes: data does not start on a 64-byte boundary", buf.Len())
	}
	a, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if a.Dtype != "<f4" || len(a.Shape) != 2 || a.Shape[0] != 2 || a.Shape[1] != 3 {
		t.Fatalf("dtype %s shape %v", a.Dtype, a.Shape)
	}
	for i, v := range data {
		if a.F32[i] != v {
			t.Fatalf("value %d: %v, want %v", i, a.F32[i], v)
		}
	}
}

// TestNumPyReadsWhatWeWrite checks the files against NumPy itself.
func TestNumPyReadsWhatWeWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.npy")
	if err := WriteFloat32File(path, []int{3, 1, 2}, []float32{0, 1, 2, 3, 4, 5.5}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "-c", "import numpy as np,sys; a=np.load(sys.argv[1]); print(a.dtype, a.shape, a[2,0,1])", path).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "float32 (3, 1, 2) 5.5" {
		t.Fatalf("numpy read %q", got)
	}
}

func TestMalformedFilesGiveErrors(t *testing.T) {
	var good bytes.Buffer
	WriteFloat32(&good, []int{4}, []float32{1, 2, 3, 4})
	raw := good.Bytes()
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "short header"},
		{"magic", []byte("PK\x03\x04 not npy"), "bad magic"},
		{"truncated data", raw[:len(raw)-3], "data shorter than shape"},
		{"version", append([]byte("\x93NUMPY\x09\x00"), raw[8:]...), "unsupported format version 9"},
		{"dtype", bytes.Replace(raw, []byte("<f4"), []byte("<c8"), 1), `unsupported dtype "<c8"`},
		{"fortran", bytes.Replace(raw, []byte("False"), []byte("True "), 1), "Fortran-order"},
	}
	for _, c := range cases {
		_, err := Read(bytes.NewReader(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	_, err := Read(bytes.NewReader(raw[:len(raw)-3]))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated data: %v does not wrap io.ErrUnexpectedEOF", err)
	}
}
