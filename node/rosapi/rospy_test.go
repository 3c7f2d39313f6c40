package rosapi

// The cross-check against rospy (Debian's python3-rospy, run by /usr/bin/python3): generated node start-ups
// and _name:=value texts go to testdata/rospy_check.py in one batch, and every answer must equal ours.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

const debianPython = "/usr/bin/python3"

// rospyAnswers is what rospy_check.py writes.
type rospyAnswers struct {
	Names []struct {
		Name      string   `json:"name"`
		Namespace string   `json:"namespace"`
		Resolved  []string `json:"resolved"`
		Error     string   `json:"error"`
	} `json:"names"`
	Params []struct {
		Value  json.RawMessage `json:"value"`
		Upload bool            `json:"upload"`
		Error  string          `json:"error"`
	} `json:"params"`
}

func askRospy(t *testing.T, cases []nameCase, params []string) rospyAnswers {
	t.Helper()
	if _, err := exec.LookPath(debianPython); err != nil {
		t.Fatalf("%s not found: Debian's Python with python3-rospy is needed (make setup)", debianPython)
	}
	req, err := json.Marshal(map[string]any{"names": cases, "params": params})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(debianPython, "testdata/rospy_check.py")
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("testdata/rospy_check.py: %v\n%s", err, stderr.String())
	}
	var ans rospyAnswers
	if err := json.Unmarshal(out, &ans); err != nil {
		t.Fatalf("reading rospy_check.py's answer: %v", err)
	}
	if len(ans.Names) != len(cases) || len(ans.Params) != len(params) {
		t.Fatalf("rospy answered %d names and %d params, want %d and %d", len(ans.Names), len(ans.Params), len(cases), len(params))
	}
	return ans
}

// paramTexts are values for _x:=text: YAML 1.1's corners (PyYAML's), flow lists and dictionaries, and what
// a parameter cannot hold. Generated combinations follow.
var paramTexts = []string{
	// integers
	"0", "-0", "+1", "42", "-17", "0x1F", "0x_1f", "-0x10", "017", "0_7", "00", "08", "0b101", "-0b11",
	"1_000", "1:30", "-1:30:00", "190:20:30", "2147483647", "-2147483648", "2147483648", "-2147483649",
	"99999999999999999999", "0b", "0x", "0b_", "0o17", "+0", "1__0",
	// floats
	"1.0", "1.", ".5", "-.5", "+.5", "1.5e+3", "1.5e3", "1e3", "1E+3", "1.0E-3", "6.8523015e+5",
	"685.230_15e+03", "685_230.15", "190:20:30.15", ".inf", "-.inf", "+.inf", ".Inf", ".INF", ".nan",
	".NaN", ".NAN", "-.nan", "nan", "inf", "1_0.5", "0.1", "3.141592653589793", "1e400", "1.0e+400",
	"4.9e-324", "1.0e-400", "-0.0", "0.", "1.2.3",
	// booleans and nulls
	"yes", "No", "TRUE", "off", "On", "y", "n", "Y", "True", "tRUE", "~", "null", "Null", "NULL", "nUll",
	// strings
	"hello", "'quoted'", `"dq"`, "'123'", `"1.5"`, "'yes'", "a b c", "a#b", "a #comment", "#comment",
	"'it''s'", `"\u00e9t\u00e9"`, "ünïcode", "中文", "1 2", "x:y", "http://robot:11311/", "/camera/rgb",
	"~private", "|", ">", "--- 5", "...", "'a'b", "=", "<<", ":", "-", "a:", "{a}", "*unknown",
	`"tab\there"`, "'trailing '", "@at", "`tick",
	// tags
	"!!str 123", "!!int '12'", "!!float 1", "!!float abc", "!!bool yes", "!!int 1.5", "!!int 0x1F",
	"!!binary aGVsbG8=", "!!python/object:foo {}", "!foo bar", "!!str", "!!null ''", "!!int ''", "!!int -",
	"!!float ''", "!!float 3000000000", "!!float 0x10", "!!float 1e3", "!!int 3000000000", "!!int 1:30",
	"!!int a:b", "!!bool YeS", "!!bool 1", "!!float .NaN", "!!int +-5",
	// dates
	"2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "2001-13-45", "2001-1-1",
	// structures
	"[]", "{}", "[1,2]", "[1, 2,]", "[1, [2, [3]]]", "{a: {b: [1, 2.5, x]}}", "{1: a}", "{yes: 1}",
	"{'1': a}", "[~]", "[a, ~]", "[&a 1, *a]", "{a: 1, a: 2}", "a: 1", "a: [1", "- a", "[a: 1]",
	"{a: [yes, no, 0x10, 1e3, 1.0e3, '1']}", "[0.5, .inf, -.inf]", "{x: {y: {z: deep}}}",
	"{mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}", "[[1, 2], [3, 4]]", "{a: b: c}",
	"{? a : b}", "[1, {a: 2}, [3]]", "{a/b: 1}", "{'': 1}",
}

// flowScalars are scalars that can stand inside flow collections.
var flowScalars = []string{
	"0", "-3", "0x1F", "017", "1:30", "1.5", "1.", ".5", "1e3", "1.0e+3", ".inf", ".nan", "yes", "No",
	"on", "true", "'1'", `"2.5"`, "abc", "'x y'", "ü", "2147483647", "2147483648", "~", "null",
	"2001-12-14", "a_b", "/topic", "'yes'", "!!str 5", "!!float 2",
}

