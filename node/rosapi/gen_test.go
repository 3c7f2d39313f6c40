package rosapi

// Generated start-ups of a node, shared by the cross-checks against rospy (rospy_test.go) and roscpp
// (cpp_test.go).

import (
	"math/rand/v2"
	"slices"
	"strings"
)

// nameCase is one node start-up: its default name, ROS_NAMESPACE (nil when unset), its ROS arguments, and
// names it resolves.
type nameCase struct {
	Default string   `json:"default"`
	EnvNS   *string  `json:"env_ns"`
	Args    []string `json:"args"`
	Queries []string `json:"queries"`
}

// nameOutcome is what a client library makes of a nameCase.
type nameOutcome struct {
	err       bool // the node would not start
	name, ns  string
	resolved  []string
	queryErrs []bool
}

// ours runs c through ParseArgs and Resolver.
func (c nameCase) ours() nameOutcome {
	a, _, err := ParseArgs(c.Args)
	if err != nil {
		return nameOutcome{err: true}
	}
	r, err := a.Resolver(c.Default, c.env())
	if err != nil {
		return nameOutcome{err: true}
	}
	o := nameOutcome{name: r.Name(), ns: r.Namespace()}
	for _, q := range c.Queries {
		got, err := r.Resolve(q)
		o.resolved = append(o.resolved, got)
		o.queryErrs = append(o.queryErrs, err != nil)
	}
	return o
}

func (c nameCase) env() Env {
	if c.EnvNS == nil {
		return Env{}
	}
	return Env{Namespace: *c.EnvNS}
}

var (
	nameParts   = []string{"a", "b", "foo", "bar", "wg", "node1", "x_1", "Cam", "img2"} // no node name
	nodeNames   = []string{"seg", "talker", "n1", "cen"}
	badNames    = []string{"a-b", "1x", "a.b", "a~b", "_a", "a b", "/x/-y"}
	badBase     = []string{"a/b", "1n", "~n", "n-1"}
	badSpaces   = []string{"~x", "a-b", "/a.b"}
	allSlashNSs = []string{"//", "///"}
)

// genCases draws n cases. With wide, they also hold what only roscpp is checked on: invalid names, the
// empty name, "~" alone and "~/x", repeated __ns, remaps of the node's own base name, and two spellings of
// one name remapped differently (rospy decides those by dictionary order, roscpp by sorted order). Without
// wide, every case stays where rospy and roscpp agree.
func genCases(r *rand.Rand, n int, wide bool) []nameCase {
	var out []nameCase
	for len(out) < n {
		c := drawCase(r, wide)
		if c.inDomain(wide) {
			out = append(out, c)
		}
	}
	return out
}

func drawCase(r *rand.Rand, wide bool) nameCase {
	c := nameCase{Default: "cen"}
	switch r.IntN(10) {
	case 0, 1, 2:
	case 3:
		c.EnvNS = new(string)
	default:
		ns := drawNS(r, wide)
		c.EnvNS = &ns
	}
	for k := r.IntN(3); k > 0; k-- {
		if r.IntN(2) == 0 || !wide {
			if r.IntN(2) == 0 {
				c.Args = append(c.Args, "__ns:="+drawNS(r, wide))
			}
			break
		}
		c.Args = append(c.Args, "__ns:="+drawNS(r, wide))
	}
	if r.IntN(4) == 0 {
		name := nodeNames[r.IntN(len(nodeNames))]
		if wide && r.IntN(15) == 0 {
			name = badBase[r.IntN(len(badBase))]
		}
		c.Args = append(c.Args, "__name:="+name)
	}
	var froms []string
	for k := r.IntN(5); k > 0; k-- {
		from, to := drawName(r, wide), drawName(r, wide)
		if wide && r.IntN(10) == 0 {
			from = nodeNames[r.IntN(len(nodeNames))] // maybe the node's own base name
		}
		if wide && r.IntN(5) == 0 && len(froms) > 0 {
			from = froms[r.IntN(len(froms))] // the same From again: the last To wins
		}
		if slices.Contains(nodeNames, from) {
			// roscpp skips a remap of its own base name without checking the other side.
			for CheckName(to) != nil {
				to = drawName(r, wide)
			}
		}
		if from == "" || to == "" {
			continue // "a:=" is an error here and a remap to the namespace in roscpp
		}
		froms = append(froms, from)
		c.Args = append(c.Args, from+":="+to)
	}
	r.Shuffle(len(c.Args), func(i, j int) { c.Args[i], c.Args[j] = c.Args[j], c.Args[i] })
	for k := 3 + r.IntN(3); k > 0; k-- {
		c.Queries = append(c.Queries, drawName(r, wide))
	}
	// Names the remaps match, spelled as given and in other ways.
	for _, arg := range c.Args {
		from, to, _ := strings.Cut(arg, ":=")
		if strings.HasPrefix(from, "__") {
			continue
		}
		c.Queries = append(c.Queries, from, to)
		if strings.HasPrefix(from, "/") && len(from) > 1 && r.IntN(2) == 0 {
			c.Queries = append(c.Queries, strings.TrimPrefix(from, "/"))
		}
	}
	return c
}

