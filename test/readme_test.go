package test

import (
	"encoding/xml"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cen-ros/cen/node"
	"github.com/cen-ros/cen/test/rosenv"
)

// The README's reference tables are written from the code and checked against it here, so that a robot team
// can trust them: the node's parameters (node.Params), its topics (the Topic* constants of package node and
// the message types node.go advertises and subscribes with), and the arguments of the launch files. Each
// table follows a marker comment, `<!-- params: node.Params -->` and so on. A failing test names the README
// line at fault and prints the table as the code gives it.

// mdRow is one row of a markdown table: its line in README.md and its cells, unescaped.
type mdRow struct {
	line  int
	cells []string
}

// readmeTable returns the header and rows of the table that follows the line holding marker.
func readmeTable(t *testing.T, marker string) (header []string, rows []mdRow) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rosenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := -1
	for i, l := range lines {
		if strings.Contains(l, "<!-- "+marker+" -->") {
			if start >= 0 {
				t.Fatalf("README.md:%d: a second <!-- %s --> marker (the first is at line %d)", i+1, marker, start+1)
			}
			start = i
		}
	}
	if start < 0 {
		t.Fatalf("README.md has no <!-- %s --> marker before its table", marker)
	}
	i := start + 1
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	if i+1 >= len(lines) || !strings.HasPrefix(strings.TrimSpace(lines[i]), "|") || !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "|-") {
		t.Fatalf("README.md:%d: no markdown table (header row, then |---|) after <!-- %s -->", i+1, marker)
	}
	header = mdCells(lines[i])
	for i += 2; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "|"); i++ {
		cells := mdCells(lines[i])
		if len(cells) != len(header) {
			t.Errorf("README.md:%d: %d cells, the table's header has %d", i+1, len(cells), len(header))
			continue
		}
		rows = append(rows, mdRow{line: i + 1, cells: cells})
	}
	return header, rows
}

// mdCells splits a table row on its unescaped pipes and removes markdown's backslash escapes.
func mdCells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	if strings.HasSuffix(line, "|") && !strings.HasSuffix(line, `\|`) {
		line = line[:len(line)-1]
	}
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\' && i+1 < len(line) && strings.IndexByte("\\|`*_~[]<>#", line[i+1]) >= 0:
			cur.WriteByte(line[i+1])
			i++
		case c == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// mdEscape is the inverse of mdCells for one cell.
func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// code strips the backticks of a cell that is one code span.
func code(cell string) string {
	if len(cell) >= 2 && strings.HasPrefix(cell, "`") && strings.HasSuffix(cell, "`") {
		return cell[1 : len(cell)-1]
	}
	return cell
}

func checkHeader(t *testing.T, marker string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Fatalf("the table after <!-- %s --> has the columns %q, want %q", marker, got, want)
	}
}

// mdRowString writes cells as a markdown table row.
func mdRowString(cells ...string) string {
	for i, c := range cells {
		cells[i] = mdEscape(c)
	}
	return "| " + strings.Join(cells, " | ") + " |"
}

// ---- node parameters ---------------------------------------------------------------------------------------

const paramsMarker = "params: node.Params"

// paramCells is a parameter's row as the README writes it: name, type (with its choices or its
// dynamic_reconfigure range), default (— when there is none), dynamic (yes/no), description.
func paramCells(p node.Param) []string {
	typ := p.Type
	if len(p.Choices) > 0 {
		typ += " (" + strings.Join(p.Choices, ", ") + ")"
	}
	if p.Dynamic && (p.Type == "double" || p.Type == "int") {
		typ += ", " + formatNumber(p.Min) + " to " + formatNumber(p.Max)
	}
	def := "—"
	if p.Default != nil {
		def = "`" + formatDefault(p.Default) + "`"
	}
	dyn := "no"
	if p.Dynamic {
		dyn = "yes"
	}
	return []string{"`" + p.Name + "`", typ, def, dyn, p.Description}
}

