package reconfigure

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
)

// Type is the type of a parameter, one of the four dynamic_reconfigure knows.
type Type int

// The parameter types. In Values they are held as bool, int, float64 and string.
const (
	Bool Type = iota + 1
	Int
	Double
	String
)

// String returns the name dynamic_reconfigure gives the type in ParamDescription ("bool", "int", "double",
// "str").
func (t Type) String() string {
	switch t {
	case Bool:
		return "bool"
	case Int:
		return "int"
	case Double:
		return "double"
	case String:
		return "str"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// article is the type's name with "a" or "an", for messages.
func (t Type) article() string {
	if t == Int {
		return "an int"
	}
	return "a " + t.String()
}

// Param describes one dynamic parameter, as a line of a .cfg file does for the C++ and Python servers.
type Param struct {
	// Name is the parameter's name: a letter, then letters, digits and underscores (dynamic_reconfigure's
	// generator enforces the same, since names become C++ and Python identifiers).
	Name string
	// Description is shown by rqt_reconfigure as the parameter's tooltip.
	Description string
	// Type is Bool, Int, Double or String.
	Type Type
	// Default is the value when neither ServerConf.Initial nor the parameter server gives one (optional). It
	// defaults to the zero value of Type, or to the first choice's value when Choices is set.
	Default any
	// Min and Max bound Int and Double values; requests outside are clamped, as the reference servers do
	// (optional). They default to the int32 range for Int (the range of the choices when Choices is set) and
	// to ±Inf for Double, and must be nil for Bool and String.
	Min, Max any
	// Level is ORed over the changed parameters by the function Level, as dynamic_reconfigure's callbacks
	// receive it (optional). Nodes use the bits to tell which part must restart.
	Level uint32
	// Choices makes an Int or String parameter an enum: rqt_reconfigure shows a drop-down and dynparam
	// accepts a choice's name in place of its value (optional). A requested value that is not a choice leaves
	// the parameter unchanged.
	Choices []Choice
}

// Choice is one named value of an enum parameter.
type Choice struct {
	// Name is what rqt_reconfigure shows and what dynparam and the Python client accept for the value.
	Name string
	// Value is of the parameter's Type (int or string).
	Value any
	// Description is shown as the choice's tooltip.
	Description string
}

// Values maps parameter names to values: bool, int, float64 or string, after the parameters' Types.
type Values map[string]any

// clone returns a copy of v that the caller may change.
func (v Values) clone() Values {
	c := make(Values, len(v))
	for k, x := range v {
		c[k] = x
	}
	return c
}

var nameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]*$`)

// param is a validated Param with its bounds converted to the canonical Go types.
type param struct {
	Param
	dflt, min, max any
	editMethod     string
}

// compile checks p and fills in its defaults.
func compile(p Param) (*param, error) {
	if !nameRE.MatchString(p.Name) {
		return nil, fmt.Errorf("parameter name %q must be a letter followed by letters, digits and underscores", p.Name)
	}
	// The Python client keeps group states under the key "groups" of the same dict as the values.
	if p.Name == "groups" {
		return nil, fmt.Errorf("parameter name %q is reserved by dynamic_reconfigure", p.Name)
	}
	c := &param{Param: p}
	fail := func(format string, args ...any) (*param, error) {
		return nil, fmt.Errorf("parameter %q: %s", p.Name, fmt.Sprintf(format, args...))
	}
	field := func(what string, v any) (any, error) {
		x, err := convert(p.Type, v)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %s: %w", p.Name, what, err)
		}
		return x, nil
	}
	var err error
	switch p.Type {
	case Bool, String:
		if p.Min != nil || p.Max != nil {
			return fail("%s parameter has no Min or Max", p.Type.article())
		}
		if p.Type == Bool {
			c.min, c.max = false, true
		} else {
			c.min, c.max = "", ""
		}
	case Int:
		c.min, c.max = math.MinInt32, math.MaxInt32
	case Double:
		c.min, c.max = math.Inf(-1), math.Inf(1)
	default:
		return fail("Type %v is not Bool, Int, Double or String", p.Type)
	}
	if len(p.Choices) > 0 {
		if p.Type != Int && p.Type != String {
			return fail("only Int and String parameters can have Choices")
		}
		if c.editMethod, err = c.compileChoices(); err != nil {
			return nil, err
		}
	}
	if p.Min != nil {
		if c.min, err = field("Min", p.Min); err != nil {
			return nil, err
		}
	}
	if p.Max != nil {
		if c.max, err = field("Max", p.Max); err != nil {
			return nil, err
		}
	}
	if less(p.Type, c.max, c.min) {
		return fail("Min %v is greater than Max %v", c.min, c.max)
	}
	switch {
	case p.Default != nil:
		if c.dflt, err = field("Default", p.Default); err != nil {
			return nil, err
		}
	case len(p.Choices) > 0:
		c.dflt = c.Choices[0].Value
	default:
		c.dflt = zero(p.Type)
	}
	if c.clamp(c.dflt) != c.dflt {
		return fail("Default %v is outside [%v, %v]", c.dflt, c.min, c.max)
	}
	if !c.allowed(c.dflt) {
		return fail("Default %v is not one of the Choices", c.dflt)
	}
	return c, nil
}

// compileChoices converts the choices' values, sets Min and Max defaults for an Int enum to the range of
// its values, and returns the edit_method text.
func (c *param) compileChoices() (string, error) {
	choices := make([]Choice, len(c.Choices))
	names := map[string]bool{}
	values := map[any]bool{}
	for i, ch := range c.Choices {
		v, err := convert(c.Type, ch.Value)
		if err != nil {
			return "", fmt.Errorf("parameter %q: choice %q: %w", c.Name, ch.Name, err)
		}
		if ch.Name == "" || names[strings.ToLower(ch.Name)] {
			// The Python client matches names without regard to case.
			return "", fmt.Errorf("parameter %q: choice names must be non-empty and distinct ignoring case, %q is not", c.Name, ch.Name)
		}
		if values[v] {
			return "", fmt.Errorf("parameter %q: choice %q repeats the value %v", c.Name, ch.Name, v)
		}
		names[strings.ToLower(ch.Name)], values[v] = true, true
		ch.Value = v
		choices[i] = ch
		if c.Type == Int {
			if i == 0 || v.(int) < c.min.(int) {
				c.min = v
			}
			if i == 0 || v.(int) > c.max.(int) {
				c.max = v
			}
		}
	}
	c.Choices = choices
	return editMethod(c.Type, c.Description, choices)
}

// enumConst and enumMethod are the shape of the edit_method dynamic_reconfigure's generator writes for an
// enum: the repr() of a dict, which the Python client, dynparam and rqt_reconfigure read back with eval().
// JSON without true, false and null is also a Python literal, so encoding/json writes it. The generator's
// srcline and srcfile point into the .cfg file; there is none here.
type enumConst struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Value       any    `json:"value"`
	SrcLine     int    `json:"srcline"`
	SrcFile     string `json:"srcfile"`
	Description string `json:"description"`
	CType       string `json:"ctype"`
	CConstType  string `json:"cconsttype"`
}

type enumMethod struct {
	Enum            []enumConst `json:"enum"`
	EnumDescription string      `json:"enum_description"`
}

func editMethod(t Type, description string, choices []Choice) (string, error) {
	ctype, cconst := "int", "const int"
	if t == String {
		ctype, cconst = "std::string", "const char * const"
	}
	m := enumMethod{EnumDescription: description}
	for _, ch := range choices {
		m.Enum = append(m.Enum, enumConst{Name: ch.Name, Type: t.String(), Value: ch.Value,
			Description: ch.Description, CType: ctype, CConstType: cconst})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// convert turns v into the canonical Go type of t: bool, int (within int32, as ROS carries ints), float64
// (not NaN; any Go integer is accepted too) or string.
func convert(t Type, v any) (any, error) {
	bad := func() (any, error) { return nil, fmt.Errorf("%v (%T) is not %s", v, v, t.article()) }
	switch t {
	case Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case String:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case Int:
		i, ok := integer(v)
		if !ok {
			return bad()
		}
		if i < math.MinInt32 || i > math.MaxInt32 {
			return nil, fmt.Errorf("%d is outside the int32 range of ROS ints", i)
		}
		return int(i), nil
	case Double:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		default:
			i, ok := integer(v)
			if !ok {
				return bad()
			}
			f = float64(i)
		}
		if math.IsNaN(f) {
			return nil, fmt.Errorf("NaN is not a value")
		}
		return f, nil
	}
	return bad()
}

func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	}
	return 0, false
}

func zero(t Type) any {
	switch t {
	case Bool:
		return false
	case Int:
		return 0
	case Double:
		return 0.0
	}
	return ""
}

// less reports a < b for canonical values of type t; bools and strings have no order here.
func less(t Type, a, b any) bool {
	switch t {
	case Int:
		return a.(int) < b.(int)
	case Double:
		return a.(float64) < b.(float64)
	}
	return false
}

// clamp limits a canonical value to [min, max], as the reference servers' __clamp__ does (strings and bools
// are left alone).
func (c *param) clamp(v any) any {
	if less(c.Type, c.max, v) {
		return c.max
	}
	if less(c.Type, v, c.min) {
		return c.min
	}
	return v
}

// allowed reports whether a canonical value is one of the choices (always true without choices).
func (c *param) allowed(v any) bool {
	if len(c.Choices) == 0 {
		return true
	}
	for _, ch := range c.Choices {
		if ch.Value == v {
			return true
		}
	}
	return false
}
