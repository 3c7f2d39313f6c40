package rosapi

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// The YAML 1.1 readings rospy gives _name:=value (PyYAML's safe_load), which rospy_test.go checks on many
// more texts against rospy itself.
func TestParseValueReadsYAMLAsRospyDoes(t *testing.T) {
	cases := []struct {
		text string
		want any
	}{
		{"10", 10},
		{"-3", -3},
		{"0x1F", 31},
		{"017", 15},
		{"0b101", 5},
		{"1_000", 1000},
		{"1:30", 90},
		{"2.5", 2.5},
		{"1.", 1.0},
		{".5", 0.5},
		{"1.0e+3", 1000.0},
		{"1e3", "1e3"},     // a YAML 1.1 float needs a dot
		{"1.0e3", "1.0e3"}, // and a signed exponent
		{".inf", math.Inf(1)},
		{"-.inf", math.Inf(-1)},
		{".nan", math.NaN()},
		{"yes", true},
		{"Off", false},
		{"y", "y"},
		{"'10'", "10"},
		{`"yes"`, "yes"},
		{"rgb8", "rgb8"},
		{"/camera/color/image_raw", "/camera/color/image_raw"},
		{"a #comment", "a"},
		{"[wall, floor, 3]", []any{"wall", "floor", 3}},
		{"{mean: [0.485, 0.456], depth: {unit: 0.001}}", map[string]any{"mean": []any{0.485, 0.456}, "depth": map[string]any{"unit": 0.001}}},
		{"[]", []any{}},
		{"{}", map[string]any{}},
		{"!!str 10", "10"},
		{"!!float 10", 10.0},
		{"!!binary aGk=", []byte("hi")},
		{"[&x 1, *x]", []any{1, 1}},
		{"{a: ~, a: 1}", map[string]any{"a": 1}},
	}
	for _, c := range cases {
		got, err := ParseValue(c.text)
		if err != nil || !sameValue(got, c.want) {
			t.Errorf("ParseValue(%q) = %#v, %v; want %#v", c.text, got, err, c.want)
		}
	}
}

func TestParseValueRefusesWhatAParameterCannotHold(t *testing.T) {
	cases := []struct{ text, want string }{
		{"", `YAML "" holds no value`},
		{"#only a comment", "holds no value"},
		{"~", `YAML null ("~") cannot be a parameter value`},
		{"[1, null]", `YAML null ("null")`},
		{"a:", `YAML null ("")`},
		{"2147483648", "integer 2147483648 does not fit the 32 bits of a parameter; write it with a dot (2147483648.0)"},
		{"2024-01-02", `YAML reads "2024-01-02" as a timestamp`},
		{"=", `YAML gives "=" no value`},
		{"{<<: {a: 1}}", "merge keys"},
		{"{1: a}", "dictionary key 1 is the integer 1; parameter keys are strings"},
		{"[1, 2", `YAML "[1, 2"`},
		{"a\n---\nb", "more than one document"},
		{"!!python/object:os.system x", "YAML tag !!python/object:os.system is not supported"},
		{"!!int x", `"x" is not an integer`},
		{"!!bool 1", `!!bool "1" is not a boolean`},
		{"*nowhere", "unknown anchor"},
		{strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2), "nested deeper"},
		// Ten levels of ten aliases each would expand to 10^10 values.
		{laughs(10), "expands to more than"},
	}
	for _, c := range cases {
		_, err := ParseValue(c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseValue(%q): error %v, want it to contain %q", c.text, err, c.want)
		}
	}
}

// laughs is the "billion laughs" document with n levels.
func laughs(n int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x]\n")
	for i := 1; i <= n; i++ {
		prev := "*a" + strconv.Itoa(i-1)
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(prev+", ", 10), ", "))
	}
	return b.String()
}

// FuzzParseValue checks that any text either fails or gives a value XML-RPC carries unchanged.
func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"10", "1:30", "[a, {b: .nan}]", "!!binary aGk=", "{a: &x [1], b: *x}", "'it''s'", "0x_1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		v, err := ParseValue(text)
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := encodeValue(&b, v, 0); err != nil {
			if strings.Contains(err.Error(), "XML-RPC cannot carry") || strings.Contains(err.Error(), "UTF-8") ||
				strings.Contains(err.Error(), "dictionary key") {
				return // YAML can spell characters and keys the parameter server cannot hold
			}
			t.Fatalf("ParseValue(%q) = %#v, which does not encode: %v", text, v, err)
		}
		got, err := decodeResponse(strings.NewReader("<methodResponse><params><param>" + b.String() + "</param></params></methodResponse>"))
		if err != nil || !sameValue(got, v) {
			t.Fatalf("ParseValue(%q) = %#v came back from XML-RPC as %#v (%v)", text, v, got, err)
		}
	})
}
