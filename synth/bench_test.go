package synth

import "testing"

// BenchmarkRender renders 240×320 frames (the default size) on one goroutine.
func BenchmarkRender(b *testing.B) {
	for _, size := range []struct {
		name string
		h, w int
	}{{"240x320", 240, 320}, {"480x640", 480, 640}} {
		b.Run(size.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := Render(7, i%16, size.h, size.w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
