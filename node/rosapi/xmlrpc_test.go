package rosapi

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// roundTrip encodes v as the single param of a call and decodes it as a response would carry it.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	var b bytes.Buffer
	if err := encodeValue(&b, v, 0); err != nil {
		t.Fatalf("encoding %#v: %v", v, err)
	}
	doc := "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n" + b.String() + "\n</param>\n</params>\n</methodResponse>\n"
	got, err := decodeResponse(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("decoding %s: %v", doc, err)
	}
	return got
}

func TestXMLRPCValuesRoundTrip(t *testing.T) {
	type mode string
	cases := []struct {
		in, want any
	}{
		{true, true},
		{false, false},
		{0, 0},
		{math.MaxInt32, math.MaxInt32},
		{math.MinInt32, math.MinInt32},
		{int64(-5), -5},
		{uint16(7), 7},
		{2.5, 2.5},
		{float32(0.5), 0.5},
		{math.Inf(1), math.Inf(1)},
		{math.Inf(-1), math.Inf(-1)},
		{math.NaN(), math.NaN()},
		{math.Copysign(0, -1), math.Copysign(0, -1)},
		{5e-324, 5e-324},
		{1.7976931348623157e308, 1.7976931348623157e308},
		{"", ""},
		{"<a & 'b' \"c\">", "<a & 'b' \"c\">"},
		{"two\nlines\r\n\ttab", "two\nlines\r\n\ttab"},
		{"héllo 中文 🤖", "héllo 中文 🤖"},
		{"  padded  ", "  padded  "},
		{mode("fast"), "fast"},
		{[]byte{0, 1, 2, 255}, []byte{0, 1, 2, 255}},
		{[]any{}, []any{}},
		{[]any{1, "a", []any{2.5, true}}, []any{1, "a", []any{2.5, true}}},
		{[]float64{0.485, 0.456}, []any{0.485, 0.456}},
		{[3]int{1, 2, 3}, []any{1, 2, 3}},
		{map[string]any{}, map[string]any{}},
		{map[string]any{"a": 1, "b": map[string]any{"c": []any{"d"}}}, map[string]any{"a": 1, "b": map[string]any{"c": []any{"d"}}}},
		{map[string]float64{"x": 1}, map[string]any{"x": 1.0}},
		{time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)},
	}
	for _, c := range cases {
		if got := roundTrip(t, c.in); !sameValue(got, c.want) {
			t.Errorf("%#v came back as %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestXMLRPCRefusesValuesAParameterCannotHold(t *testing.T) {
	var nilMap map[string]any
	var nilPtr *int
	cases := []struct {
		in   any
		want string
	}{
		{nil, "a parameter value cannot be nil"},
		{nilPtr, "a parameter value cannot be nil"},
		{int64(math.MaxInt32) + 1, "integer 2147483648 does not fit the 32 bits of a parameter"},
		{uint64(1 << 40), "integer 1099511627776 does not fit"},
		{[]any{1, nil}, "cannot be nil"},
		{map[int]string{1: "a"}, "map[int]string cannot be a parameter: dictionary keys must be strings"},
		{map[string]any{"": 1}, "a dictionary key must not be empty"},
		{map[string]any{"a/b": 1}, `dictionary key "a/b" must not contain '/'`},
		{"bell\a", `string "bell\a" holds U+0007, which XML-RPC cannot carry`},
		{"\xff", "is not valid UTF-8"},
		{struct{}{}, "struct {} cannot be a parameter"},
		{func() {}, "cannot be a parameter"},
	}
	for _, c := range cases {
		var b bytes.Buffer
		err := encodeValue(&b, c.in, 0)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("encoding %#v: error %v, want it to contain %q", c.in, err, c.want)
		}
	}
	if err := encodeValue(&bytes.Buffer{}, nilMap, 0); err != nil {
		t.Errorf("a nil map is an empty dictionary, got %v", err)
	}
	deep := any(1)
	for i := 0; i < maxDepth+5; i++ {
		deep = []any{deep}
	}
	if err := encodeValue(&bytes.Buffer{}, deep, 0); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("a value nested %d deep: %v", maxDepth+5, err)
	}
}

