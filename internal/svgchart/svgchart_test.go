package svgchart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// element is an element of an SVG read back, with what the tests look at.
type element struct {
	name  string
	attrs map[string]string
	text  string
}

// parse reads an SVG document back with encoding/xml, failing the test
// on anything that is not well-formed.
func parse(t *testing.T, doc []byte) []element {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var out []element
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := element{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			out = append(out, e)
		case xml.CharData:
			if len(out) > 0 {
				out[len(out)-1].text += string(tok)
			}
		}
	}
	return out
}

func named(es []element, name, class string) []element {
	var out []element
	for _, e := range es {
		if e.name == name && (class == "" || e.attrs["class"] == class) {
			out = append(out, e)
		}
	}
	return out
}

func points(e element) int { return len(strings.Fields(e.attrs["points"])) }

// steady returns n buckets of a minute each from t0, of values around v.
func steady(n int, v float64) []Bucket {
	bs := make([]Bucket, n)
	for i := range bs {
		f := v + float64(i%7)
		bs[i] = Bucket{Start: t0.Add(time.Duration(i) * time.Minute), Min: f - 1, Max: f + 1, Mean: f, Count: 6}
	}
	return bs
}

func render(t *testing.T, c Chart) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, c); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRenderPoints(t *testing.T) {
	warn, crit := 20.0, 30.0
	doc := render(t, Chart{Title: "load1", Unit: "", From: t0, To: t0.Add(time.Hour), Buckets: steady(60, 10), Warn: &warn, Crit: &crit})
	es := parse(t, doc)
	if es[0].name != "svg" || es[0].attrs["role"] != "img" || !strings.HasPrefix(es[0].attrs["aria-label"], "load1") {
		t.Fatalf("root %+v", es[0])
	}
	if ts := named(es, "title", ""); len(ts) != 1 || !strings.HasPrefix(ts[0].text, "load1") {
		t.Errorf("title %+v", ts)
	}
	means, bands := named(es, "polyline", "mean"), named(es, "polygon", "band")
	if len(means) != 1 || points(means[0]) != 60 {
		t.Fatalf("mean lines %+v, want one of 60 points", means)
	}
	if len(bands) != 1 || points(bands[0]) != 120 {
		t.Fatalf("bands %+v, want one of 120 points", bands)
	}
	if len(named(es, "line", "warn")) != 1 || len(named(es, "line", "crit")) != 1 {
		t.Error("no threshold lines")
	}
	for _, e := range es {
		if e.name == "script" || e.name == "foreignObject" || e.name == "image" || e.name == "use" {
			t.Errorf("element %s", e.name)
		}
		for k := range e.attrs {
			if strings.HasPrefix(k, "on") || k == "href" {
				t.Errorf("attribute %s on %s", k, e.name)
			}
		}
	}
}

// TestRenderEscapes: text given is text in the document, never markup.
func TestRenderEscapes(t *testing.T) {
	hostile := `<script>alert("x")</script>&"'` + "\x00\x1b"
	doc := render(t, Chart{Title: hostile, Unit: "<b>ms</b>", From: t0, To: t0.Add(time.Hour), Buckets: steady(10, 1)})
	if bytes.Contains(doc, []byte("<script")) || bytes.Contains(doc, []byte("<b>")) {
		t.Fatalf("markup of the title in the document:\n%s", doc)
	}
	es := parse(t, doc)
	if len(named(es, "script", "")) != 0 {
		t.Fatal("a script element")
	}
	title := named(es, "title", "")[0].text
	if !strings.Contains(title, `<script>alert("x")</script>&"'`) {
		t.Errorf("title read back %q", title)
	}
}

// TestRenderGaps: no line crosses a span without data.
func TestRenderGaps(t *testing.T) {
	bs := append(steady(20, 5), steady(60, 5)[40:]...)
	es := parse(t, render(t, Chart{Title: "x", From: t0, To: t0.Add(time.Hour), Buckets: bs}))
	means := named(es, "polyline", "mean")
	if len(means) != 2 || points(means[0]) != 20 || points(means[1]) != 20 {
		t.Fatalf("mean lines %v, want two of 20 points", means)
	}
	if n := len(named(es, "polygon", "band")); n != 2 {
		t.Errorf("%d bands, want 2", n)
	}
	// A bucket alone between two gaps is a dot, and a bucket of no data
	// or of NaN is no point.
	m := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	ok := func(i int) Bucket { return Bucket{Start: m(i), Min: 1, Max: 2, Mean: 1.5, Count: 1} }
	bs = []Bucket{ok(0), ok(1), ok(2), ok(3),
		{Start: m(4), Min: math.NaN(), Max: 1, Mean: 1, Count: 1}, {Start: m(5)},
		ok(7), {Start: m(9), Min: 1, Max: 2, Mean: math.Inf(1), Count: 2},
		ok(11), ok(12), ok(13)}
	es = parse(t, render(t, Chart{From: t0, To: t0.Add(time.Hour), Buckets: bs}))
	if n, m := len(named(es, "circle", "mean")), len(named(es, "polyline", "mean")); n != 1 || m != 2 {
		t.Errorf("%d dots and %d lines, want 1 and 2", n, m)
	}
}

func TestRenderNoData(t *testing.T) {
	doc := render(t, Chart{Title: "empty", From: t0, To: t0.Add(time.Hour)})
	es := parse(t, doc)
	if !bytes.Contains(doc, []byte("no data")) || len(named(es, "polyline", "")) != 0 {
		t.Errorf("an empty chart:\n%s", doc)
	}
}

