package dynamic_reconfigure

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/bluenviron/goroslib/v2/pkg/msgproc"
	"github.com/bluenviron/goroslib/v2/pkg/serviceproc"
)

// pythonSums prints the type and MD5 sum of every class that Debian's python3-dynamic-reconfigure
// generated from the package's .msg and .srv files.
const pythonSums = `
import json
import dynamic_reconfigure.msg as m, dynamic_reconfigure.srv as s
classes = [getattr(m, n) for n in ('BoolParameter', 'IntParameter', 'StrParameter', 'DoubleParameter', 'GroupState',
           'Config', 'ParamDescription', 'Group', 'ConfigDescription')]
classes += [s.Reconfigure, s.ReconfigureRequest, s.ReconfigureResponse]
print(json.dumps({c.__name__: [c._type, c._md5sum] for c in classes}))
`

func TestMD5SumsEqualDebianPythonClasses(t *testing.T) {
	out, err := exec.Command("/usr/bin/python3", "-c", pythonSums).CombinedOutput()
	if err != nil {
		t.Fatalf("reading the Python classes (Debian package python3-dynamic-reconfigure; `make setup` installs it): %v\n%s", err, out)
	}
	var want map[string][2]string
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	msgs := map[string]any{
		"BoolParameter":     BoolParameter{},
		"IntParameter":      IntParameter{},
		"StrParameter":      StrParameter{},
		"DoubleParameter":   DoubleParameter{},
		"GroupState":        GroupState{},
		"Config":            Config{},
		"ParamDescription":  ParamDescription{},
		"Group":             Group{},
		"ConfigDescription": ConfigDescription{},
	}
	for name, m := range msgs {
		typ, err := msgproc.Type(m)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := msgproc.MD5(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]string{typ, sum}; got != want[name] {
			t.Errorf("%s: Go %v, Python %v", name, got, want[name])
		}
	}
	// A service's request and response carry the service's type and sum in the TCPROS header; rospy
	// also checks the request and response sums.
	typ, err := serviceproc.Type(Reconfigure{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := serviceproc.MD5(Reconfigure{})
	if err != nil {
		t.Fatal(err)
	}
	if got := [2]string{typ, sum}; got != want["Reconfigure"] {
		t.Errorf("Reconfigure: Go %v, Python %v", got, want["Reconfigure"])
	}
	for name, m := range map[string]any{"ReconfigureRequest": ReconfigureReq{}, "ReconfigureResponse": ReconfigureRes{}} {
		sum, err := msgproc.MD5(m)
		if err != nil {
			t.Fatal(err)
		}
		if sum != want[name][1] {
			t.Errorf("%s: Go MD5 %s, Python %s", name, sum, want[name][1])
		}
	}
}
