package rosapi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ParseValue reads text as rospy reads the value of _name:=text and rosparam the values of a YAML file:
// YAML 1.1 as PyYAML's safe_load resolves it, so yes/no/on/off are booleans, 0x1F, 017 (octal) and
// 1:30 are integers, a float needs a dot ("1e3" is a string, "1.0e+3" a float), and quoting keeps a
// string. It returns bool, int, float64, string, []byte (!!binary), []any and map[string]any. Values a
// parameter cannot hold are errors where rospy would fail to upload them: null, timestamps, and integers
// beyond 32 bits.
func ParseValue(text string) (any, error) {
	dec := yaml.NewDecoder(strings.NewReader(text))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("YAML %q holds no value", text)
		}
		return nil, fmt.Errorf("YAML %q: %w", text, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("YAML %q holds more than one document", text)
	}
	c := yamlConverter{budget: maxYAMLNodes}
	v, err := c.value(&doc, 0)
	if err == nil {
		err = checkFit(v)
	}
	if err != nil {
		return nil, fmt.Errorf("YAML %q: %w", text, err)
	}
	return v, nil
}

// unfit stands for a YAML value that is well-formed but that no parameter can hold. It is an error only if
// it survives into the result: a later duplicate key may replace it, as in PyYAML.
type unfit struct{ err error }

