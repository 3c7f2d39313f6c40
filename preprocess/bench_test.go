package preprocess

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/cen-ros/cen/calibration"
)

// benchmarkPipeline measures a whole frame: decode rgb8 and 16UC1 bytes,
// register depth into the RGB camera, build the network tensors, map network
// labels back to camera size, colour them and overlay them. Go runs on one
// thread; gocv v0.31 cannot set OpenCV's thread count, so for a strict
// one-core figure run under `taskset -c 0` with OPENCV_FOR_THREADS_NUM=1 (at
// the default 480×640 input no OpenCV call is made: nothing is resized).
func benchmarkPipeline(b *testing.B, enc DepthEncoding) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const w, h = 640, 480
	rgbCam := calibration.Pinhole{Width: w, Height: h, K: [9]float64{525, 0, 319.5, 0, 525, 239.5, 0, 0, 1}}
	depthCam := calibration.Pinhole{Width: w, Height: h, K: [9]float64{570, 0, 319.5, 0, 570, 239.5, 0, 0, 1}}
	reg, err := calibration.NewRegistration(depthCam, rgbCam, calibration.Extrinsic{R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}, T: [3]float64{0.025, 0, 0}})
	if err != nil {
		b.Fatal(err)
	}
	scene := roomDepth(depthCam, rotX(-20))
	depthMsg := Raw{Depth16, w, h, 2 * w, false, make([]byte, 2*w*h)}
	for i, d := range scene.Pix {
		binary.LittleEndian.PutUint16(depthMsg.Data[2*i:], uint16(d*1000))
	}
	rgbMsg := Raw{RGB8, w, h, 3 * w, false, testImage(w, h).Pix}
	spec := DefaultSpec()
	spec.DepthEncoding = enc
	view := &View{Camera: rgbCam}
	netLabels := make([]uint8, spec.Width*spec.Height)
	for i := range netLabels {
		netLabels[i] = uint8(i / 97 % 40)
	}
	var (
		rgb             RGBImage
		raw, registered DepthImage
		in              Input
		labels          = make([]uint8, w*h)
		color, overlay  RGBImage
	)
	b.SetBytes(int64(len(rgbMsg.Data) + len(depthMsg.Data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := DecodeRGBTo(&rgb, rgbMsg); err != nil {
			b.Fatal(err)
		}
		if err := DecodeDepthTo(&raw, depthMsg, 0); err != nil {
			b.Fatal(err)
		}
		if err := RegisterDepthTo(&registered, raw, reg, false); err != nil {
			b.Fatal(err)
		}
		if err := spec.InputTo(&in, rgb, registered, view); err != nil {
			b.Fatal(err)
		}
		if err := ToCameraTo(in.Geometry, labels, netLabels); err != nil {
			b.Fatal(err)
		}
		if err := Colorize(&color, labels, w, h, PaletteNYUDv2); err != nil {
			b.Fatal(err)
		}
		if err := Overlay(&overlay, rgb, color, 0.5); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPipeline640x480Replicate(b *testing.B) { benchmarkPipeline(b, Replicate) }

func BenchmarkPipeline640x480HHA(b *testing.B) { benchmarkPipeline(b, HHA) }

// BenchmarkInputResize640x480To320x240 measures Spec.Input with a bicubic
// downscale (the resize the full-size pipeline skips).
func BenchmarkInputResize640x480To320x240(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	spec := DefaultSpec()
	spec.Height, spec.Width = 240, 320
	rgb := testImage(640, 480)
	depth := DepthImage{640, 480, make([]float32, 640*480)}
	var in Input
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := spec.InputTo(&in, rgb, depth, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeHHA640x480 measures HHA alone, gravity estimated, on the
// pipeline benchmark's scene.
func BenchmarkEncodeHHA640x480(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	cam := calibration.Pinhole{Width: 640, Height: 480, K: [9]float64{525, 0, 319.5, 0, 525, 239.5, 0, 0, 1}}
	depth := roomDepth(cam, rotX(-20))
	for _, floor := range []HHAFloor{LowestFloor, RobustFloor} {
		b.Run(floor.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(depth.Pix)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, _, err := (HHAConf{Floor: floor}).Encode(depth, cam, [3]float64{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
