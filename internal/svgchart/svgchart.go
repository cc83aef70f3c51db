package svgchart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The bounds of a chart. Its SVG grows with its width, never with its
// buckets, which are merged to at most one a pixel of the plot: at the
// default size, a few tens of KiB at most.
const (
	DefaultWidth, DefaultHeight = 720, 200
	// MaxWidth and MaxHeight bound the viewBox.
	MaxWidth, MaxHeight = 4096, 2048
	// MaxText is the most bytes of a title or unit drawn; the rest is cut
	// on a rune boundary, with an ellipsis.
	MaxText = 200
)

// ErrChart is a chart that cannot be drawn: a size out of bounds, or an
// empty range.
var ErrChart = errors.New("svgchart: bad chart")

// Chart is a metric's series over a range of time, and what to draw with
// it.
type Chart struct {
	Title, Unit string
	From, To    time.Time // the range shown
	// Buckets are in ascending order of Start; those outside the range
	// are left out. A gap (no bucket where the spacing says one would
	// be) is drawn as one: no line crosses it.
	Buckets []Bucket
	// Warn and Crit are thresholds drawn as lines with their label; nil
	// for none.
	Warn, Crit    *float64
	Width, Height int // of the viewBox in px; zero for the defaults
}

// The plot's margins within the viewBox, for the ticks' labels and the
// title.
const (
	marginLeft, marginRight = 52, 10
	marginTop, marginBottom = 22, 20
)

