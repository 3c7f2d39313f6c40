package rosapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/cen-ros/cen/node"
)

// ErrNotSet is wrapped by the errors of Get and Delete for a parameter the server does not hold.
var ErrNotSet = errors.New("parameter is not set")

// ErrUnknownNode is wrapped by the error of LookupNode for a node the master does not know.
var ErrUnknownNode = errors.New("node is not registered with the master")

// Conf configures a Client.
type Conf struct {
	// MasterAddress is the master's "host:port", as Args.MasterAddress gives it. (optional) It defaults
	// to the address in ROS_MASTER_URI, or localhost:11311 when that is unset.
	MasterAddress string
	// Resolver resolves and remaps the parameter names given to the client, and its Name is the caller ID
	// sent with every call. (optional) It defaults to a node named "cen" in the global namespace, without
	// remaps.
	Resolver *Resolver
	// Timeout bounds each call, connecting included. (optional) It defaults to 5 s.
	Timeout time.Duration
	// MaxResponseBytes bounds the size of one response, such as the whole parameter tree that Get("/")
	// returns. (optional) It defaults to 64 MiB.
	MaxResponseBytes int64
}

// Client calls the master's parameter server API (wiki.ros.org/ROS/Parameter Server API) and the master
// calls a node needs besides what goroslib offers. Values have every XML-RPC type; see Get. It is safe for
// concurrent use; Close releases its idle connections.
type Client struct {
	addr      string
	url       string
	names     *Resolver
	http      *http.Client
	transport *http.Transport
	max       int64
}

// NewClient returns a client of the master conf names. It does not contact the master.
func NewClient(conf Conf) (*Client, error) {
	if conf.MasterAddress == "" {
		addr, err := node.MasterAddress("")
		if err != nil {
			return nil, err
		}
		conf.MasterAddress = addr
	}
	if _, _, err := net.SplitHostPort(conf.MasterAddress); err != nil {
		return nil, fmt.Errorf("master address %q is not host:port: %w", conf.MasterAddress, err)
	}
	if conf.Resolver == nil {
		r, err := NewResolver("/", "cen", nil)
		if err != nil {
			return nil, err
		}
		conf.Resolver = r
	}
	if conf.Timeout <= 0 {
		conf.Timeout = 5 * time.Second
	}
	if conf.MaxResponseBytes <= 0 {
		conf.MaxResponseBytes = 64 << 20
	}
	// No proxy: like rospy and roscpp, talk to the master directly whatever HTTP_PROXY says.
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: conf.Timeout}).DialContext,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}
	return &Client{
		addr:      conf.MasterAddress,
		url:       "http://" + conf.MasterAddress + "/RPC2",
		names:     conf.Resolver,
		http:      &http.Client{Transport: t, Timeout: conf.Timeout},
		transport: t,
		max:       conf.MaxResponseBytes,
	}, nil
}

// Close releases the client's idle connections. Calls made after Close open new ones.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// Get returns the value of parameter name, resolved and remapped by the client's Resolver ("~queue_size"
// is /<ns>/<node>/queue_size). It is bool, int, float64, string, []byte (base64), time.Time, []any, or,
// for a namespace, map[string]any of the parameters under it. As, GetAs and GetOr read typed values.
func (c *Client) Get(ctx context.Context, name string) (any, error) {
	key, label, err := c.key(name)
	if err != nil {
		return nil, err
	}
	return c.call(ctx, "getParam", label, c.names.Name(), key)
}

// Set stores value as parameter name. value is a bool, an integer that fits 32 bits, a float, a string,
// []byte, a slice or array of values, or a map with string keys (a dictionary replaces the namespace
// name, as rosparam set does).
func (c *Client) Set(ctx context.Context, name string, value any) error {
	key, label, err := c.key(name)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, "setParam", label, c.names.Name(), key, value)
	return err
}

