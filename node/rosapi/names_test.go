package rosapi

import (
	"slices"
	"strings"
	"testing"
)

// The examples of wiki.ros.org/Names ("Resolving") and wiki.ros.org/Remapping Arguments, plus the cases
// roscpp's names.cpp decides: empty names, "~" alone, doubled and trailing slashes.
func TestResolveFollowsTheWikiExamples(t *testing.T) {
	cases := []struct {
		ns, node, name, want string
	}{
		{"/", "node1", "bar", "/bar"},
		{"/", "node1", "/bar", "/bar"},
		{"/", "node1", "~bar", "/node1/bar"},
		{"/wg", "node2", "bar", "/wg/bar"},
		{"/wg", "node2", "/bar", "/bar"},
		{"/wg", "node2", "~bar", "/wg/node2/bar"},
		{"/wg", "node3", "foo/bar", "/wg/foo/bar"},
		{"/wg", "node3", "/foo/bar", "/foo/bar"},
		{"/wg", "node3", "~foo/bar", "/wg/node3/foo/bar"},
		{"/wg", "node3", "", "/wg"},
		{"/", "node3", "", "/"},
		{"/wg", "node3", "~", "/wg/node3"},
		{"/wg", "node3", "~/x", "/wg/node3/x"},
		{"/wg", "node3", "a//b/", "/wg/a/b"},
		{"/wg", "node3", "//a", "/a"},
		{"/wg", "node3", "/", "/"},
		{"wg/", "node3", "a", "/wg/a"},
		{"", "node3", "a", "/a"},
	}
	for _, c := range cases {
		r, err := NewResolver(c.ns, c.node, nil)
		if err != nil {
			t.Fatalf("NewResolver(%q, %q): %v", c.ns, c.node, err)
		}
		got, err := r.Resolve(c.name)
		if err != nil || got != c.want {
			t.Errorf("node %s resolves %q to %q (%v), want %q", r.Name(), c.name, got, err, c.want)
		}
	}
}

func TestRemapsMatchResolvedNamesAsTheWikiShows(t *testing.T) {
	cases := []struct {
		ns      string
		remap   Remap
		matches []string
		misses  []string
		want    string
	}{
		{"/", Remap{"foo", "bar"}, []string{"foo", "/foo"}, []string{"foo/baz", "~foo"}, "/bar"},
		{"/baz", Remap{"foo", "bar"}, []string{"foo", "/baz/foo"}, []string{"/foo"}, "/baz/bar"},
		{"/", Remap{"/foo", "bar"}, []string{"foo", "/foo"}, nil, "/bar"},
		{"/baz", Remap{"/foo", "bar"}, []string{"/foo"}, []string{"foo"}, "/baz/bar"},
		{"/baz", Remap{"/foo", "/a/b/c/bar"}, []string{"/foo"}, []string{"foo"}, "/a/b/c/bar"},
		// Private names on either side resolve relative to the node (/baz/n).
		{"/baz", Remap{"~image", "camera/image"}, []string{"~image", "/baz/n/image", "n/image"}, []string{"image"}, "/baz/camera/image"},
		{"/baz", Remap{"image", "~image"}, []string{"image", "/baz/image"}, []string{"~image"}, "/baz/n/image"},
	}
	for _, c := range cases {
		r, err := NewResolver(c.ns, "n", []Remap{c.remap})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range c.matches {
			if got, _ := r.Resolve(name); got != c.want {
				t.Errorf("ns %s, %s:=%s: %q resolves to %q, want %q", c.ns, c.remap.From, c.remap.To, name, got, c.want)
			}
		}
		for _, name := range c.misses {
			plain, _ := r.Expand(name)
			if got, _ := r.Resolve(name); got != plain {
				t.Errorf("ns %s, %s:=%s: %q resolves to %q, want it unmapped (%q)", c.ns, c.remap.From, c.remap.To, name, got, plain)
			}
		}
	}
}