// What Python's xmlrpc.server (the master) and XmlRpc++ (roscpp) actually send.
func TestXMLRPCDecodesWhatServersSend(t *testing.T) {
	cases := []struct {
		doc  string
		want any
	}{
		{`<?xml version='1.0'?>
<methodResponse>
<params>
<param>
<value><array><data>
<value><int>1</int></value>
<value><string>Parameter [/rt]</string></value>
<value><struct>
<member>
<name>a</name>
<value><double>1.5</double></value>
</member>
<member>
<name>b</name>
<value><boolean>1</boolean></value>
</member>
</struct></value>
</data></array></value>
</param>
</params>
</methodResponse>
`, []any{1, "Parameter [/rt]", map[string]any{"a": 1.5, "b": true}}},
		{`<?xml version="1.0"?><methodResponse><params><param><value>untyped  text </value></param></params></methodResponse>`, "untyped  text "},
		{`<methodResponse><params><param><value></value></param></params></methodResponse>`, ""},
		{`<methodResponse><params><param><value><i4>-3</i4></value></param></params></methodResponse>`, -3},
		{`<methodResponse><params><param><value><i8>4294967296</i8></value></param></params></methodResponse>`, 4294967296},
		{`<methodResponse><params><param><value><double>nan</double></value></param></params></methodResponse>`, math.NaN()},
		{`<methodResponse><params><param><value><double>-inf</double></value></param></params></methodResponse>`, math.Inf(-1)},
		{`<methodResponse><params><param><value><double>1e+300</double></value></param></params></methodResponse>`, 1e300},
		{`<methodResponse><params><param><value><base64>
AAEC
/w==
</base64></value></param></params></methodResponse>`, []byte{0, 1, 2, 255}},
		{`<methodResponse><params><param><value><dateTime.iso8601>20011214T21:59:43</dateTime.iso8601></value></param></params></methodResponse>`, time.Date(2001, 12, 14, 21, 59, 43, 0, time.UTC)},
		{`<methodResponse><params><param><value><string>&lt;&amp;&#xD;&#10;</string></value></param></params></methodResponse>`, "<&\r\n"},
		{`<methodResponse><!-- note --><params><param><value><nil/></value></param></params></methodResponse>`, nil},
		{`<methodResponse><params><param><value><array><data></data></array></value></param></params></methodResponse>`, []any{}},
		{`<methodResponse><params><param><value><struct></struct></value></param></params></methodResponse>`, map[string]any{}},
	}
	for _, c := range cases {
		got, err := decodeResponse(strings.NewReader(c.doc))
		if err != nil || !sameValue(got, c.want) {
			t.Errorf("decoding %q: %#v, %v; want %#v", c.doc, got, err, c.want)
		}
	}
}