// SetParams stores the private parameters of a command line, as roscpp and rospy do at start-up; where a
// name repeats, the last value stays.
func (c *Client) SetParams(ctx context.Context, params []Param) error {
	for _, p := range params {
		if err := c.Set(ctx, p.Name, p.Value); err != nil {
			return err
		}
	}
	return nil
}

// Has reports whether the server holds parameter name (a value or a namespace).
func (c *Client) Has(ctx context.Context, name string) (bool, error) {
	key, label, err := c.key(name)
	if err != nil {
		return false, err
	}
	v, err := c.call(ctx, "hasParam", label, c.names.Name(), key)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, c.errorf("hasParam", label, "the master answered %s, want a boolean", describe(v))
	}
	return b, nil
}

// Delete removes parameter name, or the whole namespace name. A parameter that is not set is an error
// wrapping ErrNotSet.
func (c *Client) Delete(ctx context.Context, name string) error {
	key, label, err := c.key(name)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, "deleteParam", label, c.names.Name(), key)
	return err
}

// Search looks for parameter name from the node's private namespace upwards, as roscpp's searchParam does:
// the master returns the first namespace that holds name's first component joined with the rest of it
// ("robot_description/arm" finds /pr2/robot_description/arm when /pr2/robot_description is set). A remap
// applies to name as written, not resolved. found is false when no namespace matches.
func (c *Client) Search(ctx context.Context, name string) (key string, found bool, err error) {
	key = c.names.searchKey(name)
	if err := CheckName(key); err != nil {
		return "", false, fmt.Errorf("searchParam %s: %w", name, err)
	}
	if key == "" || key[0] == '~' {
		return "", false, fmt.Errorf("searchParam %q: search for a relative or global name, not a private or empty one", name)
	}
	label := name
	if key != name {
		label = fmt.Sprintf("%s (remapped to %s)", name, key)
	}
	v, err := c.call(ctx, "searchParam", label, c.names.Name(), key)
	if errors.Is(err, ErrNotSet) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	s, ok := v.(string)
	if !ok {
		return "", false, c.errorf("searchParam", label, "the master answered %s, want a string", describe(v))
	}
	return s, true, nil
}

// Names returns the names of all parameters on the server (the master's getParamNames), sorted.
func (c *Client) Names(ctx context.Context) ([]string, error) {
	v, err := c.call(ctx, "getParamNames", "", c.names.Name())
	if err != nil {
		return nil, err
	}
	names, err := stringList(v)
	if err != nil {
		return nil, c.errorf("getParamNames", "", "%v", err)
	}
	slices.Sort(names)
	return names, nil
}

// LookupNode returns the XML-RPC URI of the node called name (expanded by the client's Resolver, without
// remaps), which tells whether a node, this one included, is registered. A node the master does not know is
// an error wrapping ErrUnknownNode.
func (c *Client) LookupNode(ctx context.Context, name string) (string, error) {
	full, err := c.names.Expand(name)
	if err != nil {
		return "", fmt.Errorf("lookupNode %s: %w", name, err)
	}
	v, err := c.call(ctx, "lookupNode", full, c.names.Name(), full)
	if err != nil {
		return "", err
	}
	uri, ok := v.(string)
	if !ok {
		return "", c.errorf("lookupNode", full, "the master answered %s, want a URI", describe(v))
	}
	return uri, nil
}

// SystemState is the master's view of the graph: for each topic its publishing and subscribing nodes, for
// each service the nodes that provide it.
type SystemState struct {
	Publishers  map[string][]string
	Subscribers map[string][]string
	Services    map[string][]string
}

