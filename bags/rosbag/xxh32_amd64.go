//go:build amd64 && !purego

package rosbag

import "golang.org/x/sys/cpu"

// The vector forms of xxStripes (xxh32_amd64.s). Variables, so that tests can run the Go forms too.
var (
	useAVX  = cpu.X86.HasAVX
	useAVX2 = cpu.X86.HasAVX2
)

// xxStripesAVX runs the lanes v over n 16-byte stripes from p.
//
//go:noescape
func xxStripesAVX(v *[4]uint32, p *byte, n int)

// xxStripes2AVX2 runs two hashes' lanes, v[:4] over n stripes from a and v[4:] over n stripes from b.
//
//go:noescape
func xxStripes2AVX2(v *[8]uint32, a, b *byte, n int)
