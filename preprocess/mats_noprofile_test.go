//go:build !matprofile

package preprocess

// openMats counts GoCV Mats not yet closed; -1 without -tags matprofile.
func openMats() int { return -1 }
