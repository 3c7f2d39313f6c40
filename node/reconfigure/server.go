// Package reconfigure is a dynamic_reconfigure server for goroslib nodes: it lets rqt_reconfigure,
// `dynparam` and the Python dynamic_reconfigure client list and change a node's runtime parameters while
// it runs.
//
// It speaks the protocol of ROS 1's dynamic_reconfigure package (1.7) as its C++ server does. In the
// server's namespace NS (the node's private namespace, such as /cen) it publishes NS/parameter_descriptions
// (dynamic_reconfigure/ConfigDescription, latched: the parameters with their types, levels, descriptions,
// enums and their minimum, maximum and default values) and NS/parameter_updates (dynamic_reconfigure/Config,
// latched, published again after every change), offers the service NS/set_parameters
// (dynamic_reconfigure/Reconfigure: the request holds the values to change, the response the whole
// resulting configuration), and mirrors the current values on the parameter server as NS/<name>.
//
// All parameters sit in dynamic_reconfigure's "Default" group; this server has no nested groups, and group
// states in requests are ignored. Where the reference servers would take any value, this one keeps a
// parameter as it is when a request gives it NaN or, for an enum, a value that is not a choice. A callback
// can refuse a change (the C++ callback cannot): set_parameters then still succeeds, answering with the
// unchanged configuration, which is what clients display.
package reconfigure

import (
	"fmt"
	"strings"
	"sync"

	"github.com/bluenviron/goroslib/v2"

	dr "github.com/cen-ros/cen/node/reconfigure/dynamic_reconfigure"
)

// ServerConf is the configuration of a Server.
type ServerConf struct {
	// Node is the goroslib node that publishes the topics and offers the service.
	Node *goroslib.Node

	// Namespace is the absolute namespace the server lives in, usually the node's private namespace ("/cen"
	// for a node named cen in "/"). Clients name the server by it (`dynparam get /cen`). goroslib does not
	// resolve relative or private (~) names, so it must start with "/".
	Namespace string

	// Params are the dynamic parameters, in the order rqt_reconfigure shows them.
	Params []Param

	// Initial are start values (optional), for instance what the node read at start-up, or the Values of the
	// Server this one replaces. Each parameter starts from Initial, else from the parameter server (NS/name,
	// as the C++ and Python servers read it), else from its Default. Values outside Min and Max are clamped.
	Initial Values

	// OnChange is called for every set_parameters request with the current values and the requested ones:
	// every parameter, with the request's changes applied and clamped (optional). It returns the values to
	// adopt (nil: requested as they are; a map with some names: those replace the requested ones) or an
	// error, which refuses the request: the configuration stays as it was and set_parameters answers with
	// it. Level(Params, old, requested) gives the level bits the reference servers' callbacks receive.
	// Calls are serialised; OnChange may call the Server's Values but not its Close. It defaults to
	// accepting every request.
	OnChange func(old, requested Values) (Values, error)
}

// Server is a dynamic_reconfigure server. Its methods are safe for use from several goroutines.
//
// A goroslib node does not survive a restart of the ROS master, so a node that recreates its goroslib Node
// must recreate its Server on the new Node too. To keep what the operator changed, pass the old values on:
//
//	values := old.Values()
//	old.Close()
//	srv, err := reconfigure.New(reconfigure.ServerConf{Node: newNode, Namespace: ns, Params: params,
//		Initial: values, OnChange: onChange})
type Server struct {
	node     *goroslib.Node
	ns       string
	params   []*param
	byName   map[string]*param
	onChange func(old, requested Values) (Values, error)

	descPub *goroslib.Publisher
	updPub  *goroslib.Publisher
	service *goroslib.ServiceProvider

	setMu sync.Mutex // serialises changes; held while OnChange runs
	mu    sync.RWMutex
	cur   Values // guarded by mu

	closeOnce sync.Once
}

