package preprocess

import (
	"fmt"
	"os"
	"testing"
)

// TestMain fails the run when a test leaves a GoCV Mat open (with -tags
// matprofile; the count is unavailable otherwise).
func TestMain(m *testing.M) {
	code := m.Run()
	if n := openMats(); n > 0 {
		fmt.Fprintf(os.Stderr, "preprocess: %d GoCV Mats left open\n", n)
		code = 1
	}
	os.Exit(code)
}

// checkMats fails t if the test leaves Mats open.
func checkMats(t testing.TB) {
	before := openMats()
	t.Cleanup(func() {
		if after := openMats(); after > before {
			t.Errorf("%d GoCV Mats left open", after-before)
		}
	})
}