func TestRenderRefuses(t *testing.T) {
	for name, c := range map[string]Chart{
		"empty-range": {From: t0, To: t0},
		"backwards":   {From: t0, To: t0.Add(-time.Hour)},
		"too-wide":    {From: t0, To: t0.Add(time.Hour), Width: MaxWidth + 1},
		"too-small":   {From: t0, To: t0.Add(time.Hour), Width: 10},
		"negative":    {From: t0, To: t0.Add(time.Hour), Height: -1},
	} {
		var b bytes.Buffer
		if err := Render(&b, c); !errors.Is(err, ErrChart) || b.Len() != 0 {
			t.Errorf("%s: %v, wrote %d bytes", name, err, b.Len())
		}
	}
}

// TestRenderBounded: the document grows with the width, not with the
// buckets: a million buckets are drawn in at most one point a pixel.
func TestRenderBounded(t *testing.T) {
	n := 1_000_000
	bs := make([]Bucket, n)
	for i := range bs {
		v := math.Sin(float64(i)/1000) * 1e6
		bs[i] = Bucket{Start: t0.Add(time.Duration(i) * time.Second), Min: v - 1, Max: v + 1, Mean: v, Count: 1}
	}
	title := strings.Repeat("é", 10_000)
	doc := render(t, Chart{Title: title, Unit: title, From: t0, To: t0.Add(time.Duration(n) * time.Second), Buckets: bs})
	es := parse(t, doc)
	plotW := DefaultWidth - marginLeft - marginRight
	if m := named(es, "polyline", "mean"); len(m) != 1 || points(m[0]) > plotW {
		t.Errorf("mean lines of %d points, want one of at most %d", points(m[0]), plotW)
	}
	if len(doc) > 50<<10 {
		t.Errorf("%d bytes, want at most 50 KiB", len(doc))
	}
	if got := named(es, "title", "")[0].text; len(got) > 3*MaxText {
		t.Errorf("title of %d bytes", len(got))
	}
	t.Logf("a million buckets: %d bytes", len(doc))
}

func TestDownsample(t *testing.T) {
	in := []Bucket{
		{Start: t0, Min: 1, Max: 2, Mean: 1.5, Count: 1},
		{Start: t0.Add(10 * time.Second), Min: 0, Max: 9, Mean: 3, Count: 3},
		{Start: t0.Add(70 * time.Second), Min: 5, Max: 5, Mean: 5, Count: 2},
		{Start: t0.Add(130 * time.Second), Min: 6, Max: 8, Mean: 7, Count: 5},
		{Start: t0.Add(200 * time.Second), Min: 7, Max: 7, Mean: 7, Count: 1},  // a slot alone
		{Start: t0.Add(-time.Second), Min: 100, Max: 100, Mean: 100, Count: 1}, // out of order: before the range
		{Start: t0.Add(500 * time.Second), Min: 100, Max: 100, Mean: 100, Count: 1},
	}
	in = append(in[5:6], append(in[:5:5], in[6])...)
	got := Downsample(in, t0, t0.Add(240*time.Second), 4)
	want := []Bucket{
		{Start: t0, Min: 0, Max: 9, Mean: (1.5 + 9) / 4, Count: 4},
		{Start: t0.Add(60 * time.Second), Min: 5, Max: 5, Mean: 5, Count: 2},
		{Start: t0.Add(120 * time.Second), Min: 6, Max: 8, Mean: 7, Count: 5},
		{Start: t0.Add(180 * time.Second), Min: 7, Max: 7, Mean: 7, Count: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if !got[i].Start.Equal(want[i].Start) || got[i].Min != want[i].Min || got[i].Max != want[i].Max ||
			math.Abs(got[i].Mean-want[i].Mean) > 1e-12 || got[i].Count != want[i].Count {
			t.Errorf("bucket %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if got := Downsample(in, t0, t0.Add(240*time.Second), 10); len(got) != 5 || got[0].Start != t0 {
		t.Errorf("within n: %+v", got)
	}
	if got := Downsample(in, t0, t0, 10); got != nil {
		t.Errorf("empty range: %+v", got)
	}
}

func TestSparkline(t *testing.T) {
	var b bytes.Buffer
	vals := []float64{1, 2, 3, math.NaN(), 5, 6}
	if err := Sparkline(&b, vals, 0, 0); err != nil {
		t.Fatal(err)
	}
	es := parse(t, b.Bytes())
	ls := named(es, "polyline", "")
	if len(ls) != 2 || points(ls[0]) != 3 || points(ls[1]) != 2 {
		t.Errorf("lines %+v", ls)
	}
	b.Reset()
	many := make([]float64, 100_000)
	for i := range many {
		many[i] = float64(i % 100)
	}
	if err := Sparkline(&b, many, 80, 16); err != nil {
		t.Fatal(err)
	}
	if ls := named(parse(t, b.Bytes()), "polyline", ""); len(ls) != 1 || points(ls[0]) != 80 {
		t.Errorf("100,000 values: %d lines", len(ls))
	}
	if err := Sparkline(io.Discard, vals, MaxWidth+1, 10); !errors.Is(err, ErrChart) {
		t.Errorf("too wide: %v", err)
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		v, step float64
		want    string
	}{{0.25, 0.05, "0.25"}, {20, 5, "20"}, {1500000, 500000, "1.5M"}, {2e9, 1e9, "2G"}, {-3, 1, "-3"}} {
		if got := value(tc.v, tc.step); got != tc.want {
			t.Errorf("value(%v, %v) = %q, want %q", tc.v, tc.step, got, tc.want)
		}
	}
	if s := niceStep(0.37); s != 0.5 {
		t.Errorf("niceStep(0.37) = %v", s)
	}
}