// New checks conf, works out the start values, publishes the description and the values, mirrors them on
// the parameter server and starts serving set_parameters. It does not call OnChange: the start values are
// Values().
func New(conf ServerConf) (*Server, error) {
	if conf.Node == nil {
		return nil, fmt.Errorf("'Node' is nil")
	}
	if !strings.HasPrefix(conf.Namespace, "/") || strings.Contains(conf.Namespace, "//") ||
		(len(conf.Namespace) > 1 && strings.HasSuffix(conf.Namespace, "/")) {
		return nil, fmt.Errorf("'Namespace' %q must be an absolute ROS name such as /cen", conf.Namespace)
	}
	if len(conf.Params) == 0 {
		return nil, fmt.Errorf("'Params' is empty")
	}
	s := &Server{
		node:     conf.Node,
		ns:       strings.TrimSuffix(conf.Namespace, "/"),
		byName:   map[string]*param{},
		onChange: conf.OnChange,
	}
	for _, p := range conf.Params {
		c, err := compile(p)
		if err != nil {
			return nil, err
		}
		if s.byName[c.Name] != nil {
			return nil, fmt.Errorf("parameter %q is declared twice", c.Name)
		}
		s.params = append(s.params, c)
		s.byName[c.Name] = c
	}
	cur, err := s.startValues(conf.Initial)
	if err != nil {
		return nil, err
	}
	s.cur = cur

	if err := s.start(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// startValues takes each parameter from initial, else from the parameter server, else its default.
func (s *Server) startValues(initial Values) (Values, error) {
	for name := range initial {
		if s.byName[name] == nil {
			return nil, fmt.Errorf("'Initial' has a value for %q, which is not a parameter", name)
		}
	}
	cur := Values{}
	for _, p := range s.params {
		v, from := p.dflt, "Default"
		if x, ok := initial[p.Name]; ok {
			v, from = x, "Initial"
		} else {
			x, ok, err := s.fromParamServer(p)
			if err != nil {
				return nil, err
			}
			if ok {
				v, from = x, "the parameter server ("+s.key(p.Name)+")"
			}
		}
		c, err := convert(p.Type, v)
		if err != nil {
			return nil, fmt.Errorf("parameter %q from %s: %w", p.Name, from, err)
		}
		if !p.allowed(c) {
			return nil, fmt.Errorf("parameter %q from %s: %v is not one of the choices", p.Name, from, c)
		}
		cur[p.Name] = p.clamp(c)
	}
	return cur, nil
}

// start publishes the description and the start values, then offers set_parameters, so that a client sees
// a complete server as soon as it finds the service.
func (s *Server) start() error {
	var err error
	s.descPub, err = goroslib.NewPublisher(goroslib.PublisherConf{
		Node: s.node, Topic: s.key("parameter_descriptions"), Msg: &dr.ConfigDescription{}, Latch: true,
	})
	if err != nil {
		return fmt.Errorf("publishing %s: %w", s.key("parameter_descriptions"), err)
	}
	s.updPub, err = goroslib.NewPublisher(goroslib.PublisherConf{
		Node: s.node, Topic: s.key("parameter_updates"), Msg: &dr.Config{}, Latch: true,
	})
	if err != nil {
		return fmt.Errorf("publishing %s: %w", s.key("parameter_updates"), err)
	}
	s.descPub.Write(s.description())
	if err := s.mirror(s.cur); err != nil {
		return err
	}
	s.updPub.Write(s.message(s.cur))
	s.service, err = goroslib.NewServiceProvider(goroslib.ServiceProviderConf{
		Node: s.node, Name: s.key("set_parameters"), Srv: &dr.Reconfigure{}, Callback: s.handle,
	})
	if err != nil {
		return fmt.Errorf("offering %s: %w", s.key("set_parameters"), err)
	}
	return nil
}

// Values returns a copy of the current values.
func (s *Server) Values() Values {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur.clone()
}

// Level ORs the Level of every parameter in params whose value differs between a and b: what the C++ and
// Python servers hand their callbacks, for OnChange to tell which parts of the node a change touches.
func Level(params []Param, a, b Values) uint32 {
	var level uint32
	for _, p := range params {
		if a[p.Name] != b[p.Name] {
			level |= p.Level
		}
	}
	return level
}

// Close stops the service and the publishers. The values stay on the parameter server, as with the
// reference servers, and Values still works. Closing a Server whose Node is already closed is fine.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		if s.service != nil {
			s.service.Close()
		}
		if s.updPub != nil {
			s.updPub.Close()
		}
		if s.descPub != nil {
			s.descPub.Close()
		}
	})
}

