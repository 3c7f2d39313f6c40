package rosapi

// Tests against a real rosmaster (test/rosenv) and Debian's rosparam, in both directions.

import (
	"context"
	"errors"
	"maps"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/cen-ros/cen/test/rosenv"
)

// One master serves every subtest: starting one costs a second on this machine.
func TestAgainstARealMaster(t *testing.T) {
	m := rosenv.StartMaster(t)
	ctx := context.Background()
	newClient := func(t *testing.T, conf Conf) *Client {
		t.Helper()
		conf.MasterAddress = m.Addr
		c, err := NewClient(conf)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	c := newClient(t, Conf{})

	t.Run("ValuesWeSetReadBackByRosparamGet", func(t *testing.T) {
		set := map[string]any{
			"int": 42, "negative": -7, "max": math.MaxInt32, "min": math.MinInt32, "int64": int64(12),
			"double": 2.5, "whole_double": 10.0, "tiny": 5e-324, "huge": 1e300, "negative_zero": math.Copysign(0, -1),
			"float32": float32(0.1), "nan": math.NaN(), "inf": math.Inf(1), "minus_inf": math.Inf(-1),
			"true": true, "false": false,
			"text": "hello", "empty": "", "number_text": "123", "float_text": "1.5", "yes_text": "yes",
			"null_text": "null", "tilde": "~", "colon": "a: b", "hash": "# not a comment", "dash": "- x",
			"unicode": "héllo 中文", "markup": `<a href="x">&amp;</a>`, "lines": "two\nlines", "tab": "a\tb",
			"padded": "  padded  ", "quote": `it's "quoted"`, "date_text": "2024-01-02",
			"list": []any{1, 2.5, "x", true}, "floats": []float64{0.485, 0.456, 0.406},
			"nested":     []any{[]any{1, 2}, []any{}, []any{[]any{"deep"}}},
			"dict":       map[string]any{"a": 1, "b": map[string]any{"c": []any{"d", 0.5}}},
			"empty_list": []any{}, "empty_dict": map[string]any{},
			"typed_map": map[string]int{"x": 1, "y": 2},
		}
		for k, v := range set {
			if err := c.Set(ctx, "/rt/"+k, v); err != nil {
				t.Fatalf("Set %s: %v", k, err)
			}
		}
		out, err := m.Output(t, "rosparam", "get", "/rt")
		if err != nil {
			t.Fatalf("rosparam get /rt: %v\n%s", err, out)
		}
		fromRosparam, err := ParseValue(out)
		if err != nil {
			t.Fatalf("reading rosparam's YAML: %v\n%s", err, out)
		}
		fromUs, err := c.Get(ctx, "/rt")
		if err != nil {
			t.Fatal(err)
		}
		// As the server holds them: the Go types a parameter can have.
		want := maps.Clone(set)
		want["int64"] = 12
		want["float32"] = float64(float32(0.1))
		want["floats"] = []any{0.485, 0.456, 0.406}
		want["typed_map"] = map[string]any{"x": 1, "y": 2}
		for k := range set {
			if got := fromRosparam.(map[string]any)[k]; !sameValue(got, want[k]) {
				t.Errorf("rosparam get shows %s as %#v, want %#v", k, got, want[k])
			}
			if got := fromUs.(map[string]any)[k]; !sameValue(got, want[k]) {
				t.Errorf("Get reads %s back as %#v, want %#v", k, got, want[k])
			}
		}
		if t.Failed() {
			t.Logf("rosparam get /rt:\n%s", out)
		}
	})

	t.Run("ValuesRosparamLoadsAndSetsReadByGet", func(t *testing.T) {
		yaml := `model: /opt/cen/model.onnx
queue_size: 2
rate: 30.0
scale: 1e-3
enabled: yes
flags: [on, off, true, false, y]
version: "1.10"
zip: '02139'
octal: 017
hex: 0xFF
minutes: 1:30
mean: [0.485, 0.456, 0.406]
classes:
  - wall
  - floor
  - "null"
  - 7
camera:
  rgb: {topic: /camera/color/image_raw, encoding: rgb8}
  depth:
    topic: /camera/depth/image_rect_raw
    unit: 0.001
    valid: [0.1, 10.0]
nested: [[1, 2], [3, [4, 5]]]
multiline: |
  first line
  second line
folded: >
  folded
  text
inf: .inf
nan: .nan
negative: -12
exponent: 6.02e+23
quoted_bool: 'true'
unicode: "caf\u00e9"
empty_list: []
`
		file := filepath.Join(t.TempDir(), "params.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := m.Output(t, "rosparam", "load", file, "/loaded"); err != nil {
			t.Fatalf("rosparam load: %v\n%s", err, out)
		}
		got, err := c.Get(ctx, "/loaded")
		if err != nil {
			t.Fatal(err)
		}
		want, err := ParseValue(yaml)
		if err != nil {
			t.Fatal(err)
		}
		if !sameValue(got, want) {
			t.Errorf("Get(/loaded) =\n%#v\nwant what the file says:\n%#v", got, want)
		}
		// The readings YAML 1.1 gives, spelled out.
		spot := map[string]any{
			"scale": "1e-3", "enabled": true, "zip": "02139", "octal": 15, "hex": 255, "minutes": 90,
			"version": "1.10", "rate": 30.0, "multiline": "first line\nsecond line\n", "folded": "folded text\n",
			"unicode": "café", "flags": []any{true, false, true, false, "y"},
		}
		for k, v := range spot {
			if g := got.(map[string]any)[k]; !sameValue(g, v) {
				t.Errorf("/loaded/%s is %#v, want %#v", k, g, v)
			}
		}
		if out, err := m.Output(t, "rosparam", "set", "/set/list", `[1, 2.5, "3", [yes]]`); err != nil {
			t.Fatalf("rosparam set: %v\n%s", err, out)
		}
		if out, err := m.Output(t, "rosparam", "set", "/set/dict", "{a: 1, b: {c: x}}"); err != nil {
			t.Fatalf("rosparam set: %v\n%s", err, out)
		}
		for key, want := range map[string]any{
			"/set/list":     []any{1, 2.5, "3", []any{true}},
			"/set/dict":     map[string]any{"a": 1, "b": map[string]any{"c": "x"}},
			"/set/dict/b/c": "x",
		} {
			if got, err := c.Get(ctx, key); err != nil || !sameValue(got, want) {
				t.Errorf("Get(%s) = %#v, %v; want %#v", key, got, err, want)
			}
		}
	})

	t.Run("PrivateParamsAsARospyNodeUploadsThem", func(t *testing.T) {
		args := []string{"_i:=5", "_f:=1.5", "_l:=[1, two, 3.0]", "_d:={a: {b: yes}}", "_s:='07'", "_e:=1e3",
			"_h:=0x10", "_t:=Off", "_n:=-.inf", "__name:=pyargs"}
		script := "import rospy; rospy.init_node('ignored', disable_signals=True, disable_rosout=True, disable_rostime=True)"
		if out, err := m.Output(t, debianPython, append([]string{"-c", script}, args...)...); err != nil {
			t.Fatalf("rospy node: %v\n%s", err, out)
		}
		a, _, err := ParseArgs(args)
		if err != nil {
			t.Fatal(err)
		}
		names, err := a.Resolver("ignored", Env{})
		if err != nil {
			t.Fatal(err)
		}
		ours := newClient(t, Conf{Resolver: names})
		for _, p := range a.Params {
			got, err := ours.Get(ctx, p.Name)
			if err != nil || !sameValue(got, p.Value) {
				t.Errorf("rospy stored _%s:=%s as %#v (%v); ParseArgs reads %#v", p.Name[1:], p.Text, got, err, p.Value)
			}
		}
		// Uploading the same arguments ourselves stores the same tree.
		before, _ := c.Get(ctx, "/pyargs")
		if err := ours.SetParams(ctx, a.Params); err != nil {
			t.Fatal(err)
		}
		if after, _ := c.Get(ctx, "/pyargs"); !sameValue(before, after) {
			t.Errorf("SetParams changed /pyargs from %#v to %#v", before, after)
		}
	})

	t.Run("NamesAreResolvedAndRemapped", func(t *testing.T) {
		names, err := NewResolver("/robot", "seg", []Remap{{"~queue", "/global/queue"}})
		if err != nil {
			t.Fatal(err)
		}
		n := newClient(t, Conf{Resolver: names})
		if err := n.Set(ctx, "~rate", 15); err != nil {
			t.Fatal(err)
		}
		if err := n.Set(ctx, "~queue", 3); err != nil {
			t.Fatal(err)
		}
		if err := n.Set(ctx, "relative", "r"); err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]any{"/robot/seg/rate": 15, "/global/queue": 3, "/robot/relative": "r"} {
			if got, err := c.Get(ctx, key); err != nil || got != want {
				t.Errorf("%s = %#v, %v; want %#v", key, got, err, want)
			}
		}
		if q, err := GetAs[int](ctx, n, "~queue"); err != nil || q != 3 {
			t.Errorf("GetAs[int](~queue) = %d, %v", q, err)
		}
		if _, err := n.Get(ctx, "bad-name"); err == nil || !strings.Contains(err.Error(), `parameter bad-name: "bad-name" is not a valid ROS name`) {
			t.Errorf("an invalid name gives %v", err)
		}
	})

	t.Run("HasDeleteSearchNames", func(t *testing.T) {
		for _, k := range []string{"/pr2/robot_description", "/robot_description", "/pr2/arm/x"} {
			if err := c.Set(ctx, k, "urdf"); err != nil {
				t.Fatal(err)
			}
		}
		names, _ := NewResolver("/pr2/arm", "planner", nil)
		n := newClient(t, Conf{Resolver: names})
		for name, want := range map[string]string{
			"robot_description":     "/pr2/robot_description",
			"robot_description/arm": "/pr2/robot_description/arm",
			"x":                     "/pr2/arm/x",
			"/robot_description":    "/robot_description",
		} {
			if got, found, err := n.Search(ctx, name); err != nil || !found || got != want {
				t.Errorf("Search(%q) = %q, %v, %v; want %q", name, got, found, err, want)
			}
		}
		// A remap applies to the name as written, since the master resolves the search.
		remapped, _ := NewResolver("/pr2/arm", "planner", []Remap{{"robot_description", "/robot_description"}})
		if got, found, err := newClient(t, Conf{Resolver: remapped}).Search(ctx, "robot_description"); err != nil || !found || got != "/robot_description" {
			t.Errorf("remapped Search(robot_description) = %q, %v, %v; want /robot_description", got, found, err)
		}
		if got, found, err := n.Search(ctx, "nowhere"); err != nil || found {
			t.Errorf("Search(nowhere) = %q, %v, %v; want not found", got, found, err)
		}
		if _, _, err := n.Search(ctx, "~x"); err == nil || !strings.Contains(err.Error(), "not a private or empty one") {
			t.Errorf("Search(~x) gives %v", err)
		}
		if ok, err := c.Has(ctx, "/pr2"); err != nil || !ok {
			t.Errorf("Has(/pr2) = %v, %v; want a namespace to count", ok, err)
		}
		if err := c.Delete(ctx, "/pr2/arm"); err != nil {
			t.Fatal(err)
		}
		if ok, err := c.Has(ctx, "/pr2/arm/x"); err != nil || ok {
			t.Errorf("Has after Delete = %v, %v", ok, err)
		}
		err := c.Delete(ctx, "/pr2/arm")
		if !errors.Is(err, ErrNotSet) || !strings.Contains(err.Error(), "deleteParam /pr2/arm at the master "+m.Addr) {
			t.Errorf("deleting twice gives %v", err)
		}
		all, err := c.Names(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"/pr2/robot_description", "/robot_description", "/rt/int", "/rt/dict/b/c"} {
			if !slices.Contains(all, want) {
				t.Errorf("Names() lacks %s: %q", want, all)
			}
		}
		if slices.Contains(all, "/pr2/arm/x") {
			t.Errorf("Names() still has the deleted /pr2/arm/x")
		}
	})

	t.Run("TypedReadsNameTheParameter", func(t *testing.T) {
		names, _ := NewResolver("/", "cen", nil)
		n := newClient(t, Conf{Resolver: names})
		if err := n.Set(ctx, "~queue_size", "ten"); err != nil {
			t.Fatal(err)
		}
		_, err := GetAs[int](ctx, n, "~queue_size")
		if err == nil || err.Error() != `~queue_size is the string "ten", want an integer` {
			t.Errorf("GetAs[int] error = %v", err)
		}
		if _, err := GetOr(ctx, n, "~queue_size", 1); err == nil {
			t.Error("GetOr falls back to the default for a value of the wrong type")
		}
		if v, err := GetOr(ctx, n, "~unset", 7); err != nil || v != 7 {
			t.Errorf("GetOr(~unset, 7) = %d, %v", v, err)
		}
		_, err = n.Get(ctx, "~unset")
		if !errors.Is(err, ErrNotSet) || err.Error() != "getParam ~unset (/cen/unset) at the master "+m.Addr+": parameter is not set (Parameter [/cen/unset] is not set)" {
			t.Errorf("Get(~unset) error = %v", err)
		}
	})

	t.Run("LookupNodeAndSystemStateSeeAGoroslibNode", func(t *testing.T) {
		gn, err := goroslib.NewNode(goroslib.NodeConf{Name: "rosapi_probe", MasterAddress: m.Addr, Host: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer gn.Close()
		sub, err := goroslib.NewSubscriber(goroslib.SubscriberConf{Node: gn, Topic: "/probe/in", Callback: func(*std_msgs.String) {}})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		uri, err := c.LookupNode(ctx, "/rosapi_probe")
		if err != nil || !strings.HasPrefix(uri, "http://127.0.0.1:") {
			t.Errorf("LookupNode(/rosapi_probe) = %q, %v", uri, err)
		}
		if _, err := c.LookupNode(ctx, "/nobody"); !errors.Is(err, ErrUnknownNode) {
			t.Errorf("LookupNode(/nobody) error = %v", err)
		}
		s, err := c.SystemState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Subscribers["/probe/in"]; len(got) != 1 || got[0] != "/rosapi_probe" {
			t.Errorf("subscribers of /probe/in = %q", got)
		}
		if got := s.Publishers["/rosout"]; !slices.Contains(got, "/rosapi_probe") {
			t.Errorf("publishers of /rosout = %q, want goroslib's node among them", got)
		}
	})

	t.Run("ResponsesAreBounded", func(t *testing.T) {
		if err := c.Set(ctx, "/big", strings.Repeat("x", 100_000)); err != nil {
			t.Fatal(err)
		}
		small := newClient(t, Conf{MaxResponseBytes: 10_000})
		_, err := small.Get(ctx, "/big")
		if err == nil || !strings.Contains(err.Error(), "getParam /big at the master "+m.Addr+": the response is larger than 10000 bytes") {
			t.Errorf("a 100 kB value with a 10 kB limit gives %v", err)
		}
		if v, err := small.Get(ctx, "/rt/int"); err != nil || v != 42 {
			t.Errorf("a small value with the same limit: %v, %v", v, err)
		}
	})
}

func TestAMasterThatIsDownIsAnErrorNamingKeyAndMaster(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(rosenv.FreePort(t)))
	c, err := NewClient(Conf{MasterAddress: addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Get(context.Background(), "~queue_size")
	want := "getParam ~queue_size (/cen/queue_size) at the master " + addr + ": no ROS master answers: "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Get from a master that is down: %v\nwant it to start %q and say connection refused", err, want)
	}

	// A master that accepts but never answers runs into the timeout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	c2, _ := NewClient(Conf{MasterAddress: l.Addr().String(), Timeout: 300 * time.Millisecond})
	defer c2.Close()
	start := time.Now()
	err = c2.Set(context.Background(), "/x", 1)
	if err == nil || !strings.Contains(err.Error(), "setParam /x at the master "+l.Addr().String()+": no ROS master answers") || time.Since(start) > 5*time.Second {
		t.Errorf("Set to a master that hangs: %v after %v", err, time.Since(start))
	}
	if _, err := NewClient(Conf{MasterAddress: "http://robot:11311/"}); err == nil || !strings.Contains(err.Error(), "is not host:port") {
		t.Errorf("a URI as MasterAddress gives %v", err)
	}
}
