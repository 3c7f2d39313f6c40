package rosapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Typed are the Go types a parameter value can be read as with As, GetAs and GetOr.
type Typed interface {
	bool | int | float64 | string | []byte |
		[]bool | []int | []float64 | []string | []any | map[string]any
}

// TypeError says that a parameter holds a value of another type than the one asked for.
type TypeError struct {
	Name  string // the parameter, as the caller named it
	Value any    // what it holds
	Want  string // what was asked for, such as "an integer"
	Index int    // for a list, the first item at fault; -1 otherwise
}

// Error says what the parameter holds and what was wanted: `~queue_size is the string "ten", want an
// integer`.
func (e *TypeError) Error() string {
	if e.Index >= 0 {
		list, _ := e.Value.([]any)
		return fmt.Sprintf("%s is a list whose item %d is %s, want %s", e.Name, e.Index, describe(list[e.Index]), e.Want)
	}
	return fmt.Sprintf("%s is %s, want %s", e.Name, describe(e.Value), e.Want)
}

// As converts v, the value of parameter name, to T. The conversions are roscpp's: an integer is also read
// as a double (in lists too), nothing else changes type. The error, a *TypeError, names the parameter and
// says what it holds: `~queue_size is the string "ten", want an integer`.
func As[T Typed](name string, v any) (T, error) {
	var out T
	fail := func(index int) (T, error) {
		var zero T
		return zero, &TypeError{Name: name, Value: v, Want: want(out), Index: index}
	}
	switch p := any(&out).(type) {
	case *bool:
		b, ok := v.(bool)
		if !ok {
			return fail(-1)
		}
		*p = b
	case *int:
		i, ok := v.(int)
		if !ok {
			return fail(-1)
		}
		*p = i
	case *float64:
		f, ok := toFloat(v)
		if !ok {
			return fail(-1)
		}
		*p = f
	case *string:
		s, ok := v.(string)
		if !ok {
			return fail(-1)
		}
		*p = s
	case *[]byte:
		b, ok := v.([]byte)
		if !ok {
			return fail(-1)
		}
		*p = b
	case *map[string]any:
		m, ok := v.(map[string]any)
		if !ok {
			return fail(-1)
		}
		*p = m
	case *[]any:
		l, ok := v.([]any)
		if !ok {
			return fail(-1)
		}
		*p = l
	case *[]bool:
		return listAs(v, p, fail, func(x any) (bool, bool) { b, ok := x.(bool); return b, ok })
	case *[]int:
		return listAs(v, p, fail, func(x any) (int, bool) { i, ok := x.(int); return i, ok })
	case *[]float64:
		return listAs(v, p, fail, toFloat)
	case *[]string:
		return listAs(v, p, fail, func(x any) (string, bool) { s, ok := x.(string); return s, ok })
	}
	return out, nil
}

func listAs[T Typed, E any](v any, p *[]E, fail func(int) (T, error), conv func(any) (E, bool)) (T, error) {
	list, ok := v.([]any)
	if !ok {
		return fail(-1)
	}
	out := make([]E, len(list))
	for i, x := range list {
		if out[i], ok = conv(x); !ok {
			return fail(i)
		}
	}
	*p = out
	return any(*p).(T), nil
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	}
	return 0, false
}

// want names the type T stands for in an error message.
func want(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case int:
		return "an integer"
	case float64:
		return "a double"
	case string:
		return "a string"
	case []byte:
		return "binary data"
	case map[string]any:
		return "a dictionary"
	case []any:
		return "a list"
	case []bool:
		return "a list of booleans"
	case []int:
		return "a list of integers"
	case []float64:
		return "a list of doubles"
	case []string:
		return "a list of strings"
	}
	return fmt.Sprintf("%T", v)
}

// describe says what a parameter value is, for error messages: `the string "ten"`, `the integer 5`.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case bool:
		return "the boolean " + strconv.FormatBool(v)
	case int:
		return "the integer " + strconv.Itoa(v)
	case float64:
		return "the double " + formatDouble(v)
	case string:
		if utf8.RuneCountInString(v) > 60 {
			v = string([]rune(v)[:60]) + "…"
		}
		return "the string " + strconv.Quote(v)
	case []byte:
		return fmt.Sprintf("binary data of %d bytes", len(v))
	case time.Time:
		return "the date " + v.Format(time.RFC3339)
	case []any:
		return plural(len(v), "an empty list", "a list of %d item", "a list of %d items")
	case map[string]any:
		return plural(len(v), "an empty dictionary", "a dictionary of %d key", "a dictionary of %d keys")
	}
	return fmt.Sprintf("a %T", v)
}

func plural(n int, zero, one, many string) string {
	switch n {
	case 0:
		return zero
	case 1:
		return fmt.Sprintf(one, n)
	}
	return fmt.Sprintf(many, n)
}

// formatDouble writes f so that it reads as a double: 10.0 rather than 10.
func formatDouble(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eIN") {
		s += ".0"
	}
	return s
}

// GetAs reads parameter name (resolved and remapped by the client's Resolver) as T; see As for the
// conversions. A parameter that is not set is an error wrapping ErrNotSet.
func GetAs[T Typed](ctx context.Context, c *Client, name string) (T, error) {
	v, err := c.Get(ctx, name)
	if err != nil {
		var zero T
		return zero, err
	}
	return As[T](name, v)
}

// GetOr reads parameter name as T, or returns def when it is not set, as roscpp's NodeHandle::param does.
// A value of another type is an error, not the default.
func GetOr[T Typed](ctx context.Context, c *Client, name string, def T) (T, error) {
	v, err := GetAs[T](ctx, c, name)
	if errors.Is(err, ErrNotSet) {
		return def, nil
	}
	return v, err
}
