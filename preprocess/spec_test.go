package preprocess

import (
	"strings"
	"testing"
)

func TestSpecMetadataRoundTrips(t *testing.T) {
	custom := DefaultSpec()
	custom.Height, custom.Width = 240, 320
	custom.Resize, custom.RGBInterp, custom.DepthEncoding = Letterbox, Bilinear, HHA
	custom.DepthScale, custom.DepthMin, custom.DepthMax, custom.InvalidDepth = 0.2, 0.1, 10, -1
	custom.DepthMean, custom.DepthStd = [3]float32{0.5, 0.5, 0.5}, [3]float32{0.25, 0.25, 0.25}
	for _, s := range []Spec{DefaultSpec(), custom} {
		md := s.Metadata()
		md["cen.architecture"] = "refinenet-r101" // other keys are ignored
		got, err := SpecFromMetadata(md)
		if err != nil {
			t.Fatal(err)
		}
		if got != s {
			t.Fatalf("round trip gave %+v, want %+v", got, s)
		}
	}
	if md := DefaultSpec().Metadata(); md[KeyDepthEncoding] != "replicate" || md[KeyResize] != "stretch" || md[KeyMean] != "0.485,0.456,0.406" {
		t.Fatalf("metadata strings: %v", md)
	}
}

func TestSpecFromMetadataNamesTheBadOrMissingValue(t *testing.T) {
	tests := []struct {
		key, value, want string
	}{
		{KeyResize, "crop", `preprocess.resize="crop": want one of stretch, letterbox`},
		{KeyDepthEncoding, "jet", "want one of replicate, hha"},
		{KeyHeight, "abc", `preprocess.height="abc"`},
		{KeyMean, "0.1,0.2", "want three comma-separated numbers"},
		{KeyStd, "1,0,1", "std of channel 1 must be positive"},
		{KeyDepthScale, "x", "not a number"},
		{"preprocess.colour", "1", "unknown key"},
		{KeyWidth, "0", "input size 0x480"},
		{KeyDepthMax, "-1", "depth range"},
		{KeyDepthStd, "", "want three comma-separated numbers"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			md := DefaultSpec().Metadata()
			md[tt.key] = tt.value
			_, err := SpecFromMetadata(md)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	for _, k := range specKeys {
		md := DefaultSpec().Metadata()
		delete(md, k)
		if _, err := SpecFromMetadata(md); err == nil || !strings.Contains(err.Error(), "model metadata has no "+k) {
			t.Errorf("without %s: err = %v, want it named as missing", k, err)
		}
	}
	s := DefaultSpec()
	s.DepthEncoding, s.DepthChannels = HHA, 1
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "HHA has 3 channels") {
		t.Fatalf("err = %v", err)
	}
}
