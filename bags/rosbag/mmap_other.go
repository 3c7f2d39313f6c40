//go:build !linux

package rosbag

import (
	"errors"
	"os"
)

// mapFile is unavailable here: bags are read with ReadAt.
func mapFile(*os.File, int64) ([]byte, error) {
	return nil, errors.New("memory mapping not used on this platform")
}

func unmapFile([]byte) error { return nil }

func dropPages([]byte, int64, int64) {}