// handle serves set_parameters. It always succeeds: a refused or malformed request is answered with the
// configuration as it stands, which tells the client what happened to its values.
func (s *Server) handle(req *dr.ReconfigureReq) (*dr.ReconfigureRes, bool) {
	s.setMu.Lock()
	defer s.setMu.Unlock()
	old := s.Values()
	requested := s.merge(old, &req.Config)
	next := requested
	if s.onChange != nil {
		var err error
		next, err = s.decide(old, requested)
		if err != nil {
			s.node.Log(goroslib.LogLevelWarn, "%s: change refused: %v", s.key("set_parameters"), err)
			return &dr.ReconfigureRes{Config: *s.message(old)}, true
		}
	}
	s.mu.Lock()
	s.cur = next
	s.mu.Unlock()
	if err := s.mirror(next); err != nil {
		s.node.Log(goroslib.LogLevelWarn, "%v", err)
	}
	s.updPub.Write(s.message(next))
	return &dr.ReconfigureRes{Config: *s.message(next)}, true
}

// merge applies the request's values to a copy of cur. As in the C++ server, each parameter is looked up
// in the list of its own type, the first entry of a name counts, and values are clamped. Entries that name
// no parameter, or a parameter of another type, are ignored; so are values that are not among a
// parameter's choices and NaN, which no bound can clamp (the reference servers would take both).
func (s *Server) merge(cur Values, c *dr.Config) Values {
	next := cur.clone()
	seen := map[string]bool{}
	set := func(name string, t Type, v any) {
		p := s.byName[name]
		switch {
		case seen[name]:
			return
		case p == nil:
			s.node.Log(goroslib.LogLevelWarn, "%s: ignoring %q: no such parameter", s.key("set_parameters"), name)
			return
		case p.Type != t:
			s.node.Log(goroslib.LogLevelWarn, "%s: ignoring %s value for %q, which is %s", s.key("set_parameters"), t, name, p.Type.article())
			return
		}
		seen[name] = true
		x, err := convert(t, v)
		if err != nil {
			s.node.Log(goroslib.LogLevelWarn, "%s: ignoring %q: %v", s.key("set_parameters"), name, err)
			return
		}
		if !p.allowed(x) {
			s.node.Log(goroslib.LogLevelWarn, "%s: ignoring %q: %v is not one of its choices", s.key("set_parameters"), name, x)
			return
		}
		next[name] = p.clamp(x)
	}
	for _, e := range c.Bools {
		set(e.Name, Bool, e.Value)
	}
	for _, e := range c.Ints {
		set(e.Name, Int, int(e.Value))
	}
	for _, e := range c.Strs {
		set(e.Name, String, e.Value)
	}
	for _, e := range c.Doubles {
		set(e.Name, Double, e.Value)
	}
	return next
}

// decide asks OnChange and checks what it returns, which is clamped like a request.
func (s *Server) decide(old, requested Values) (Values, error) {
	got, err := s.onChange(old.clone(), requested.clone())
	if err != nil {
		return nil, err
	}
	next := requested.clone()
	for name, v := range got {
		p := s.byName[name]
		if p == nil {
			return nil, fmt.Errorf("OnChange returned a value for %q, which is not a parameter", name)
		}
		x, err := convert(p.Type, v)
		if err != nil {
			return nil, fmt.Errorf("OnChange returned for %q: %w", name, err)
		}
		if !p.allowed(x) {
			return nil, fmt.Errorf("OnChange returned %v for %q, which is not one of its choices", x, name)
		}
		next[name] = p.clamp(x)
	}
	return next, nil
}

