package rosapi

// XML-RPC (xmlrpc.com/spec.md) as the ROS master speaks it: Python's xmlrpc.server on one side, roscpp's
// XmlRpc++ on the other. Values map to Go as bool, int (i4, int, i8), float64 (double), string, []byte
// (base64), time.Time (dateTime.iso8601), []any (array), map[string]any (struct) and nil (nil).

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// encodeCall returns the methodCall document for method with params.
func encodeCall(method string, params ...any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?><methodCall><methodName>`)
	xml.EscapeText(&b, []byte(method))
	b.WriteString(`</methodName><params>`)
	for _, p := range params {
		b.WriteString(`<param>`)
		if err := encodeValue(&b, p, 0); err != nil {
			return nil, err
		}
		b.WriteString(`</param>`)
	}
	b.WriteString(`</params></methodCall>`)
	return b.Bytes(), nil
}

// encodeValue writes v as an XML-RPC <value>. Integers must fit 32 bits: Python's master stores larger
// ones but then cannot send them back, and roscpp cannot read them.
func encodeValue(b *bytes.Buffer, v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("value nested deeper than %d levels", maxDepth)
	}
	b.WriteString("<value>")
	if err := encodeInner(b, v, depth); err != nil {
		return err
	}
	b.WriteString("</value>")
	return nil
}

// encodeInner writes the typed element of a <value>.
func encodeInner(b *bytes.Buffer, v any, depth int) error {
	switch v := v.(type) {
	case nil:
		return errors.New("a parameter value cannot be nil")
	case bool:
		if v {
			b.WriteString("<boolean>1</boolean>")
		} else {
			b.WriteString("<boolean>0</boolean>")
		}
	case int:
		if v < math.MinInt32 || v > math.MaxInt32 {
			return fmt.Errorf("integer %d does not fit the 32 bits of a parameter; use a float64", v)
		}
		b.WriteString("<int>" + strconv.Itoa(v) + "</int>")
	case float64:
		b.WriteString("<double>" + formatXMLDouble(v) + "</double>")
	case string:
		if err := checkXMLText(v); err != nil {
			return err
		}
		b.WriteString("<string>")
		xml.EscapeText(b, []byte(v))
		b.WriteString("</string>")
	case []byte:
		b.WriteString("<base64>" + base64.StdEncoding.EncodeToString(v) + "</base64>")
	case time.Time:
		b.WriteString("<dateTime.iso8601>" + v.Format("20060102T15:04:05") + "</dateTime.iso8601>")
	case []any:
		b.WriteString("<array><data>")
		for _, x := range v {
			if err := encodeValue(b, x, depth+1); err != nil {
				return err
			}
		}
		b.WriteString("</data></array>")
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteString("<struct>")
		for _, k := range keys {
			if err := checkKey(k); err != nil {
				return err
			}
			b.WriteString("<member><name>")
			xml.EscapeText(b, []byte(k))
			b.WriteString("</name>")
			if err := encodeValue(b, v[k], depth+1); err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
			b.WriteString("</member>")
		}
		b.WriteString("</struct>")
	default:
		return encodeReflect(b, reflect.ValueOf(v), depth)
	}
	return nil
}

// encodeReflect writes the values of other Go types by their kind: int64, float32, []float32,
// map[string]int, named types such as type Mode string, pointers.
func encodeReflect(b *bytes.Buffer, rv reflect.Value, depth int) error {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i := rv.Int()
		if i < math.MinInt32 || i > math.MaxInt32 {
			return fmt.Errorf("integer %d does not fit the 32 bits of a parameter; use a float64", i)
		}
		return encodeInner(b, int(i), depth)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt32 {
			return fmt.Errorf("integer %d does not fit the 32 bits of a parameter; use a float64", u)
		}
		return encodeInner(b, int(u), depth)
	case reflect.Float32, reflect.Float64:
		return encodeInner(b, rv.Float(), depth)
	case reflect.Bool:
		return encodeInner(b, rv.Bool(), depth)
	case reflect.String:
		return encodeInner(b, rv.String(), depth)
	case reflect.Slice, reflect.Array:
		b.WriteString("<array><data>")
		for i := 0; i < rv.Len(); i++ {
			if err := encodeValue(b, rv.Index(i).Interface(), depth+1); err != nil {
				return err
			}
		}
		b.WriteString("</data></array>")
		return nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("a %s cannot be a parameter: dictionary keys must be strings", rv.Type())
		}
		m := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			m[it.Key().String()] = it.Value().Interface()
		}
		return encodeInner(b, m, depth)
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return errors.New("a parameter value cannot be nil")
		}
		return encodeInner(b, rv.Elem().Interface(), depth+1)
	}
	return fmt.Errorf("a %s cannot be a parameter", rv.Type())
}

// formatXMLDouble writes f as Python's repr does, which both ends parse: nan and inf are spelled out.
func formatXMLDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// checkXMLText rejects strings that XML 1.0 cannot carry, which encoding/xml would otherwise replace.
func checkXMLText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("string %q is not valid UTF-8", s)
	}
	for _, r := range s {
		if !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000) {
			return fmt.Errorf("string %q holds %U, which XML-RPC cannot carry", s, r)
		}
	}
	return nil
}

// checkKey rejects dictionary keys the parameter tree cannot address.
func checkKey(k string) error {
	if k == "" {
		return errors.New("a dictionary key must not be empty")
	}
	if strings.Contains(k, "/") {
		return fmt.Errorf("dictionary key %q must not contain '/'; nest dictionaries instead", k)
	}
	return checkXMLText(k)
}

// Fault is an XML-RPC fault: the server failed to run the call at all.
type Fault struct {
	Code    int
	Message string
}

// Error gives the fault's code and message.
func (f *Fault) Error() string { return fmt.Sprintf("XML-RPC fault %d: %s", f.Code, f.Message) }

// decodeResponse reads a methodResponse and returns its one value, or a *Fault.
func decodeResponse(r io.Reader) (any, error) {
	p := xmlParser{d: xml.NewDecoder(r)}
	p.d.Strict = true
	if err := p.open("methodResponse"); err != nil {
		return nil, err
	}
	name, err := p.openAny()
	if err != nil {
		return nil, err
	}
	var v any
	switch name {
	case "params":
		if err := p.open("param"); err != nil {
			return nil, err
		}
		if err := p.open("value"); err != nil {
			return nil, err
		}
		if v, err = p.value(0); err != nil {
			return nil, err
		}
		if err := p.close("param"); err != nil {
			return nil, err
		}
		if err := p.close("params"); err != nil {
			return nil, err
		}
	case "fault":
		if err := p.open("value"); err != nil {
			return nil, err
		}
		fv, err := p.value(0)
		if err != nil {
			return nil, err
		}
		if err := p.close("fault"); err != nil {
			return nil, err
		}
		m, _ := fv.(map[string]any)
		code, _ := m["faultCode"].(int)
		msg, _ := m["faultString"].(string)
		if m == nil {
			return nil, fmt.Errorf("XML-RPC fault without a struct: %s", describe(fv))
		}
		return nil, &Fault{Code: code, Message: msg}
	default:
		return nil, fmt.Errorf("XML-RPC response holds <%s>, want <params> or <fault>", name)
	}
	if err := p.close("methodResponse"); err != nil {
		return nil, err
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	return v, nil
}

// xmlParser reads XML-RPC documents element by element.
type xmlParser struct{ d *xml.Decoder }

// token returns the next start element, end element or character data, skipping comments, processing
// instructions and directives.
func (p *xmlParser) token() (xml.Token, error) {
	for {
		t, err := p.d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch t.(type) {
		case xml.StartElement, xml.EndElement, xml.CharData:
			return t, nil
		}
	}
}

// element returns the next start or end element, skipping whitespace.
func (p *xmlParser) element() (xml.Token, error) {
	for {
		t, err := p.token()
		if err != nil {
			return nil, err
		}
		if cd, ok := t.(xml.CharData); ok {
			if len(bytes.TrimSpace(cd)) != 0 {
				return nil, fmt.Errorf("XML-RPC: unexpected text %q", truncate(string(cd)))
			}
			continue
		}
		return t, nil
	}
}

// openAny reads a start element and returns its name.
func (p *xmlParser) openAny() (string, error) {
	t, err := p.element()
	if err != nil {
		return "", err
	}
	se, ok := t.(xml.StartElement)
	if !ok {
		return "", fmt.Errorf("XML-RPC: unexpected </%s>", t.(xml.EndElement).Name.Local)
	}
	return se.Name.Local, nil
}

func (p *xmlParser) open(name string) error {
	got, err := p.openAny()
	if err != nil {
		return fmt.Errorf("XML-RPC: want <%s>: %w", name, err)
	}
	if got != name {
		return fmt.Errorf("XML-RPC: found <%s>, want <%s>", got, name)
	}
	return nil
}

func (p *xmlParser) close(name string) error {
	t, err := p.element()
	if err != nil {
		return fmt.Errorf("XML-RPC: want </%s>: %w", name, err)
	}
	switch t := t.(type) {
	case xml.EndElement:
		if t.Name.Local == name {
			return nil
		}
		return fmt.Errorf("XML-RPC: found </%s>, want </%s>", t.Name.Local, name)
	case xml.StartElement:
		return fmt.Errorf("XML-RPC: found <%s>, want </%s>", t.Name.Local, name)
	}
	return nil
}

// end checks that nothing but whitespace follows the document.
func (p *xmlParser) end() error {
	for {
		t, err := p.d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return fmt.Errorf("XML-RPC: text after the response")
			}
		case xml.StartElement:
			return fmt.Errorf("XML-RPC: <%s> after the response", t.Name.Local)
		}
	}
}

// text reads character data up to the end of element name, which must hold no elements.
func (p *xmlParser) text(name string) (string, error) {
	var s strings.Builder
	for {
		t, err := p.token()
		if err != nil {
			return "", err
		}
		switch t := t.(type) {
		case xml.CharData:
			s.Write(t)
		case xml.EndElement:
			if t.Name.Local != name {
				return "", fmt.Errorf("XML-RPC: found </%s> in <%s>", t.Name.Local, name)
			}
			return s.String(), nil
		case xml.StartElement:
			return "", fmt.Errorf("XML-RPC: found <%s> in <%s>", t.Name.Local, name)
		}
	}
}

// value reads the content of a <value> whose start element has been read, and its end element.
func (p *xmlParser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("XML-RPC: value nested deeper than %d levels", maxDepth)
	}
	// Text directly inside <value> is a string; whitespace around a typed element is not.
	var text strings.Builder
	for {
		t, err := p.token()
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case xml.CharData:
			text.Write(t)
			continue
		case xml.EndElement:
			if t.Name.Local != "value" {
				return nil, fmt.Errorf("XML-RPC: found </%s> in <value>", t.Name.Local)
			}
			return text.String(), nil
		case xml.StartElement:
			if strings.TrimSpace(text.String()) != "" {
				return nil, fmt.Errorf("XML-RPC: text and <%s> mixed in <value>", t.Name.Local)
			}
			v, err := p.typed(t.Name.Local, depth)
			if err != nil {
				return nil, err
			}
			if err := p.close("value"); err != nil {
				return nil, err
			}
			return v, nil
		}
	}
}

// typed reads a typed value whose start element <name> has been read, up to its end element.
func (p *xmlParser) typed(name string, depth int) (any, error) {
	switch name {
	case "array":
		if err := p.open("data"); err != nil {
			return nil, err
		}
		list := []any{}
		for {
			t, err := p.element()
			if err != nil {
				return nil, err
			}
			if end, ok := t.(xml.EndElement); ok {
				if end.Name.Local != "data" {
					return nil, fmt.Errorf("XML-RPC: found </%s> in <data>", end.Name.Local)
				}
				break
			}
			if se := t.(xml.StartElement); se.Name.Local != "value" {
				return nil, fmt.Errorf("XML-RPC: found <%s> in <data>", se.Name.Local)
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, p.close("array")
	case "struct":
		dict := map[string]any{}
		for {
			t, err := p.element()
			if err != nil {
				return nil, err
			}
			if end, ok := t.(xml.EndElement); ok {
				if end.Name.Local != "struct" {
					return nil, fmt.Errorf("XML-RPC: found </%s> in <struct>", end.Name.Local)
				}
				return dict, nil
			}
			if se := t.(xml.StartElement); se.Name.Local != "member" {
				return nil, fmt.Errorf("XML-RPC: found <%s> in <struct>", se.Name.Local)
			}
			if err := p.open("name"); err != nil {
				return nil, err
			}
			key, err := p.text("name")
			if err != nil {
				return nil, err
			}
			if err := p.open("value"); err != nil {
				return nil, err
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			dict[key] = v
			if err := p.close("member"); err != nil {
				return nil, err
			}
		}
	case "nil":
		if _, err := p.text(name); err != nil {
			return nil, err
		}
		return nil, nil
	}
	s, err := p.text(name)
	if err != nil {
		return nil, err
	}
	switch name {
	case "string":
		return s, nil
	case "int", "i4", "i8":
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || int64(int(i)) != i {
			return nil, fmt.Errorf("XML-RPC: <%s>%s</%s> is not an integer", name, truncate(s), name)
		}
		return int(i), nil
	case "boolean":
		switch strings.TrimSpace(s) {
		case "1":
			return true, nil
		case "0":
			return false, nil
		}
		return nil, fmt.Errorf("XML-RPC: <boolean>%s</boolean> is not 0 or 1", truncate(s))
	case "double":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("XML-RPC: <double>%s</double> is not a number", truncate(s))
		}
		return f, nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, fmt.Errorf("XML-RPC: <base64> holds invalid base64: %w", err)
		}
		return b, nil
	case "dateTime.iso8601":
		s = strings.TrimSpace(s)
		for _, layout := range []string{"20060102T15:04:05", "2006-01-02T15:04:05", "20060102T150405"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, nil
			}
		}
		return nil, fmt.Errorf("XML-RPC: <dateTime.iso8601>%s</dateTime.iso8601> is not a date", truncate(s))
	}
	return nil, fmt.Errorf("XML-RPC: unknown value type <%s>", name)
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "..."
	}
	return s
}