func genParamTexts(r *rand.Rand, n int) []string {
	var out []string
	var value func(depth int) string
	value = func(depth int) string {
		if depth > 2 || r.IntN(3) > 0 {
			return flowScalars[r.IntN(len(flowScalars))]
		}
		items := make([]string, r.IntN(4))
		if r.IntN(2) == 0 {
			for i := range items {
				items[i] = value(depth + 1)
			}
			return "[" + strings.Join(items, ", ") + "]"
		}
		for i := range items {
			items[i] = nameParts[r.IntN(len(nameParts))] + ": " + value(depth+1)
		}
		return "{" + strings.Join(items, ", ") + "}"
	}
	for len(out) < n {
		out = append(out, value(0))
	}
	return out
}

func TestNamesAndParamsAgreeWithRospy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := genCases(r, 600, false)
	params := append(append([]string{}, paramTexts...), genParamTexts(r, 300)...)
	ans := askRospy(t, cases, params)

	resolutions := 0
	for i, c := range cases {
		got, py := c.ours(), ans.Names[i]
		if py.Error != "" || got.err {
			t.Errorf("case %d %+v: rospy error %q, ours %v", i, c, py.Error, got.err)
			continue
		}
		pyNS := py.Namespace
		if pyNS != "/" {
			pyNS = strings.TrimSuffix(pyNS, "/") // rospy keeps the trailing slash
		}
		if got.name != py.Name || got.ns != pyNS {
			t.Errorf("case %d (ROS_NAMESPACE %v, args %q): node %s in %s, rospy %s in %s", i, deref(c.EnvNS), c.Args, got.name, got.ns, py.Name, pyNS)
		}
		for j, q := range c.Queries {
			resolutions++
			if got.queryErrs[j] || got.resolved[j] != py.Resolved[j] {
				t.Errorf("case %d (node %s, args %q): %q resolves to %q, rospy %q", i, got.name, c.Args, q, got.resolved[j], py.Resolved[j])
			}
		}
	}

	values, refused := 0, 0
	for i, text := range params {
		ours, err := ParseValue(text)
		py := ans.Params[i]
		var want any
		ok := py.Error == "" && py.Upload
		if ok {
			var fits bool
			want, fits = fromTagged(t, py.Value)
			ok = fits
		}
		switch {
		case !ok && err == nil:
			t.Errorf("_x:=%s: ours %#v, but rospy cannot upload it (%s%s)", text, ours, py.Error, string(py.Value))
		case ok && err != nil:
			t.Errorf("_x:=%s: ours fails (%v), rospy uploads %#v", text, err, want)
		case ok && !sameValue(ours, want):
			t.Errorf("_x:=%s: ours %#v, rospy %#v", text, ours, want)
		case ok:
			values++
		default:
			refused++
		}
	}
	t.Logf("rospy agrees on %d node start-ups (%d names resolved) and %d _x:=value texts (%d values, %d refused by both)",
		len(cases), resolutions, values+refused, values, refused)
}

func deref(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return strconv.Quote(*s)
}

// fromTagged turns rospy_check.py's tagged value into ours; fits is false where a ROS parameter cannot hold
// it (rospy uploads a datetime, which we refuse).
func fromTagged(t *testing.T, raw json.RawMessage) (v any, fits bool) {
	t.Helper()
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		t.Fatalf("bad tagged value %s", raw)
	}
	var tag string
	json.Unmarshal(pair[0], &tag)
	var s string
	switch tag {
	case "b":
		var b bool
		json.Unmarshal(pair[1], &b)
		return b, true
	case "i":
		json.Unmarshal(pair[1], &s)
		i, err := strconv.ParseInt(s, 10, 64)
		return int(i), err == nil && i >= math.MinInt32 && i <= math.MaxInt32
	case "f":
		json.Unmarshal(pair[1], &s)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("rospy float %q: %v", s, err)
		}
		return f, true
	case "s":
		json.Unmarshal(pair[1], &s)
		return s, true
	case "y":
		json.Unmarshal(pair[1], &s)
		b, _ := base64.StdEncoding.DecodeString(s)
		return b, true
	case "l":
		var items []json.RawMessage
		json.Unmarshal(pair[1], &items)
		list := []any{}
		for _, it := range items {
			x, ok := fromTagged(t, it)
			if !ok {
				return nil, false
			}
			list = append(list, x)
		}
		return list, true
	case "d":
		var items [][2]json.RawMessage
		json.Unmarshal(pair[1], &items)
		dict := map[string]any{}
		for _, it := range items {
			k, ok := fromTagged(t, it[0])
			key, isString := k.(string)
			if !ok || !isString {
				return nil, false
			}
			x, ok := fromTagged(t, it[1])
			if !ok {
				return nil, false
			}
			dict[key] = x
		}
		return dict, true
	}
	return nil, false
}

// sameValue is reflect.DeepEqual with floats compared bit for bit, so that NaN equals NaN and -0 differs
// from 0.
func sameValue(a, b any) bool {
	switch a := a.(type) {
	case float64:
		b, ok := b.(float64)
		return ok && (math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b))
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameValue(a[i], b[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, x := range a {
			if y, ok := b[k]; !ok || !sameValue(x, y) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// String renders a case for failure messages.
func (c nameCase) String() string {
	return fmt.Sprintf("ROS_NAMESPACE %s, args %q, queries %q", deref(c.EnvNS), c.Args, c.Queries)
}