func TestXMLRPCFaultsAndMalformedResponsesAreErrors(t *testing.T) {
	fault := `<?xml version='1.0'?>
<methodResponse>
<fault>
<value><struct>
<member>
<name>faultCode</name>
<value><int>1</int></value>
</member>
<member>
<name>faultString</name>
<value><string>&lt;class 'TypeError'&gt;:getParam() missing 1 required positional argument: 'key'</string></value>
</member>
</struct></value>
</fault>
</methodResponse>`
	_, err := decodeResponse(strings.NewReader(fault))
	if f, ok := err.(*Fault); !ok || f.Code != 1 || !strings.Contains(f.Message, "missing 1 required positional argument") {
		t.Errorf("fault decoded as %v", err)
	}
	cases := []struct{ doc, want string }{
		{``, "unexpected EOF"},
		{`<html><body>502 Bad Gateway</body></html>`, "found <html>, want <methodResponse>"},
		{`<methodResponse><params><param><value><int>1</int>`, "unexpected EOF"},
		{`<methodResponse><params><param><value><int>x</int></value></param></params></methodResponse>`, "<int>x</int> is not an integer"},
		{`<methodResponse><params><param><value><boolean>true</boolean></value></param></params></methodResponse>`, "is not 0 or 1"},
		{`<methodResponse><params><param><value><double>1,5</double></value></param></params></methodResponse>`, "is not a number"},
		{`<methodResponse><params><param><value><base64>!!</base64></value></param></params></methodResponse>`, "invalid base64"},
		{`<methodResponse><params><param><value><float>1</float></value></param></params></methodResponse>`, "unknown value type <float>"},
		{`<methodResponse><params><param><value>a<int>1</int></value></param></params></methodResponse>`, "text and <int> mixed"},
		{`<methodResponse><params><param><value><array><value>1</value></array></value></param></params></methodResponse>`, "found <value>, want <data>"},
		{`<methodResponse><params><param><value><struct><member><value>1</value></member></struct></value></param></params></methodResponse>`, "found <value>, want <name>"},
		{`<methodResponse><params><param><value><string><b>x</b></string></value></param></params></methodResponse>`, "found <b> in <string>"},
		{`<methodResponse><params><param><value>1</value></param></params></methodResponse><x/>`, "<x> after the response"},
		{`<methodResponse><params><param><value>1</value></param></params></methodResponse>trailing`, "text after the response"},
		{`<methodResponse><params><param><value><string>&bogus;</string></value></param></params></methodResponse>`, "invalid character entity"},
		{`<methodResponse><other/></methodResponse>`, "holds <other>, want <params> or <fault>"},
	}
	for _, c := range cases {
		_, err := decodeResponse(strings.NewReader(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("decoding %q: error %v, want it to contain %q", c.doc, err, c.want)
		}
	}
	deep := strings.Repeat("<value><array><data>", maxDepth+5) + strings.Repeat("</data></array></value>", maxDepth+5)
	doc := "<methodResponse><params><param>" + deep + "</param></params></methodResponse>"
	if _, err := decodeResponse(strings.NewReader(doc)); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("a response nested %d deep: %v", maxDepth+5, err)
	}
}

func TestEncodeCallEscapesItsStrings(t *testing.T) {
	b, err := encodeCall("setParam", "/cen", "/a", "<&>")
	if err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0"?><methodCall><methodName>setParam</methodName><params><param><value><string>/cen</string></value></param><param><value><string>/a</string></value></param><param><value><string>&lt;&amp;&gt;</string></value></param></params></methodCall>`
	if string(b) != want {
		t.Errorf("encodeCall =\n%s\nwant\n%s", b, want)
	}
}

// FuzzDecodeResponse checks that any response either fails or decodes to a value that survives encoding
// and decoding again unchanged.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(`<methodResponse><params><param><value><array><data><value><int>1</int></value><value>x</value><value><struct><member><name>a</name><value><double>1.5</double></value></member></struct></value></data></array></value></param></params></methodResponse>`)
	f.Add(`<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member></struct></value></fault></methodResponse>`)
	f.Add(`<methodResponse><params><param><value><base64>AAE=</base64></value></param></params></methodResponse>`)
	f.Fuzz(func(t *testing.T, doc string) {
		v, err := decodeResponse(strings.NewReader(doc))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := encodeValue(&b, v, 0); err != nil {
			return // nil, or text XML may carry as a reference but a parameter may not
		}
		again, err := decodeResponse(strings.NewReader("<methodResponse><params><param>" + b.String() + "</param></params></methodResponse>"))
		if err != nil || !sameValue(v, again) {
			t.Fatalf("%q decoded to %#v, which re-encodes to %s and decodes to %#v (%v)", doc, v, b.String(), again, err)
		}
	})
}
