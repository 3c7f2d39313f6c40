package engine

// BicubicMatrix returns the out×in matrix A (row-major) with A·x = ResizeBicubic of the vector x along one
// axis: four taps per row, taps clamped to the border summed into one entry. Resizing a plane is A_h·X·A_wᵀ,
// which the ONNX exporter writes as two matrix products (ONNX Runtime's generic cubic resize is an order of
// magnitude slower).
func BicubicMatrix(in, out int) []float32 {
	a := make([]float32, out*in)
	for d, tp := range cubicIndex(in, out) {
		for j, i := range tp.i {
			a[d*in+i] += tp.c[j]
		}
	}
	return a
}
