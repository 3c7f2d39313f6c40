package reconfigure_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"

	"github.com/cen-ros/cen/node/reconfigure"
	dr "github.com/cen-ros/cen/node/reconfigure/dynamic_reconfigure"
	"github.com/cen-ros/cen/test/rosenv"
)

func TestPythonClientListsParameters(t *testing.T) {
	m := rosenv.StartMaster(t)
	n := startNode(t, m, "cen")
	startServer(t, reconfigure.ServerConf{Node: n, Namespace: "/cen", Params: cenParams()})

	r := runClient(t, m, "/cen", describe())[0]

	var names []string
	for _, p := range r.Params {
		names = append(names, p.Name)
	}
	var wantNames []string
	for _, p := range cenParams() {
		wantNames = append(wantNames, p.Name)
	}
	if !reflect.DeepEqual(names, wantNames) {
		t.Fatalf("parameters %v, want %v in declaration order", names, wantNames)
	}
	descriptions := map[string]string{}
	for _, p := range cenParams() {
		descriptions[p.Name] = p.Description
	}
	want := map[string]described{}
	for _, d := range cenDescribed() {
		want[d.name] = d
	}
	for _, p := range r.Params {
		w := want[p.Name]
		if p.Type != w.typ || p.Level != w.level || p.Description != descriptions[p.Name] {
			t.Errorf("%s: type %q level %d description %q, want %q %d %q", p.Name, p.Type, p.Level, p.Description,
				w.typ, w.level, descriptions[p.Name])
		}
		if p.Default != py(w.dflt) || p.Min != py(w.min) || p.Max != py(w.max) {
			t.Errorf("%s: default %v min %v max %v, want %v %v %v", p.Name, p.Default, p.Min, p.Max, py(w.dflt), py(w.min), py(w.max))
		}
		if (p.Enum != nil) != (w.choices != nil) {
			t.Errorf("%s: edit_method %q, want an enum: %v", p.Name, p.EditMethod, w.choices != nil)
			continue
		}
		if p.Enum == nil {
			continue
		}
		var got, wantEnum []any
		for _, c := range p.Enum.Enum {
			got = append(got, []any{c["name"], c["value"], c["type"], c["description"]})
		}
		for _, c := range w.choices {
			wantEnum = append(wantEnum, []any{c.Name, py(c.Value).Value, w.typ, c.Description})
		}
		if !reflect.DeepEqual(got, wantEnum) {
			t.Errorf("%s: enum %v, want %v", p.Name, got, wantEnum)
		}
		if p.Enum.EnumDescription != descriptions[p.Name] {
			t.Errorf("%s: enum_description %q, want %q", p.Name, p.Enum.EnumDescription, descriptions[p.Name])
		}
	}
	empty := ""
	if g := r.Group; g == nil || !reflect.DeepEqual(*g, pyGroup{Name: "Default", Type: &empty, State: true, Children: []string{}}) {
		t.Errorf("group tree %+v, want the Default group (id 0, parent 0, enabled) alone", r.Group)
	}
}

