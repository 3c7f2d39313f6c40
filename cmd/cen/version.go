package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"gocv.io/x/gocv"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/cen/ort"
)

func init() {
	register("version", "versions of cen, Go, OpenCV, ONNX Runtime and goroslib", runVersion)
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "[--ort-lib PATH]", stderr)
	ortLib := fs.String("ort-lib", "", "ONNX Runtime shared library (default: $CEN_ORT_LIB, then make setup's, then the system's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cen          %s\n", cen.Version)
	fmt.Fprintf(stdout, "go           %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(stdout, "opencv       %s (gocv %s)\n", gocv.OpenCVVersion(), gocv.Version())
	if loc, err := ort.Load(*ortLib); err != nil {
		fmt.Fprintf(stdout, "onnxruntime  unavailable: %v\n", err)
	} else {
		fmt.Fprintf(stdout, "onnxruntime  %s (%s, from %s)\n", ort.Version(), loc.Path, loc.Source)
	}
	fmt.Fprintf(stdout, "goroslib     %s\n", moduleVersion("github.com/bluenviron/goroslib/v2"))
	return nil
}

// moduleVersion reads a dependency's version from the build information the Go linker embeds.
func moduleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, m := range info.Deps {
		if m.Path == path {
			if m.Replace != nil {
				return m.Replace.Version + " (replaced)"
			}
			return m.Version
		}
	}
	return "unknown"
}