func checkFit(v any) error {
	switch v := v.(type) {
	case unfit:
		return v.err
	case []any:
		for _, x := range v {
			if err := checkFit(x); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, x := range v {
			if err := checkFit(x); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxDepth bounds the nesting of lists and dictionaries read from YAML or XML-RPC.
const maxDepth = 100

// maxYAMLNodes bounds the values one YAML text may expand to, since aliases can repeat a subtree without
// bound ("billion laughs").
const maxYAMLNodes = 1 << 20

type yamlConverter struct{ budget int }

func (c *yamlConverter) value(n *yaml.Node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	if c.budget--; c.budget < 0 {
		return nil, fmt.Errorf("expands to more than %d values", maxYAMLNodes)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("a document holds %d nodes, want 1", len(n.Content))
		}
		return c.value(n.Content[0], depth)
	case yaml.AliasNode:
		return c.value(n.Alias, depth+1)
	case yaml.SequenceNode:
		if n.Style&yaml.TaggedStyle != 0 && n.Tag != "!!seq" {
			return nil, fmt.Errorf("tag %s on a list is not supported", n.Tag)
		}
		list := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := c.value(item, depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case yaml.MappingNode:
		if n.Style&yaml.TaggedStyle != 0 && n.Tag != "!!map" {
			return nil, fmt.Errorf("tag %s on a dictionary is not supported", n.Tag)
		}
		dict := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn := n.Content[i]
			if kn.Kind == yaml.ScalarNode && kn.Style == 0 && kn.Value == "<<" {
				return nil, fmt.Errorf("YAML merge keys (<<) are not supported")
			}
			k, err := c.value(kn, depth+1)
			if err != nil {
				return nil, err
			}
			key, ok := k.(string)
			if !ok || kn.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("dictionary key %s is %s; parameter keys are strings", kn.Value, describe(k))
			}
			v, err := c.value(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			dict[key] = v
		}
		return dict, nil
	case yaml.ScalarNode:
		return scalarFromYAML(n)
	}
	return nil, fmt.Errorf("unexpected YAML node kind %d", n.Kind)
}

func scalarFromYAML(n *yaml.Node) (any, error) {
	if n.Style&yaml.TaggedStyle != 0 {
		switch n.Tag {
		case "!!str":
			return n.Value, nil
		case "!!binary":
			b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
			if err != nil {
				return nil, fmt.Errorf("!!binary %q is not base64", n.Value)
			}
			return b, nil
		case "!!int":
			// PyYAML's constructors run on the text whatever it looks like.
			return yamlToInt(n.Value)
		case "!!float":
			if strings.Contains(strings.ToLower(n.Value), "0x") {
				return nil, fmt.Errorf("!!float %q is not a float", n.Value)
			}
			return yamlToFloat(n.Value)
		case "!!bool":
			switch strings.ToLower(n.Value) {
			case "yes", "true", "on":
				return true, nil
			case "no", "false", "off":
				return false, nil
			}
			return nil, fmt.Errorf("!!bool %q is not a boolean", n.Value)
		}
		return nil, fmt.Errorf("YAML tag %s is not supported", n.Tag)
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Value, nil
	}
	return resolvePlain(n.Value)
}

// The implicit types of YAML 1.1 (yaml.org/type/), with the forms PyYAML accepts.
var (
	yamlInt = regexp.MustCompile(`^(?:[-+]?0b[01_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	// A float has a dot (or is .inf/.nan); the exponent's sign is mandatory.
	yamlFloat     = regexp.MustCompile(`^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	yamlTimestamp = regexp.MustCompile(`^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$`)
)

// resolvePlain gives an untagged, unquoted YAML scalar its YAML 1.1 type.
func resolvePlain(s string) (any, error) {
	switch s {
	case "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
		return true, nil
	case "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
		return false, nil
	case "", "~", "null", "Null", "NULL":
		return unfit{fmt.Errorf("YAML null (%q) cannot be a parameter value; quote it for a string", s)}, nil
	case "=", "<<":
		return nil, fmt.Errorf("YAML gives %q no value; quote it for a string", s)
	}
	switch {
	case yamlInt.MatchString(s):
		return yamlToInt(s)
	case yamlFloat.MatchString(s):
		return yamlToFloat(s)
	case yamlTimestamp.MatchString(s):
		return unfit{fmt.Errorf("YAML reads %q as a timestamp, which a parameter cannot hold; quote it for a string", s)}, nil
	}
	return s, nil
}

func yamlToInt(s string) (any, error) {
	t := strings.ReplaceAll(s, "_", "")
	neg := false
	if t != "" && (t[0] == '-' || t[0] == '+') {
		neg = t[0] == '-'
		t = t[1:]
	}
	if t == "" {
		return nil, fmt.Errorf("%q is not an integer", s)
	}
	var n int64
	var err error
	switch {
	case t == "0":
	case strings.HasPrefix(t, "0b"):
		n, err = strconv.ParseInt(t[2:], 2, 64)
	case strings.HasPrefix(t, "0x"):
		n, err = strconv.ParseInt(t[2:], 16, 64)
	case t[0] == '0':
		n, err = strconv.ParseInt(t, 8, 64)
	case strings.Contains(t, ":"):
		for _, part := range strings.Split(t, ":") {
			var d int64
			if d, err = strconv.ParseInt(part, 10, 64); err != nil {
				break
			}
			if n > math.MaxInt32 {
				err = strconv.ErrRange
				break
			}
			n = n*60 + d
		}
	default:
		n, err = strconv.ParseInt(t, 10, 64)
	}
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("%q is not an integer", s)
	}
	if neg {
		n = -n
	}
	if err != nil || n < math.MinInt32 || n > math.MaxInt32 {
		return unfit{fmt.Errorf("integer %s does not fit the 32 bits of a parameter; write it with a dot (%s.0) for a double", s, s)}, nil
	}
	return int(n), nil
}

func yamlToFloat(s string) (any, error) {
	t := strings.ToLower(strings.ReplaceAll(s, "_", ""))
	sign := 1.0
	if t != "" && (t[0] == '-' || t[0] == '+') {
		if t[0] == '-' {
			sign = -1
		}
		t = t[1:]
	}
	switch {
	case t == "":
		return nil, fmt.Errorf("%q is not a float", s)
	case t == ".inf":
		return sign * math.Inf(1), nil
	case t == ".nan":
		return math.NaN(), nil
	case strings.Contains(t, ":"):
		// Summed from the last part up, as PyYAML does, so that rounding is the same.
		parts := strings.Split(t, ":")
		v, base := 0.0, 1.0
		for i := len(parts) - 1; i >= 0; i-- {
			d, err := strconv.ParseFloat(parts[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a float", s)
			}
			v += d * base
			base *= 60
		}
		return sign * v, nil
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("%q is not a float", s)
	}
	return sign * v, nil // out of range is ±Inf (or 0), as in Python
}