func TestPythonClientUpdatesEveryType(t *testing.T) {
	m := rosenv.StartMaster(t)
	n := startNode(t, m, "cen")
	var rec changes
	srv := startServer(t, reconfigure.ServerConf{Node: n, Namespace: "/cen", Params: cenParams(),
		OnChange: func(old, requested reconfigure.Values) (reconfigure.Values, error) {
			rec.add(change{old, requested, reconfigure.Level(cenParams(), old, requested)})
			return nil, nil
		}})
	start := srv.Values()

	steps := []struct {
		changes map[string]any     // as the Python client is given them
		want    reconfigure.Values // what OnChange and the configuration then hold
		level   uint32
	}{
		{map[string]any{"publish_color": false}, reconfigure.Values{"publish_color": false}, 1},
		{map[string]any{"queue_size": 42}, reconfigure.Values{"queue_size": 42}, 8},
		{map[string]any{"overlay_alpha": 0.25}, reconfigure.Values{"overlay_alpha": 0.25}, 4},
		{map[string]any{"frame_id": "camera_optical ünïcode"}, reconfigure.Values{"frame_id": "camera_optical ünïcode"}, 16},
		// Enums by a choice's name (matched ignoring case), as rqt_reconfigure and dynparam send them.
		{map[string]any{"depth_encoding": "hHa"}, reconfigure.Values{"depth_encoding": "hha"}, 32},
		{map[string]any{"label_bits": "Mono16"}, reconfigure.Values{"label_bits": 16}, 64},
		{map[string]any{"max_rate": 12.5, "publish_color": true, "gain": -3}, reconfigure.Values{"max_rate": 12.5, "publish_color": true, "gain": -3.0}, 1 | 2},
	}
	ops := []op{get()}
	for _, s := range steps {
		ops = append(ops, update(s.changes))
	}
	ops = append(ops, get(), stored())
	results := runClient(t, m, "/cen", ops...)

	if got := results[0].Config; !sameValues(got, pyConfig(start)) {
		t.Errorf("first configuration %v, want the defaults %v", got, pyConfig(start))
	}
	calls := rec.all()
	if len(calls) != len(steps) {
		t.Fatalf("OnChange called %d times, want %d", len(calls), len(steps))
	}
	cur := cloneValues(start)
	for i, s := range steps {
		next := cloneValues(cur)
		for k, v := range s.want {
			next[k] = v
		}
		c := calls[i]
		if !reflect.DeepEqual(c.old, cur) || !reflect.DeepEqual(c.requested, next) {
			t.Errorf("update %v: OnChange(old %v, requested %v), want (%v, %v)", s.changes, c.old, c.requested, cur, next)
		}
		for k, v := range c.requested {
			if reflect.TypeOf(v) != reflect.TypeOf(start[k]) {
				t.Errorf("update %v: OnChange got %s as %T, want %T", s.changes, k, v, start[k])
			}
		}
		if c.level != s.level {
			t.Errorf("update %v: level %d, want %d", s.changes, c.level, s.level)
		}
		r := results[1+i]
		if r.Error != "" || !sameValues(r.Response, pyConfig(next)) {
			t.Errorf("update %v: response %v (error %q), want %v", s.changes, r.Response, r.Error, pyConfig(next))
		}
		if !sameValues(r.Seen, r.Response) {
			t.Errorf("update %v: parameter_updates never carried the response", s.changes)
		}
		if r.Groups == nil || r.Groups.Name != "Default" || !r.Groups.State {
			t.Errorf("update %v: response groups %+v, want the Default group", s.changes, r.Groups)
		}
		cur = next
	}
	if got := results[len(steps)+1].Config; !sameValues(got, pyConfig(cur)) {
		t.Errorf("configuration after the updates %v, want %v", got, pyConfig(cur))
	}
	if got := srv.Values(); !reflect.DeepEqual(got, cur) {
		t.Errorf("Values() %v, want %v", got, cur)
	}
	// The parameter server mirrors the values with their types, as rospy reads them.
	if got := results[len(steps)+2].Stored; !sameValues(got, pyConfig(cur)) {
		t.Errorf("parameter server holds %v, want %v", got, pyConfig(cur))
	}
}