// SystemState asks the master for the publishers, subscribers and services of the whole graph.
func (c *Client) SystemState(ctx context.Context) (SystemState, error) {
	v, err := c.call(ctx, "getSystemState", "", c.names.Name())
	if err != nil {
		return SystemState{}, err
	}
	parts, ok := v.([]any)
	if !ok || len(parts) != 3 {
		return SystemState{}, c.errorf("getSystemState", "", "the master answered %s, want 3 lists", describe(v))
	}
	var s SystemState
	for i, dst := range []*map[string][]string{&s.Publishers, &s.Subscribers, &s.Services} {
		m, err := nodeLists(parts[i])
		if err != nil {
			return SystemState{}, c.errorf("getSystemState", "", "%v", err)
		}
		*dst = m
	}
	return s, nil
}

// nodeLists reads [[name, [node, ...]], ...].
func nodeLists(v any) (map[string][]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("found %s, want a list of [name, nodes]", describe(v))
	}
	m := make(map[string][]string, len(list))
	for _, e := range list {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("found %s, want [name, nodes]", describe(e))
		}
		name, ok := pair[0].(string)
		if !ok {
			return nil, fmt.Errorf("found %s, want a name", describe(pair[0]))
		}
		nodes, err := stringList(pair[1])
		if err != nil {
			return nil, err
		}
		m[name] = nodes
	}
	return m, nil
}

func stringList(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("found %s, want a list of names", describe(v))
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("item %d is %s, want a name", i, describe(x))
		}
		out[i] = s
	}
	return out, nil
}

// key resolves a parameter name and returns it with the label errors use: "~x (/cen/x)".
func (c *Client) key(name string) (key, label string, err error) {
	key, err = c.names.Resolve(name)
	if err != nil {
		return "", "", fmt.Errorf("parameter %s: %w", name, err)
	}
	if key == name {
		return key, name, nil
	}
	return key, fmt.Sprintf("%s (%s)", name, key), nil
}

func (c *Client) errorf(method, label, format string, args ...any) error {
	return c.wrap(method, label, fmt.Errorf(format, args...))
}

func (c *Client) wrap(method, label string, err error) error {
	if label != "" {
		method += " " + label
	}
	return fmt.Errorf("%s at the master %s: %w", method, c.addr, err)
}

// call runs one master API method, checks the [code, statusMessage, value] answer and returns value. A
// code of -1 from getParam, deleteParam and searchParam means the parameter is not there.
func (c *Client) call(ctx context.Context, method, label string, params ...any) (any, error) {
	body, err := encodeCall(method, params...)
	if err != nil {
		return nil, c.wrap(method, label, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, c.wrap(method, label, err)
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.wrap(method, label, fmt.Errorf("no ROS master answers: %w", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, c.errorf(method, label, "HTTP status %s", resp.Status)
	}
	v, err := decodeResponse(&limitReader{r: resp.Body, n: c.max, limit: c.max})
	if err != nil {
		return nil, c.wrap(method, label, err)
	}
	answer, ok := v.([]any)
	if !ok || len(answer) != 3 {
		return nil, c.errorf(method, label, "the master answered %s, want [code, message, value]", describe(v))
	}
	code, ok1 := answer[0].(int)
	msg, ok2 := answer[1].(string)
	if !ok1 || !ok2 {
		return nil, c.errorf(method, label, "the master answered %s and %s, want a code and a message", describe(answer[0]), describe(answer[1]))
	}
	if code != 1 {
		if code == -1 && (method == "getParam" || method == "deleteParam" || method == "searchParam") {
			return nil, c.wrap(method, label, fmt.Errorf("%w (%s)", ErrNotSet, msg))
		}
		if code == -1 && method == "lookupNode" {
			return nil, c.wrap(method, label, fmt.Errorf("%w (%s)", ErrUnknownNode, msg))
		}
		return nil, c.errorf(method, label, "the master refused (code %d): %s", code, msg)
	}
	return answer[2], nil
}

// limitReader reads at most n bytes and then fails, rather than ending early as io.LimitReader does.
type limitReader struct {
	r     io.Reader
	n     int64 // bytes left
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("the response is larger than %d bytes (Conf.MaxResponseBytes)", l.limit)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