// formatDefault writes a default as a launch file's <param value> would: doubles always with a decimal point
// (rosparam reads "1" as an int).
func formatDefault(v any) string {
	if f, ok := v.(float64); ok {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return s
	}
	return fmt.Sprint(v)
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// paramTable is the whole table as node.Params gives it.
func paramTable() string {
	var b strings.Builder
	b.WriteString("| parameter | type | default | dynamic | description |\n|---|---|---|---|---|\n")
	for _, p := range node.Params {
		b.WriteString(mdRowString(paramCells(p)...) + "\n")
	}
	return b.String()
}

func TestREADMEParameterTableMatchesTheNode(t *testing.T) {
	defer func() {
		if t.Failed() {
			t.Logf("the parameter table as node.Params gives it (paste it after <!-- %s -->):\n%s", paramsMarker, paramTable())
		}
	}()
	header, rows := readmeTable(t, paramsMarker)
	columns := []string{"parameter", "type", "default", "dynamic", "description"}
	checkHeader(t, paramsMarker, header, columns...)
	seen := map[string]int{}
	var order []string
	for _, r := range rows {
		name := code(r.cells[0])
		if first, dup := seen[name]; dup {
			t.Errorf("README.md:%d: parameter %s is listed again (first at line %d)", r.line, name, first)
			continue
		}
		seen[name] = r.line
		p := node.ParamByName(name)
		if p == nil {
			t.Errorf("README.md:%d: %s is not a parameter of the node (node.Params has no %q)", r.line, r.cells[0], name)
			continue
		}
		order = append(order, name)
		want := paramCells(*p)
		for c := 1; c < len(columns); c++ {
			if r.cells[c] != want[c] {
				t.Errorf("README.md:%d: ~%s: %s is %q, node.Params gives %q", r.line, name, columns[c], r.cells[c], want[c])
			}
		}
	}
	var want []string
	for _, p := range node.Params {
		if _, ok := seen[p.Name]; !ok {
			t.Errorf("README.md: the parameter table has no row for ~%s; add\n%s", p.Name, mdRowString(paramCells(p)...))
			continue
		}
		want = append(want, p.Name)
	}
	for i := range order {
		if order[i] != want[i] {
			t.Errorf("README.md:%d: row %d is ~%s, but node.Params (documentation order) has ~%s there", seen[order[i]], i+1, order[i], want[i])
			break
		}
	}
}

// ---- topics ------------------------------------------------------------------------------------------------

const topicsMarker = "topics: node.Topic*"

// nodeTopics is what the node's source says about its topics.
type nodeTopics struct {
	consts map[string]string // constant name → topic name (TopicLabels → "~labels")
	// types are the message types ("sensor_msgs/Image") by topic name, where node.go advertises a Topic
	// constant (pub(TopicX, &pkg.T{}, latch)) or subscribes to one (add(n.names[TopicX], func(m *pkg.T) ...)).
	types   map[string]string
	latched map[string]bool
	// inputTypes are the types of the other subscriptions (the images, whose topic depends on the transport).
	inputTypes map[string]bool
}

// parseNodeTopics reads package node's non-test sources.
func parseNodeTopics(t *testing.T) nodeTopics {
	t.Helper()
	dir := filepath.Join(rosenv.RepoRoot(), "node")
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	nt := nodeTopics{consts: map[string]string{}, types: map[string]string{}, latched: map[string]bool{}, inputTypes: map[string]bool{}}
	msgType := func(e ast.Expr) string {
		if s, ok := e.(*ast.SelectorExpr); ok {
			if pkg, ok := s.X.(*ast.Ident); ok {
				return pkg.Name + "/" + s.Sel.Name
			}
		}
		return ""
	}
	var calls []*ast.CallExpr
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.GenDecl:
				if x.Tok != token.CONST {
					return true
				}
				for _, s := range x.Specs {
					vs := s.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if !strings.HasPrefix(name.Name, "Topic") || !name.IsExported() || i >= len(vs.Values) {
							continue
						}
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, _ := strconv.Unquote(lit.Value)
							nt.consts[name.Name] = v
						}
					}
				}
			case *ast.CallExpr:
				calls = append(calls, x)
			}
			return true
		})
	}
	for _, c := range calls {
		fn, ok := c.Fun.(*ast.Ident)
		if !ok || len(c.Args) < 2 {
			continue
		}
		switch {
		case fn.Name == "pub" && len(c.Args) == 3:
			id, ok := c.Args[0].(*ast.Ident)
			lit, ok2 := c.Args[1].(*ast.UnaryExpr)
			if !ok || !ok2 {
				continue
			}
			cl, ok := lit.X.(*ast.CompositeLit)
			topic, known := nt.consts[id.Name]
			if !ok || !known {
				continue
			}
			nt.types[topic] = msgType(cl.Type)
			if b, ok := c.Args[2].(*ast.Ident); ok {
				nt.latched[topic] = b.Name == "true"
			}
		case fn.Name == "add":
			fl, ok := c.Args[1].(*ast.FuncLit)
			if !ok || len(fl.Type.Params.List) == 0 {
				continue
			}
			star, ok := fl.Type.Params.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			typ := msgType(star.X)
			if ix, ok := c.Args[0].(*ast.IndexExpr); ok {
				if id, ok := ix.Index.(*ast.Ident); ok {
					if topic, known := nt.consts[id.Name]; known {
						nt.types[topic] = typ
						continue
					}
				}
			}
			nt.inputTypes[typ] = true
		}
	}
	if len(nt.consts) == 0 {
		t.Fatalf("found no Topic* constants in %s", dir)
	}
	return nt
}

