package rosapi

import (
	"fmt"
	"slices"
	"strings"
)

// CheckName returns an error unless name is a valid graph resource name as roscpp's names::validate decides
// (wiki.ros.org/Names): empty, or a letter, '/' or '~' followed by letters, digits, '_' and '/'. Doubled and
// trailing slashes are valid; resolution removes them.
func CheckName(name string) error {
	if name == "" {
		return nil
	}
	if c := name[0]; !isLetter(c) && c != '/' && c != '~' {
		return fmt.Errorf("%q is not a valid ROS name: it starts with %s; a name starts with a letter, '/' or '~'", name, quoteByte(c))
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isLetter(c) && !isDigit(c) && c != '_' && c != '/' {
			return fmt.Errorf("%q is not a valid ROS name: %s at byte %d; after the first character a name holds only letters, digits, '_' and '/'", name, quoteByte(c), i)
		}
	}
	return nil
}

// CheckBaseName returns an error unless name is a valid node name: a valid graph resource name without a
// namespace, that is without '/' and '~'.
func CheckBaseName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("a node name must not be empty")
	case strings.Contains(name, "/"):
		return fmt.Errorf("node name %q must not contain '/'; give the namespace with __ns:= or ROS_NAMESPACE", name)
	case strings.Contains(name, "~"):
		return fmt.Errorf("node name %q must not contain '~'", name)
	}
	return CheckName(name)
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

func quoteByte(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("byte 0x%02x", c)
	}
	return fmt.Sprintf("%q", rune(c))
}

// clean drops doubled and trailing slashes, as roscpp's names::clean does, except that the global namespace
// stays "/" (roscpp turns it into the empty string).
func clean(name string) string {
	for strings.Contains(name, "//") {
		name = strings.ReplaceAll(name, "//", "/")
	}
	if len(name) > 1 && name[len(name)-1] == '/' {
		name = name[:len(name)-1]
	}
	return name
}

// join puts name under namespace ns and cleans the result.
func join(ns, name string) string { return clean(ns + "/" + name) }

// Remap is one command-line remapping, from:=to.
type Remap struct {
	From string
	To   string
}

// Resolver turns the names a node uses into global names and applies its remappings, as roscpp does for a
// node with the same namespace, name and command line. It is immutable and safe for concurrent use.
type Resolver struct {
	namespace string            // "/" or "/a/b"
	base      string            // "cen"
	name      string            // namespace + "/" + base
	remaps    map[string]string // resolved from -> resolved to
	given     map[string]string // from -> to as written, for searchParam
}

// NewResolver returns the resolver of the node called name (a base name such as "cen") in namespace ns, with
// remaps applied as roscpp applies its command line:
//   - ns may be relative ("robot" is "/robot") and "" is the global namespace;
//   - both sides of a remap are resolved, "~" names relative to the node, and the remap then matches
//     resolved names exactly, once (remaps do not chain);
//   - when the same From is given twice the last To wins; when two different spellings resolve to the
//     same name (a:=x and /ns/a:=y), the one whose From sorts last byte-wise wins, as in roscpp's std::map;
//   - a remap whose From is the node's own base name is ignored, as in roscpp.
//
// Unlike roscpp, remaps never rename the node itself; use __name:= for that.
func NewResolver(ns, name string, remaps []Remap) (*Resolver, error) {
	namespace, err := cleanNamespace(ns)
	if err != nil {
		return nil, err
	}
	if err := CheckBaseName(name); err != nil {
		return nil, err
	}
	r := &Resolver{
		namespace: namespace,
		base:      name,
		name:      join(namespace, name),
		remaps:    make(map[string]string),
		given:     make(map[string]string),
	}
	for _, m := range remaps {
		if m.From == "" || m.To == "" {
			return nil, fmt.Errorf("remap %s:=%s: both sides must be names", m.From, m.To)
		}
		if m.From == name {
			continue
		}
		r.given[m.From] = m.To
	}
	froms := make([]string, 0, len(r.given))
	for from := range r.given {
		froms = append(froms, from)
	}
	slices.Sort(froms)
	for _, from := range froms {
		to := r.given[from]
		rf, err := r.Expand(from)
		if err != nil {
			return nil, fmt.Errorf("remap %s:=%s: %w", from, to, err)
		}
		rt, err := r.Expand(to)
		if err != nil {
			return nil, fmt.Errorf("remap %s:=%s: %w", from, to, err)
		}
		r.remaps[rf] = rt
	}
	return r, nil
}

// cleanNamespace turns a namespace as __ns:= or ROS_NAMESPACE give it into global form, as roscpp does.
func cleanNamespace(ns string) (string, error) {
	global := clean("/" + ns)
	if err := CheckName(global); err != nil {
		return "", fmt.Errorf("namespace %q: %w", ns, err)
	}
	return global, nil
}

// Namespace is the node's namespace in global form: "/" or "/a/b".
func (r *Resolver) Namespace() string { return r.namespace }

// Name is the node's full name, its namespace joined with its base name: "/a/b/cen".
func (r *Resolver) Name() string { return r.name }

// BaseName is the node's name without its namespace: "cen". goroslib's NodeConf takes it as Name, and
// Namespace as Namespace.
func (r *Resolver) BaseName() string { return r.base }

// Expand turns name into its global form without applying remaps: a global name ("/a") stays as it is, a
// relative one ("a") goes under the node's namespace, a private one ("~a") under the node's name, and the
// empty name is the namespace itself. Doubled and trailing slashes are dropped.
func (r *Resolver) Expand(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	switch {
	case name == "":
		return r.namespace, nil
	case name[0] == '~':
		return join(r.name, name[1:]), nil
	case name[0] == '/':
		return clean(name), nil
	default:
		return join(r.namespace, name), nil
	}
}

// Resolve expands name (see Expand) and then applies the node's remaps: the global name topics, services and
// parameters go by. The empty name is the namespace, which no remap changes (as in roscpp and rospy).
func (r *Resolver) Resolve(name string) (string, error) {
	if name == "" {
		return r.namespace, nil
	}
	global, err := r.Expand(name)
	if err != nil {
		return "", err
	}
	if to, ok := r.remaps[global]; ok {
		return to, nil
	}
	return global, nil
}

// Remaps are the remaps in effect, both sides resolved, sorted by From.
func (r *Resolver) Remaps() []Remap {
	out := make([]Remap, 0, len(r.remaps))
	for from, to := range r.remaps {
		out = append(out, Remap{From: from, To: to})
	}
	slices.SortFunc(out, func(a, b Remap) int { return strings.Compare(a.From, b.From) })
	return out
}

// searchKey is the key searchParam gets for key: roscpp remaps it on the unresolved spelling, since the
// master resolves a search itself.
func (r *Resolver) searchKey(key string) string {
	if to, ok := r.given[key]; ok {
		return to
	}
	return key
}