func TestRemapsApplyOnceAndFollowRoscppPrecedence(t *testing.T) {
	r, err := NewResolver("/ns", "n", []Remap{
		{"a", "b"}, {"b", "c"}, // no chaining: a is b, not c
		{"x", "first"}, {"x", "second"}, // the same From twice: the last wins
		{"/ns/y", "late_on_the_line"}, {"y", "sorts_after_slash"}, // two spellings: the From that sorts last wins
		{"n", "own_name"}, // the node's own base name as From is ignored, as roscpp does
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"a": "/ns/b", "b": "/ns/c", "x": "/ns/second", "y": "/ns/sorts_after_slash", "n": "/ns/n",
	} {
		if got, _ := r.Resolve(name); got != want {
			t.Errorf("%q resolves to %q, want %q", name, got, want)
		}
	}
	got := r.Remaps()
	if !slices.IsSortedFunc(got, func(a, b Remap) int { return strings.Compare(a.From, b.From) }) || len(got) != 4 {
		t.Errorf("Remaps() = %v, want the 4 resolved remaps sorted by From", got)
	}
}

func TestInvalidNamesAreErrorsThatSayWhy(t *testing.T) {
	cases := []struct{ name, want string }{
		{"1abc", `"1abc" is not a valid ROS name: it starts with '1'`},
		{"_a", `it starts with '_'`},
		{"a-b", `'-' at byte 1`},
		{"a~b", `'~' at byte 1`},
		{"a b", `' ' at byte 1`},
		{"caf\u00e9", `byte 0xc3 at byte 3`},
		{"a.b", `'.' at byte 1`},
	}
	r, _ := NewResolver("/", "n", nil)
	for _, c := range cases {
		_, err := r.Resolve(c.name)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Resolve(%q) error = %v, want it to contain %q", c.name, err, c.want)
		}
	}
	for _, ok := range []string{"", "/", "~", "a", "/a/b_1/C", "~x//y/", "A1_"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", ok, err)
		}
	}
}

func TestNodeNamesAndNamespacesAreChecked(t *testing.T) {
	cases := []struct{ ns, node, want string }{
		{"/", "", "a node name must not be empty"},
		{"/", "a/b", `node name "a/b" must not contain '/'`},
		{"/", "~a", `node name "~a" must not contain '~'`},
		{"/", "1a", `"1a" is not a valid ROS name`},
		{"~x", "a", `namespace "~x": "/~x" is not a valid ROS name: '~' at byte 1`},
		{"a-b", "a", `namespace "a-b"`},
	}
	for _, c := range cases {
		_, err := NewResolver(c.ns, c.node, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewResolver(%q, %q) error = %v, want it to contain %q", c.ns, c.node, err, c.want)
		}
	}
	_, err := NewResolver("/", "n", []Remap{{"a", "b-c"}})
	if err == nil || !strings.Contains(err.Error(), `remap a:=b-c: "b-c" is not a valid ROS name`) {
		t.Errorf("a bad remap target gives %v", err)
	}
}

func TestNodeNameAndNamespaceComeFromArgsThenEnvironment(t *testing.T) {
	cases := []struct {
		args     []string
		env      string
		wantName string
		wantNS   string
	}{
		{nil, "", "/cen", "/"},
		{nil, "robot", "/robot/cen", "/robot"},
		{nil, "/robot/", "/robot/cen", "/robot"},
		{[]string{"__ns:=/arm"}, "robot", "/arm/cen", "/arm"},
		{[]string{"__ns:=arm//left/"}, "", "/arm/left/cen", "/arm/left"},
		{[]string{"__name:=seg"}, "robot", "/robot/seg", "/robot"},
		{[]string{"__name:=a", "__name:=b", "__ns:=x", "__ns:=y"}, "", "/y/b", "/y"},
	}
	for _, c := range cases {
		a, _, err := ParseArgs(c.args)
		if err != nil {
			t.Fatal(err)
		}
		r, err := a.Resolver("cen", Env{Namespace: c.env})
		if err != nil {
			t.Fatal(err)
		}
		if r.Name() != c.wantName || r.Namespace() != c.wantNS {
			t.Errorf("args %q, ROS_NAMESPACE=%q: node %s in %s, want %s in %s", c.args, c.env, r.Name(), r.Namespace(), c.wantName, c.wantNS)
		}
	}
}
