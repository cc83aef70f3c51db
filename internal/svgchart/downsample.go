package svgchart

import (
	"math"
	"time"
)

// Bucket is what is known of a metric over a span of time from Start: the
// least, the greatest and the mean of its Count values. A bucket of no
// values (Count 0), or one whose figures are not finite, is no data.
type Bucket struct {
	Start          time.Time
	Min, Max, Mean float64
	Count          int
}

// ok reports whether b holds data a chart can draw.
func (b Bucket) ok() bool {
	return b.Count > 0 && finite(b.Min) && finite(b.Max) && finite(b.Mean)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Downsample merges the buckets of in that start within [from, to) into
// at most n, each of an nth of the range and starting where its slot
// does: min of mins, max of maxes, mean weighted by count. in must be in
// ascending order of Start. A slot no bucket falls in is left out (a gap
// stays a gap), and so is a bucket of no data. When the range holds n
// buckets or fewer they come back as they are. n <= 0, or an empty
// range, gives none.
func Downsample(in []Bucket, from, to time.Time, n int) []Bucket {
	if n <= 0 || !to.After(from) {
		return nil
	}
	lo, hi := 0, len(in)
	for lo < hi && in[lo].Start.Before(from) {
		lo++
	}
	for hi > lo && !in[hi-1].Start.Before(to) {
		hi--
	}
	in = in[lo:hi]
	if len(in) <= n {
		out := make([]Bucket, 0, len(in))
		for _, b := range in {
			if b.ok() {
				out = append(out, b)
			}
		}
		return out
	}
	span := to.Sub(from)
	out := make([]Bucket, 0, n)
	slot := -1
	var sum float64
	for _, b := range in {
		if !b.ok() {
			continue
		}
		// offset*n/span in floating point: the product of two
		// durations in integers overflows for a range of days.
		off := b.Start.Sub(from)
		s := int(float64(off) / float64(span) * float64(n))
		s = min(max(s, 0), n-1)
		if s != slot {
			if slot >= 0 {
				out[len(out)-1].Mean = sum / float64(out[len(out)-1].Count)
			}
			slot, sum = s, 0
			start := from.Add(time.Duration(float64(span) * float64(s) / float64(n)))
			out = append(out, Bucket{Start: start, Min: b.Min, Max: b.Max})
		}
		o := &out[len(out)-1]
		o.Min, o.Max = min(o.Min, b.Min), max(o.Max, b.Max)
		o.Count += b.Count
		sum += b.Mean * float64(b.Count)
	}
	if slot >= 0 {
		out[len(out)-1].Mean = sum / float64(out[len(out)-1].Count)
	}
	return out
}
