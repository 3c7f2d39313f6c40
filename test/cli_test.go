package test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cen-ros/cen/test/rosenv"
)

func runCen(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(rosenv.Binary(t), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	default:
		t.Fatalf("running cen %v: %v", args, err)
		return "", -1
	}
}

func TestVersionReportsEveryComponent(t *testing.T) {
	out, code := runCen(t, os.Environ(), "version")
	if code != 0 {
		t.Fatalf("cen version exited %d:\n%s", code, out)
	}
	for _, re := range []string{
		`(?m)^cen\s+\S+`, `(?m)^go\s+go1\.\d+`, `(?m)^opencv\s+4\.6\.\d+ \(gocv 0\.31\.0\)`,
		`(?m)^onnxruntime\s+1\.\d+\.\d+ \(`, `(?m)^goroslib\s+v2\.1\.5`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("cen version output does not match %s:\n%s", re, out)
		}
	}
}

func TestDoctorFailsWithoutMaster(t *testing.T) {
	port := rosenv.FreePort(t) // nothing listens there
	env := append(os.Environ(), "ROS_MASTER_URI=http://127.0.0.1:"+strconv.Itoa(port), "ROS_IP=", "ROS_HOSTNAME=")
	out, code := runCen(t, env, "doctor")
	if code == 0 {
		t.Fatalf("cen doctor exited 0 with no master running:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^\[FAIL\] ros master .*127\.0\.0\.1:` + strconv.Itoa(port)).MatchString(out) {
		t.Errorf("doctor does not name the unreachable master:\n%s", out)
	}
	if !strings.Contains(out, "fix: start one with `roscore`") {
		t.Errorf("doctor gives no fix for the missing master:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^\[ok  \] onnxruntime\s+1\.`).MatchString(out) {
		t.Errorf("doctor does not find the ONNX Runtime make setup installed:\n%s", out)
	}
}

func TestDoctorPassesWithMaster(t *testing.T) {
	m := rosenv.StartMaster(t)
	env := append(m.Env(), "ROS_IP=127.0.0.1")
	out, code := runCen(t, env, "doctor")
	if code != 0 {
		t.Fatalf("cen doctor exited %d with a master at %s:\n%s", code, m.URI, out)
	}
	if !strings.Contains(out, "[ok  ] ros master") || !strings.Contains(out, m.URI) {
		t.Errorf("doctor does not report the running master:\n%s", out)
	}
}

func TestDoctorNamesBadROSIP(t *testing.T) {
	m := rosenv.StartMaster(t)
	env := append(m.Env(), "ROS_IP=203.0.113.7") // TEST-NET-3: never an address of this machine
	out, code := runCen(t, env, "doctor")
	if code == 0 || !strings.Contains(out, "ROS_IP 203.0.113.7 is not an address of this machine") {
		t.Fatalf("doctor accepted a foreign ROS_IP (exit %d):\n%s", code, out)
	}
}

func TestDoctorRejectsMissingORTLibrary(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "libonnxruntime.so")
	out, code := runCen(t, append(os.Environ(), "CEN_ORT_LIB="+missing), "doctor")
	if code == 0 || !strings.Contains(out, missing+" (from CEN_ORT_LIB) does not exist") {
		t.Fatalf("doctor did not name the missing library (exit %d):\n%s", code, out)
	}
}

// TestRoslaunchFindsBinaryThroughPackageXML runs a launch file against the real roslaunch with the repository on
// ROS_PACKAGE_PATH: roslaunch must find bin/cen through package.xml (package cen_ros) and run it.
func TestRoslaunchFindsBinaryThroughPackageXML(t *testing.T) {
	rosenv.Binary(t)
	m := rosenv.StartMaster(t)
	launch := filepath.Join(t.TempDir(), "version.launch")
	os.WriteFile(launch, []byte(`<launch>
  <node pkg="cen_ros" type="cen" name="cen_version" args="version" output="screen" required="true"/>
</launch>
`), 0o644)
	p := m.Command(t, "env", "ROS_PACKAGE_PATH="+rosenv.RepoRoot(), "roslaunch", launch)
	err := p.Wait(60 * time.Second)
	out := p.Output()
	if err != nil && !strings.Contains(out, "cen_version") {
		t.Fatalf("roslaunch: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^cen\s+\S+`).MatchString(out) || !strings.Contains(out, "onnxruntime") {
		t.Fatalf("roslaunch did not run bin/cen version:\n%s", out)
	}
}
