package rosbag

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
)

// benchFrames RGB-D frames (640x480 rgb8 + 640x480 16UC1 + CameraInfo, 1.5 MB) make a bag of 630 MB,
// 530 MB with lz4.
const benchFrames = 410

// writeBenchBag writes the benchmark bag: camera-like frames (smooth gradients with sensor noise, so lz4
// finds some but not much to compress) and a CameraInfo per frame.
func writeBenchBag(b testing.TB, path, comp string) int64 {
	w, err := Create(path, WriterConf{Compression: comp})
	if err != nil {
		b.Fatal(err)
	}
	rgbC, _ := w.AddConnection(Connection{Topic: "/camera/rgb/image_raw", MsgType: ImageType})
	depthC, _ := w.AddConnection(Connection{Topic: "/camera/depth/image_raw", MsgType: ImageType})
	infoC, _ := w.AddConnection(Connection{Topic: "/camera/rgb/camera_info", MsgType: CameraInfoType})
	rgb := sensor_msgs.Image{Height: 480, Width: 640, Encoding: "rgb8", Step: 1920, Data: make([]byte, 480*1920)}
	depth := sensor_msgs.Image{Height: 480, Width: 640, Encoding: "16UC1", Step: 1280, Data: make([]byte, 480*1280)}
	info := sensor_msgs.CameraInfo{Height: 480, Width: 640, DistortionModel: "plumb_bob", D: make([]float64, 5),
		K: [9]float64{525, 0, 319.5, 0, 525, 239.5, 0, 0, 1}}
	var buf []byte
	noise := uint64(88172645463325252)
	for f := range benchFrames {
		tm := Time{Sec: 1700000000 + uint32(f/30), Nsec: uint32(f%30) * 33333333}
		hdr := std_msgs.Header{Seq: uint32(f), FrameId: "camera_rgb_optical_frame"}
		rgb.Header, depth.Header, info.Header = hdr, hdr, hdr
		for y := range 480 {
			for x := range 640 {
				noise ^= noise << 13
				noise ^= noise >> 7
				noise ^= noise << 17
				p := rgb.Data[y*1920+3*x:]
				p[0], p[1], p[2] = byte(x+f)+byte(noise&7), byte(y)+byte(noise>>3&7), byte(x+y)+byte(noise>>6&7)
				d := 1000 + 2*x + y + f + int(noise>>9&3)
				depth.Data[y*1280+2*x], depth.Data[y*1280+2*x+1] = byte(d), byte(d>>8)
			}
		}
		for _, m := range []struct {
			c    *Connection
			data []byte
		}{{rgbC, AppendImage(buf[:0], &rgb)}, {depthC, AppendImage(buf[:0], &depth)}, {infoC, AppendCameraInfo(buf[:0], &info)}} {
			if err := w.WriteMessage(m.c, tm, m.data); err != nil {
				b.Fatal(err)
			}
			buf = m.data
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

// readForBench reads every message and touches one byte per 4 KiB of its data, so that a zero-copy read
// pays for bringing the data in as a consumer would. It returns the number of messages.
func readForBench(b *testing.B, path string, mapped bool) int {
	var r *Reader
	var err error
	if mapped {
		r, err = Open(path)
	} else {
		var f *os.File
		if f, err = os.Open(path); err == nil {
			defer f.Close()
			st, _ := f.Stat()
			r, err = NewReader(f, st.Size(), path)
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	n, sum := 0, byte(0)
	it := r.Messages(Filter{})
	for it.Next() {
		d := it.Message().Data
		for i := 0; i < len(d); i += 4096 {
			sum += d[i]
		}
		n++
	}
	if it.Err() != nil {
		b.Fatal(it.Err())
	}
	benchSink += sum
	return n
}

var benchSink byte

// rss returns the process's resident set and its high-water mark in bytes (Linux; zero elsewhere).
func rss() (now, peak float64) {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			now = kb * 1024
		case "VmHWM:":
			peak = kb * 1024
		}
	}
	return now, peak
}

// resetPeakRSS returns memory to the system and restarts the high-water mark from the current resident set.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// BenchmarkReadAll reads every message of a 630 MB bag of RGB-D frames (530 MB with lz4), as
// `cen eval --bag` does, touching a byte of every 4 KiB of message data, and compares with ROS's Python
// rosbag reading the same file in the same run (bag.read_messages(raw=True), best of three, timed by the
// Python script itself). Reported: file MB/s; x_python, Python's best time over our mean (the budget's
// figure); x_python_best, Python's best over our best read, like for like; python_ms; the growth of
// the process's resident memory over the reads, and its peak; bytes allocated per full read; the page
// faults and the user and system CPU time of a read (both cores together), which show where a mapped read's
// time goes. "mmap" is Open (uncompressed data handed out without a copy), "ReadAt" NewReader on the *os.File.
func BenchmarkReadAll(b *testing.B) {
	tool(b, debianPython)
	for _, comp := range []string{"none", "lz4"} {
		path := filepath.Join(b.TempDir(), "bench_"+comp+".bag")
		size := writeBenchBag(b, path, comp)
		var py struct {
			Seconds  float64 `json:"seconds"`
			Messages int     `json:"messages"`
		}
		if err := json.Unmarshal(bytes.TrimSpace(pyBag(b, "time", path, "3")), &py); err != nil {
			b.Fatal(err)
		}
		for _, mode := range []string{"mmap", "ReadAt"} {
			b.Run(comp+"/"+mode, func(b *testing.B) {
				b.SetBytes(size)
				resetPeakRSS()
				start, _ := rss()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				var ru0, ru1 syscall.Rusage
				syscall.Getrusage(0, &ru0)
				best := time.Duration(1<<63 - 1)
				for b.Loop() {
					start := time.Now()
					if n := readForBench(b, path, mode == "mmap"); n != py.Messages {
						b.Fatalf("%d messages, Python read %d", n, py.Messages)
					}
					best = min(best, time.Since(start))
				}
				runtime.ReadMemStats(&after)
				syscall.Getrusage(0, &ru1)
				b.ReportMetric(float64(ru1.Minflt-ru0.Minflt)/float64(b.N), "minflt/op")
				b.ReportMetric(float64(ru1.Utime.Nano()-ru0.Utime.Nano())/float64(b.N)/1e6, "user_ms/op")
				b.ReportMetric(float64(ru1.Stime.Nano()-ru0.Stime.Nano())/float64(b.N)/1e6, "sys_ms/op")
				_, peak := rss()
				perOp := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(py.Seconds/perOp, "x_python")
				b.ReportMetric(py.Seconds/best.Seconds(), "x_python_best")
				b.ReportMetric(py.Seconds*1e3, "python_ms")
				b.ReportMetric((peak-start)/(1<<20), "RSS_growth_MB")
				b.ReportMetric(peak/(1<<20), "RSS_peak_MB")
				b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "alloc_MB/op")
				b.ReportMetric(float64(size)/(1<<20), "bag_MB")
			})
		}
		os.Remove(path)
	}
}

// BenchmarkXXH32 hashes chunk-sized buffers (1.5 MB, as an RGB-D frame's chunk) three ways: in Go, with
// the vector form this CPU runs, and two buffers side by side (xxh32Pair; SetBytes counts both).
func BenchmarkXXH32(b *testing.B) {
	data := noise(3<<20, 2463534242)
	x, y := data[:3<<19], data[3<<19:]
	var sink uint32
	b.Run("Go", func(b *testing.B) {
		b.SetBytes(int64(len(x)))
		withGoXXH32(func() {
			for b.Loop() {
				sink += xxh32(x)
			}
		})
	})
	b.Run("vector", func(b *testing.B) {
		b.SetBytes(int64(len(x)))
		for b.Loop() {
			sink += xxh32(x)
		}
	})
	b.Run("pair", func(b *testing.B) {
		b.SetBytes(int64(len(x) + len(y)))
		for b.Loop() {
			h1, h2 := xxh32Pair(x, y)
			sink += h1 + h2
		}
	})
	benchSink += byte(sink)
}
