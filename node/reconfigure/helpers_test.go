package reconfigure_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"

	"github.com/cen-ros/cen/node/reconfigure"
	"github.com/cen-ros/cen/test/rosenv"
)

// debianPython is Debian's interpreter, the one with rospy and dynamic_reconfigure (the python3 first on
// PATH may be another).
const debianPython = "/usr/bin/python3"

// cenParams are parameters like the cen node's, one or more of every kind the server supports.
func cenParams() []reconfigure.Param {
	return []reconfigure.Param{
		{Name: "publish_color", Description: "publish ~color", Type: reconfigure.Bool, Default: true, Level: 1},
		{Name: "max_rate", Description: "Hz: segment at most this often (0: as fast as frames come)", Type: reconfigure.Double,
			Default: 0.0, Min: 0, Max: 1000, Level: 2},
		{Name: "overlay_alpha", Description: "opacity of the label colours in ~overlay", Type: reconfigure.Double,
			Default: 0.5, Min: 0.0, Max: 1.0, Level: 4},
		{Name: "queue_size", Description: "messages kept per input", Type: reconfigure.Int, Default: 10, Min: 1, Max: 100, Level: 8},
		{Name: "frame_id", Description: "frame of the outputs (empty: the input's) \"quoted\" and 'single'", Type: reconfigure.String, Level: 16},
		{Name: "depth_encoding", Description: "how depth is broadened to three channels", Type: reconfigure.String, Default: "replicate",
			Level: 32, Choices: []reconfigure.Choice{
				{Name: "Replicate", Value: "replicate", Description: "metres, three times"},
				{Name: "Hha", Value: "hha", Description: "horizontal disparity, height, angle"},
			}},
		{Name: "label_bits", Description: "bits per label pixel", Type: reconfigure.Int, Default: 8, Level: 64, Choices: []reconfigure.Choice{
			{Name: "Mono8", Value: 8, Description: "mono8 labels"},
			{Name: "Mono16", Value: 16, Description: "16UC1 labels"},
		}},
		{Name: "gain", Description: "unbounded double", Type: reconfigure.Double, Default: 1.0},
		{Name: "offset", Description: "unbounded int", Type: reconfigure.Int},
	}
}

// described is what a client should see of one of cenParams: dynamic_reconfigure's type name, and the
// defaults its generator fills in where the Param leaves them out.
type described struct {
	name, typ      string
	level          uint32
	dflt, min, max any
	choices        []reconfigure.Choice
}

func cenDescribed() []described {
	p := cenParams()
	return []described{
		{"publish_color", "bool", 1, true, false, true, nil},
		{"max_rate", "double", 2, 0.0, 0.0, 1000.0, nil},
		{"overlay_alpha", "double", 4, 0.5, 0.0, 1.0, nil},
		{"queue_size", "int", 8, 10, 1, 100, nil},
		{"frame_id", "str", 16, "", "", "", nil},
		{"depth_encoding", "str", 32, "replicate", "", "", p[5].Choices},
		{"label_bits", "int", 64, 8, 8, 16, p[6].Choices}, // an enum's bounds default to its values' range
		{"gain", "double", 0, 1.0, math.Inf(-1), math.Inf(1), nil},
		{"offset", "int", 0, 0, math.MinInt32, math.MaxInt32, nil},
	}
}

func cloneValues(v reconfigure.Values) reconfigure.Values {
	c := reconfigure.Values{}
	for k, x := range v {
		c[k] = x
	}
	return c
}

// startNode starts a goroslib node called name against m; it is closed when the test ends.
func startNode(t *testing.T, m *rosenv.Master, name string) *goroslib.Node {
	t.Helper()
	n, err := goroslib.NewNode(goroslib.NodeConf{Name: name, MasterAddress: m.Addr, Host: "127.0.0.1",
		LogLevel: goroslib.LogLevelError})
	if err != nil {
		t.Fatalf("goroslib node %s against %s: %v", name, m.URI, err)
	}
	t.Cleanup(n.Close)
	return n
}

// startServer starts a Server; it is closed when the test ends.
func startServer(t *testing.T, conf reconfigure.ServerConf) *reconfigure.Server {
	t.Helper()
	s, err := reconfigure.New(conf)
	if err != nil {
		t.Fatalf("New(%s): %v", conf.Namespace, err)
	}
	t.Cleanup(s.Close)
	return s
}