func TestBehavesLikeThePythonServer(t *testing.T) {
	m := rosenv.StartMaster(t)
	n := startNode(t, m, "cen")
	startServer(t, reconfigure.ServerConf{Node: n, Namespace: "/go_server", Params: cenParams()})

	// The same parameters, served by dynamic_reconfigure's own Python server.
	descriptions := map[string]string{}
	for _, p := range cenParams() {
		descriptions[p.Name] = p.Description
	}
	var refParams []map[string]any
	for _, d := range cenDescribed() {
		jsonable := func(v any) any {
			if f, ok := v.(float64); ok && math.IsInf(f, 0) {
				return map[bool]string{true: "inf", false: "-inf"}[f > 0]
			}
			return v
		}
		var choices []map[string]any
		for _, c := range d.choices {
			choices = append(choices, map[string]any{"name": c.Name, "value": c.Value, "description": c.Description})
		}
		refParams = append(refParams, map[string]any{"name": d.name, "type": d.typ, "default": d.dflt,
			"min": jsonable(d.min), "max": jsonable(d.max), "level": d.level, "description": descriptions[d.name], "choices": choices})
	}
	paramsJSON, err := json.Marshal(refParams)
	if err != nil {
		t.Fatal(err)
	}
	ref := m.Command(t, debianPython, testdata("pyserver.py"), "/py_server", string(paramsJSON))
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(ref.Output(), "ready") {
		if err := ref.Wait(0); err == nil || time.Now().After(deadline) {
			t.Fatalf("pyserver.py did not start:\n%s", ref.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}

	ops := []op{
		describe(), get(),
		update(map[string]any{"queue_size": 1000}),
		update(map[string]any{"queue_size": -7, "overlay_alpha": -3.0}),
		update(map[string]any{"max_rate": 1e9, "overlay_alpha": 1.5}),
		update(map[string]any{"offset": -5, "gain": 1e300}),
		update(map[string]any{"frame_id": "x", "publish_color": "false", "depth_encoding": "Hha"}),
		stored(), get(),
	}
	goResults := runClient(t, m, "/go_server", ops...)
	pyResults := runClient(t, m, "/py_server", ops...)
	for i := range ops {
		g, p := goResults[i], pyResults[i]
		for j := range g.Params {
			// Both texts are Python literals; what the client evaluates them to is compared.
			g.Params[j].EditMethod, p.Params[j].EditMethod = "", ""
		}
		if !reflect.DeepEqual(g, p) {
			t.Errorf("%v:\nGo server     %+v\nPython server %+v", ops[i], g, p)
		}
	}
	// And the clamped values are the bounds, not just the same on both sides.
	for i, want := range []map[string]any{
		{"queue_size": 100},
		{"queue_size": 1, "overlay_alpha": 0.0},
		{"max_rate": 1000.0, "overlay_alpha": 1.0},
		{"offset": -5, "gain": 1e300},
	} {
		got := goResults[2+i].Response
		for k, v := range want {
			if got[k] != py(v) {
				t.Errorf("%v: %s is %v, want %v", ops[2+i], k, got[k], py(v))
			}
		}
	}
}

func TestRefusingOnChangeKeepsTheConfiguration(t *testing.T) {
	m := rosenv.StartMaster(t)
	n := startNode(t, m, "cen")
	srv := startServer(t, reconfigure.ServerConf{Node: n, Namespace: "/cen", Params: cenParams(),
		OnChange: func(old, requested reconfigure.Values) (reconfigure.Values, error) {
			if requested["max_rate"].(float64) > 100 {
				return nil, errors.New("too fast for this robot")
			}
			if requested["overlay_alpha"] == 0.75 {
				return reconfigure.Values{"overlay_alpha": 0.7, "queue_size": 500}, nil // adjusted, and clamped again
			}
			return nil, nil
		}})
	start := srv.Values()

	results := runClient(t, m, "/cen",
		update(map[string]any{"max_rate": 500.0, "queue_size": 3}),
		get(),
		update(map[string]any{"overlay_alpha": 0.75}),
		get(),
	)
	if r := results[0]; r.Error != "" || !sameValues(r.Response, pyConfig(start)) {
		t.Errorf("refused update answered %v (error %q), want the configuration unchanged %v", r.Response, r.Error, pyConfig(start))
	}
	if got := results[1].Config; !sameValues(got, pyConfig(start)) {
		t.Errorf("after a refused update the client holds %v, want %v", got, pyConfig(start))
	}
	adjusted := cloneValues(start)
	adjusted["overlay_alpha"], adjusted["queue_size"] = 0.7, 100
	if r := results[2]; !sameValues(r.Response, pyConfig(adjusted)) || !sameValues(r.Seen, r.Response) {
		t.Errorf("adjusted update answered %v and published %v, want %v", r.Response, r.Seen, pyConfig(adjusted))
	}
	if got := srv.Values(); !reflect.DeepEqual(got, adjusted) {
		t.Errorf("Values() %v, want %v", got, adjusted)
	}
	if got, err := n.ParamGetFloat64("/cen/max_rate"); err != nil || got != start["max_rate"] {
		t.Errorf("parameter server /cen/max_rate = %v (%v), want %v", got, err, start["max_rate"])
	}
}

func TestInvalidValuesLeaveTheirParameterUnchanged(t *testing.T) {
	m := rosenv.StartMaster(t)
	n := startNode(t, m, "cen")
	srv := startServer(t, reconfigure.ServerConf{Node: n, Namespace: "/cen", Params: cenParams()})
	start := srv.Values()

	results := runClient(t, m, "/cen",
		update(map[string]any{"depth_encoding": "bogus", "queue_size": 5}),
		update(map[string]any{"label_bits": 12}),
		update(map[string]any{"overlay_alpha": map[string]any{"float": "nan"}}),
	)
	want := cloneValues(start)
	want["queue_size"] = 5
	for i, r := range results {
		if r.Error != "" || !sameValues(r.Response, pyConfig(want)) {
			t.Errorf("update %d answered %v (error %q), want %v", i, r.Response, r.Error, pyConfig(want))
		}
	}

	// Entries that name no parameter or sit in another type's list are ignored; the first of a name counts.
	// The Python client refuses to send such requests, so they are sent from Go.
	client, err := goroslib.NewServiceClient(goroslib.ServiceClientConf{Node: n, Name: "/cen/set_parameters", Srv: &dr.Reconfigure{}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	req := dr.ReconfigureReq{Config: dr.Config{
		Ints:    []dr.IntParameter{{Name: "overlay_alpha", Value: 1}},
		Strs:    []dr.StrParameter{{Name: "nope", Value: "x"}},
		Doubles: []dr.DoubleParameter{{Name: "overlay_alpha", Value: 0.3}, {Name: "overlay_alpha", Value: 0.9}},
		Bools:   []dr.BoolParameter{{Name: "queue_size", Value: true}},
		Groups:  []dr.GroupState{{Name: "Default", State: false}},
	}}
	var res dr.ReconfigureRes
	if err := client.Call(&req, &res); err != nil {
		t.Fatal(err)
	}
	want["overlay_alpha"] = 0.3
	if got := srv.Values(); !reflect.DeepEqual(got, want) {
		t.Errorf("Values() %v, want %v", got, want)
	}
	if len(res.Config.Bools)+len(res.Config.Ints)+len(res.Config.Strs)+len(res.Config.Doubles) != len(want) {
		t.Errorf("response %+v does not hold every parameter", res.Config)
	}
	if !reflect.DeepEqual(res.Config.Groups, []dr.GroupState{{Name: "Default", State: true}}) {
		t.Errorf("response groups %+v, want the Default group enabled", res.Config.Groups)
	}
}

func TestROSCommandLineTools(t *testing.T) {
	m := rosenv.StartMaster(t)
	n := startNode(t, m, "cen")
	srv := startServer(t, reconfigure.ServerConf{Node: n, Namespace: "/cen", Params: cenParams()})
	const dynparam = "/usr/lib/dynamic_reconfigure/dynparam"
	run := func(name string, args ...string) string {
		t.Helper()
		out, errOut, err := runTool(m, 30*time.Second, name, args...)
		if err != nil {
			t.Fatalf("%s %v: %v\n%s%s", name, args, err, out, errOut)
		}
		return out
	}

	if out := run(debianPython, dynparam, "list"); !strings.Contains(out, "/cen\n") {
		t.Errorf("dynparam list printed %q, want /cen", out)
	}
	run(debianPython, dynparam, "set", "/cen", "depth_encoding", "Hha")
	run(debianPython, dynparam, "set", "/cen", "{'max_rate': 7.5, 'publish_color': false, 'queue_size': 3}")
	want := reconfigure.Values{"depth_encoding": "hha", "max_rate": 7.5, "publish_color": false, "queue_size": 3}
	got := srv.Values()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("after dynparam set, %s = %v, want %v", k, got[k], v)
		}
	}
	out := run(debianPython, dynparam, "get", "/cen")
	for _, s := range []string{"'depth_encoding': 'hha'", "'max_rate': 7.5", "'publish_color': False", "'queue_size': 3", "'overlay_alpha': 0.5"} {
		if !strings.Contains(out, s) {
			t.Errorf("dynparam get printed %q, want it to contain %s", out, s)
		}
	}

	out = run("rosservice", "call", "/cen/set_parameters", "config: {ints: [{name: offset, value: -12}]}")
	if !strings.Contains(out, `name: "offset"`) || !strings.Contains(out, "value: -12") || !strings.Contains(out, `name: "overlay_alpha"`) {
		t.Errorf("rosservice call printed %q, want the whole configuration with offset -12", out)
	}
	out = run("rostopic", "echo", "-n", "1", "/cen/parameter_updates")
	if !strings.Contains(out, "value: -12") || !strings.Contains(out, `value: "hha"`) {
		t.Errorf("rostopic echo parameter_updates printed %q, want the latest values", out)
	}
	out = run("rostopic", "echo", "-n", "1", "/cen/parameter_descriptions")
	for _, s := range []string{`name: "Default"`, `name: "label_bits"`, `type: "int"`, `edit_method: "{\"enum\"`, "value: 1000.0"} {
		if !strings.Contains(out, s) {
			t.Errorf("rostopic echo parameter_descriptions lacks %s:\n%s", s, out)
		}
	}
	if out := run("rosparam", "get", "/cen/offset"); strings.TrimSpace(out) != "-12" {
		t.Errorf("rosparam get /cen/offset printed %q, want -12", out)
	}
}

func TestStartValuesComeFromInitialThenParameterServerThenDefault(t *testing.T) {
	m := rosenv.StartMaster(t)
	n := startNode(t, m, "cen")
	for key, set := range map[string]func(string) error{
		"/cen/overlay_alpha": func(k string) error { return n.ParamSetFloat64(k, 0.2) },
		"/cen/max_rate":      func(k string) error { return n.ParamSetInt(k, 5) }, // an int for a double, as rosparam writes 5
		"/cen/queue_size":    func(k string) error { return n.ParamSetInt(k, 500) },
		"/cen/frame_id":      func(k string) error { return n.ParamSetString(k, "from_server") },
	} {
		if err := set(key); err != nil {
			t.Fatal(err)
		}
	}
	srv := startServer(t, reconfigure.ServerConf{Node: n, Namespace: "/cen", Params: cenParams(),
		Initial: reconfigure.Values{"frame_id": "from_initial", "gain": int32(2), "label_bits": 16}})
	want := reconfigure.Values{"publish_color": true, "max_rate": 5.0, "overlay_alpha": 0.2, "queue_size": 100, "frame_id": "from_initial",
		"depth_encoding": "replicate", "label_bits": 16, "gain": 2.0, "offset": 0}
	if got := srv.Values(); !reflect.DeepEqual(got, want) {
		t.Errorf("Values() %v, want %v", got, want)
	}
	if v, err := n.ParamGetInt("/cen/queue_size"); err != nil || v != 100 {
		t.Errorf("/cen/queue_size on the parameter server is %v (%v), want the clamped 100", v, err)
	}
	if v, err := n.ParamGetFloat64("/cen/max_rate"); err != nil || v != 5 {
		t.Errorf("/cen/max_rate on the parameter server is %v (%v), want 5.0 as a double", v, err)
	}

	if err := n.ParamSetString("/bad/overlay_alpha", "high"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ns      string
		initial reconfigure.Values
		err     string
	}{
		{"/bad", nil, "/bad/overlay_alpha on the parameter server is not a double"},
		{"/other", reconfigure.Values{"nope": 1}, `"nope", which is not a parameter`},
		{"/other", reconfigure.Values{"depth_encoding": "bogus"}, `"depth_encoding" from Initial: bogus is not one of the choices`},
		{"/other", reconfigure.Values{"queue_size": "ten"}, `"queue_size" from Initial: ten (string) is not an int`},
	} {
		if _, err := reconfigure.New(reconfigure.ServerConf{Node: n, Namespace: c.ns, Params: cenParams(), Initial: c.initial}); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("New(%s, Initial %v) = %v, want an error containing %q", c.ns, c.initial, err, c.err)
		}
	}
}

func TestNewRejectsBadConfiguration(t *testing.T) {
	m := rosenv.StartMaster(t)
	n := startNode(t, m, "cen")
	ok := reconfigure.Param{Name: "a", Type: reconfigure.Int}
	for _, c := range []struct {
		conf reconfigure.ServerConf
		err  string
	}{
		{reconfigure.ServerConf{Namespace: "/cen", Params: []reconfigure.Param{ok}}, "'Node' is nil"},
		{reconfigure.ServerConf{Node: n, Namespace: "cen", Params: []reconfigure.Param{ok}}, `'Namespace' "cen" must be an absolute ROS name`},
		{reconfigure.ServerConf{Node: n, Namespace: "~", Params: []reconfigure.Param{ok}}, "must be an absolute ROS name"},
		{reconfigure.ServerConf{Node: n, Namespace: "/cen/", Params: []reconfigure.Param{ok}}, "must be an absolute ROS name"},
		{reconfigure.ServerConf{Node: n, Namespace: "/cen"}, "'Params' is empty"},
		{reconfigure.ServerConf{Node: n, Namespace: "/cen", Params: []reconfigure.Param{ok, ok}}, `parameter "a" is declared twice`},
	} {
		if _, err := reconfigure.New(c.conf); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("New(%+v) = %v, want an error containing %q", c.conf, err, c.err)
		}
	}
	for _, c := range []struct {
		p   reconfigure.Param
		err string
	}{
		{reconfigure.Param{Name: "2fast", Type: reconfigure.Int}, `name "2fast" must be a letter`},
		{reconfigure.Param{Name: "a/b", Type: reconfigure.Int}, `name "a/b" must be a letter`},
		{reconfigure.Param{Name: "groups", Type: reconfigure.Int}, "reserved"},
		{reconfigure.Param{Name: "a"}, "Type Type(0) is not Bool, Int, Double or String"},
		{reconfigure.Param{Name: "a", Type: reconfigure.Bool, Max: true}, "a bool parameter has no Min or Max"},
		{reconfigure.Param{Name: "a", Type: reconfigure.Int, Min: 5, Max: 1}, "Min 5 is greater than Max 1"},
		{reconfigure.Param{Name: "a", Type: reconfigure.Int, Default: 1.5}, "Default: 1.5 (float64) is not an int"},
		{reconfigure.Param{Name: "a", Type: reconfigure.Int, Default: int64(1) << 40}, "outside the int32 range"},
		{reconfigure.Param{Name: "a", Type: reconfigure.Double, Default: math.NaN()}, "NaN"},
		{reconfigure.Param{Name: "a", Type: reconfigure.Double, Default: 2.0, Max: 1}, "Default 2 is outside [-Inf, 1]"},
		{reconfigure.Param{Name: "a", Type: reconfigure.String, Default: 3}, "Default: 3 (int) is not a str"},
		{reconfigure.Param{Name: "a", Type: reconfigure.Double, Choices: []reconfigure.Choice{{Name: "x", Value: 1.0}}}, "only Int and String parameters can have Choices"},
		{reconfigure.Param{Name: "a", Type: reconfigure.Int, Choices: []reconfigure.Choice{{Name: "x", Value: 1}, {Name: "X", Value: 2}}}, `distinct ignoring case, "X"`},
		{reconfigure.Param{Name: "a", Type: reconfigure.Int, Choices: []reconfigure.Choice{{Name: "x", Value: 1}, {Name: "y", Value: 1}}}, `choice "y" repeats the value 1`},
		{reconfigure.Param{Name: "a", Type: reconfigure.Int, Choices: []reconfigure.Choice{{Name: "x", Value: "1"}}}, `choice "x": 1 (string) is not an int`},
		{reconfigure.Param{Name: "a", Type: reconfigure.String, Default: "z", Choices: []reconfigure.Choice{{Name: "x", Value: "x"}}}, "Default z is not one of the Choices"},
	} {
		_, err := reconfigure.New(reconfigure.ServerConf{Node: n, Namespace: "/cen", Params: []reconfigure.Param{c.p}})
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("reconfigure.New with %+v = %v, want an error containing %q", c.p, err, c.err)
		}
	}
}

