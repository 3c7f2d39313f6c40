package rosapi

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestAsConvertsOnlyAsRoscppDoes(t *testing.T) {
	check := func(got, want any, err error) {
		t.Helper()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %#v, %v; want %#v", got, err, want)
		}
	}
	i, err := As[int]("~n", 3)
	check(i, 3, err)
	f, err := As[float64]("~x", 3) // an integer reads as a double
	check(f, 3.0, err)
	b, err := As[bool]("~on", true)
	check(b, true, err)
	s, err := As[string]("~s", "x")
	check(s, "x", err)
	fs, err := As[[]float64]("~mean", []any{1, 2.5})
	check(fs, []float64{1, 2.5}, err)
	is, err := As[[]int]("~sizes", []any{})
	check(is, []int{}, err)
	ss, err := As[[]string]("~classes", []any{"wall", "floor"})
	check(ss, []string{"wall", "floor"}, err)
	bs, err := As[[]bool]("~flags", []any{true, false})
	check(bs, []bool{true, false}, err)
	d, err := As[map[string]any]("~camera", map[string]any{"unit": 0.001})
	check(d, map[string]any{"unit": 0.001}, err)
	l, err := As[[]any]("~l", []any{1, "a"})
	check(l, []any{1, "a"}, err)
	raw, err := As[[]byte]("~blob", []byte{1})
	check(raw, []byte{1}, err)
}

func TestAsErrorsSayWhatTheParameterHolds(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{second(As[int]("~queue_size", "ten")), `~queue_size is the string "ten", want an integer`},
		{second(As[int]("~queue_size", 10.0)), `~queue_size is the double 10.0, want an integer`},
		{second(As[int]("~q", math.Inf(1))), `~q is the double +Inf, want an integer`},
		{second(As[float64]("~rate", "30")), `~rate is the string "30", want a double`},
		{second(As[bool]("~on", 1)), `~on is the integer 1, want a boolean`},
		{second(As[string]("~s", true)), `~s is the boolean true, want a string`},
		{second(As[string]("~s", []any{1, 2})), `~s is a list of 2 items, want a string`},
		{second(As[int]("~s", map[string]any{"a": 1})), `~s is a dictionary of 1 key, want an integer`},
		{second(As[[]float64]("~mean", []any{0.5, "x", 1})), `~mean is a list whose item 1 is the string "x", want a list of doubles`},
		{second(As[[]string]("~c", "wall")), `~c is the string "wall", want a list of strings`},
		{second(As[map[string]any]("~cam", []any{})), `~cam is an empty list, want a dictionary`},
		{second(As[[]byte]("~b", "x")), `~b is the string "x", want binary data`},
		{second(As[int]("~s", strings.Repeat("a", 70))), `~s is the string "` + strings.Repeat("a", 60) + `…", want an integer`},
	}
	for _, c := range cases {
		var te *TypeError
		if !errors.As(c.err, &te) || c.err.Error() != c.want {
			t.Errorf("error %v, want the *TypeError %q", c.err, c.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }
