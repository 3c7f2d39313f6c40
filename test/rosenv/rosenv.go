// Package rosenv starts the real ROS 1 tools that cen's end-to-end tests talk to: a rosmaster on a free port,
// and rostopic, rosbag and roslaunch processes pointed at it. Nothing here fakes ROS.
package rosenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/apimaster"
)

// Master is a rosmaster process owned by one test.
type Master struct {
	URI  string // http://127.0.0.1:PORT
	Addr string // 127.0.0.1:PORT, the form goroslib takes
	Home string // ROS_HOME given to the master and to every tool started through Command
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

// StartMaster starts `rosmaster --core` on a free loopback port and stops it (SIGTERM: a background rosmaster
// ignores SIGINT) when the test ends. It fails the test if the master does not answer within 20 s.
func StartMaster(t testing.TB) *Master {
	t.Helper()
	bin, err := exec.LookPath("rosmaster")
	if err != nil {
		t.Fatalf("rosmaster not found (Debian package python3-rosmaster; `make setup` installs it): %v", err)
	}
	port := FreePort(t)
	m := &Master{
		URI:  fmt.Sprintf("http://127.0.0.1:%d", port),
		Addr: fmt.Sprintf("127.0.0.1:%d", port),
		Home: t.TempDir(),
		log:  &bytes.Buffer{},
	}
	m.port = port
	m.start(t, bin)
	t.Cleanup(m.stop)
	return m
}

// start runs rosmaster on m's port and waits until it answers.
func (m *Master) start(t testing.TB, bin string) {
	t.Helper()
	m.mu.Lock()
	m.cmd = exec.Command(bin, "--core", "-p", strconv.Itoa(m.port))
	m.cmd.Env = m.Env()
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		m.mu.Unlock()
		t.Fatalf("starting rosmaster: %v", err)
	}
	done := make(chan struct{})
	m.done = done
	go func(c *exec.Cmd) { c.Wait(); close(done) }(m.cmd)
	m.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := ping(m.Addr); err == nil {
			return
		}
		select {
		case <-done:
			t.Fatalf("rosmaster exited early:\n%s", m.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rosmaster on %s did not answer within 20 s:\n%s", m.Addr, m.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ping asks the master for its URI. (node.PingMaster does the same; importing node here would make every test
// that starts a master build the whole node.)
func ping(addr string) error {
	_, err := apimaster.NewClient(addr, "/cen_test", &http.Client{Timeout: time.Second}).GetURI()
	return err
}

// stop ends the master (SIGTERM: a background rosmaster ignores SIGINT; SIGKILL after 10 s).
func (m *Master) stop() {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Kill ends the master abruptly (SIGKILL), as a crash would: it forgets every registration.
func (m *Master) Kill(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd = nil
	m.mu.Unlock()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Restart starts a fresh master on the same port after Kill.
func (m *Master) Restart(t testing.TB) {
	t.Helper()
	bin, err := exec.LookPath("rosmaster")
	if err != nil {
		t.Fatal(err)
	}
	m.start(t, bin)
}

// Env is the process environment for ROS tools that use this master.
func (m *Master) Env() []string {
	env := os.Environ()
	return append(env,
		"ROS_MASTER_URI="+m.URI,
		"ROS_IP=127.0.0.1",
		"ROS_HOSTNAME=",
		"ROS_HOME="+m.Home,
		"ROS_LOG_DIR="+filepath.Join(m.Home, "log"),
		"PYTHONUNBUFFERED=1",
	)
}

// Process is a ROS tool started by Command; its combined output is collected.
type Process struct {
	Cmd  *exec.Cmd
	out  SyncBuffer
	done chan struct{}
	err  error
}

// Command starts name with args against the master, in its own process group, and kills the group (SIGINT,
// then SIGKILL) when the test ends.
func (m *Master) Command(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	return m.CommandEnv(t, nil, name, args...)
}

// Output runs name with args against the master to completion (at most 30 s) and returns what it printed.
func (m *Master) Output(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = m.Env()
	cmd.Dir = m.Home
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// CommandEnv is Command with extra environment variables (KEY=value).
func (m *Master) CommandEnv(t testing.TB, env []string, name string, args ...string) *Process {
	t.Helper()
	p := &Process{Cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.Cmd.Env = append(m.Env(), env...)
	p.Cmd.Dir = m.Home
	p.Cmd.Stdout, p.Cmd.Stderr = &p.out, &p.out
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.err = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.Stop() })
	return p
}

// Wait waits up to d for the process to exit and returns its error (context.DeadlineExceeded on timeout).
func (p *Process) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return context.DeadlineExceeded
	}
}

// Stop interrupts the process group and waits for it.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Output is what the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RepoRoot is the repository root (the folder with go.mod), found from this source file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	buildOnce sync.Once
	buildErr  error
)

// Binary builds bin/cen from the working tree (once per test binary; the Go build cache makes it cheap) and
// returns its path. roslaunch finds the node through package.xml at the repository root, so the binary must
// live in the repository, not in a temporary folder.
func Binary(t testing.TB) string {
	t.Helper()
	root := RepoRoot()
	bin := filepath.Join(root, "bin", "cen")
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/cen")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/cen: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// SyncBuffer is a bytes.Buffer that a child process's stdout and stderr may write while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
