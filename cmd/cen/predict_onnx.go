package main

import "errors"

// openONNXPredictor runs an exported model through ONNX Runtime; wired to cen/ort once the exporter lands.
func openONNXPredictor(path, device, ortLib string, threads int) (predictor, error) {
	return nil, errors.New("ONNX models are not supported by this build yet")
}
