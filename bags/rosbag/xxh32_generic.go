//go:build !amd64 || purego

package rosbag

// No vector forms: xxStripes runs in Go (variables, as on amd64, for the tests).
var useAVX, useAVX2 = false, false

func xxStripesAVX(v *[4]uint32, p *byte, n int)      { panic("rosbag: no AVX form here") }
func xxStripes2AVX2(v *[8]uint32, a, b *byte, n int) { panic("rosbag: no AVX2 form here") }