func TestREADMETopicTableMatchesTheNode(t *testing.T) {
	nt := parseNodeTopics(t)
	header, rows := readmeTable(t, topicsMarker)
	checkHeader(t, topicsMarker, header, "topic", "direction", "type", "when")
	// Names a row may have besides the constants: the image_transport subtopics the transport parameters
	// select, and the dynamic_reconfigure topics of the node's private namespace.
	subtopics := map[string]string{} // subtopic → its base
	for base, param := range map[string]string{node.TopicRGB: "image_transport", node.TopicDepth: "depth_image_transport"} {
		p := node.ParamByName(param)
		if p == nil {
			t.Fatalf("node.Params has no %s", param)
		}
		for _, c := range p.Choices {
			if c != "raw" {
				subtopics[base+"/"+c] = base
			}
		}
	}
	reconf, err := os.ReadFile(filepath.Join(rosenv.RepoRoot(), "node", "reconfigure", "server.go"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range rows {
		name := code(r.cells[0])
		if first, dup := seen[name]; dup {
			t.Errorf("README.md:%d: topic %s is listed again (first at line %d)", r.line, name, first)
			continue
		}
		seen[name] = r.line
		dir, typ, when := r.cells[1], code(r.cells[2]), r.cells[3]
		isConst := false
		for _, v := range nt.consts {
			isConst = isConst || v == name
		}
		switch {
		case isConst:
			// The direction is known where node.go's advertising or subscribing call was found.
			_, published := nt.latched[name]
			_, typed := nt.types[name]
			if wantDir := map[bool]string{true: "out", false: "in"}[published]; typed && dir != wantDir {
				t.Errorf("README.md:%d: %s: direction is %q, node.go makes it %q", r.line, name, dir, wantDir)
			}
			if want, ok := nt.types[name]; ok && typ != want {
				t.Errorf("README.md:%d: %s: type is %q, node.go uses %s", r.line, name, typ, want)
			}
			if _, ok := nt.types[name]; !ok && !nt.inputTypes[typ] {
				t.Errorf("README.md:%d: %s: type %q is none of the image types node.go subscribes with (%s)", r.line, name, typ, keys(nt.inputTypes))
			}
			if latched, published := nt.latched[name]; published && latched != strings.Contains(when, "latched") {
				t.Errorf("README.md:%d: %s: node.go advertises it with latch=%v, so its \"when\" cell must say \"latched\" exactly when it is; it says %q", r.line, name, latched, when)
			}
		case subtopics[name] != "":
			if dir != "in" || !nt.inputTypes[typ] {
				t.Errorf("README.md:%d: %s: want direction in and one of the image types node.go subscribes with (%s), got %q and %q", r.line, name, keys(nt.inputTypes), dir, typ)
			}
		case strings.HasPrefix(name, "~") && strings.Contains(string(reconf), strconv.Quote(strings.TrimPrefix(name, "~"))):
			if dir != "out" {
				t.Errorf("README.md:%d: %s: the dynamic_reconfigure server publishes it (direction out), the README says %q", r.line, name, dir)
			}
		default:
			t.Errorf("README.md:%d: %s is not a topic of the node (no Topic* constant in package node, transport subtopic or dynamic_reconfigure topic)", r.line, name)
		}
	}
	var consts, names, subs []string
	for c, v := range nt.consts {
		consts, names = append(consts, c), append(names, v)
	}
	sort.Strings(consts)
	sort.Strings(names)
	for _, c := range consts {
		if v := nt.consts[c]; seen[v] == 0 {
			t.Errorf("README.md: the topic table has no row for %s (node.%s)", v, c)
		}
	}
	for sub := range subtopics {
		subs = append(subs, sub)
	}
	sort.Strings(subs)
	for _, sub := range subs {
		if seen[sub] == 0 {
			t.Errorf("README.md: the topic table has no row for %s (the transport subtopic of %s)", sub, subtopics[sub])
		}
	}
	if t.Failed() {
		t.Logf("the node's topics: %s; types found in node.go: %v; latched: %v", strings.Join(names, ", "), nt.types, nt.latched)
	}
}

func keys(m map[string]bool) string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return strings.Join(k, ", ")
}

// ---- launch files ------------------------------------------------------------------------------------------

// launchArg is an <arg> of a launch file or of an <include>.
type launchArg struct {
	Name    string
	Default *string
	Value   *string
	Doc     string
}

type launchFile struct {
	name     string
	args     []launchArg
	includes map[string][]launchArg // included file's base name → its <arg>s
	params   []string               // <param name> of the cen_ros nodes
	remaps   []string               // <remap from> of the cen_ros nodes
}

func (l *launchFile) arg(name string) *launchArg {
	for i := range l.args {
		if l.args[i].Name == name {
			return &l.args[i]
		}
	}
	return nil
}

type xmlElem struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Kids    []xmlElem  `xml:",any"`
}