// drawName draws a graph resource name: global, relative or private, with up to three parts, sometimes
// with doubled or trailing slashes.
func drawName(r *rand.Rand, wide bool) string {
	if wide {
		switch r.IntN(25) {
		case 0:
			return ""
		case 1:
			return "~"
		case 2:
			return badNames[r.IntN(len(badNames))]
		case 3:
			return "~/" + nameParts[r.IntN(len(nameParts))]
		}
	} else if r.IntN(40) == 0 {
		return "/"
	}
	parts := make([]string, 1+r.IntN(3))
	for i := range parts {
		parts[i] = nameParts[r.IntN(len(nameParts))]
	}
	s := strings.Join(parts, "/")
	if r.IntN(8) == 0 {
		s = strings.Replace(s, "/", "//", 1)
	}
	if r.IntN(8) == 0 {
		s += "/"
	}
	switch r.IntN(3) {
	case 0:
		s = "/" + s
	case 1:
		s = "~" + s
	}
	return s
}

// drawNS draws a namespace as __ns:= or ROS_NAMESPACE give it.
func drawNS(r *rand.Rand, wide bool) string {
	if wide {
		switch r.IntN(20) {
		case 0:
			return badSpaces[r.IntN(len(badSpaces))]
		case 1:
			return allSlashNSs[r.IntN(len(allSlashNSs))]
		}
	}
	parts := make([]string, r.IntN(3))
	for i := range parts {
		parts[i] = nameParts[r.IntN(len(nameParts))]
	}
	s := strings.Join(parts, "/")
	switch r.IntN(4) {
	case 0:
		return "/" + s
	case 1:
		if s == "" {
			return "/"
		}
		return s
	case 2:
		return strings.TrimSuffix("/"+s, "/") + "/"
	}
	return "/" + s
}

// inDomain reports whether c stays within what the cross-check compares: see genCases. Our own resolver
// picks the cases, which is sound because the other library then decides them independently.
func (c nameCase) inDomain(wide bool) bool {
	a, _, err := ParseArgs(c.Args)
	if err != nil {
		// roscpp keeps only the last of a repeated key, so it never sees a bad value given before a good
		// one; ParseArgs reports it.
		return wide && !badThenOverridden(c.Args)
	}
	res, err := a.Resolver(c.Default, c.env())
	if err != nil {
		return wide
	}
	if !wide && strings.Count(strings.Join(c.Args, " "), "__ns:=") > 1 {
		return false // rospy takes the first __ns, roscpp the last
	}
	byResolved := map[string]string{}
	for _, m := range a.Remaps {
		from, _ := res.Expand(m.From)
		if m.From == res.BaseName() {
			if !wide {
				return false // roscpp ignores it, rospy applies it
			}
			continue
		}
		if from == res.Name() {
			return false // roscpp renames the node; we do not
		}
		if other, ok := byResolved[from]; ok && other != m.From && !wide {
			return false
		}
		byResolved[from] = m.From
	}
	for _, q := range c.Queries {
		if wide && q == "/" {
			return false // roscpp resolves "/" to ""
		}
	}
	return true
}

// badThenOverridden reports whether an argument ParseArgs refuses is followed by another for the same key.
func badThenOverridden(args []string) bool {
	for i, arg := range args {
		if _, _, err := ParseArgs([]string{arg}); err == nil {
			continue
		}
		key, _, _ := strings.Cut(arg, ":=")
		for _, later := range args[i+1:] {
			if k, _, _ := strings.Cut(later, ":="); k == key {
				return true
			}
		}
	}
	return false
}
