package rosbag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
)

func TestXXH32GivesTheReferenceValues(t *testing.T) {
	// Values from the xxHash reference implementation (seed 0).
	for _, tc := range []struct {
		in   string
		want uint32
	}{
		{"", 0x02CC5D05},
		{"a", 0x550D7456},
		{"abc", 0x32D153FF},
		{"Nobody inspects the spammish repetition", 0xE2293B2F},
	} {
		if got := xxh32([]byte(tc.in)); got != tc.want {
			t.Errorf("xxh32(%q) = %08x, want %08x", tc.in, got, tc.want)
		}
	}
}

// withGoXXH32 runs f with the vector forms of xxStripes turned off, so on the Go form alone.
func withGoXXH32(f func()) {
	avx, avx2 := useAVX, useAVX2
	useAVX, useAVX2 = false, false
	defer func() { useAVX, useAVX2 = avx, avx2 }()
	f()
}

// noise is n bytes of xorshift noise.
func noise(n int, x uint32) []byte {
	data := make([]byte, n)
	for i := range data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	return data
}

// TestXXH32AgreesWithPierrecAtEveryLength checks the checksum at each length up to 300 bytes, so through
// every path of its loop (none, one and two 16-byte stripes per pass in Go, the vector form from 64 bytes,
// and the 4-byte and 1-byte tails), in the form this CPU runs and in Go: pierrec/lz4 writes frames with
// its own xxh32 of the content, which lz4Decode verifies.
func TestXXH32AgreesWithPierrecAtEveryLength(t *testing.T) {
	t.Logf("vector forms on this CPU: AVX %v, AVX2 %v", useAVX, useAVX2)
	t.Run("this CPU", func(t *testing.T) { xxh32AgreesWithPierrec(t) })
	t.Run("Go", func(t *testing.T) { withGoXXH32(func() { xxh32AgreesWithPierrec(t) }) })
}

func xxh32AgreesWithPierrec(t *testing.T) {
	data := noise(300, 2463534242)
	for n := 0; n <= len(data); n++ {
		var b bytes.Buffer
		w := lz4.NewWriter(&b)
		if err := w.Apply(lz4.ChecksumOption(true)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := lz4Decode(nil, b.Bytes(), int64(n), nil)
		if err != nil || !bytes.Equal(got, data[:n]) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
}

// TestXXH32PairGivesEachHash checks that hashing two buffers side by side gives each one's hash as the Go
// form computes it alone, for lengths that end the common part in either buffer, inside a stripe and on
// one, and buffers too short for the paired form.
func TestXXH32PairGivesEachHash(t *testing.T) {
	data := noise(1<<20+37, 88172645)
	lengths := []int{0, 15, 255, 256, 257, 300, 4096, 4099, 65536 + 7, 1 << 20, 1<<20 + 37}
	for _, na := range lengths {
		for _, nb := range lengths {
			a, b := data[:na], data[len(data)-nb:]
			var wa, wb uint32
			withGoXXH32(func() { wa, wb = xxh32(a), xxh32(b) })
			if ga, gb := xxh32Pair(a, b); ga != wa || gb != wb {
				t.Errorf("lengths %d and %d: pair gives %08x %08x, one at a time in Go %08x %08x", na, nb, ga, gb, wa, wb)
			}
		}
	}
}

// lz4TestData is 3 MiB that compresses in places (runs, repeated text) and not in others (noise).
func lz4TestData() []byte {
	var b bytes.Buffer
	x := uint32(2463534242)
	for b.Len() < 3<<20 {
		switch b.Len() / 100000 % 3 {
		case 0:
			b.WriteString("header.stamp frame_id camera_rgb_optical_frame encoding rgb8 ")
		case 1:
			for range 1000 {
				x ^= x << 13
				x ^= x >> 17
				x ^= x << 5
				b.WriteByte(byte(x))
			}
		case 2:
			b.Write(make([]byte, 5000))
		}
	}
	return b.Bytes()
}

func TestLZ4DecodesFramesOfTheReferenceTool(t *testing.T) {
	bin, err := exec.LookPath("lz4")
	if err != nil {
		t.Fatalf("lz4 not found (Debian package lz4): %v", err)
	}
	data := lz4TestData()
	in := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, flags := range [][]string{
		{}, {"-B4"}, {"-B5", "-BX"}, {"-B6", "--content-size"}, {"-B7", "--no-frame-crc"},
		{"-BD"}, {"-BD", "-B4", "-BX", "--content-size"}, {"-9", "-BD", "-B5"},
	} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			frame := run(t, bin, append(append([]string{"-c", "-q"}, flags...), in)...)
			got, err := lz4Decode(nil, frame, int64(len(data)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("decoded %d bytes that differ from the %d compressed", len(got), len(data))
			}
		})
	}
}