func (e xmlElem) attr(name string) *string {
	for _, a := range e.Attrs {
		if a.Name.Local == name {
			v := a.Value
			return &v
		}
	}
	return nil
}

func (e xmlElem) launchArg() launchArg {
	a := launchArg{Default: e.attr("default"), Value: e.attr("value")}
	if n := e.attr("name"); n != nil {
		a.Name = *n
	}
	if d := e.attr("doc"); d != nil {
		a.Doc = *d
	}
	return a
}

// readLaunchFiles parses launch/*.launch.
func readLaunchFiles(t *testing.T) map[string]*launchFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(rosenv.RepoRoot(), "launch", "*.launch"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no launch files in launch/ (%v)", err)
	}
	out := map[string]*launchFile{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var root xmlElem
		if err := xml.Unmarshal(b, &root); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		lf := &launchFile{name: filepath.Base(p), includes: map[string][]launchArg{}}
		for _, k := range root.Kids {
			switch k.XMLName.Local {
			case "arg":
				lf.args = append(lf.args, k.launchArg())
			case "include":
				var args []launchArg
				for _, a := range k.Kids {
					if a.XMLName.Local == "arg" {
						args = append(args, a.launchArg())
					}
				}
				if f := k.attr("file"); f != nil {
					lf.includes[filepath.Base(*f)] = args
				}
			case "node":
				if pkg := k.attr("pkg"); pkg == nil || *pkg != "cen_ros" {
					continue
				}
				for _, c := range k.Kids {
					if n := c.attr("name"); c.XMLName.Local == "param" && n != nil {
						lf.params = append(lf.params, *n)
					}
					if from := c.attr("from"); c.XMLName.Local == "remap" && from != nil {
						lf.remaps = append(lf.remaps, *from)
					}
				}
			}
		}
		out[lf.name] = lf
	}
	return out
}