// TestNewServerOnNewNodeKeepsValues follows the recipe in reconfigure.Server's documentation for a master restart:
// the node makes a new goroslib Node and a new reconfigure.Server on it, started from the old reconfigure.Server's values.
func TestNewServerOnNewNodeKeepsValues(t *testing.T) {
	m := rosenv.StartMaster(t)
	n1 := startNode(t, m, "cen")
	old, err := reconfigure.New(reconfigure.ServerConf{Node: n1, Namespace: "/cen", Params: cenParams()})
	if err != nil {
		t.Fatal(err)
	}
	client, err := goroslib.NewServiceClient(goroslib.ServiceClientConf{Node: n1, Name: "/cen/set_parameters", Srv: &dr.Reconfigure{}})
	if err != nil {
		t.Fatal(err)
	}
	var res dr.ReconfigureRes
	err = client.Call(&dr.ReconfigureReq{Config: dr.Config{Doubles: []dr.DoubleParameter{{Name: "overlay_alpha", Value: 0.9}}}}, &res)
	client.Close()
	if err != nil {
		t.Fatal(err)
	}
	values := old.Values()
	n1.Close()
	done := make(chan struct{})
	go func() { old.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Close on a reconfigure.Server whose Node is closed did not return")
	}
	// The new master knows nothing, and the parameter server's values are stale: Initial wins.
	n2 := startNode(t, m, "cen")
	if err := n2.ParamSetFloat64("/cen/overlay_alpha", 0.1); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, reconfigure.ServerConf{Node: n2, Namespace: "/cen", Params: cenParams(), Initial: values})
	if got := srv.Values(); !reflect.DeepEqual(got, values) || got["overlay_alpha"] != 0.9 {
		t.Errorf("new reconfigure.Server starts with %v, want the old one's %v", got, values)
	}
	got := make(chan *dr.Config, 1)
	sub, err := goroslib.NewSubscriber(goroslib.SubscriberConf{Node: n2, Topic: "/cen/parameter_updates",
		Callback: func(c *dr.Config) {
			select {
			case got <- c:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	select {
	case c := <-got:
		if len(c.Doubles) == 0 || c.Doubles[1].Name != "overlay_alpha" || c.Doubles[1].Value != 0.9 {
			t.Errorf("parameter_updates of the new reconfigure.Server: %+v, want overlay_alpha 0.9", c.Doubles)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no latched parameter_updates from the new reconfigure.Server")
	}
}

func TestConcurrentRequestsAndReads(t *testing.T) {
	m := rosenv.StartMaster(t)
	n := startNode(t, m, "cen")
	srv := startServer(t, reconfigure.ServerConf{Node: n, Namespace: "/cen", Params: cenParams(),
		OnChange: func(old, requested reconfigure.Values) (reconfigure.Values, error) { return nil, nil }})
	const clients, calls = 4, 10
	errs := make(chan error, clients+1)
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if v := srv.Values(); len(v) != len(cenParams()) {
				errs <- errors.New("Values() lost parameters")
				return
			}
		}
	}()
	sent := map[int]bool{}
	for c := 0; c < clients; c++ {
		for i := 0; i < calls; i++ {
			sent[1+c*calls+i] = true
		}
		go func(c int) {
			client, err := goroslib.NewServiceClient(goroslib.ServiceClientConf{Node: n, Name: "/cen/set_parameters", Srv: &dr.Reconfigure{}})
			if err != nil {
				errs <- err
				return
			}
			defer client.Close()
			for i := 0; i < calls; i++ {
				var res dr.ReconfigureRes
				req := dr.ReconfigureReq{Config: dr.Config{Ints: []dr.IntParameter{{Name: "queue_size", Value: int32(1 + c*calls + i)}}}}
				if err := client.Call(&req, &res); err != nil {
					errs <- err
					return
				}
				if len(res.Config.Ints) != 3 {
					errs <- errors.New("a response lacks int parameters")
					return
				}
			}
			errs <- nil
		}(c)
	}
	for c := 0; c < clients; c++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-readerDone
	final := srv.Values()["queue_size"].(int)
	if !sent[final] {
		t.Errorf("queue_size ended at %d, which no client sent", final)
	}
	if v, err := n.ParamGetInt("/cen/queue_size"); err != nil || v != final {
		t.Errorf("parameter server has queue_size %v (%v), want %d", v, err, final)
	}
	var names []string
	for k := range srv.Values() {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) != len(cenParams()) {
		t.Errorf("Values() has %v", names)
	}
}