// key is the absolute name of name in the server's namespace.
func (s *Server) key(name string) string {
	if s.ns == "/" {
		return "/" + name
	}
	return s.ns + "/" + name
}

// fromParamServer reads NS/name; ok is false when it is not set. ints are accepted for doubles, since
// rosparam and roslaunch store 1 for 1.0.
func (s *Server) fromParamServer(p *param) (v any, ok bool, err error) {
	key := s.key(p.Name)
	set, err := s.node.ParamIsSet(key)
	if err != nil {
		return nil, false, fmt.Errorf("asking the parameter server for %s: %w", key, err)
	}
	if !set {
		return nil, false, nil
	}
	switch p.Type {
	case Bool:
		v, err = s.node.ParamGetBool(key)
	case Int:
		v, err = s.node.ParamGetInt(key)
	case Double:
		v, err = s.node.ParamGetFloat64(key)
		if err != nil {
			if i, err2 := s.node.ParamGetInt(key); err2 == nil {
				v, err = i, nil
			}
		}
	case String:
		v, err = s.node.ParamGetString(key)
	}
	if err != nil {
		return nil, false, fmt.Errorf("parameter %s on the parameter server is not %s: %w", key, p.Type.article(), err)
	}
	return v, true, nil
}

// mirror writes every value to the parameter server, as the reference servers do after each change.
func (s *Server) mirror(v Values) error {
	for _, p := range s.params {
		key := s.key(p.Name)
		var err error
		switch x := v[p.Name].(type) {
		case bool:
			err = s.node.ParamSetBool(key, x)
		case int:
			err = s.node.ParamSetInt(key, x)
		case float64:
			err = s.node.ParamSetFloat64(key, x)
		case string:
			err = s.node.ParamSetString(key, x)
		}
		if err != nil {
			return fmt.Errorf("setting %s on the parameter server: %w", key, err)
		}
	}
	return nil
}

// defaultGroup is the one group every server has; clients find the root of the group tree by Id 0.
const defaultGroup = "Default"

// message encodes values as a Config, in parameter order, with the state of the Default group.
func (s *Server) message(v Values) *dr.Config {
	c := &dr.Config{Groups: []dr.GroupState{{Name: defaultGroup, State: true, Id: 0, Parent: 0}}}
	for _, p := range s.params {
		switch x := v[p.Name].(type) {
		case bool:
			c.Bools = append(c.Bools, dr.BoolParameter{Name: p.Name, Value: x})
		case int:
			c.Ints = append(c.Ints, dr.IntParameter{Name: p.Name, Value: int32(x)})
		case float64:
			c.Doubles = append(c.Doubles, dr.DoubleParameter{Name: p.Name, Value: x})
		case string:
			c.Strs = append(c.Strs, dr.StrParameter{Name: p.Name, Value: x})
		}
	}
	return c
}

// description is the ConfigDescription of the parameters.
func (s *Server) description() *dr.ConfigDescription {
	g := dr.Group{Name: defaultGroup, Type: "", Parent: 0, Id: 0}
	dflt, min, max := Values{}, Values{}, Values{}
	for _, p := range s.params {
		g.Parameters = append(g.Parameters, dr.ParamDescription{
			Name: p.Name, Type: p.Type.String(), Level: p.Level, Description: p.Description, EditMethod: p.editMethod,
		})
		dflt[p.Name], min[p.Name], max[p.Name] = p.dflt, p.min, p.max
	}
	return &dr.ConfigDescription{
		Groups: []dr.Group{g},
		Max:    *s.message(max),
		Min:    *s.message(min),
		Dflt:   *s.message(dflt),
	}
}