// Render writes c as an SVG document of its own (an <svg> element with
// its namespace, fit to be inlined in HTML), in one Write.
func Render(w io.Writer, c Chart) error {
	if c.Width == 0 {
		c.Width = DefaultWidth
	}
	if c.Height == 0 {
		c.Height = DefaultHeight
	}
	switch {
	case c.Width < marginLeft+marginRight+10 || c.Width > MaxWidth:
		return fmt.Errorf("%w: width %d, want %d to %d", ErrChart, c.Width, marginLeft+marginRight+10, MaxWidth)
	case c.Height < marginTop+marginBottom+10 || c.Height > MaxHeight:
		return fmt.Errorf("%w: height %d, want %d to %d", ErrChart, c.Height, marginTop+marginBottom+10, MaxHeight)
	case !c.To.After(c.From):
		return fmt.Errorf("%w: range %s to %s is empty", ErrChart, c.From.Format(time.RFC3339), c.To.Format(time.RFC3339))
	}
	p := newPlot(c)
	var b svgBuf
	b.open(c.Width, c.Height, "chart", label(c))
	b.WriteString("<title>")
	b.text(label(c))
	b.WriteString("</title>\n")
	p.frame(&b)
	p.timeTicks(&b)
	p.valueTicks(&b)
	if len(p.buckets) == 0 {
		b.printf(`<text x="%s" y="%s" text-anchor="middle" fill="currentColor" font-size="12">no data</text>`+"\n",
			num(p.x0+p.w/2), num(p.y0+p.h/2))
	}
	p.series(&b)
	p.threshold(&b, c.Warn, "warn", "#b07800")
	p.threshold(&b, c.Crit, "crit", "#c0262d")
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// label is the chart's accessible name: its title, unit and range.
func label(c Chart) string {
	s := cutText(c.Title)
	if c.Unit != "" {
		s += " (" + cutText(c.Unit) + ")"
	}
	return s + ", " + c.From.Format("2006-01-02 15:04") + " to " + c.To.Format("2006-01-02 15:04")
}

// cutText cuts s to MaxText bytes on a rune boundary.
func cutText(s string) string {
	if len(s) <= MaxText {
		return s
	}
	n := MaxText - len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// plot maps times and values of a chart to the viewBox.
type plot struct {
	c        Chart
	x0, y0   float64 // the plot's top left corner
	w, h     float64
	lo, hi   float64 // the values at the bottom and top
	step     float64 // between value ticks
	spacing  time.Duration
	buckets  []Bucket
	segments [][]Bucket // runs of buckets with no gap between them
}

func newPlot(c Chart) *plot {
	p := &plot{c: c, x0: marginLeft, y0: marginTop,
		w: float64(c.Width - marginLeft - marginRight), h: float64(c.Height - marginTop - marginBottom)}
	p.buckets = Downsample(c.Buckets, c.From, c.To, int(p.w))
	p.spacing = spacing(p.buckets)
	p.segments = segments(p.buckets, p.spacing)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, b := range p.buckets {
		lo, hi = min(lo, b.Min), max(hi, b.Max)
	}
	for _, t := range []*float64{c.Warn, c.Crit} {
		if t != nil && finite(*t) {
			lo, hi = min(lo, *t), max(hi, *t)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	if hi-lo < 1e-9*max(math.Abs(lo), math.Abs(hi), 1e-300) {
		d := max(math.Abs(lo)/10, 1)
		lo, hi = lo-d, hi+d
	}
	p.step = niceStep((hi - lo) / 4)
	p.lo, p.hi = math.Floor(lo/p.step)*p.step, math.Ceil(hi/p.step)*p.step
	return p
}

// spacing is the usual time between consecutive buckets: the median, so
// that a few runs close together (retries) or far apart (gaps) do not
// set it.
func spacing(bs []Bucket) time.Duration {
	if len(bs) < 2 {
		return 0
	}
	d := make([]time.Duration, len(bs)-1)
	for i := range d {
		d[i] = bs[i+1].Start.Sub(bs[i].Start)
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// segments splits bs where two buckets are more than twice the usual
// spacing apart: a gap in the data.
func segments(bs []Bucket, sp time.Duration) [][]Bucket {
	var out [][]Bucket
	start := 0
	for i := 1; i <= len(bs); i++ {
		if i == len(bs) || bs[i].Start.Sub(bs[i-1].Start) > 2*sp {
			out = append(out, bs[start:i])
			start = i
		}
	}
	if len(bs) == 0 {
		return nil
	}
	return out
}

// x is the place of a bucket starting at t: the middle of its span.
func (p *plot) x(t time.Time) float64 {
	f := float64(t.Add(p.spacing/2).Sub(p.c.From)) / float64(p.c.To.Sub(p.c.From))
	return p.x0 + min(max(f, 0), 1)*p.w
}

func (p *plot) y(v float64) float64 {
	return p.y0 + p.h - (v-p.lo)/(p.hi-p.lo)*p.h
}

func (p *plot) frame(b *svgBuf) {
	b.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="currentColor" stroke-opacity="0.4"/>`+"\n",
		num(p.x0), num(p.y0), num(p.w), num(p.h))
}

// tickSteps are the spacings of time ticks, the first that gives at most
// maxTimeTicks over the range taken.
var tickSteps = []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour}

const maxTimeTicks = 8

func (p *plot) timeTicks(b *svgBuf) {
	span := p.c.To.Sub(p.c.From)
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span/s <= maxTimeTicks {
			step = s
			break
		}
	}
	layout := "15:04"
	if step >= 24*time.Hour {
		layout = "Jan 2"
	}
	b.WriteString(`<g font-size="11" fill="currentColor" text-anchor="middle">` + "\n")
	for t := firstTick(p.c.From, step); t.Before(p.c.To); t = nextTick(t, step) {
		x := p.x0 + float64(t.Sub(p.c.From))/float64(span)*p.w
		b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="currentColor" stroke-opacity="0.15"/>`, num(x), num(p.y0), num(x), num(p.y0+p.h))
		b.printf(`<text x="%s" y="%s">`, num(x), num(p.y0+p.h+14))
		b.text(t.Format(layout))
		b.WriteString("</text>\n")
	}
	b.WriteString("</g>\n")
}

// firstTick is the first multiple of step at or after from: of whole
// days in from's location for a step of days, of the step since the
// epoch otherwise.
func firstTick(from time.Time, step time.Duration) time.Time {
	if step < 24*time.Hour {
		t := from.Truncate(step)
		if t.Before(from) {
			t = t.Add(step)
		}
		return t
	}
	y, m, d := from.Date()
	t := time.Date(y, m, d, 0, 0, 0, 0, from.Location())
	if t.Before(from) {
		t = t.AddDate(0, 0, 1)
	}
	return t
}

func nextTick(t time.Time, step time.Duration) time.Time {
	if step < 24*time.Hour {
		return t.Add(step)
	}
	return t.AddDate(0, 0, int(step/(24*time.Hour)))
}

// niceStep is the least of 1, 2 and 5 times a power of ten at least d.
func niceStep(d float64) float64 {
	e := math.Pow(10, math.Floor(math.Log10(d)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= d {
			return m * e
		}
	}
	return 10 * e
}

func (p *plot) valueTicks(b *svgBuf) {
	b.WriteString(`<g font-size="11" fill="currentColor" text-anchor="end">` + "\n")
	for i := 0; ; i++ {
		v := p.lo + float64(i)*p.step
		if v > p.hi+p.step/2 || i > 20 {
			break
		}
		y := p.y(v)
		b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="currentColor" stroke-opacity="0.15"/>`, num(p.x0), num(y), num(p.x0+p.w), num(y))
		b.printf(`<text x="%s" y="%s">`, num(p.x0-4), num(y+4))
		b.text(value(v, p.step))
		b.WriteString("</text>\n")
	}
	if p.c.Unit != "" {
		b.printf(`<text x="%s" y="%s" text-anchor="start">`, num(p.x0), num(p.y0-6))
		b.text(cutText(p.c.Title) + " (" + cutText(p.c.Unit) + ")")
		b.WriteString("</text>\n")
	} else if p.c.Title != "" {
		b.printf(`<text x="%s" y="%s" text-anchor="start">`, num(p.x0), num(p.y0-6))
		b.text(cutText(p.c.Title))
		b.WriteString("</text>\n")
	}
	b.WriteString("</g>\n")
}

// value is a tick's label: as many decimals as the step needs, and large
// numbers with an SI prefix.
func value(v, step float64) string {
	for _, u := range []struct {
		f float64
		p string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e4, "k"}} {
		if math.Abs(v) >= u.f || step >= u.f {
			return value(v/u.f, step/u.f) + u.p
		}
	}
	dec := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	return strconv.FormatFloat(v, 'f', min(dec, 9), 64)
}

// series draws each segment: the band from min to max, then the mean.
// A segment of one bucket is a dot.
func (p *plot) series(b *svgBuf) {
	for _, seg := range p.segments {
		if len(seg) == 1 {
			bk := seg[0]
			b.printf(`<line class="range" x1="%s" y1="%s" x2="%s" y2="%s" stroke="currentColor" stroke-opacity="0.3" stroke-width="3"/>`,
				num(p.x(bk.Start)), num(p.y(bk.Min)), num(p.x(bk.Start)), num(p.y(bk.Max)))
			b.printf(`<circle class="mean" cx="%s" cy="%s" r="1.5" fill="currentColor"/>`+"\n", num(p.x(bk.Start)), num(p.y(bk.Mean)))
			continue
		}
		b.WriteString(`<polygon class="band" fill="currentColor" fill-opacity="0.2" stroke="none" points="`)
		for _, bk := range seg {
			b.point(p.x(bk.Start), p.y(bk.Max))
		}
		for i := len(seg) - 1; i >= 0; i-- {
			b.point(p.x(seg[i].Start), p.y(seg[i].Min))
		}
		b.WriteString("\"/>\n")
		b.WriteString(`<polyline class="mean" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round" points="`)
		for _, bk := range seg {
			b.point(p.x(bk.Start), p.y(bk.Mean))
		}
		b.WriteString("\"/>\n")
	}
}

func (p *plot) threshold(b *svgBuf, t *float64, name, color string) {
	if t == nil || !finite(*t) {
		return
	}
	y := p.y(*t)
	b.printf(`<line class="%s" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-dasharray="5 3"/>`,
		name, num(p.x0), num(y), num(p.x0+p.w), num(y), color)
	b.printf(`<text x="%s" y="%s" font-size="11" text-anchor="end" fill="%s">`, num(p.x0+p.w-2), num(y-3), color)
	b.text(name + " " + strconv.FormatFloat(*t, 'g', 6, 64))
	b.WriteString("</text>\n")
}

// Sparkline writes a small SVG of values as one line, for a row of a
// table: no axes, no text. A value that is not finite is a gap. Its size
// is bounded by width: more values than pixels are merged, a mean a
// pixel. Zero width or height take 100 by 24.
func Sparkline(w io.Writer, values []float64, width, height int) error {
	if width == 0 {
		width = 100
	}
	if height == 0 {
		height = 24
	}
	if width < 4 || width > MaxWidth || height < 4 || height > MaxHeight {
		return fmt.Errorf("%w: sparkline %dx%d, want 4 to %d by 4 to %d", ErrChart, width, height, MaxWidth, MaxHeight)
	}
	if len(values) > width {
		values = means(values, width)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		if finite(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if hi-lo < 1e-12 {
		lo, hi = lo-1, hi+1
	}
	var b svgBuf
	b.open(width, height, "sparkline", "trend")
	n := max(len(values)-1, 1)
	fw, fh := float64(width-2), float64(height-2)
	inLine := false
	for i, v := range values {
		if !finite(v) {
			if inLine {
				b.WriteString("\"/>\n")
			}
			inLine = false
			continue
		}
		if !inLine {
			b.WriteString(`<polyline fill="none" stroke="currentColor" stroke-width="1.2" points="`)
			inLine = true
		}
		b.point(1+float64(i)/float64(n)*fw, 1+fh-(v-lo)/(hi-lo)*fh)
	}
	if inLine {
		b.WriteString("\"/>\n")
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// means merges values into n, the mean of the finite values of each nth
// (NaN where there are none).
func means(values []float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		lo, hi := i*len(values)/n, (i+1)*len(values)/n
		sum, k := 0.0, 0
		for _, v := range values[lo:hi] {
			if finite(v) {
				sum += v
				k++
			}
		}
		out[i] = math.NaN()
		if k > 0 {
			out[i] = sum / float64(k)
		}
	}
	return out
}

// svgBuf builds a document, to be written in one Write.
type svgBuf struct{ bytes.Buffer }

func (b *svgBuf) open(width, height int, class, label string) {
	b.printf(`<svg xmlns="http://www.w3.org/2000/svg" class="%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="`,
		class, width, height, width, height)
	b.text(label)
	b.WriteString("\">\n")
}

func (b *svgBuf) printf(format string, args ...any) { fmt.Fprintf(b, format, args...) }

// text writes s escaped for XML text and attributes alike; a character
// XML cannot hold becomes U+FFFD.
func (b *svgBuf) text(s string) { _ = xml.EscapeText(b, []byte(s)) }

// point appends "x,y " to a points attribute.
func (b *svgBuf) point(x, y float64) {
	b.WriteString(num(x))
	b.WriteByte(',')
	b.WriteString(num(y))
	b.WriteByte(' ')
}

// num is a coordinate with one decimal at most: a tenth of a pixel is
// finer than any screen draws, and keeps a long series small.
func num(f float64) string {
	s := strconv.FormatFloat(math.Round(f*10)/10, 'f', 1, 64)
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		s = s[:len(s)-2]
	}
	return s
}