// pyValue is a value as client.py prints it: its Python type name and the value ("inf" and "nan" as
// strings).
type pyValue struct {
	Type  string
	Value any
}

func (v *pyValue) UnmarshalJSON(b []byte) error {
	var pair []any
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	if len(pair) != 2 {
		return fmt.Errorf("want [type, value], got %s", b)
	}
	name, ok := pair[0].(string)
	if !ok {
		return fmt.Errorf("want [type, value], got %s", b)
	}
	v.Type, v.Value = name, pair[1]
	if s, ok := pair[1].(string); ok && name == "float" {
		switch s {
		case "inf":
			v.Value = math.Inf(1)
		case "-inf":
			v.Value = math.Inf(-1)
		case "nan":
			v.Value = math.NaN()
		}
	}
	return nil
}

func (v pyValue) String() string { return fmt.Sprintf("%s(%v)", v.Type, v.Value) }

// py is the pyValue a Go value of a parameter should arrive as in Python.
func py(v any) pyValue {
	switch x := v.(type) {
	case bool:
		return pyValue{"bool", x}
	case int:
		return pyValue{"int", float64(x)}
	case float64:
		return pyValue{"float", x}
	case string:
		return pyValue{"str", x}
	}
	panic(fmt.Sprintf("no Python type for %T", v))
}

// pyConfig is what a Values map should arrive as in Python.
func pyConfig(v reconfigure.Values) map[string]pyValue {
	c := map[string]pyValue{}
	for k, x := range v {
		c[k] = py(x)
	}
	return c
}

type pyParam struct {
	Name        string
	Type        string
	Level       uint32
	Description string
	EditMethod  string `json:"edit_method"`
	Default     pyValue
	Min         pyValue
	Max         pyValue
	Enum        *struct {
		Enum            []map[string]any
		EnumDescription string `json:"enum_description"`
	}
}

type pyGroup struct {
	Name     string
	ID       int `json:"id"`
	Parent   int
	Type     *string
	State    bool
	Children []string
}

// clientResult is one line of client.py's output.
type clientResult struct {
	Op       string
	Params   []pyParam
	Group    *pyGroup
	Config   map[string]pyValue
	Groups   *pyGroup
	Response map[string]pyValue
	Seen     map[string]pyValue
	Stored   map[string]pyValue
	Error    string
}

type op map[string]any

func describe() op                     { return op{"op": "describe"} }
func get() op                          { return op{"op": "get"} }
func stored() op                       { return op{"op": "params"} }
func update(changes map[string]any) op { return op{"op": "update", "changes": changes} }

// runClient runs testdata/client.py against the server in namespace server and returns one result per op.
func runClient(t *testing.T, m *rosenv.Master, server string, ops ...op) []clientResult {
	t.Helper()
	opsJSON, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runTool(m, 60*time.Second, debianPython, testdata("client.py"), server, string(opsJSON))
	if err != nil {
		t.Fatalf("client.py %s: %v\nstdout:\n%s\nstderr:\n%s", server, err, out, errOut)
	}
	var results []clientResult
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r clientResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("client.py printed %q: %v", line, err)
		}
		results = append(results, r)
	}
	if len(results) != len(ops) {
		t.Fatalf("client.py %s: %d results for %d ops\nstdout:\n%s\nstderr:\n%s", server, len(results), len(ops), out, errOut)
	}
	return results
}

// runTool runs a ROS command-line tool against m and returns its stdout and stderr.
func runTool(m *rosenv.Master, timeout time.Duration, name string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = m.Env()
	cmd.Dir = m.Home
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func testdata(name string) string {
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		panic(err)
	}
	return p
}

// changes records OnChange calls.
type changes struct {
	mu    sync.Mutex
	calls []change
}

type change struct {
	old, requested reconfigure.Values
	level          uint32
}

func (c *changes) add(ch change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, ch)
}

func (c *changes) all() []change {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]change(nil), c.calls...)
}

// sameValues compares two configurations, NaN-free.
func sameValues(a, b map[string]pyValue) bool { return reflect.DeepEqual(a, b) }
