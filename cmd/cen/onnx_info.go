package main

import (
	"errors"
	"io"
)

// onnxInfo describes an exported model; it is wired to cen/ort's session once the exporter lands.
func onnxInfo(file string, w io.Writer) error {
	return errors.New("ONNX models are not supported by this build yet")
}