const (
	mainLaunch    = "segmentation.launch"
	mainMarker    = "launch: launch/segmentation.launch"
	presetMarker  = "launch: presets"
	wiringMarker  = "launch: preset topics"
	requiredCell  = "(required)"
	notPassedCell = "(default)"
)

func defaultCell(a launchArg) string {
	if a.Default == nil {
		return requiredCell
	}
	return "`" + *a.Default + "`"
}

// passThrough says whether a preset hands its argument unchanged to segmentation.launch's argument of the same
// name, with the same default: such rows may be left out of the presets' table.
func passThrough(preset *launchFile, main *launchFile, a launchArg) (*launchArg, bool) {
	m := main.arg(a.Name)
	if m == nil {
		return nil, false
	}
	for _, ia := range preset.includes[mainLaunch] {
		if ia.Name == a.Name && ia.Value != nil && *ia.Value == "$(arg "+a.Name+")" {
			same := (a.Default == nil) == (m.Default == nil) && (a.Default == nil || *a.Default == *m.Default)
			return m, same
		}
	}
	return nil, false
}

// wiredValue is what a preset passes to segmentation.launch's argument name, with its own arguments' defaults
// substituted; notPassedCell when it leaves segmentation.launch's default.
func wiredValue(preset *launchFile, name string) string {
	for _, ia := range preset.includes[mainLaunch] {
		if ia.Name != name || ia.Value == nil {
			continue
		}
		v := *ia.Value
		for _, a := range preset.args {
			if a.Default != nil {
				v = strings.ReplaceAll(v, "$(arg "+a.Name+")", *a.Default)
			}
		}
		return "`" + v + "`"
	}
	return notPassedCell
}

