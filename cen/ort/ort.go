// Package ort loads the ONNX Runtime shared library that cen runs its deployable models with, and reports
// which execution providers (CPU, CUDA, TensorRT) the loaded build can use.
//
// ONNX Runtime is not in Debian: `make setup` unpacks it into .deps/onnxruntime/ inside the repository. The
// library is looked up, in order, from an explicit path (the --ort-lib flag), the CEN_ORT_LIB environment
// variable, the folder make setup fills (found next to the running binary or above the working directory),
// and the system library path.
package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// EnvVar names the environment variable that overrides where the library is taken from.
const EnvVar = "CEN_ORT_LIB"

// setupDir is where `make setup` puts the library, relative to the repository root.
const setupDir = ".deps/onnxruntime/current"

// libNames are the file names a build of ONNX Runtime goes by on Linux.
var libNames = []string{"libonnxruntime.so", "libonnxruntime.so.1"}

// ErrNotFound says that no ONNX Runtime library was found anywhere cen looks.
var ErrNotFound = errors.New("ONNX Runtime library not found: run `make setup` (or `make setup GPU=1`), or give its path with --ort-lib or " + EnvVar)

// Location is a library path and where it came from ("--ort-lib", EnvVar, "make setup", "system").
type Location struct {
	Path   string
	Source string
}

// Find returns the library cen would load. flagPath is the --ort-lib value ("" when not given). An explicit
// path (flag or environment) that does not exist is an error, not a reason to look elsewhere.
func Find(flagPath string) (Location, error) {
	if flagPath != "" {
		return explicit(flagPath, "--ort-lib")
	}
	if p := os.Getenv(EnvVar); p != "" {
		return explicit(p, EnvVar)
	}
	for _, dir := range setupDirs() {
		if p, ok := firstLib(dir); ok {
			return Location{p, "make setup"}, nil
		}
	}
	for _, dir := range systemDirs() {
		if p, ok := firstLib(dir); ok {
			return Location{p, "system"}, nil
		}
	}
	return Location{}, ErrNotFound
}

func explicit(p, source string) (Location, error) {
	st, err := os.Stat(p)
	if err != nil {
		return Location{}, fmt.Errorf("ONNX Runtime library %s (from %s) does not exist", p, source)
	}
	if st.IsDir() {
		if lib, ok := firstLib(p); ok {
			return Location{lib, source}, nil
		}
		return Location{}, fmt.Errorf("folder %s (from %s) holds no libonnxruntime.so", p, source)
	}
	return Location{p, source}, nil
}

func firstLib(dir string) (string, bool) {
	for _, n := range libNames {
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, true
		}
	}
	return "", false
}

// setupDirs lists the candidate .deps folders: above the executable (bin/cen sits in the repository) and above
// the working directory (go test runs in a package folder).
func setupDirs() []string {
	var starts []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		starts = append(starts, filepath.Dir(exe))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	var dirs []string
	for _, s := range starts {
		for d := s; ; d = filepath.Dir(d) {
			dirs = append(dirs, filepath.Join(d, setupDir))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return dirs
}

func systemDirs() []string {
	var dirs []string
	for _, d := range strings.Split(os.Getenv("LD_LIBRARY_PATH"), ":") {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return append(dirs, "/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib", "/lib/x86_64-linux-gnu")
}

var (
	initMu   sync.Mutex
	initPath string
)

// Init loads the library at loc and starts the ONNX Runtime environment. It may be called more than once with
// the same library; asking for a different library after one is loaded is an error, because a process can
// hold only one.
func Init(loc Location) error {
	initMu.Lock()
	defer initMu.Unlock()
	if ort.IsInitialized() {
		if loc.Path != initPath {
			return fmt.Errorf("ONNX Runtime is already loaded from %s; cannot switch to %s", initPath, loc.Path)
		}
		return nil
	}
	level, err := logLevel(os.Getenv(LogLevelEnvVar))
	if err != nil {
		return err
	}
	ort.SetSharedLibraryPath(loc.Path)
	if err := ort.InitializeEnvironment(level); err != nil {
		return fmt.Errorf("loading ONNX Runtime from %s (%s): %w", loc.Path, loc.Source, err)
	}
	initPath = loc.Path
	return nil
}

// LogLevelEnvVar names the environment variable that sets ONNX Runtime's own log level ("verbose", "info",
// "warning", "error" or "fatal"). It defaults to fatal: every failure reaches cen as a returned error, which cen
// reports itself in one line (a missing GPU provider, for one, is expected on most machines and is reported
// by `cen doctor` and the device fallback, not by ONNX Runtime's log). The level is set once, when the library
// is loaded.
const LogLevelEnvVar = "CEN_ORT_LOG_LEVEL"

func logLevel(v string) (ort.EnvironmentOption, error) {
	switch strings.ToLower(v) {
	case "", "fatal":
		return ort.WithLogLevelFatal(), nil
	case "error":
		return ort.WithLogLevelError(), nil
	case "warning":
		return ort.WithLogLevelWarning(), nil
	case "info":
		return ort.WithLogLevelInfo(), nil
	case "verbose":
		return ort.WithLogLevelVerbose(), nil
	}
	return nil, fmt.Errorf("%s=%q: use verbose, info, warning, error or fatal", LogLevelEnvVar, v)
}

// Load finds and initialises the library in one step (see Find and Init).
func Load(flagPath string) (Location, error) {
	loc, err := Find(flagPath)
	if err != nil {
		return loc, err
	}
	return loc, Init(loc)
}

// Version is the version the loaded library reports ("" before Init).
func Version() string {
	if !ort.IsInitialized() {
		return ""
	}
	return ort.GetVersion()
}

// Provider is one execution provider and whether the loaded library can use it.
type Provider struct {
	Name      string // "cpu", "cuda", "tensorrt"
	Available bool
	Reason    string // why it is not available
}

// Providers probes the execution providers of the loaded library. CUDA and TensorRT are tried by appending
// them to a throw-away session configuration, which is where ONNX Runtime loads their provider libraries
// (and the CUDA libraries those need) and reports what is missing.
func Providers() ([]Provider, error) {
	if !ort.IsInitialized() {
		return nil, errors.New("ONNX Runtime is not loaded")
	}
	out := []Provider{{Name: "cpu", Available: true}}
	out = append(out, probe("cuda", func(o *ort.SessionOptions) error {
		c, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return err
		}
		defer c.Destroy()
		if err := c.Update(map[string]string{"device_id": "0"}); err != nil {
			return err
		}
		return o.AppendExecutionProviderCUDA(c)
	}))
	out = append(out, probe("tensorrt", func(o *ort.SessionOptions) error {
		t, err := ort.NewTensorRTProviderOptions()
		if err != nil {
			return err
		}
		defer t.Destroy()
		return o.AppendExecutionProviderTensorRT(t)
	}))
	return out, nil
}

func probe(name string, add func(*ort.SessionOptions) error) Provider {
	o, err := ort.NewSessionOptions()
	if err != nil {
		return Provider{Name: name, Reason: err.Error()}
	}
	defer o.Destroy()
	if err := add(o); err != nil {
		return Provider{Name: name, Reason: reason(err)}
	}
	return Provider{Name: name, Available: true}
}

// reason shortens ONNX Runtime's error text to its first line, without the source location it starts with.
func reason(err error) string {
	s := strings.TrimSpace(err.Error())
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, "FAIL : "); i >= 0 {
		s = s[i+len("FAIL : "):]
	}
	return s
}
