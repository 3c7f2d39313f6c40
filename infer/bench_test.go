package infer

import (
	"fmt"
	"testing"
	"time"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/internal/modeltest"
	"github.com/cen-ros/cen/preprocess"
)

// BenchmarkSegmentOverhead640x480 measures what the inference library adds around the backend for a 640×480
// RGB-D pair: preprocessing (resize, normalisation, depth) and post-processing (labels and confidence back to
// camera size), reported per frame beside the backend's own time. The network is a narrow lite-r18 exported to
// ONNX, so the backend time is small; the design budget for pre- plus post-processing is 5 ms on one core
// (make bench runs this with GOMAXPROCS=1 on one CPU). Two input sizes: the official 480×640 (no resize) and
// 240×320 (a resize each way).
func BenchmarkSegmentOverhead640x480(b *testing.B) {
	for _, size := range [][2]int{{480, 640}, {240, 320}} {
		b.Run(fmt.Sprintf("net%dx%d", size[1], size[0]), func(b *testing.B) {
			model := modeltest.Network(b, "lite-r18", 2, 1)
			s := preprocess.DefaultSpec()
			s.Height, s.Width = size[0], size[1]
			modeltest.SetRecipe(b, model, s)
			path := modeltest.Export(b, model, cen.ExportOptions{Height: size[0], Width: size[1]})
			m, err := Open(path, Conf{Device: "cpu", Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			f := frame(640, 480, 1)
			var res Result
			if err := m.Segment(f, &res); err != nil {
				b.Fatal(err)
			}
			var pre, post, net time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := m.Segment(f, &res); err != nil {
					b.Fatal(err)
				}
				pre += res.Timings.Preprocess
				post += res.Timings.Postprocess
				net += res.Timings.Inference
			}
			n := float64(b.N)
			b.ReportMetric(float64(pre.Microseconds())/1e3/n, "pre_ms/frame")
			b.ReportMetric(float64(post.Microseconds())/1e3/n, "post_ms/frame")
			b.ReportMetric(float64((pre+post).Microseconds())/1e3/n, "overhead_ms/frame")
			b.ReportMetric(float64(net.Microseconds())/1e3/n, "backend_ms/frame")
		})
	}
}