func TestREADMELaunchTablesMatchTheLaunchFiles(t *testing.T) {
	files := readLaunchFiles(t)
	main := files[mainLaunch]
	if main == nil {
		t.Fatalf("no launch/%s", mainLaunch)
	}
	var presets []string
	for n := range files {
		if n != mainLaunch {
			presets = append(presets, n)
		}
	}
	sort.Strings(presets)

	t.Run(mainLaunch, func(t *testing.T) {
		header, rows := readmeTable(t, mainMarker)
		checkHeader(t, mainMarker, header, "argument", "default", "description")
		seen := map[string]int{}
		for _, r := range rows {
			name := code(r.cells[0])
			if first, dup := seen[name]; dup {
				t.Errorf("README.md:%d: argument %s is listed again (first at line %d)", r.line, name, first)
				continue
			}
			seen[name] = r.line
			a := main.arg(name)
			if a == nil {
				t.Errorf("README.md:%d: %s has no <arg name=%q>", r.line, mainLaunch, name)
				continue
			}
			if want := defaultCell(*a); r.cells[1] != want {
				t.Errorf("README.md:%d: %s argument %s: default is %q, the launch file gives %q", r.line, mainLaunch, name, r.cells[1], want)
			}
			if r.cells[2] != a.Doc {
				t.Errorf("README.md:%d: %s argument %s: description is %q, its doc attribute is %q", r.line, mainLaunch, name, r.cells[2], a.Doc)
			}
		}
		for _, a := range main.args {
			if _, ok := seen[a.Name]; !ok {
				t.Errorf("README.md: the %s table has no row for its argument %s; add\n%s", mainLaunch, a.Name, mdRowString("`"+a.Name+"`", defaultCell(a), a.Doc))
			}
		}
	})

	t.Run("presets", func(t *testing.T) {
		header, rows := readmeTable(t, presetMarker)
		checkHeader(t, presetMarker, header, "launch file", "argument", "default", "description")
		seen := map[string]int{}
		for _, r := range rows {
			file, name := strings.TrimPrefix(code(r.cells[0]), "launch/"), code(r.cells[1])
			key := file + " " + name
			if first, dup := seen[key]; dup {
				t.Errorf("README.md:%d: %s argument %s is listed again (first at line %d)", r.line, file, name, first)
				continue
			}
			seen[key] = r.line
			lf := files[file]
			if lf == nil || file == mainLaunch {
				t.Errorf("README.md:%d: %s is not a preset in launch/", r.line, r.cells[0])
				continue
			}
			a := lf.arg(name)
			if a == nil {
				t.Errorf("README.md:%d: %s has no <arg name=%q>", r.line, file, name)
				continue
			}
			if want := defaultCell(*a); r.cells[2] != want {
				t.Errorf("README.md:%d: %s argument %s: default is %q, the launch file gives %q", r.line, file, name, r.cells[2], want)
			}
			// The description is the argument's doc, or the doc of the segmentation.launch argument it is
			// handed to; an argument documented nowhere needs some description.
			doc := a.Doc
			if m, _ := passThrough(lf, main, *a); doc == "" && m != nil {
				doc = m.Doc
			}
			switch {
			case doc != "" && r.cells[3] != doc:
				t.Errorf("README.md:%d: %s argument %s: description is %q, want %q (its doc attribute, or segmentation.launch's)", r.line, file, name, r.cells[3], doc)
			case r.cells[3] == "":
				t.Errorf("README.md:%d: %s argument %s has no description", r.line, file, name)
			}
		}
		for _, p := range presets {
			lf := files[p]
			for _, a := range lf.args {
				if _, ok := seen[p+" "+a.Name]; ok {
					continue
				}
				if _, same := passThrough(lf, main, a); !same {
					doc := a.Doc
					if doc == "" {
						doc = "(describe it)"
					}
					t.Errorf("README.md: the presets' table has no row for %s argument %s (only arguments handed unchanged to segmentation.launch may be left out); add\n%s",
						p, a.Name, mdRowString("`"+p+"`", "`"+a.Name+"`", defaultCell(a), doc))
				}
			}
		}
	})

	t.Run("preset topics", func(t *testing.T) {
		cols := []string{"rgb", "depth", "rgb_info", "depth_info"}
		header, rows := readmeTable(t, wiringMarker)
		checkHeader(t, wiringMarker, header, append([]string{"launch file"}, cols...)...)
		seen := map[string]int{}
		for _, r := range rows {
			file := strings.TrimPrefix(code(r.cells[0]), "launch/")
			if first, dup := seen[file]; dup {
				t.Errorf("README.md:%d: %s is listed again (first at line %d)", r.line, file, first)
				continue
			}
			seen[file] = r.line
			lf := files[file]
			if lf == nil || file == mainLaunch {
				t.Errorf("README.md:%d: %s is not a preset in launch/", r.line, r.cells[0])
				continue
			}
			for i, c := range cols {
				if want := wiredValue(lf, c); r.cells[i+1] != want {
					t.Errorf("README.md:%d: %s passes %s:=%s to segmentation.launch, the README says %q", r.line, file, c, want, r.cells[i+1])
				}
			}
		}
		for _, p := range presets {
			if _, ok := seen[p]; !ok {
				cells := []string{"`" + p + "`"}
				for _, c := range cols {
					cells = append(cells, wiredValue(files[p], c))
				}
				t.Errorf("README.md: the preset topics table has no row for %s; add\n%s", p, mdRowString(cells...))
			}
		}
	})

	// What the launch files hand the node must be the node's: each <param> one of node.Params, each <remap
	// from> one of its input topics.
	t.Run("node params and remaps", func(t *testing.T) {
		inputs := map[string]bool{node.TopicRGB: true, node.TopicDepth: true, node.TopicRGBInfo: true, node.TopicDepthInfo: true}
		for _, n := range append([]string{mainLaunch}, presets...) {
			lf := files[n]
			for _, p := range lf.params {
				if node.ParamByName(p) == nil {
					t.Errorf("launch/%s sets <param name=%q>, which is not a node parameter (node.Params)", n, p)
				}
			}
			for _, r := range lf.remaps {
				if !inputs[r] {
					t.Errorf("launch/%s remaps %q, which is not an input of the node (%s, %s, %s, %s)", n, r, node.TopicRGB, node.TopicDepth, node.TopicRGBInfo, node.TopicDepthInfo)
				}
			}
		}
	})
}