func TestLZ4DecodesRoslz4AndPierrecFrames(t *testing.T) {
	data := lz4TestData()
	tool(t, debianPython)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	os.WriteFile(in, data, 0o644)
	run(t, debianPython, "-c", "import roslz4, sys; open(sys.argv[2], 'wb').write(roslz4.compress(open(sys.argv[1], 'rb').read()))", in, out)
	frames := map[string][]byte{"roslz4": readFile(t, out)}
	// (Not pierrec's block checksums: v4.1.18 computes them over the uncompressed block, where the frame
	// format and the reference tool take the stored bytes. The Writer does not use them.)
	for _, bs := range []lz4.BlockSize{lz4.Block64Kb, lz4.Block256Kb, lz4.Block1Mb, lz4.Block4Mb} {
		for _, sized := range []bool{false, true} {
			var b bytes.Buffer
			w := lz4.NewWriter(&b)
			opts := []lz4.Option{lz4.BlockSizeOption(bs), lz4.ChecksumOption(!sized)}
			if sized {
				opts = append(opts, lz4.SizeOption(uint64(len(data))))
			}
			if err := w.Apply(opts...); err != nil {
				t.Fatal(err)
			}
			w.Write(data)
			w.Close()
			frames[bs.String()+map[bool]string{false: "", true: " content size"}[sized]] = b.Bytes()
		}
	}
	// Two frames with a skippable frame between them decode to both contents.
	skip := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, lz4SkippableMagic+3), 5)
	frames["two frames and a skippable one"] = append(append(append(bytes.Clone(frames["roslz4"]), skip...), "hello"...), frames["roslz4"]...)
	for name, frame := range frames {
		t.Run(name, func(t *testing.T) {
			want := data
			if strings.HasPrefix(name, "two frames") {
				want = append(bytes.Clone(data), data...)
			}
			got, err := lz4Decode(nil, frame, int64(len(want)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("decoded %d bytes that differ from the %d compressed", len(got), len(want))
			}
		})
	}
}

func TestLZ4RejectsDamagedFrames(t *testing.T) {
	data := []byte(strings.Repeat("a few words that repeat, ", 400))
	var b bytes.Buffer
	w := lz4.NewWriter(&b)
	w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(true))
	w.Write(data)
	w.Close()
	frame := b.Bytes()
	for n := 1; n < len(frame); n++ {
		if _, err := lz4Decode(nil, frame[:n], int64(len(data)), nil); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("frame cut at %d of %d: %v, want io.ErrUnexpectedEOF", n, len(frame), err)
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(f []byte)
		limit  int
		want   string
	}{
		{"content checksum", func(f []byte) { f[len(f)-1] ^= 1 }, len(data), "content checksum mismatch"},
		{"descriptor checksum", func(f []byte) { f[6] ^= 1 }, len(data), "descriptor checksum"},
		{"version", func(f []byte) { f[4] ^= 0x80 }, len(data), "version"},
		{"magic", func(f []byte) { f[0] ^= 1 }, len(data), "no frame magic"},
		{"block larger than the frame allows", func(f []byte) { binary.LittleEndian.PutUint32(f[7:], 64<<10+1) }, len(data), "more than the frame's 65536"},
		{"output beyond the limit", func([]byte) {}, len(data) - 1, "decodes past the chunk's size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := bytes.Clone(frame)
			tc.mutate(f)
			if _, err := lz4Decode(nil, f, int64(tc.limit), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want an error saying %q", err, tc.want)
			}
		})
	}
}
