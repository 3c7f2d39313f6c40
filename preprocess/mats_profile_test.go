//go:build matprofile

package preprocess

import "gocv.io/x/gocv"

// openMats counts GoCV Mats not yet closed; -1 without -tags matprofile.
func openMats() int { return gocv.MatProfile.Count() }
